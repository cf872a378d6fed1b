/**
 * A route with `config: { session: false }` has no session at all: using one fails
 * with a message that says why, and the cookie is not even looked for.
 */
import t from 'tap'
import { getSession } from '../../index.js'
import { buildApp } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { CountingStorage } from '../helpers/counting-storage.js'

t.test('config: { session: false } opts a route out entirely', async (t) => {
  const storage = new CountingStorage()
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/health', { config: { session: false } }, async (request) => {
      const errors = []
      for (const use of [() => request.session, () => request.newSession()]) {
        try { use() } catch (error) { errors.push((error as Error).message) }
      }
      await getSession(request).catch((error: Error) => errors.push(error.message))
      return errors
    })
  })
  const cookie = cookiePair(await (async () => {
    const writer = await buildApp(t, storage, (app) => app.get('/', async (request) => { request.session.set('a', 1); return 'x' }))
    return writer.app.inject('/')
  })()) as string
  storage.cookieReads = 0
  storage.opened = 0
  const response = await app.inject({ url: '/health', headers: { cookie } })
  t.same(response.json(), Array(3).fill('fastify-sessions: request.session is not available on GET /health: the route opted out with config: { session: false }'))
  t.equal(storage.cookieReads, 0, 'the cookie is not even looked for')
  t.equal(storage.opened, 0)
  t.same(setCookies(response), [])
})
