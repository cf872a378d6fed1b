// Child processes of the benchmark: started pinned to a CPU set, tracked, and stopped
// by PID (never by name) — also when the runner itself is interrupted.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set()

function killAll (signal) {
  for (const child of live) {
    if (child.pid === undefined) continue
    try {
      process.kill(child.pid, signal)
    } catch {}
  }
}

process.on('exit', () => killAll('SIGKILL'))
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll('SIGTERM')
    process.exit(130)
  })
}

export const TASKSET = '/usr/bin/taskset'

/** True when CPU pinning is possible here. */
export function canPin () {
  if (!existsSync(TASKSET)) return false
  try {
    execFileSync(TASKSET, ['-c', '0', 'true'])
    return true
  } catch {
    return false
  }
}

/** The command line for `command args`, pinned to `cpus` when given. */
export function pinned (cpus, command, args) {
  return cpus === undefined ? [command, args] : [TASKSET, ['-c', cpus, command, ...args]]
}

/** Pins a running process (all its threads) to `cpus`. */
export function pinProcess (pid, cpus) {
  if (cpus !== undefined) execFileSync(TASKSET, ['-apc', cpus, String(pid)], { stdio: 'ignore' })
}

/** Pins this process (the runner, mostly idle) to `cpus`, away from the server's core. */
export function pinSelf (cpus) {
  pinProcess(process.pid, cpus)
}

/**
 * Starts a long-running process and resolves once `ready(stdoutSoFar)` returns (or
 * resolves to) a value other than undefined, or rejects with its output when it exits or
 * times out first. An asynchronous `ready` (a probe of the server's port) is awaited, one
 * probe at a time: a pending promise is not an answer.
 * @template Value
 * @param {string} command
 * @param {string[]} args
 * @param {{ ready: (stdout: string) => Value | undefined | Promise<Value | undefined>, env?: NodeJS.ProcessEnv, timeoutMs?: number, name?: string }} options
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, value: Value, output: () => string }>}
 */
export function startProcess (command, args, { env = process.env, ready, timeoutMs = 15000, name = command }) {
  const { child, output } = spawnTracked(command, args, env)
  return new Promise((resolve, reject) => {
    let settled = false
    let probing = false
    const finish = () => {
      settled = true
      clearInterval(poll)
      clearTimeout(timer)
      child.removeListener('exit', onExit)
    }
    const fail = (why) => {
      if (settled) return
      finish()
      stop(child).catch(() => {})
      reject(new Error(`${name} ${why}\n${output.stdout}${output.stderr}`.trim()))
    }
    const check = async () => {
      if (probing) return
      probing = true
      try {
        const value = await ready(output.stdout)
        if (value !== undefined && !settled) {
          finish()
          resolve({ child, value, output: () => output.stdout + output.stderr })
        }
      } finally {
        probing = false
      }
    }
    const poll = setInterval(() => {
      check().catch((error) => fail(`could not be probed: ${error.message ?? error}`))
    }, 20)
    const timer = setTimeout(() => fail(`was not ready within ${timeoutMs} ms`), timeoutMs)
    const onExit = (code, signal) => fail(`exited early (${signal ?? code})`)
    child.on('exit', onExit)
  })
}

/** Stops a child by PID: SIGTERM, then SIGKILL if it lingers. */
export async function stop (child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Runs a command to completion, collecting its output. */
export function run (command, args, { env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const { child, output } = spawnTracked(command, args, env)
    child.on('error', reject)
    child.on('exit', (code, signal) => resolve({ code, signal, ...output }))
  })
}

/** Spawns a child that is stopped with the runner (see `live`), collecting its output. */
function spawnTracked (command, args, env) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  child.on('exit', () => live.delete(child))
  const output = { stdout: '', stderr: '' }
  child.stdout.on('data', (chunk) => { output.stdout += chunk })
  child.stderr.on('data', (chunk) => { output.stderr += chunk })
  return { child, output }
}

/** A port that was free a moment ago on 127.0.0.1 (for servers we cannot ask to pick one). */
export function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address())
      server.close(() => resolve(port))
    })
  })
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
  } catch {
    return 100
  }
})()

/**
 * CPU seconds a live process has used so far, all threads included: from each
 * thread's schedstat (nanoseconds), or from /proc/<pid>/stat (clock ticks) without it.
 */
export function processCpuSeconds (pid) {
  try {
    let nanoseconds = 0
    for (const thread of readdirSync(`/proc/${pid}/task`)) {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${thread}/schedstat`, 'utf8').split(' ')[0])
    }
    if (Number.isFinite(nanoseconds) && nanoseconds > 0) return nanoseconds / 1e9
  } catch {}
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return NaN
  }
}

/** Busy and total CPU seconds per core (from /proc/stat), to see who else used a core. */
export function coreTimes () {
  const cores = {}
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(line)
    if (match === null) continue
    const [user, nice, system, idle, iowait, irq, softirq, steal] = match[2].trim().split(/\s+/).map(Number)
    const busy = user + nice + system + irq + softirq + steal
    cores[match[1]] = { busy: busy / CLOCK_TICKS, total: (busy + idle + iowait) / CLOCK_TICKS }
  }
  return cores
}

/** Expands a taskset CPU list such as `0`, `0,2` or `0-3` into core numbers. */
export function cpuList (text) {
  const cores = []
  for (const part of String(text).split(',')) {
    const [from, to = from] = part.split('-').map(Number)
    for (let core = from; core <= to; core++) cores.push(String(core))
  }
  return cores
}
