/**
 * Reading records: unreadable ones give a new empty session and a log line, never a
 * 500; records as aiohttp-session writes them load; the envelope's created is checked
 * against maxAge.
 * Run for RedisStorage and MemcachedStorage against a real redis-server and memcached;
 * store I/O is counted by the servers themselves.
 */
import t from 'tap'
import { defaultKeyFactory } from '../../lib/storage/store-storage.js'
import { TOO_DEEP } from '../../lib/wire/envelope.js'
import { MAX_JSON_DEPTH } from '../../lib/wire/json-value.js'
import { buildApp, injector, sessionLine } from '../helpers/app.js'
import { fakeDate } from '../helpers/clock.js'
import { cookiePair, cookieValue } from '../helpers/cookies.js'
import { sessionOperationRoutes as routes } from '../helpers/store-routes.js'
import { recordKey, storeBackends } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

for (const backend of backends) {
  t.test(`${backend.name}: unreadable records give a new empty session and a log line, never a 500`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const cases: Array<[string, string | Buffer, string, number]> = [
      ['bad JSON', '{"created": 1, "sess', 'the payload could not be decoded (not JSON?)', 40],
      ['a number', '1', 'not an object', 40],
      ['a string', '"text"', 'not an object', 40],
      ['an array', '[1]', 'not an object', 40],
      ['null', 'null', 'not an object', 40],
      ['session not an object', '{"created": 1, "session": 3}', 'session is not an object', 40],
      ['a value nested too deep', `{"created": 1, "session": {"a": ${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}}}`, TOO_DEEP, 40],
      ['{} (what aiohttp-session stores on invalidate)', '{}', 'empty', 20],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'the stored record is not valid UTF-8', 40]
    ]
    for (const [what, value, reason, level] of cases) {
      const id = defaultKeyFactory()
      await backend.rawSet(recordKey(id), value)
      const response = await inject('GET', '/read', `AIOHTTP_SESSION=${id}`)
      t.equal(response.statusCode, 200, what)
      t.same(response.json(), { data: {}, isNew: true, identity: null }, `${what}: a new session, not the client's id`)
      t.match(sessionLine(response), { level, reason, cookieName: 'AIOHTTP_SESSION' }, `${what}: logged`)
      const saved = await inject('POST', '/set', `AIOHTTP_SESSION=${id}`, { a: 1 })
      t.not(cookieValue(saved), id, `${what}: saving afterwards uses a fresh id`)
    }
    const python = defaultKeyFactory()
    const created = Math.floor(Date.now() / 1000)
    await backend.rawSet(recordKey(python), `{"created": ${created}, "session": {"caf\\u00e9": "\\ud83d\\ude00", "n": [1.0, null]}}`)
    t.same((await inject('GET', '/read', `AIOHTTP_SESSION=${python}`)).json(), { data: { café: '😀', n: [1, null] }, isNew: false, identity: python },
      'a record as aiohttp-session writes it (json.dumps spacing, \\u escapes) loads')
    const legacy = defaultKeyFactory()
    await backend.rawSet(recordKey(legacy), '{"session": {"from": "python"}}')
    t.same((await inject('GET', '/read', `AIOHTTP_SESSION=${legacy}`)).json(), { data: { from: 'python' }, isNew: false, identity: legacy },
      'an envelope without created loads, as in aiohttp')
  })

  t.test(`${backend.name}: the envelope's created is checked against maxAge on load`, async (t) => {
    const start = 1_700_000_000
    const clock = fakeDate(t, start)
    const { app } = await buildApp(t, backend.storage({ maxAge: 60 }), routes)
    const inject = injector(app)
    const written = await inject('POST', '/set', undefined, { a: 1 })
    const pair = cookiePair(written)
    t.equal(JSON.parse((await backend.rawGet(recordKey(cookieValue(written))))!.toString('utf8')).created, start)

    clock.setSystemTime((start + 60) * 1000)
    t.same((await inject('GET', '/read', pair)).json().data, { a: 1 }, 'age == maxAge is still valid')
    clock.setSystemTime((start + 61) * 1000)
    const expired = await inject('GET', '/read', pair)
    t.same(expired.json(), { data: {}, isNew: true, identity: null }, 'older is a new session')
    t.match(sessionLine(expired), { level: 20, reason: 'expired' })
  })
}
