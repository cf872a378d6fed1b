/**
 * Our side: a Fastify app with the same routes as test/interop/python/app.py on the
 * storage a test gives, driven with inject.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AbstractStorage, Session } from '../../index.js'
import { buildApp, logLinesOf } from '../helpers/app.js'
import type { LogLine } from '../helpers/app.js'
import { atFakeDate } from '../helpers/clock.js'
import { setCookies } from '../helpers/cookies.js'
import { Holds } from '../helpers/race.js'
import type { Teardown } from '../helpers/teardown.js'
import { parseJson } from './service.js'
import type { Reply, SendOptions, Service, SessionView } from './service.js'

/** A reply of our side, with what it logged. */
export interface FastifyReply extends Reply {
  /** The log lines of this request alone. */
  logLines: LogLine[]
}

/** Our side: a Fastify app with the same routes as app.py, driven with inject. */
export class FastifyService implements Service<FastifyReply> {
  readonly name = 'fastify'
  readonly app: FastifyInstance
  /** Requests held between their load and their save, under `<prefix>race/` (test/helpers/race.ts). */
  readonly holds: Holds

  constructor (app: FastifyInstance, holds: Holds) {
    this.app = app
    this.holds = holds
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
  const holds = new Holds()
  const { app } = await buildApp(t, storage, (app) => {
    holds.routes(app, base + 'race')
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
  return new FastifyService(app, holds)
}
