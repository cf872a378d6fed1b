/**
 * The interop harness: the same session routes served by the real Python
 * aiohttp-session (test/interop/python/app.py, a child process) and by our plugin
 * (a Fastify app driven with inject), and a `Browser` that carries cookies between
 * them exactly as a browser would: Set-Cookie in, `name=value` back, verbatim
 * (quoted values included), for every service on 127.0.0.1 whatever its port.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AbstractStorage, Session } from '../../index.js'
import { buildApp, logLinesOf } from '../helpers/app.js'
import type { LogLine } from '../helpers/app.js'
import { atFakeDate } from '../helpers/clock.js'
import { parseSetCookie, setCookies } from '../helpers/cookies.js'
import type { Teardown } from '../helpers/teardown.js'

/** What a test sees of a response. `body` is the parsed JSON, or undefined. */
export interface Reply {
  status: number
  setCookies: string[]
  text: string
  body: unknown
}

/** What both services' `get`, `set`, `login`… routes return. */
export interface SessionView {
  new: boolean
  created: number
  identity: string | null
  empty: boolean
  session: Record<string, unknown>
  /** Python type names of the values (aiohttp side only). */
  types?: Record<string, string>
}

export interface SendOptions {
  body?: unknown
  /** Unix seconds: the instant the service believes it is for this request. */
  clock?: number | undefined
}

/** A service under test, whose replies are `R`. */
export interface Service<R extends Reply = Reply> {
  readonly name: string
  send (method: 'GET' | 'POST', path: string, cookie: string | undefined, options?: SendOptions): Promise<R>
}

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
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    // Closing stdin is the service's own shutdown signal; SIGTERM backs it up.
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.kill('SIGTERM')
    await exited
    clearTimeout(timer)
  }
}

/** One HTTP request to a service on 127.0.0.1; `options.clock` goes out as X-Clock. */
export async function sendHttp (port: number, method: 'GET' | 'POST', path: string, cookie: string | undefined, options: SendOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = {}
  if (cookie !== undefined) headers['cookie'] = cookie
  if (options.clock !== undefined) headers['x-clock'] = String(options.clock)
  let payload: Buffer | undefined
  if (options.body !== undefined) {
    payload = Buffer.from(JSON.stringify(options.body), 'utf8')
    headers['content-type'] = 'application/json'
  }
  return await new Promise<Reply>((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: response.statusCode ?? 0, setCookies: response.headers['set-cookie'] ?? [], text, body: parseJson(text) })
      })
    })
    request.on('error', reject)
    request.end(payload)
  })
}

/** Any HTTP service on a loopback port (the README example's processes). */
export class HttpService implements Service {
  readonly name: string
  readonly port: number

  constructor (name: string, port: number) {
    this.name = name
    this.port = port
  }

  async send (method: 'GET' | 'POST', path: string, cookie: string | undefined, options: SendOptions = {}): Promise<Reply> {
    return await sendHttp(this.port, method, path, cookie, options)
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

/** A reply of our side, with what it logged. */
export interface FastifyReply extends Reply {
  /** The log lines of this request alone. */
  logLines: LogLine[]
}

/** Our side: a Fastify app with the same routes as app.py, driven with inject. */
export class FastifyService implements Service<FastifyReply> {
  readonly name = 'fastify'
  readonly app: FastifyInstance

  constructor (app: FastifyInstance) {
    this.app = app
  }

  async send (method: 'GET' | 'POST', path: string, cookie: string | undefined, options: SendOptions = {}): Promise<FastifyReply> {
    const headers: Record<string, string> = {}
    if (cookie !== undefined) headers['cookie'] = cookie
    const inject = async () => await this.app.inject({
      method,
      url: path,
      headers,
      ...(options.body === undefined ? {} : { payload: options.body as object })
    })
    // Only Date is faked, and only for this request: the storage's clock, nothing else.
    const response = options.clock === undefined ? await inject() : await atFakeDate(options.clock, inject)
    return {
      status: response.statusCode,
      setCookies: setCookies(response),
      text: response.body,
      body: parseJson(response.body),
      logLines: logLinesOf(response)
    }
  }
}

export function describeSession (session: Session): SessionView {
  return { new: session.isNew, created: session.created, identity: session.identity, empty: session.empty, session: session.toJSON() }
}

function entriesOf (request: FastifyRequest): Array<[string, unknown]> {
  return Object.entries(request.body as Record<string, unknown>)
}

/** Starts our twin of app.py on `storage`, with its routes under `prefix`; closed in teardown. */
export async function startFastify (t: Teardown, storage: AbstractStorage, prefix = '/'): Promise<FastifyService> {
  const base = prefix.replace(/\/$/, '') + '/'
  const { app } = await buildApp(t, storage, (app) => {
    app.get(base + 'get', async (request) => describeSession(request.session))
    app.post(base + 'set', async (request) => {
      for (const [key, value] of entriesOf(request)) request.session.set(key, value)
      const maxAge = (request.query as { max_age?: string }).max_age
      if (maxAge !== undefined) request.session.maxAge = maxAge === 'none' ? undefined : Number(maxAge)
      return describeSession(request.session)
    })
    app.post(base + 'delete', async (request) => {
      for (const key of request.body as string[]) request.session.delete(key)
      return describeSession(request.session)
    })
    app.post(base + 'login', async (request) => {
      const session = request.newSession()
      for (const [key, value] of entriesOf(request)) session.set(key, value)
      return describeSession(session)
    })
    app.post(base + 'logout', async (request) => {
      request.session.invalidate()
      return describeSession(request.session)
    })
  })
  return new FastifyService(app)
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

interface StoredCookie {
  name: string
  value: string
  path: string
  secure: boolean
}

/**
 * A cookie jar with the browser rules that matter here (RFC 6265bis): Max-Age ≤ 0 or
 * a past `expires` deletes; `Path` scopes what is sent back; `__Secure-` cookies need
 * Secure, `__Host-` ones also Path=/ and no Domain, or the whole Set-Cookie (deletions
 * included) is ignored; a Domain that is not the host (127.0.0.1) is refused. Loopback
 * counts as a secure context, as in browsers. A positive Max-Age is not enforced: an
 * expired cookie that is still sent is what a replaying client or a skewed clock
 * produces, and the servers must refuse it themselves.
 */
export class Browser {
  readonly #cookies = new Map<string, StoredCookie>()
  /** Set-Cookie headers the jar refused, for tests that check a refusal. */
  readonly refused: string[] = []

  async get<R extends Reply> (service: Service<R>, path: string, options: SendOptions = {}): Promise<R> {
    return await this.#call(service, 'GET', path, options)
  }

  async post<R extends Reply> (service: Service<R>, path: string, body: unknown = {}, options: SendOptions = {}): Promise<R> {
    return await this.#call(service, 'POST', path, { ...options, body })
  }

  /** GET `path` and return the session view, failing on anything but a 200. */
  async read (service: Service, path = '/get', options: SendOptions = {}): Promise<SessionView> {
    return viewOf(service, await this.get(service, path, options))
  }

  /** POST `path` with `body` and return the session view, failing on anything but a 200. */
  async write (service: Service, path: string, body: unknown = {}, options: SendOptions = {}): Promise<SessionView> {
    return viewOf(service, await this.post(service, path, body, options))
  }

  /** The Cookie header for a request to `path`, longest path first, as browsers order it. */
  cookieHeader (path: string): string | undefined {
    const pairs = [...this.#cookies.values()]
      .filter((cookie) => pathMatches(path, cookie.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
    return pairs.length === 0 ? undefined : pairs.join('; ')
  }

  /** The raw (as sent) value of a cookie, or undefined. */
  value (name = 'AIOHTTP_SESSION', path = '/'): string | undefined {
    return this.#cookies.get(`${name}\0${path}`)?.value
  }

  /** Puts a raw value in the jar, as a tampering or replaying client would. */
  setValue (name: string, value: string, path = '/'): void {
    this.#cookies.set(`${name}\0${path}`, { name, value, path, secure: false })
  }

  clear (): void {
    this.#cookies.clear()
  }

  receive (headers: readonly string[]): void {
    for (const header of headers) this.#receiveOne(header)
  }

  #receiveOne (header: string): void {
    const { name, value, attributes } = parseSetCookie(header)
    const secure = attributes.has('secure')
    const path = attributes.get('path') ?? '/'
    const domain = attributes.get('domain')
    const refused = (domain !== undefined && domain !== '127.0.0.1') ||
      (name.startsWith('__Secure-') && !secure) ||
      (name.startsWith('__Host-') && (!secure || path !== '/' || domain !== undefined))
    if (refused) {
      this.refused.push(header)
      return
    }
    const key = `${name}\0${path}`
    const maxAge = attributes.get('max-age')
    const expires = attributes.get('expires')
    const deleted = maxAge !== undefined
      ? Number(maxAge) <= 0
      : expires !== undefined && Date.parse(expires.replace(/-/g, ' ')) <= Date.now()
    if (deleted) this.#cookies.delete(key)
    else this.#cookies.set(key, { name, value, path, secure })
  }

  async #call<R extends Reply> (service: Service<R>, method: 'GET' | 'POST', path: string, options: SendOptions): Promise<R> {
    const reply = await service.send(method, path, this.cookieHeader(path), options)
    this.receive(reply.setCookies)
    return reply
  }
}

function pathMatches (requestPath: string, cookiePath: string): boolean {
  const path = requestPath.split('?')[0] as string
  if (path === cookiePath) return true
  return path.startsWith(cookiePath) && (cookiePath.endsWith('/') || path[cookiePath.length] === '/')
}

function viewOf (service: Service, reply: Reply): SessionView {
  if (reply.status !== 200) throw new Error(`${service.name} answered ${reply.status}: ${reply.text}`)
  return reply.body as SessionView
}
