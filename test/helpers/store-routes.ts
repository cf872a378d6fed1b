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
