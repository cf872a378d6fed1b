/**
 * How StoreStorage bounds one store operation, and what it tells the circuit breaker,
 * with a store whose every answer the test scripts (a custom StoreStorage, as the README
 * shows how to write): each operation's outcome counts once, whichever comes first of
 * its answer, its failure and the timeout; what comes after that is consumed, never an
 * unhandled rejection, and never counted again. The breaker's clock (`Date`) stands
 * still, so a cool-down never ends by itself here.
 */
import t from 'tap'
import { SessionTooLargeError, StoreStorage } from '../../index.js'
import type { StoreStorageOptions } from '../../index.js'
import type { ReplaceOutcome, StoredRecord } from '../../lib/storage/store-storage.js'
import { buildApp, injector } from '../helpers/app.js'
import type { Inject } from '../helpers/app.js'
import { fakeDate } from '../helpers/clock.js'
import { storeRoutes } from '../helpers/store-routes.js'
import type { Teardown } from '../helpers/teardown.js'

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

/** A store that answers each read as `answer` says; it holds no records. */
class ScriptedStorage extends StoreStorage {
  protected readonly storeName = 'Scripted'
  answer: () => Promise<StoredRecord | null> = async () => null

  protected readRecord (): Promise<StoredRecord | null> {
    return this.answer()
  }

  protected async createRecord (): Promise<boolean> { return true }
  protected async replaceRecord (): Promise<ReplaceOutcome> { return { outcome: 'stored' } }
  protected async deleteRecord (): Promise<void> {}
}

/** A promise the test settles when it chooses. */
function held<T> (): { promise: Promise<T>, resolve: (value: T) => void, reject: (error: unknown) => void } {
  let settle!: { resolve: (value: T) => void, reject: (error: unknown) => void }
  const promise = new Promise<T>((resolve, reject) => { settle = { resolve, reject } })
  return { promise, ...settle }
}

const cookie = 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef'

async function scripted (t: Teardown, options: StoreStorageOptions): Promise<{ storage: ScriptedStorage, inject: Inject }> {
  fakeDate(t, 1_700_000_000)
  // The storage's timers do not keep a process alive (unref), and app.inject opens no
  // socket: something must, while a request waits for its timeout.
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(alive) })
  const storage = new ScriptedStorage(options)
  const { app } = await buildApp(t, storage, storeRoutes)
  return { storage, inject: injector(app) }
}

/** An answer that never comes. */
const never = async (): Promise<StoredRecord | null> => await new Promise(() => {})

/** Whether the breaker refused the request behind this message. */
function refused (message: string): boolean {
  return message.includes('is considered down')
}

t.test('an operation that throws instead of returning a promise fails like any other, and counts', async (t) => {
  const { storage, inject } = await scripted(t, { circuitBreaker: { failureThreshold: 1 } })
  storage.answer = () => { throw new Error('thrown, not rejected') }
  const response = await inject('GET', '/read', cookie)
  t.equal(response.statusCode, 503)
  t.equal(response.json().message, 'fastify-sessions: the session read on Scripted failed')
  storage.answer = async () => null
  t.ok(refused((await inject('GET', '/read', cookie)).json().message), 'it counted: the breaker opened')
})

t.test('an answer that comes after the timeout is consumed and not counted', async (t) => {
  const { storage, inject } = await scripted(t, { timeout: 20, circuitBreaker: { failureThreshold: 2 } })
  const late = held<StoredRecord | null>()
  storage.answer = () => late.promise
  const timedOut = await inject('GET', '/read', cookie)
  t.equal(timedOut.json().message, 'fastify-sessions: Scripted did not answer the session read within 20 ms')
  late.resolve(null)
  await late.promise
  storage.answer = never
  const again = await inject('GET', '/read', cookie)
  t.equal(again.statusCode, 503, 'a second timeout')
  t.ok(refused((await inject('GET', '/read', cookie)).json().message),
    'opened after two timeouts in a row: the late answer did not count as a success in between')
})

for (const [what, failure] of [['a failure', new Error('late')], ['a refusal of ours', new SessionTooLargeError(10, undefined, 'record')]] as const) {
  t.test(`${what} that comes after the timeout is consumed and not counted again`, async (t) => {
    const { storage, inject } = await scripted(t, { timeout: 20, circuitBreaker: { failureThreshold: 3 } })
    const late = held<StoredRecord | null>()
    storage.answer = () => late.promise
    t.equal((await inject('GET', '/read', cookie)).statusCode, 503, 'a timeout: 1 failure')
    late.reject(failure)
    await late.promise.catch(() => {})
    storage.answer = never
    t.equal((await inject('GET', '/read', cookie)).statusCode, 503, 'another timeout: 2 failures')
    storage.answer = async () => null
    const next = await inject('GET', '/read', cookie)
    t.same(next.json(), { data: {}, isNew: true, identity: null }, 'not refused: the late outcome was not a third failure')
  })
}

t.test('no unhandled rejection', async (t) => {
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})
