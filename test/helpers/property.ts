/**
 * Run options for property-based tests (fast-check), shared by every test file that
 * has them. The seed is fixed, so every run, CI's included, checks the same cases and
 * a failure is reproducible: no test passes or fails by luck. To explore more cases
 * locally, set FC_NUM_RUNS (a count) and FC_SEED (a number, or `random`):
 *
 *   FC_NUM_RUNS=20000 FC_SEED=random npx tap test/raw-envelope.test.ts
 *
 * fast-check prints the seed and path of any counterexample it finds; pass them back
 * through FC_SEED (and fast-check's `path` option) to replay it.
 */
import type { Parameters } from 'fast-check'

const DEFAULT_SEED = 20240611
const DEFAULT_NUM_RUNS = 200

function readCount (name: string, fallback: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const count = Number(text)
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`${name} must be a positive whole number; got ${JSON.stringify(text)}`)
  return count
}

function readSeed (): number {
  const text = process.env['FC_SEED']
  if (text === undefined || text === '') return DEFAULT_SEED
  if (text === 'random') return Math.floor(Math.random() * 2 ** 31)
  const seed = Number(text)
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer or 'random'; got ${JSON.stringify(text)}`)
  return seed
}

/** The seed and number of runs of this process's property tests. */
export const propertyRunOptions: Readonly<{ seed: number, numRuns: number }> = Object.freeze({
  seed: readSeed(),
  numRuns: readCount('FC_NUM_RUNS', DEFAULT_NUM_RUNS)
})

/**
 * Options for one `fc.assert`: the shared seed and runs, scaled by `share` for costly
 * properties (at least one run), plus the caller's own settings.
 */
export function propertyOptions<T> (share = 1, options: Parameters<T> = {}): Parameters<T> {
  return { ...options, seed: propertyRunOptions.seed, numRuns: Math.max(1, Math.round(propertyRunOptions.numRuns * share)) }
}
