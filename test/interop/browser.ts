/**
 * A browser for the interop tests: it carries cookies between the services exactly as
 * a browser would, Set-Cookie in and `name=value` back verbatim (quoted values
 * included), for every service on 127.0.0.1 whatever its port.
 */
import { SESSION_COOKIE, parseSetCookie } from '../helpers/cookies.js'
import type { Reply, SendOptions, Service, SessionView } from './service.js'

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

  /** A browser whose only cookie is `name=value`, as a replaying or forging client holds it. */
  static holding (value: string, name = SESSION_COOKIE): Browser {
    const browser = new Browser()
    browser.setValue(name, value)
    return browser
  }

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
  value (name = SESSION_COOKIE, path = '/'): string | undefined {
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
