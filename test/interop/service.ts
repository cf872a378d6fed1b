/**
 * What the interop tests see of a service, whichever side serves it: the replies, the
 * session view every route returns, and plain HTTP to a service on a loopback port.
 * The services themselves are python-service.ts (the real aiohttp-session) and
 * fastify-service.ts (ours); browser.ts carries cookies between them.
 */
import { request as httpRequest } from 'node:http'

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

/** The parsed JSON of a body, or undefined when it is not JSON. */
export function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
