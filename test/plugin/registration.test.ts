/**
 * Registering the plugin: what it accepts as options, once per context, its metadata,
 * routes declared before it loads, and the route option `config.session`.
 */
import Fastify from 'fastify'
import t from 'tap'
import sessionPlugin, { SessionConfigError, SimpleCookieStorage } from '../../index.js'
import { cookiePair } from '../helpers/cookies.js'

t.test('registration', async (t) => {
  t.test('the options must be a storage; anything else names what is expected', async (t) => {
    for (const options of [undefined, {}, { loadSession () {}, saveSession () {} }, 'storage']) {
      const app = Fastify()
      t.teardown(() => app.close())
      await t.rejects(async () => { await app.register(sessionPlugin, options as never) }, {
        name: 'SessionConfigError', message: /register\(sessionPlugin, storage\) expects the storage itself as the options/
      })
    }
  })

  t.test('once per context', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionPlugin, new SimpleCookieStorage())
    await t.rejects(async () => { await app.register(sessionPlugin, new SimpleCookieStorage()) }, SessionConfigError)
  })

  t.test('plugin metadata', async (t) => {
    const meta = (sessionPlugin as unknown as Record<symbol, { name: string, fastify: string }>)[Symbol.for('plugin-meta')]
    t.match(meta, { name: 'fastify-sessions', fastify: '5.x' })
  })

  t.test('routes declared before the plugin has loaded get sessions too', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(sessionPlugin, new SimpleCookieStorage())
    app.get('/', async (request) => {
      request.session.set('a', 1)
      return 'ok'
    })
    const response = await app.inject('/')
    t.match(cookiePair(response), /^AIOHTTP_SESSION=/)
  })

  t.test('config.session must be a boolean', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionPlugin, new SimpleCookieStorage())
    t.throws(() => app.get('/', { config: { session: 'false' as unknown as boolean } }, async () => 'x'),
      { name: 'SessionConfigError', message: /config\.session on GET \/ must be a boolean; got a string/ })
    t.doesNotThrow(() => app.get('/yes', { config: { session: true } }, async () => 'x'))
  })
})
