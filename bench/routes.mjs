// The routes every benchmark server has. Handlers are identical across servers: each
// library exposes `request.session.get/set`, and the bare server a stand-in for it.

/** What GET /login stores; the benchmark then replays the cookie it gets back. */
export const SESSION_DATA = { user: 'bench-user', visits: 0, roles: ['reader', 'writer'] }

/**
 * The session API every library under test offers. Their type declarations of
 * `request.session` differ and all apply here, so the handlers use this one.
 * @typedef {{ get (key: string): any, set (key: string, value: unknown): void }} BenchSession
 */

/** @param {import('fastify').FastifyRequest} request */
const sessionOf = (request) => /** @type {BenchSession} */ (/** @type {unknown} */ (request.session))

/** @param {import('fastify').FastifyInstance} app */
export function addRoutes (app) {
  // Setup only (not measured): creates the session whose cookie the scenarios send.
  app.get('/login', async (request) => {
    for (const [key, value] of Object.entries(SESSION_DATA)) sessionOf(request).set(key, value)
    return { ok: true }
  })
  // read: a valid cookie, the session is read and not changed.
  // anon: the same route without a cookie.
  app.get('/read', async (request) => ({ user: sessionOf(request).get('user') ?? null }))
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
