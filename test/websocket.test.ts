/**
 * Sessions on a real `@fastify/websocket` route, driven by a real `ws` client that
 * carries the cookie a login over HTTP gave it. The upgrade request reads the session
 * like any request; `await request.saveSession()` writes a Redis/Memcached record
 * without a reply (the next HTTP request sees the change), refuses what only a
 * Set-Cookie could carry (a new id), and cookie storages explain why they cannot save.
 */
import t from 'tap'
import { generateKey } from '../index.js'
import type { AbstractStorage } from '../index.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { SimpleCookieStorage } from '../storages/simple-cookie.js'
import { buildApp, injector } from './helpers/app.js'
import type { Inject } from './helpers/app.js'
import { cookiePair } from './helpers/cookies.js'
import { ioDuring, recordKey, storeBackends } from './helpers/stores.js'
import { SocketClient, listen, websocketRoutes } from './helpers/websocket.js'
import type { Teardown } from './helpers/teardown.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

interface SocketApp {
  inject: Inject
  port: number
}

async function socketApp (t: Teardown, storage: AbstractStorage): Promise<SocketApp> {
  const { app } = await buildApp(t, storage, websocketRoutes)
  return { inject: injector(app), port: await listen(app) }
}

/** The session id in a server-side storage's cookie pair. */
function idOf (cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1)
}

/** Logs `user` in over HTTP and returns the cookie pair a browser would send back. */
async function login (inject: Inject, user = 'ann'): Promise<string> {
  return cookiePair(await inject('POST', '/login', undefined, { user })) as string
}

const ok = { result: null }

for (const backend of backends) {
  t.test(`${backend.name}: the socket reads the session its cookie names, and saves changes without a reply`, async (t) => {
    const { inject, port } = await socketApp(t, backend.storage())
    const cookie = await login(inject)
    const id = idOf(cookie)
    const socket = await SocketClient.connect(t, port, `theme=dark; ${cookie}`)

    t.same(await socket.send({ op: 'read' }), { result: { data: { user: 'ann' }, isNew: false, identity: id } }, 'the upgrade request loaded the session')

    t.same(await socket.send({ op: 'set', key: 'visits', value: 1 }), ok)
    const [saved, io] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(saved, ok, 'await request.saveSession() resolves')
    t.same(io, { reads: 0, writes: 1, deletes: 0 }, 'one write, and nothing else')
    const seen = await inject('GET', '/read', cookie)
    t.same(seen.json(), { data: { user: 'ann', visits: 1 }, isNew: false, identity: id }, 'the next HTTP request sees the change, under the same id')
    t.same(seen.headers['set-cookie'], undefined)

    const [unchanged, idle] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(unchanged, ok)
    t.same(idle, { reads: 0, writes: 0, deletes: 0 }, 'saving an unchanged session writes nothing')

    t.same(await socket.send({ op: 'set', key: 'visits', value: 2 }), ok)
    t.same(await socket.send({ op: 'save-function' }), ok, 'saveSession(request) does the same')
    t.same((await inject('GET', '/read', cookie)).json(), { data: { user: 'ann', visits: 2 }, isNew: false, identity: id },
      'a later change on the same socket is saved by saving again')
  })

  t.test(`${backend.name}: a session that needs a new id cannot be saved over the socket`, async (t) => {
    const { inject, port } = await socketApp(t, backend.storage())
    const cookie = await login(inject)
    const refused = { error: { name: 'SessionNotAvailableError', code: 'FST_SESSIONS_NOT_AVAILABLE', message: /cannot save this session without a reply: it needs a new id.*Log in and out over HTTP/ } }

    const anonymous = await SocketClient.connect(t, port)
    t.same(await anonymous.send({ op: 'set', key: 'user', value: 'eve' }), ok)
    const [answer, io] = await ioDuring(backend, async () => await anonymous.send({ op: 'save' }))
    t.match(answer, refused, 'a socket without a cookie: its new session has no id the client knows')
    t.same(io, { reads: 0, writes: 0, deletes: 0 }, 'and nothing was written')

    const unknown = await SocketClient.connect(t, port, 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef')
    t.same(await unknown.send({ op: 'set', key: 'user', value: 'eve' }), ok)
    t.match(await unknown.send({ op: 'save' }), refused, 'an unknown id gave a new session: the same')

    for (const steps of [[{ op: 'new-session' }], [{ op: 'regenerate' }], [{ op: 'invalidate' }]] as const) {
      const socket = await SocketClient.connect(t, port, cookie)
      for (const step of steps) t.same(await socket.send(step), ok)
      t.same(await socket.send({ op: 'set', key: 'user', value: 'mallory' }), ok)
      const [refusal, untouched] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
      t.match(refusal, refused, `${steps[0].op}, then data: refused`)
      t.same(untouched, { reads: 0, writes: 0, deletes: 0 })
    }
    t.same((await inject('GET', '/read', cookie)).json(), { data: { user: 'ann' }, isNew: false, identity: idOf(cookie) },
      'the session the cookie names is untouched')
  })

  t.test(`${backend.name}: invalidate() over the socket ends the session`, async (t) => {
    const { inject, port } = await socketApp(t, backend.storage())
    const cookie = await login(inject)
    const key = recordKey(idOf(cookie))
    const socket = await SocketClient.connect(t, port, cookie)
    t.same(await socket.send({ op: 'invalidate' }), ok)
    const [saved, io] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(saved, ok, 'allowed without a reply')
    t.same(io, { reads: 0, writes: 0, deletes: 1 }, 'the record is deleted')
    t.equal(await backend.rawGet(key), null)
    t.same((await inject('GET', '/read', cookie)).json(), { data: {}, isNew: true, identity: null },
      'the cookie the client still holds now loads as a new session')
  })
}

const cookieStorages: Array<[string, () => AbstractStorage]> = [
  ['SimpleCookieStorage', () => new SimpleCookieStorage()],
  ['EncryptedCookieStorage', () => new EncryptedCookieStorage(generateKey())],
  ['NaClCookieStorage', () => new NaClCookieStorage(generateKey())]
]

for (const [name, storage] of cookieStorages) {
  t.test(`${name}: the socket reads the session; saving says why it cannot`, async (t) => {
    const { inject, port } = await socketApp(t, storage())
    const cookie = await login(inject)
    const socket = await SocketClient.connect(t, port, cookie)
    t.same(await socket.send({ op: 'read' }), { result: { data: { user: 'ann' }, isNew: false, identity: null } })

    const explained = {
      error: {
        name: 'SessionNotAvailableError',
        code: 'FST_SESSIONS_NOT_AVAILABLE',
        message: `fastify-sessions: request.saveSession() on GET /socket: ${name} keeps the session in the cookie, and there is no reply ` +
          'here to carry one (a websocket route, or a reply that was hijacked or has been sent), so changes made here cannot be saved. ' +
          'Change the session in an HTTP route, or use a server-side storage (RedisStorage, MemcachedStorage), which saves without a reply.'
      }
    }
    t.same(await socket.send({ op: 'save' }), explained, 'even with nothing changed: the call can never work here')
    t.same(await socket.send({ op: 'set', key: 'visits', value: 1 }), ok)
    t.same(await socket.send({ op: 'save' }), explained)
    t.same(await socket.send({ op: 'save-function' }), explained, 'saveSession(request) too')
    t.same((await inject('GET', '/read', cookie)).json(), { data: { user: 'ann' }, isNew: false, identity: null })
  })
}
