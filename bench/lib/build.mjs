// The benchmark and the soak measure the built package (dist/esm), as users install it:
// refuse to measure a build older than the sources it was made from.
import { existsSync, readdirSync, statSync } from 'node:fs'

/** The newest modification time under `path` (a file or a directory of sources). */
function newest (path) {
  if (!existsSync(path)) return 0
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(0, ...readdirSync(path).map((entry) => newest(`${path}/${entry}`)))
}

/** Throws unless `dir` has a build at least as new as its sources (or `allowStale`). */
export function checkBuild (dir, { allowStale = false } = {}) {
  const built = existsSync(`${dir}dist/esm/index.js`) ? statSync(`${dir}dist/esm/index.js`).mtimeMs : 0
  if (built === 0) throw new Error(`${dir}dist/ is missing: run \`npm run build\` first (the benchmark measures the built package)`)
  const sources = Math.max(newest(`${dir}index.ts`), newest(`${dir}lib`), newest(`${dir}storages`))
  if (sources > built && !allowStale) {
    throw new Error('dist/ is older than index.ts/lib/storages: run `npm run build` first, or pass --allow-stale')
  }
}
