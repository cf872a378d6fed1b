import type { FastifyInstance } from 'fastify'

/**
 * A visit counter: /count increments `visits` (a change), /read reads it (no change),
 * /ignore never touches the session.
 */
export function counterRoutes (app: FastifyInstance): void {
  app.get('/count', async (request) => {
    const visits = ((request.session.get('visits') as number | undefined) ?? 0) + 1
    request.session.set('visits', visits)
    return { visits }
  })
  app.get('/read', async (request) => ({ visits: request.session.get('visits') ?? null, isNew: request.session.isNew }))
  app.get('/ignore', async () => 'no session used')
}
