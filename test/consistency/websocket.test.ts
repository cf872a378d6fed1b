/**
 * Saves without a reply (`request.saveSession()` on a real `@fastify/websocket` route)
 * take the same consistent path as any save, on Redis and Memcached: the socket's
 * session, loaded at the upgrade and saved much later, is merged into the record as it
 * stands; a logout meanwhile drops the save and ends the socket's session; each save
 * merges over what the one before wrote; and what changes while a save waits for the
 * store (the next message) is saved by the next save, never forgotten.
 */
import t from 'tap'
import type { Test } from 'tap'
import { buildApp, injector } from '../helpers/app.js'
import type { Inject } from '../helpers/app.js'
import { cookiePair } from '../helpers/cookies.js'
import { recordKeyOfPair, storedData } from '../helpers/race.js'
import { ioDuring, storeBackends } from '../helpers/stores.js'
import type { StoreBackend } from '../helpers/stores.js'
import { SocketClient, listen, websocketRoutes } from '../helpers/websocket.js'

const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

const ok = { result: null }

interface Connected {
  inject: Inject
  cookie: string
  socket: SocketClient
}

/** An app with the websocket route, a login over HTTP, and a socket that carries its cookie. */
async function connected (t: Test, backend: StoreBackend): Promise<Connected> {
  const { app } = await buildApp(t, backend.storage(), websocketRoutes)
  const inject = injector(app)
  const port = await listen(app)
  const cookie = cookiePair(await inject('POST', '/login', undefined, { user: 'ann' })) as string
  t.same((await inject('POST', '/set', cookie, { list: [1] })).statusCode, 200)
  const socket = await SocketClient.connect(t, port, cookie)
  return { inject, cookie, socket }
}

/**
 * Runs `during` just before the next write the storage sends reaches the server (once):
 * the save has encoded what it writes, and waits for the store.
 */
function beforeNextWrite (t: Test, backend: StoreBackend, during: () => Promise<void>): void {
  backend.beforeWrites(async () => {
    backend.beforeWrites(undefined)
    await during()
  })
  t.teardown(() => { backend.beforeWrites(undefined) })
}

for (const backend of backends) {
  // After a write, Redis's compare-and-set reports the record's new version; Memcached's
  // does not, so the next save of the same session reads it first.
  const readBeforeNextSave = backend.name === 'Memcached' ? 1 : 0

  t.test(`${backend.name}: the socket's change and a concurrent HTTP change to another key both survive`, async (t) => {
    const { inject, cookie, socket } = await connected(t, backend)
    t.same(await socket.send({ op: 'set', key: 'visits', value: 1 }), ok)
    t.same((await inject('POST', '/set', cookie, { theme: 'dark' })).statusCode, 200, 'an HTTP request changes another key after the socket loaded')
    const [saved, io] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(saved, ok)
    t.same(await storedData(backend, cookie), { user: 'ann', list: [1], theme: 'dark', visits: 1 }, 'both changes are in the record')
    t.equal(io.writes, 2, 'the first compare-and-set found the record changed; the second, over the merge, wrote')

    t.same(await socket.send({ op: 'set', key: 'visits', value: 2 }), ok)
    beforeNextWrite(t, backend, async () => {
      // Another process (its own client: this one's connection is held with the write).
      const record = JSON.parse((await backend.rawGet(recordKeyOfPair(cookie)))!.toString('utf8')) as { created: number, session: object }
      await backend.rawSet(recordKeyOfPair(cookie), JSON.stringify({ ...record, session: { ...record.session, lang: 'fr' } }))
    })
    t.same(await socket.send({ op: 'save' }), ok)
    t.same(await storedData(backend, cookie), { user: 'ann', list: [1], theme: 'dark', visits: 2, lang: 'fr' },
      'a write by another process that lands between the socket\'s merge and its write survives too')
  })

  t.test(`${backend.name}: a save over the socket after a concurrent logout is dropped, and the socket's session ends`, async (t) => {
    const { inject, cookie, socket } = await connected(t, backend)
    t.same(await socket.send({ op: 'set', key: 'cart', value: [1] }), ok)
    t.same((await inject('POST', '/logout', cookie)).statusCode, 200, 'the user logs out over HTTP')
    t.equal(await storedData(backend, cookie), null)

    const [saved, io] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(saved, ok, 'saveSession() resolves: a dropped save is not an error')
    t.same(io.deletes, 0)
    t.equal(await storedData(backend, cookie), null, 'the record stays gone: the logout is not undone')
    t.same(await socket.send({ op: 'log' }), {
      result: [{ level: 20, msg: 'fastify-sessions: the session changed under this request (logged out, replaced or expired); its changes were not saved', reason: 'the record is gone (logged out or replaced by a concurrent request)' }]
    }, 'the drop is logged at debug, for the socket\'s request')
    t.same(await socket.send({ op: 'read' }), { result: { data: {}, isNew: true, identity: null } },
      'the socket\'s session is now what its cookie loads: a new, empty session (the handler can tell by isNew)')

    t.same(await socket.send({ op: 'set', key: 'cart', value: [2] }), ok)
    const [refused, none] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.match(refused, { error: { name: 'SessionNotAvailableError', message: /needs a new id/ } }, 'a later change would need a new id: refused')
    t.same(none, { reads: 0, writes: 0, deletes: 0 })
    t.equal(await storedData(backend, cookie), null)
  })

  t.test(`${backend.name}: two saves in a row: one write each, the second merged over what the first wrote`, async (t) => {
    const { inject, cookie, socket } = await connected(t, backend)
    t.same(await socket.send({ op: 'set', key: 'a', value: 'socket' }), ok)
    const [, first] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(first, { reads: 0, writes: 1, deletes: 0 })
    t.same(await socket.send({ op: 'set', key: 'b', value: 'socket' }), ok)
    const [, second] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(second, { reads: readBeforeNextSave, writes: 1, deletes: 0 }, 'the second compares against the record the first wrote')
    t.same(await storedData(backend, cookie), { user: 'ann', list: [1], a: 'socket', b: 'socket' })

    t.same((await inject('POST', '/set', cookie, { a: 'http' })).statusCode, 200, 'another request changes the key the socket saved earlier')
    t.same(await socket.send({ op: 'set', key: 'c', value: 'socket' }), ok)
    t.same(await socket.send({ op: 'save' }), ok)
    t.same(await storedData(backend, cookie), { user: 'ann', list: [1], a: 'http', b: 'socket', c: 'socket' },
      'a key already saved is not written again: the later HTTP value stays')
  })

  t.test(`${backend.name}: what changes while a save waits for the store is saved by the next save`, async (t) => {
    const { cookie, socket } = await connected(t, backend)
    t.same(await socket.send({ op: 'set', key: 'x', value: 1 }), ok)
    beforeNextWrite(t, backend, async () => {
      // The next messages, handled while the save's write is on its way.
      t.same(await socket.send({ op: 'set', key: 'y', value: 2 }), ok)
      t.same(await socket.send({ op: 'push', key: 'list', value: 2 }), ok)
    })
    t.same(await socket.send({ op: 'save' }), ok)
    t.same(await storedData(backend, cookie), { user: 'ann', list: [1], x: 1 }, 'the save wrote what it had encoded')

    const [, io] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(io, { reads: readBeforeNextSave, writes: 1, deletes: 0 }, 'the session was still changed')
    t.same(await storedData(backend, cookie), { user: 'ann', list: [1, 2], x: 1, y: 2 }, 'the key set and the value edited in place meanwhile are saved')
  })

  t.test(`${backend.name}: invalidate() while a save waits for the store still ends the session`, async (t) => {
    const { inject, cookie, socket } = await connected(t, backend)
    t.same(await socket.send({ op: 'set', key: 'x', value: 1 }), ok)
    beforeNextWrite(t, backend, async () => {
      t.same(await socket.send({ op: 'invalidate' }), ok)
    })
    t.same(await socket.send({ op: 'save' }), ok)
    t.same(await storedData(backend, cookie), { user: 'ann', list: [1], x: 1 }, 'the save wrote what it had encoded')
    const [, io] = await ioDuring(backend, async () => await socket.send({ op: 'save' }))
    t.same(io.deletes, 1, 'the next save deletes the record')
    t.equal(await storedData(backend, cookie), null)

    // Once more on the ended session: an invalidate() during the save that deletes.
    const again = await connected(t, backend)
    t.same(await again.socket.send({ op: 'invalidate' }), ok)
    beforeNextWrite(t, backend, async () => {
      t.same(await again.socket.send({ op: 'invalidate' }), ok)
    })
    t.same(await again.socket.send({ op: 'save' }), ok)
    t.equal(await storedData(backend, again.cookie), null)
    t.same(await again.socket.send({ op: 'save' }), ok, 'saving again deletes nothing new and fails nothing')
    t.same((await inject('GET', '/read', again.cookie)).json(), { data: {}, isNew: true, identity: null })
  })
}
