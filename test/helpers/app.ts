import type { IncomingMessage } from 'node:http'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions, LightMyRequestResponse } from 'fastify'
import sessionPlugin from '../../index.js'
import type { AbstractStorage } from '../../index.js'
import type { Teardown } from './teardown.js'

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

export interface TestApp {
  app: FastifyInstance
}

/** The id each request of a `buildApp` app was given, and the log it writes to. */
const requestLogs = new WeakMap<IncomingMessage, { id: string, logs: LogLine[] }>()
/** Counts requests over every app of the process, so no two requests share an id. */
let requestCount = 0

/**
 * A Fastify app with the session plugin registered on `storage` and a debug logger
 * whose lines logLinesOf(response) reads back per request; `routes` declares the
 * routes; `options` adds Fastify options (`trustProxy`…). Closed in teardown. The log as a whole is kept from tests on purpose: an
 * assertion on it could pass on a line an earlier request wrote.
 */
export async function buildApp (t: Teardown, storage: AbstractStorage, routes: (app: FastifyInstance) => void,
  options: Omit<FastifyServerOptions, 'logger' | 'genReqId'> = {}): Promise<TestApp> {
  const logs: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') logs.push(JSON.parse(line) as LogLine)
      }
      callback()
    }
  })
  const app = Fastify({
    ...options,
    logger: { level: 'debug', stream },
    genReqId (request) {
      const id = `request-${++requestCount}`
      requestLogs.set(request, { id, logs })
      return id
    }
  })
  t.teardown(() => app.close())
  await app.register(sessionPlugin, storage)
  routes(app)
  await app.ready()
  return { app }
}

/** `app.inject` in short: a method, a URL, the Cookie header and a JSON body, each optional past the URL. */
export type Inject = (method: 'GET' | 'POST', url: string, cookie?: string, body?: object) => Promise<LightMyRequestResponse>

export function injector (app: FastifyInstance): Inject {
  return async (method, url, cookie, body) => await app.inject({
    method,
    url,
    ...(cookie === undefined ? {} : { headers: { cookie } }),
    ...(body === undefined ? {} : { payload: body })
  })
}

/**
 * The log lines written while serving the request behind `response` (Fastify tags
 * them with its request id): what that one request caused, never a line left by an
 * earlier request or written meanwhile by a concurrent one.
 */
export function logLinesOf (response: LightMyRequestResponse): LogLine[] {
  return logLinesOfRequest(response.raw.req)
}

/** logLinesOf for a request that has no response to hold (a websocket's upgrade request: `request.raw`). */
export function logLinesOfRequest (raw: IncomingMessage): LogLine[] {
  const request = requestLogs.get(raw)
  if (request === undefined) throw new Error('logLinesOf: the request does not come from an app made by buildApp')
  return request.logs.filter((line) => line['reqId'] === request.id)
}

/** Whether fastify-sessions itself wrote `line` (its messages start with its name). */
export function isSessionLine (line: LogLine): boolean {
  return line.msg.startsWith('fastify-sessions')
}

/** The lines fastify-sessions itself logged for the request behind `response`. */
export function sessionLines (response: LightMyRequestResponse): LogLine[] {
  return logLinesOf(response).filter(isSessionLine)
}

/**
 * The one line fastify-sessions logged for the request behind `response`; undefined
 * when it logged none or several, so that a match against it fails.
 */
export function sessionLine (response: LightMyRequestResponse): LogLine | undefined {
  const lines = sessionLines(response)
  return lines.length === 1 ? lines[0] : undefined
}

/** The lines at error level for the request behind `response` (Fastify logs a failed request's error there). */
export function errorLines (response: LightMyRequestResponse): LogLine[] {
  return logLinesOf(response).filter((line) => line.level >= 50)
}
