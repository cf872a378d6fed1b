/**
 * Deterministic races between requests of one session. A request to `/hold/:name`
 * loads the session (the onRequest hook), applies its operations, then waits in its
 * handler until the test releases it; only then does it save (onSend). So the test
 * decides which requests overlap and in which order they save: no timing, no luck.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Session } from '../../index.js'
import { cookiePair } from './cookies.js'
import { recordKey } from './stores.js'
import type { StoreBackend } from './stores.js'

/** One operation a held request applies to its session before it waits. */
export type Operation =
  | readonly ['set', string, unknown]
  | readonly ['delete', string]
  /** Pushes a value onto the array under the key, in place, then calls `changed()`. */
  | readonly ['push', string, unknown]
  | readonly ['clear']
  | readonly ['invalidate']
  | readonly ['regenerate', readonly string[]]
  /** `request.newSession()` then sets `user`: a login. */
  | readonly ['login', string]

function apply (session: Session, operation: Operation, newSession: () => Session): Session {
  switch (operation[0]) {
    case 'set': session.set(operation[1], operation[2] as never); return session
    case 'delete': session.delete(operation[1]); return session
    case 'push': {
      (session.get(operation[1]) as unknown[]).push(operation[2])
      session.changed()
      return session
    }
    case 'clear': session.clear(); return session
    case 'invalidate': session.invalidate(); return session
    case 'regenerate': session.regenerate(operation[1]); return session
    case 'login': {
      const fresh = newSession()
      fresh.set('user', operation[1])
      return fresh
    }
  }
}

interface Held {
  reached: Promise<void>
  markReached: () => void
  released: Promise<void>
  release: () => void
}

function deferred (): [Promise<void>, () => void] {
  let settle!: () => void
  const promise = new Promise<void>((resolve) => { settle = resolve })
  return [promise, settle]
}

/** The holds of one app: each held request by name, reached (loaded and changed) and released. */
export class Holds {
  readonly #held = new Map<string, Held>()

  #get (name: string): Held {
    let held = this.#held.get(name)
    if (held === undefined) {
      const [reached, markReached] = deferred()
      const [released, release] = deferred()
      held = { reached, markReached, released, release }
      this.#held.set(name, held)
    }
    return held
  }

  /** Resolves once the request `name` has loaded its session and applied its operations. */
  async reached (name: string): Promise<void> {
    await this.#get(name).reached
  }

  /** Lets the request `name` go on to its save. */
  release (name: string): void {
    this.#get(name).release()
  }

  /**
   * `/hold/:name` (POST, body: the operations), `/read` (the session and its id), `/set`
   * (sets the body's keys, not held) and `/seed` (a new session holding the body), under
   * `prefix` (`/race` gives `/race/hold/:name`…).
   */
  routes (app: FastifyInstance, prefix = ''): void {
    app.post(prefix + '/hold/:name', async (request) => {
      const { name } = request.params as { name: string }
      let session = request.session
      for (const operation of request.body as Operation[]) session = apply(session, operation, () => request.newSession())
      const held = this.#get(name)
      held.markReached()
      await held.released
      return { ok: true }
    })
    app.get(prefix + '/read', async (request) => ({ data: request.session.toJSON(), identity: request.session.identity }))
    app.post(prefix + '/set', async (request) => {
      for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) request.session.set(key, value)
      return { ok: true }
    })
    app.post(prefix + '/seed', async (request) => {
      const session = request.newSession()
      for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) session.set(key, value)
      return { ok: true }
    })
  }
}

/** Starts a session holding `data`; returns the cookie a browser sends back for it. */
export async function seed (app: FastifyInstance, data: Readonly<Record<string, unknown>>): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/seed', payload: data })
  const pair = cookiePair(response)
  if (response.statusCode !== 200 || pair === undefined) throw new Error(`seeding answered ${response.statusCode}: ${response.body}`)
  return pair
}

/** The record key of the session a `name=value` cookie pair points to. */
export function recordKeyOfPair (pair: string): string {
  return recordKey(pair.slice(pair.indexOf('=') + 1))
}

/** The data of the record a session cookie points to, as stored (null when there is none). */
export async function storedData (backend: StoreBackend, cookie: string): Promise<Record<string, unknown> | null> {
  const raw = await backend.rawGet(recordKeyOfPair(cookie))
  if (raw === null) return null
  return (JSON.parse(raw.toString('utf8')) as { session: Record<string, unknown> }).session
}

/**
 * Starts one held request per entry of `requests` (all with `cookie`), waits until every
 * one has loaded and changed its session, then releases them in `order`: each step is a
 * name, or several names released at once (they then save concurrently), and saves before
 * the next step is released. Returns the responses by name.
 */
export async function race (app: FastifyInstance, holds: Holds, cookie: string | undefined,
  requests: Readonly<Record<string, readonly Operation[]>>, order: ReadonlyArray<string | readonly string[]>): Promise<Record<string, LightMyRequestResponse>> {
  const inFlight = new Map<string, Promise<LightMyRequestResponse>>()
  for (const [name, operations] of Object.entries(requests)) {
    inFlight.set(name, app.inject({ method: 'POST', url: `/hold/${name}`, headers: cookie === undefined ? {} : { cookie }, payload: operations as unknown as Record<string, unknown> }))
  }
  // A request that answers before it reached its hold (it failed to load) ends the race.
  await Promise.all([...inFlight].map(async ([name, response]) => await Promise.race([
    holds.reached(name),
    response.then((early) => { throw new Error(`${name} answered ${early.statusCode} before it was held: ${early.body}`) })
  ])))
  const responses: Record<string, LightMyRequestResponse> = {}
  for (const step of order) {
    const names = typeof step === 'string' ? [step] : step
    for (const name of names) holds.release(name)
    for (const name of names) responses[name] = await inFlight.get(name)!
  }
  return responses
}
