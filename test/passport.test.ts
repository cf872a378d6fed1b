/**
 * @fastify/passport drives the session through get/set and regenerate(keep): login
 * gets a new identity (the fixation guard), logout drops the user.
 */
import { createRequire } from 'node:module'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest, preValidationHookHandler } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import sessionPlugin, { generateKey } from '../index.js'
import type { AbstractStorage } from '../index.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { cookiePair } from './helpers/cookies.js'
import { MemoryStorage } from './helpers/memory-storage.js'

/**
 * @fastify/passport is loaded untyped: its types import @fastify/flash's, which import
 * @fastify/secure-session's declaration of `request.session` and so clash with any
 * other session plugin's (see the README). Its runtime is what this test is about.
 */
interface StrategyBase {
  success (user: unknown): void
  fail (status: number): void
}
interface Passport {
  Authenticator: new () => {
    use (name: string, strategy: StrategyBase): void
    registerUserSerializer (serializer: (user: { id: string }) => Promise<string>): void
    registerUserDeserializer (deserializer: (id: string) => Promise<{ id: string }>): void
    initialize (): FastifyPluginAsync
    secureSession (): FastifyPluginAsync
    authenticate (name: string): preValidationHookHandler
  }
  Strategy: new (name: string) => StrategyBase
}
interface PassportRequest extends FastifyRequest {
  user?: unknown
  logout (): Promise<void>
}
const fastifyPassport = createRequire(import.meta.url)('@fastify/passport') as Passport

/** Logs in whoever `?user=` names. */
class QueryStrategy extends fastifyPassport.Strategy {
  authenticate (request: FastifyRequest): void {
    const user = (request.query as { user?: string }).user
    if (user === undefined) this.fail(401)
    else this.success({ id: user })
  }
}

async function buildPassportApp (t: Test, storage: AbstractStorage): Promise<FastifyInstance> {
  const passport = new fastifyPassport.Authenticator()
  passport.use('query', new QueryStrategy('query'))
  passport.registerUserSerializer(async (user: { id: string }) => user.id)
  passport.registerUserDeserializer(async (id: string) => ({ id }))
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionPlugin, storage)
  await app.register(passport.initialize())
  await app.register(passport.secureSession())
  app.get('/visit', async (request) => {
    request.session.set('cart', ['book'])
    return 'ok'
  })
  app.post('/login', { preValidation: passport.authenticate('query') }, async (request) => (request as PassportRequest).user)
  app.get('/me', async (request) => ({ user: (request as PassportRequest).user ?? null, cart: request.session.get('cart') ?? null }))
  app.post('/logout', async (request) => {
    await (request as PassportRequest).logout()
    return 'bye'
  })
  return app
}

for (const [name, storage] of [['EncryptedCookieStorage', () => new EncryptedCookieStorage(generateKey())], ['a server-side storage', () => new MemoryStorage()]] as const) {
  t.test(`login and logout with ${name}`, async (t) => {
    const store = storage()
    const app = await buildPassportApp(t, store)
    const visitor = cookiePair(await app.inject('/visit')) as string

    t.equal((await app.inject({ method: 'POST', url: '/login', headers: { cookie: visitor } })).statusCode, 401)
    const login = await app.inject({ method: 'POST', url: '/login?user=ann', headers: { cookie: visitor } })
    t.same(login.json(), { id: 'ann' })
    const member = cookiePair(login) as string
    t.not(member, visitor, 'login issues a new session cookie')
    t.same((await app.inject({ url: '/me', headers: { cookie: member } })).json(), { user: { id: 'ann' }, cart: null },
      'regenerate() on login cleared the pre-login data')
    if (store instanceof MemoryStorage) {
      t.same((await app.inject({ url: '/me', headers: { cookie: visitor } })).json(), { user: null, cart: null },
        'and deleted the pre-login record: the old id is worthless (fixation)')
      t.equal(store.records.size, 1)
    }

    const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: member } })
    t.equal(logout.body, 'bye')
    const after = cookiePair(logout)
    t.same((await app.inject({ url: '/me', headers: after === undefined ? {} : { cookie: after } })).json(), { user: null, cart: null }, 'logged out')
    if (store instanceof MemoryStorage) {
      t.same((await app.inject({ url: '/me', headers: { cookie: member } })).json(), { user: null, cart: null }, 'the logged-in id is dead')
    }
  })
}
