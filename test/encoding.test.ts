import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import t from 'tap'
import { AbstractStorage, Session, SimpleCookieStorage } from '../index.js'
import type { SessionEnvelope } from '../index.js'
import { buildApp, errorLines } from './helpers/app.js'
import { cookiePair, setCookies } from './helpers/cookies.js'
import { MemoryStorage } from './helpers/memory-storage.js'
import { quoteCookieValue, unquoteCookieValue } from '../lib/wire/cookie.js'

function routes (app: FastifyInstance): void {
  app.get('/set/bigint', async (request) => {
    // The types refuse a bigint; JavaScript callers (and casts) can still pass one.
    request.session.set('n', 10n as unknown as number)
    return 'ok'
  })
  app.get('/set/two', async (request) => {
    request.session.set('a', 1).set('secret', 's')
    return 'ok'
  })
  app.get('/mutate', async (request) => {
    request.session.set('plain', 1).set('list', [1])
    // Changed in place after set(): only the save can notice.
    ;(request.session.get('list') as unknown[]).push(10n)
    return 'ok'
  })
  app.get('/set/list', async (request) => {
    request.session.set('list', [1])
    return 'ok'
  })
  app.get('/set/b', async (request) => {
    request.session.set('b', 2)
    return 'ok'
  })
  app.get('/to-json-undefined', async (request) => {
    request.session.set('box', {})
    // A toJSON added in place after set(): JSON.stringify then writes nothing for the key.
    ;(request.session.get('box') as { toJSON?: () => undefined }).toJSON = () => undefined
    request.session.changed()
    return 'ok'
  })
  app.get('/mutate-loaded', async (request) => {
    // A loaded value edited in place, then changed(): the save compares it with what was
    // loaded, and the comparison itself cannot encode it.
    ;(request.session.get('list') as unknown[]).push(10n)
    request.session.changed()
    return 'ok'
  })
  app.get('/set/text', async (request) => {
    request.session.set('name', 'Zoë 😀')
    return 'ok'
  })
  app.get('/read', async (request) => ({ name: request.session.get('name') ?? null }))
}

t.test('a value JSON cannot hold is refused by set(), naming the key', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const response = await app.inject('/set/bigint')
  t.equal(response.statusCode, 500)
  t.match(response.json(), {
    code: 'FST_SESSIONS_ENCODING',
    message: "fastify-sessions: session.set('n', …): n is a bigint, which JSON.stringify cannot encode (it throws); store it as a string (String(value)) instead"
  })
  t.same(setCookies(response), [])
})

t.test('a value changed in place after set() fails the save, naming the key and the path; the cause is logged once', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const response = await app.inject('/mutate')
  t.equal(response.statusCode, 500)
  const message = 'fastify-sessions: the session could not be encoded: list[1] is a bigint, which JSON.stringify cannot encode (it throws); ' +
    'store it as a string (String(value)) instead'
  t.match(response.json(), { code: 'FST_SESSIONS_ENCODING', message })
  t.same(setCookies(response), [])
  const failure = errorLines(response).find((line) => (line['err'] as { code?: string } | undefined)?.code === 'FST_SESSIONS_ENCODING')
  const logged = failure?.['err'] as { message: string, stack: string }
  t.equal(failure?.msg, message, 'the log line\'s msg is our message')
  t.equal(logged.message, `${message}: Do not know how to serialize a BigInt`, 'the encoder\'s error appears once, as the cause')
  t.match(logged.stack, /caused by: TypeError: Do not know how to serialize a BigInt/, 'with its stack')
})

t.test('a loaded value changed in place into one JSON cannot hold fails the save the same way', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const cookie = cookiePair(await app.inject('/set/list'))
  const response = await app.inject({ url: '/mutate-loaded', headers: { cookie } })
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'FST_SESSIONS_ENCODING', message: /the session could not be encoded: list\[1\] is a bigint/ })
  t.same(setCookies(response), [])
})

t.test('a value whose toJSON gives nothing fails the save, naming the key', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const response = await app.inject('/to-json-undefined')
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'FST_SESSIONS_ENCODING', message: "fastify-sessions: the session could not be encoded: the value of 'box' has no JSON form (its toJSON() returned nothing)" })
  t.same(setCookies(response), [])
})

t.test('a stored session without created (aiohttp reads it as created now) is saved with its members and a created', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const cookie = `AIOHTTP_SESSION=${quoteCookieValue('{"session": {"a": 1.0}}')}`
  const response = await app.inject({ url: '/set/b', headers: { cookie } })
  t.equal(response.statusCode, 200)
  const written = unquoteCookieValue(cookiePair(response)!.slice('AIOHTTP_SESSION='.length))
  t.match(written, /^\{"created":\d+,"session":\{"a":1\.0,"b":2\}\}$/, 'the untouched member keeps its bytes; created is now')
})

t.test('a custom decoder that cannot read the loaded text a second time: the save writes the session whole', async (t) => {
  const seen = new Set<string>()
  const decodesOnce = (text: string): unknown => {
    if (seen.has(text)) throw new Error('each text once')
    seen.add(text)
    return JSON.parse(text)
  }
  const { app } = await buildApp(t, new SimpleCookieStorage({ decoder: decodesOnce }), routes)
  const cookie = cookiePair(await app.inject('/set/list'))!
  const response = await app.inject({ url: '/set/b', headers: { cookie } })
  t.equal(response.statusCode, 200)
  const written = JSON.parse(unquoteCookieValue(cookiePair(response)!.slice('AIOHTTP_SESSION='.length))) as { session: unknown }
  t.same(written.session, { list: [1], b: 2 }, 'no record to merge into: the data as the request holds it')
})

t.test('a custom encoder\'s failure names the key it fails on, where one can be found', async (t) => {
  const pickyEncoder = (envelope: SessionEnvelope): string => {
    if (envelope.session !== undefined && 'secret' in envelope.session) throw new Error('no secrets here')
    return JSON.stringify(envelope)
  }
  const picky = await buildApp(t, new SimpleCookieStorage({ encoder: pickyEncoder }), routes)
  const named = await picky.app.inject('/set/two')
  t.match(named.json(), { code: 'FST_SESSIONS_ENCODING', message: "fastify-sessions: the session could not be encoded: the encoder fails on the value of 'secret'" })

  const always = await buildApp(t, new SimpleCookieStorage({ encoder: () => { throw new Error('never') } }), routes)
  t.match((await always.app.inject('/set/two')).json(), { message: 'fastify-sessions: the session could not be encoded: the encoder threw' },
    'failing on every key alone: no key to blame')
  t.match((await always.app.inject('/set/text')).json(), { message: "fastify-sessions: the session could not be encoded: the encoder fails on the value of 'name'" },
    'unless there is only one')

  const onlyOne = (envelope: SessionEnvelope): string => {
    if (Object.keys(envelope.session ?? {}).length > 1) throw new Error('one key at most')
    return JSON.stringify(envelope)
  }
  const whole = await buildApp(t, new SimpleCookieStorage({ encoder: onlyOne }), routes)
  t.match((await whole.app.inject('/set/two')).json(), { message: 'fastify-sessions: the session could not be encoded: the encoder threw' },
    'failing on the whole only: no key to blame')
})

t.test('an encoder must return a string', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage({ encoder: () => 42 as unknown as string }), routes)
  const response = await app.inject('/set/text')
  t.match(response.json(), { code: 'FST_SESSIONS_ENCODING', message: 'fastify-sessions: the encoder must return a string; it returned number' })
})

t.test('Simple: the default encoder keeps the cookie ASCII, as Python\'s json.dumps does', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const cookie = cookiePair(await app.inject('/set/text')) as string
  t.ok(cookie.includes(String.raw`\"Zo\\u00eb \\ud83d\\ude00\"`), 'non-ASCII as \\u escapes (then quoted)')
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { name: 'Zoë 😀' })
})

t.test('Simple: a custom encoder\'s non-ASCII output travels as UTF-8 bytes', async (t) => {
  const storage = new SimpleCookieStorage({
    encoder: (envelope: SessionEnvelope) => 'custom:' + JSON.stringify(envelope),
    decoder: (text: string) => JSON.parse(text.slice('custom:'.length))
  })
  const { app } = await buildApp(t, storage, routes)
  const cookie = cookiePair(await app.inject('/set/text')) as string
  t.match(cookie, /Zo\\303\\253 \\360\\237\\230\\200/, 'quoted as octal bytes, which Python decodes too')
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { name: 'Zoë 😀' })
})

t.test('a server-side storage may load synchronously', async (t) => {
  class SyncStorage extends AbstractStorage {
    loads = 0
    override loadSession (): Session {
      this.loads++
      return this.newSession()
    }

    override saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): void {
      this.saveCookie(reply, 'fixed-id', session.maxAge)
    }
  }
  const storage = new SyncStorage()
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/', async (request) => {
      request.session.set('a', 1)
      return request.session.isNew
    })
  })
  const response = await app.inject('/')
  t.equal(response.body, 'true')
  t.equal(cookiePair(response), 'AIOHTTP_SESSION=fixed-id')
  t.equal(storage.loads, 1)
})

t.test('encodeSession writes {} for an empty session, as aiohttp does', async (t) => {
  class Exposed extends MemoryStorage {
    encode (session: Session): string {
      return this.encodeSession(session)
    }
  }
  const storage = new Exposed()
  t.equal(storage.encode(storage.newSession()), '{}')
  t.equal(storage.encode(new Session({ data: { a: 1 }, created: 5 })), '{"created":5,"session":{"a":1}}')
})
