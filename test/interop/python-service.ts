/**
 * The real aiohttp-session side: test/interop/python/app.py, the session routes of
 * fastify-service.ts served by aiohttp_session with the storage and options a test
 * asks for, run as a child process on a free loopback port and stopped by its PID.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { terminate } from '../helpers/servers.js'
import type { Teardown } from '../helpers/teardown.js'
import { sendHttp } from './service.js'
import type { Reply, SendOptions, Service } from './service.js'

export type PythonStorageKind = 'simple' | 'encrypted' | 'nacl' | 'redis' | 'memcached'

/** aiohttp_session storage options, named as in Python. */
export interface PythonConfig {
  storage: PythonStorageKind
  /** url-safe base64 of 32 bytes (generateKey()). */
  key?: string
  cookieName?: string
  maxAge?: number
  domain?: string
  path?: string
  secure?: boolean
  samesite?: string
  /** redis://host:port/db */
  redisUrl?: string
  /** host:port */
  memcached?: string
}

const PYTHON = '/usr/bin/python3'
const APP = fileURLToPath(new URL('./python/app.py', import.meta.url))
const SHIM = fileURLToPath(new URL('./python/shim', import.meta.url))
/** Importing aiohttp takes about a second; a loaded CI machine gets ample margin. */
const START_TIMEOUT_MS = 20_000

export class PythonService implements Service {
  readonly name = 'aiohttp'
  readonly port: number
  readonly #child: ChildProcessWithoutNullStreams
  readonly #stderr: string[]

  constructor (port: number, child: ChildProcessWithoutNullStreams, stderr: string[]) {
    this.port = port
    this.#child = child
    this.#stderr = stderr
  }

  /** Everything the service wrote to stderr: Python's log lines and tracebacks. */
  get stderr (): string {
    return this.#stderr.join('')
  }

  /**
   * Waits until stderr, past its first `since` characters, contains `text`; false after
   * `timeout` ms. A log line reaches us through a pipe, independently of the HTTP
   * response it belongs to, so it may arrive a little after it.
   */
  async waitForLog (text: string, since: number, timeout = 5000): Promise<boolean> {
    const deadline = Date.now() + timeout
    while (!this.stderr.slice(since).includes(text)) {
      if (Date.now() > deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return true
  }

  async send (method: 'GET' | 'POST', path: string, cookie: string | undefined, options: SendOptions = {}): Promise<Reply> {
    return await sendHttp(this.port, method, path, cookie, options)
  }

  /** Stops the process (by its PID) and waits for it to exit. */
  async stop (): Promise<void> {
    // Closing stdin is the service's own shutdown signal; SIGTERM backs it up.
    this.#child.stdin.end()
    await terminate(this.#child)
  }
}

/** Starts app.py with the real aiohttp_session on a free loopback port; stopped in teardown. */
export async function startPython (t: Teardown, config: PythonConfig): Promise<PythonService> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    PYTHONPATH: SHIM,
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
    SESSION_STORAGE: config.storage
  }
  const optional: Array<[string, string | number | boolean | undefined]> = [
    ['SESSION_KEY', config.key],
    ['SESSION_COOKIE_NAME', config.cookieName],
    ['SESSION_MAX_AGE', config.maxAge],
    ['SESSION_DOMAIN', config.domain],
    ['SESSION_PATH', config.path],
    ['SESSION_SECURE', config.secure === true ? '1' : undefined],
    ['SESSION_SAMESITE', config.samesite],
    ['SESSION_REDIS_URL', config.redisUrl],
    ['SESSION_MEMCACHED', config.memcached]
  ]
  for (const [name, value] of optional) if (value !== undefined) env[name] = String(value)

  const child = spawn(PYTHON, [APP], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr.setEncoding('utf8').on('data', (text: string) => stderr.push(text))
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = ''
    const fail = (reason: string): void => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`the aiohttp test service (${config.storage}) did not start: ${reason}\n${stderr.join('')}`))
    }
    const timer = setTimeout(() => fail(`no port after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS)
    child.on('error', (error) => fail(error.message))
    child.on('exit', (code, signal) => fail(`it exited (${code ?? signal})`))
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text
      const match = /listening on (\d+)/.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        child.removeAllListeners('exit')
        resolve(Number(match[1]))
      }
    })
  })
  const service = new PythonService(port, child, stderr)
  t.teardown(() => service.stop())
  return service
}

/**
 * What aiohttp holds for the session `browser` carries, exactly: the repr() of each value
 * (1.0 stays apart from 1, integers keep every digit).
 */
export async function pythonRepr (python: PythonService, browser: { get: (service: PythonService, path: string) => Promise<Reply> }): Promise<Record<string, string>> {
  const reply = await browser.get(python, '/repr')
  if (reply.status !== 200) throw new Error(`aiohttp answered ${reply.status}: ${reply.text}`)
  return reply.body as Record<string, string>
}
