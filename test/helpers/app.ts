import { Writable } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import sessionPlugin from '../../index.js'
import type { AbstractStorage } from '../../index.js'

interface Teardown {
  teardown (fn: () => unknown): void
}

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

export interface TestApp {
  app: FastifyInstance
  /** Every log line the app wrote, parsed. */
  logs: LogLine[]
}

/**
 * A Fastify app with the session plugin registered on `storage` and a debug logger
 * captured into `logs`; `routes` declares the routes. Closed in teardown.
 */
export async function buildApp (t: Teardown, storage: AbstractStorage, routes: (app: FastifyInstance) => void): Promise<TestApp> {
  const logs: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') logs.push(JSON.parse(line) as LogLine)
      }
      callback()
    }
  })
  const app = Fastify({ logger: { level: 'debug', stream } })
  t.teardown(() => app.close())
  await app.register(sessionPlugin, storage)
  routes(app)
  await app.ready()
  return { app, logs }
}

/** All Set-Cookie header values of a response, in order. */
export function setCookies (response: LightMyRequestResponse): string[] {
  const header = response.headers['set-cookie']
  if (header === undefined) return []
  return Array.isArray(header) ? header : [header]
}

/** The `name=value` pairs a browser would send back for the Set-Cookie of `name`. */
export function cookiePair (response: LightMyRequestResponse, name = 'AIOHTTP_SESSION'): string | undefined {
  const matching = setCookies(response).filter((header) => header.startsWith(name + '='))
  if (matching.length > 1) throw new Error(`more than one Set-Cookie for ${name}: ${matching.join(' | ')}`)
  return matching[0]?.split('; ')[0]
}

/** Log lines at warn level or above that mention fastify-sessions. */
export function sessionWarnings (logs: LogLine[]): LogLine[] {
  return logs.filter((line) => line.level >= 40 && line.msg.startsWith('fastify-sessions'))
}
