/**
 * Arbitrary JSON-safe session data, set by one request and read by the next, comes
 * back exactly, through the plugin and every storage (Redis and Memcached against
 * real servers). Property-based (fast-check, seed fixed in test/helpers/property.ts).
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildApp } from '../helpers/app.js'
import { cookiePair } from '../helpers/cookies.js'
import { everyStorage } from '../helpers/every-storage.js'
import { fitsInCookie, objectOf, sessionEntries } from '../helpers/json-data.js'
import { propertyOptions } from '../helpers/property.js'

const storages = await everyStorage(t)

/**
 * The data travels as JSON text inside the bodies: Fastify's body parser refuses
 * `__proto__` and `constructor` keys, which sessions must carry like any other.
 */
function routes (app: FastifyInstance): void {
  app.post('/set', async (request) => {
    const entries = JSON.parse((request.body as { entries: string }).entries) as Array<[string, never]>
    for (const [name, value] of entries) request.session.set(name, value)
    return { ok: true }
  })
  app.post('/change', async (request) => {
    request.session.set('changed', true)
    return { ok: true }
  })
  app.get('/read', async (request) => ({ isNew: request.session.isNew, data: JSON.stringify(request.session.toJSON()) }))
}

for (const storage of storages) {
  t.test(`${storage.name}: property: arbitrary JSON-safe data set by one request reads back exactly in the next`, async (t) => {
    const { app } = await buildApp(t, storage.storage(), routes)
    let saved = 0
    await fc.assert(fc.asyncProperty(sessionEntries, async (entries) => {
      fc.pre(entries.length > 0 && (storage.cookie === 'id' || fitsInCookie(entries)))
      const written = await app.inject({ method: 'POST', url: '/set', payload: { entries: JSON.stringify(entries) } })
      assert.equal(written.statusCode, 200, written.body)
      const cookie = cookiePair(written) as string
      const read = await app.inject({ url: '/read', headers: { cookie } })
      assert.equal(read.json().isNew, false)
      assert.deepStrictEqual(JSON.parse(read.json().data), objectOf(entries))

      // A change to another key keeps every value as it was read.
      const changed = await app.inject({ method: 'POST', url: '/change', headers: { cookie } })
      const again = await app.inject({ url: '/read', headers: { cookie: cookiePair(changed) as string } })
      assert.deepStrictEqual(JSON.parse(again.json().data), objectOf([...entries, ['changed', true]]))
      saved++
    }), propertyOptions(0.25))
    t.ok(saved > 0, `${saved} sessions saved and read back`)
  })
}
