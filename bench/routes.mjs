// The routes every benchmark server has. Handlers are identical across servers: each
// library exposes `request.session.get/set`, and the bare server a stand-in for it.
import { AsyncLocalStorage } from 'node:async_hooks'

/** What GET /login stores; the benchmark then replays the cookie it gets back. */
export const SESSION_DATA = { user: 'bench-user', visits: 0, roles: ['reader', 'writer'] }

/**
 * The session API every library under test offers. Their type declarations of
 * `request.session` differ and all apply here, so the handlers use this one.
 * @typedef {{ get (key: string): any, set (key: string, value: unknown): void }} BenchSession
 */

/** @param {import('fastify').FastifyRequest} request */
const sessionOf = (request) => /** @type {BenchSession} */ (/** @type {unknown} */ (request.session))

/**
 * How old the session of GET /login-old is: past rolling's `refreshAfter` (a tenth of the
 * one-hour lifetime) and well within the lifetime itself.
 */
export const OLD_SESSION_SECONDS = 1800

const realDateNow = Date.now
/** @type {import('fastify').onRequestHookHandler} */
function clockBehind (request, reply, done) {
  const current = Date.now
  Date.now = () => current() - OLD_SESSION_SECONDS * 1000
  restore = () => { Date.now = current }
  done()
}
let restore = () => {}
/** @type {import('fastify').onResponseHookHandler} */
function clockRestored (request, reply, done) {
  restore()
  done()
}

/**
 * For a server-side storage, an old cookie is not enough: the first refresh makes the
 * record young. A server that asks for it (`advanceClockOnOldReads`) sees Date run
 * CLOCK_STEP_SECONDS further for each GET /read-old, and only within those requests (an
 * AsyncLocalStorage, so the other scenarios keep the real time). The rolling-old
 * scenario sends its sessions in turn (4 per connection: 128 with 32 connections), so
 * each comes back ~1280 s (virtual) after its last refresh: past refreshAfter (360 s),
 * within maxAge (3600 s), so every request refreshes the session it sends. (With fewer
 * than 10 or more than 90 connections that gap leaves those bounds.)
 */
const CLOCK_STEP_SECONDS = 10
const virtualOffset = new AsyncLocalStorage()
let clockOffset = 0
/** @type {import('fastify').onRequestHookHandler} */
function clockAdvanced (request, reply, done) {
  clockOffset += CLOCK_STEP_SECONDS * 1000
  virtualOffset.enterWith(clockOffset)
  done()
}

/**
 * @param {import('fastify').FastifyInstance} app
 * @param {{ advanceClockOnOldReads?: boolean }} [entry]  the server's entry in servers.mjs
 */
export function addRoutes (app, entry = {}) {
  if (entry.advanceClockOnOldReads === true) Date.now = () => realDateNow() + (virtualOffset.getStore() ?? 0)
  // Setup only (not measured): creates the session whose cookie the scenarios send.
  app.get('/login', async (request) => {
    for (const [key, value] of Object.entries(SESSION_DATA)) sessionOf(request).set(key, value)
    return { ok: true }
  })
  // Setup only, for the rolling worst case: the same session, created OLD_SESSION_SECONDS
  // ago (Date runs that far behind for this one request, its save included), so that
  // a server with rolling sessions refreshes it on every request that sends it back.
  app.get('/login-old', { onRequest: clockBehind, onResponse: clockRestored }, async (request) => {
    for (const [key, value] of Object.entries(SESSION_DATA)) sessionOf(request).set(key, value)
    return { ok: true }
  })
  // untouched: a route that never uses request.session (rolling: the cookie may still be refreshed).
  app.get('/untouched', async () => ({ ok: true }))
  // read: a valid cookie, the session is read and not changed.
  // anon: the same route without a cookie.
  app.get('/read', async (request) => ({ user: sessionOf(request).get('user') ?? null }))
  // rolling-old: the same handler, with the cookie of GET /login-old.
  app.get('/read-old', entry.advanceClockOnOldReads === true ? { onRequest: clockAdvanced } : {},
    async (request) => ({ user: sessionOf(request).get('user') ?? null }))
  // write: the session changes on every request (a new cookie or record each time).
  app.get('/write', async (request) => {
    const session = sessionOf(request)
    const visits = (session.get('visits') ?? 0) + 1
    session.set('visits', visits)
    return { visits }
  })
  // optout: a route that opted out of sessions (ours); the peers have no equivalent.
  app.get('/health', { config: { session: false } }, async () => ({ ok: true }))
  // concurrent: several requests of one session at once, each setting its own key.
  app.get('/write-key', async (request, reply) => {
    const key = writeKey(request)
    if (key === undefined) return reply.code(400).send({ error: 'key must be one of the concurrent keys' })
    sessionOf(request).set(key, true)
    return { ok: true }
  })
  // concurrent: which of those keys the session holds once the writes are answered.
  app.get('/keys', async (request) => {
    const session = sessionOf(request)
    return { user: session.get('user') ?? null, present: CONCURRENT_KEYS.filter((key) => session.get(key) === true) }
  })
}

/**
 * The keys the concurrent scenario writes (`c0` … `c63`). A fixed list, so that the
 * read-back route asks every library for the same keys with `get` alone (the one
 * reading method all of them offer) and a request cannot create arbitrary keys.
 */
export const CONCURRENT_KEYS = Array.from({ length: 64 }, (_, index) => `c${index}`)
const CONCURRENT_KEY_SET = new Set(CONCURRENT_KEYS)

/** @param {import('fastify').FastifyRequest} request */
function writeKey (request) {
  const { key } = /** @type {{ key?: unknown }} */ (request.query)
  return typeof key === 'string' && CONCURRENT_KEY_SET.has(key) ? key : undefined
}
