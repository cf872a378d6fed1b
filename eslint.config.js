import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

/** An import-direction rule of CONTRIBUTING.md: `files` must not import `forbidden`. */
function importRule (files, forbidden, message) {
  return { files, rules: { 'no-restricted-imports': ['error', { patterns: [{ group: forbidden, message }] }] } }
}

export default [
  // What git ignores (build output, coverage, benchmark results…) is never linted: one
  // list, in .gitignore.
  ...neostandard({ ts: true, ignores: resolveIgnoresFromGitignore() }),
  importRule(['lib/errors.ts', 'lib/load-failure.ts', 'lib/symbols.ts', 'lib/clock.ts'], ['./*', '../*'],
    'the leaves of lib/ import nothing of the package, so every layer can use them'),
  importRule(['lib/wire/**', 'lib/crypto/**'], ['../storage/*', '../plugin.js', '../session.js', '../../storages/*', '../../index.js'],
    'wire and crypto code imports only the leaves of lib/ and its own folder'),
  importRule(['lib/storage/**'], ['../plugin.js', '../../storages/*', '../../index.js'],
    'storage code never imports the plugin, a concrete storage or the root'),
  importRule(['lib/*.ts'], ['../storages/*', '../index.js'],
    'lib/ never imports a concrete storage or the root')
]
