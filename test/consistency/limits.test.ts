/**
 * The compare-and-set save path under the circuit breaker and `maxRecordBytes`: losing a
 * race is the store answering, never a store failure (a breaker that opens at the first
 * failure stays closed through a whole conflict loop), and the record checked against
 * the limit is the one written, the MERGED record, which another writer can have made
 * bigger than anything this request set. On Redis and Memcached with one and two servers
 * (Memcached answers a lost compare-and-set without the record: one more read per conflict).
 */
import t from 'tap'
import type { Test } from 'tap'
import { MAX_SAVE_ATTEMPTS } from '../../lib/storage/store-storage.js'
import { buildApp, errorLines, logLinesOf } from '../helpers/app.js'
import { setCookies } from '../helpers/cookies.js'
import { Holds, recordKeyOfPair, seed, storedData } from '../helpers/race.js'
import type { Operation } from '../helpers/race.js'
import { ioDuring, memcachedBackend, memcachedPairBackend, redisBackend } from '../helpers/stores.js'
import type { StoreBackend } from '../helpers/stores.js'

const backends = await Promise.all([redisBackend, memcachedBackend, memcachedPairBackend].map(async (start) => await start(t)))

/** A breaker that any counted failure would open, and a cool-down no test outlasts. */
const TRIGGER_HAPPY = { failureThreshold: 1, coolDown: 3_600_000 }

async function app (t: Test, backend: StoreBackend, options = {}) {
  const holds = new Holds()
  const { app } = await buildApp(t, backend.storage({ circuitBreaker: TRIGGER_HAPPY, ...options }), (app) => { holds.routes(app) })
  return { app, holds }
}

function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

/** Whether the breaker wrote anything (it logs only its state changes). */
function breakerLines (response: Parameters<typeof logLinesOf>[0]): unknown[] {
  return logLinesOf(response).filter((line) => 'circuitBreaker' in line)
}

/** The record another writer stores: `user` and a blob of `size` characters. */
function recordWithBlob (size: number): string {
  return JSON.stringify({ created: nowSeconds(), session: { user: 'ada', blob: 'y'.repeat(size) } })
}

for (const backend of backends) {
  t.test(`${backend.name}: a save that loses races to other writers does not count against the store`, async (t) => {
    const { app: server } = await app(t, backend)
    const cookie = await seed(server, { user: 'ada' })
    const key = recordKeyOfPair(cookie)
    let interference = 0
    let rounds = 5
    backend.beforeWrites(async () => {
      if (interference >= rounds) return
      interference++
      await backend.rawSet(key, JSON.stringify({ created: nowSeconds(), session: { user: 'ada', interference } }))
    })
    t.teardown(() => { backend.beforeWrites(undefined) })

    const won = await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { cart: [1] } })
    t.equal(won.statusCode, 200, `saved after losing ${rounds} races`)
    t.equal(interference, rounds)
    t.same(await storedData(backend, cookie), { user: 'ada', interference: rounds, cart: [1] }, 'merged into the last write')
    t.same(breakerLines(won), [], 'the breaker did not change state')

    interference = 0
    rounds = MAX_SAVE_ATTEMPTS
    const lost = await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { cart: [2] } })
    t.equal(lost.statusCode, 503, `${MAX_SAVE_ATTEMPTS} races lost: the save gives up`)
    t.match(errorLines(lost), [{ err: { message: /lost \d+ races in a row/ } }])
    t.same(breakerLines(lost), [], 'and that is not a store failure either')
    backend.beforeWrites(undefined)

    const next = await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { cart: [3] } })
    t.equal(next.statusCode, 200, 'the next request reaches the store: the breaker stayed closed')
    t.same(await storedData(backend, cookie), { user: 'ada', interference: MAX_SAVE_ATTEMPTS, cart: [3] })
  })

  t.test(`${backend.name}: a merged record over maxRecordBytes: a 500, the record left as the other writer left it`, async (t) => {
    const limit = 400
    const { app: server, holds } = await app(t, backend, { maxRecordBytes: limit })
    const cookie = await seed(server, { user: 'ada' })
    const key = recordKeyOfPair(cookie)
    const cart: Operation[] = [['set', 'cart', 'c'.repeat(100)]]

    // Alone, this request's change fits.
    holds.release('alone')
    const alone = server.inject({ method: 'POST', url: '/hold/alone', headers: { cookie }, payload: cart as unknown as Record<string, unknown> })
    t.equal((await alone).statusCode, 200, 'the change alone fits the limit')

    for (const [what, theirs] of [
      ['another writer made the record big (under the limit) meanwhile', recordWithBlob(300)],
      ['another writer made the record bigger than the limit meanwhile', recordWithBlob(limit)]
    ] as const) {
      await backend.rawSet(key, JSON.stringify({ created: nowSeconds(), session: { user: 'ada' } }))
      const pending = server.inject({ method: 'POST', url: `/hold/${what}`, headers: { cookie }, payload: cart as unknown as Record<string, unknown> })
      await holds.reached(what)
      await backend.rawSet(key, theirs)
      const [response, io] = await ioDuring(backend, async () => {
        holds.release(what)
        return await pending
      })
      t.equal(response.statusCode, 500, `${what}: 500`)
      t.match(response.json(), { code: 'FST_SESSIONS_TOO_LARGE', message: new RegExp(`^fastify-sessions: the session record would be \\d+ bytes, over the ${limit}-byte limit`) })
      const [line] = errorLines(response)
      t.match(line, { err: { type: 'SessionTooLargeError', subject: 'record', limit } })
      const size = (line?.['err'] as { size: number } | undefined)?.size ?? 0
      t.ok(size > limit, `${what}: the size is the merged record's (${size})`)
      if (Buffer.byteLength(theirs) > limit) t.equal(size, Buffer.byteLength(theirs), `${what}: their record is not even decoded`)
      t.same(setCookies(response), [], `${what}: no cookie`)
      t.equal((await backend.rawGet(key))?.toString(), theirs, `${what}: the record is byte for byte the other writer's`)
      t.equal(io.writes, 1, `${what}: the one compare-and-set sent found the record changed; the merge was never sent`)
      t.same(breakerLines(response), [], `${what}: not a store failure`)
    }

    // Not a store failure: the breaker (threshold 1) is closed, the next request is served.
    const read = await server.inject({ url: '/read', headers: { cookie } })
    t.equal(read.statusCode, 200)
  })
}
