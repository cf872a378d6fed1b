import type { FastifyInstance } from 'fastify'

/**
 * The routes the server-side storage tests drive: /read returns the session's data,
 * isNew and identity; /set sets the body's values (and `maxAge` for this response) and
 * returns the maxAge in force; /login starts a new session for the body's `user`;
 * /logout invalidates; /health has opted out of sessions.
 */
export function storeRoutes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ data: request.session.toJSON(), isNew: request.session.isNew, identity: request.session.identity }))
  app.post('/set', async (request) => {
    const { maxAge, ...data } = request.body as Record<string, unknown>
    for (const [key, value] of Object.entries(data)) request.session.set(key, value)
    if (typeof maxAge === 'number') request.session.maxAge = maxAge
    return { maxAge: request.session.maxAge ?? null }
  })
  app.post('/login', async (request) => {
    request.newSession().set('user', (request.body as { user: string }).user)
    return { ok: true }
  })
  app.post('/logout', async (request) => {
    request.session.invalidate()
    return { ok: true }
  })
  app.get('/health', { config: { session: false } }, async () => 'ok')
}

/**
 * storeRoutes and the session operations the StoreStorage tests drive: /regenerate
 * keeps `keep` and promotes the user, /new-empty starts an empty session, /changed
 * and /clear mark or empty the session, /identity starts a session under the body's
 * `id` (given up again when `regenerate` is true).
 */
export function sessionOperationRoutes (app: FastifyInstance): void {
  storeRoutes(app)
  app.post('/regenerate', async (request) => {
    request.session.regenerate(['keep'])
    request.session.set('user', 'promoted')
    return { ok: true }
  })
  app.post('/new-empty', async (request) => {
    request.newSession()
    return { ok: true }
  })
  app.post('/changed', async (request) => {
    request.session.changed()
    return { ok: true }
  })
  app.post('/clear', async (request) => {
    request.session.clear()
    return { ok: true }
  })
  app.post('/identity', async (request) => {
    const { id, regenerate } = request.body as { id: string, regenerate?: boolean }
    const session = request.newSession()
    session.setNewIdentity(id)
    if (regenerate === true) session.regenerate()
    session.set('user', 'chosen')
    return { ok: true }
  })
}
