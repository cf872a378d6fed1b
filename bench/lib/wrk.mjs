// Runs wrk (pinned to the load generator's cores) and reads its results and its own
// CPU use (from /usr/bin/time), so a report can show the generator was not the limit.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pinned, run } from './processes.mjs'

export const WRK = '/usr/bin/wrk'
const TIME = '/usr/bin/time'
const SCRIPT = fileURLToPath(new URL('../wrk/scenario.lua', import.meta.url))

/**
 * One wrk run against `url`. wrk gets one thread: on the load generator's core one
 * event loop keeps every connection busy, and a second thread would only compete
 * with the first for that core. With `cookies` (a list of Cookie headers), requests
 * send them in turn instead of one `cookie`.
 * @param {WrkOptions & { cookies?: string[] | undefined }} options
 */
export async function runWrk ({ cookies, ...options }) {
  if (cookies === undefined || cookies.length <= 1) return runWrkOnce({ ...options, cookie: cookies?.[0] ?? options.cookie })
  // A file, not the environment: hundreds of cookies can exceed what one variable may hold.
  const dir = mkdtempSync(join(tmpdir(), 'bench-cookies-'))
  try {
    writeFileSync(join(dir, 'cookies'), cookies.join('\n') + '\n')
    return await runWrkOnce({ ...options, cookieFile: join(dir, 'cookies') })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * @typedef {{ url: string, cookie?: string | undefined, cookieFile?: string | undefined, method?: string, seconds: number, connections: number, cpus?: string | undefined }} WrkOptions
 */

/** @param {WrkOptions} options */
async function runWrkOnce ({ url, cookie, cookieFile, method = 'GET', seconds, connections, cpus }) {
  const wrkArgs = ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '5s', '-s', SCRIPT, url]
  const [command, args] = pinned(cpus, WRK, wrkArgs)
  const timed = existsSync(TIME)
  const env = { ...process.env, BENCH_COOKIE: cookie ?? '', BENCH_COOKIE_FILE: cookieFile ?? '', BENCH_METHOD: method }
  const result = timed
    ? await run(TIME, ['-f', 'BENCH_TIME %U %S %e', command, ...args], { env })
    : await run(command, args, { env })
  const line = result.stdout.split('\n').find((text) => text.startsWith('BENCH_WRK '))
  if (result.code !== 0 || line === undefined) {
    throw new Error(`wrk failed (${result.signal ?? result.code}): ${result.stdout}${result.stderr}`.trim())
  }
  const data = JSON.parse(line.slice('BENCH_WRK '.length))
  const time = /BENCH_TIME (\S+) (\S+) (\S+)/.exec(result.stderr)
  const cpuSeconds = time === null ? NaN : Number(time[1]) + Number(time[2])
  const elapsed = time === null ? NaN : Number(time[3])
  const durationSeconds = data.durationUs / 1e6
  return {
    requests: data.requests,
    durationSeconds,
    rps: data.requests / durationSeconds,
    bytes: data.bytes,
    errors: data.errors,
    latencyMs: Object.fromEntries(Object.entries(data.latencyUs).map(([name, value]) => [name, value / 1000])),
    wrkCpu: cpuSeconds / elapsed
  }
}
