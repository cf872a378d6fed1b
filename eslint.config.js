import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

// What git ignores (build output, coverage, benchmark results…) is never linted: one
// list, in .gitignore.
export default neostandard({
  ts: true,
  ignores: resolveIgnoresFromGitignore()
})
