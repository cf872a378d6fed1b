/**
 * Browsers drop a cookie over 4096 bytes (name=value) without a word, which users
 * experience as a random logout. Saving fails loudly instead.
 */
import t from 'tap'
import { COOKIE_SIZE_LIMIT, SessionTooLargeError, SimpleCookieStorage, generateKey } from '../index.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import type { FastifyInstance } from 'fastify'
import { buildApp, errorLines } from './helpers/app.js'
import { cookiePair, setCookies } from './helpers/cookies.js'

function routes (app: FastifyInstance): void {
  app.get('/fill/:size', async (request, reply) => {
    reply.header('set-cookie', 'other=kept')
    request.session.set('blob', 'x'.repeat(Number((request.params as { size: string }).size)))
    return 'ok'
  })
}

t.test('the limit is measured on name=value against 4096 bytes', async (t) => {
  t.equal(COOKIE_SIZE_LIMIT, 4096)
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  // {"created":1700000000,"session":{"blob":"x…"}} quoted: each " costs 2 bytes.
  const overhead = cookiePair(await app.inject('/fill/0'))?.length as number
  const atLimit = await app.inject(`/fill/${COOKIE_SIZE_LIMIT - overhead}`)
  t.equal(atLimit.statusCode, 200)
  t.equal(cookiePair(atLimit)?.length, COOKIE_SIZE_LIMIT, 'exactly 4096 bytes is accepted')

  const over = await app.inject(`/fill/${COOKIE_SIZE_LIMIT - overhead + 1}`)
  t.equal(over.statusCode, 500)
  t.match(over.json(), {
    code: 'FST_SESSIONS_TOO_LARGE',
    message: 'fastify-sessions: the session cookie would be 4097 bytes (name=value), over the 4096-byte limit browsers keep; store less in the session, or use a server-side storage (Redis, Memcached)'
  })
  t.same(setCookies(over), ['other=kept'], 'no session cookie is sent')
})

t.test('encryption overhead counts', async (t) => {
  const { app } = await buildApp(t, new EncryptedCookieStorage(generateKey()), routes)
  const response = await app.inject('/fill/3000')
  t.equal(response.statusCode, 500, '3000 bytes of data are over 4096 bytes once encrypted and encoded')
  t.match(errorLines(response), [{ err: { type: 'SessionTooLargeError', code: 'FST_SESSIONS_TOO_LARGE' } }])
  const error = new SessionTooLargeError(5000, 4096)
  t.match(error, { size: 5000, limit: 4096, statusCode: 500, name: 'SessionTooLargeError' })
})
