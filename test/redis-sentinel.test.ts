/**
 * RedisStorage on a real Sentinel deployment: a master, one replica and three Sentinels
 * on loopback ports, the app on an ioredis client built from the Sentinels alone
 * (`new Redis({ sentinels, name })`, defaults otherwise). The master is killed; the
 * Sentinels promote the replica and the same app, on the same client, carries on.
 *
 * What is promised: while there is no master, requests that need the store answer 503
 * (none hangs, none gives a silent logout); afterwards the app works again without a
 * restart, and every session that was acknowledged and had reached the replica before
 * the failover is read back intact. A write acknowledged but not yet replicated when
 * the master dies can be lost: replication is asynchronous, and this test waits for
 * the replica on purpose so that it never depends on that race.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisStorage } from '../storages/redis.js'
import { buildApp } from './helpers/app.js'
import { cookiePair, setCookies } from './helpers/cookies.js'
import { rawCommand, replicationInfo, sentinelMasterAddress, startRedisSentinel } from './helpers/servers.js'
import { recordKey } from './helpers/stores.js'

/** How long the failover may take before the test gives up (a liveness bound, not a speed check). */
const RECOVERY_DEADLINE = 25000
/** Pause between two rounds of requests during the failover. */
const PACE = 20
const SESSIONS = 20

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

const deployment = await startRedisSentinel(t)
const redis = new Redis({
  sentinels: deployment.sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port })),
  name: deployment.name
})
// The client reports each failed reconnection while there is no master; the storage
// reports what matters (the 503 of each request that needed the store).
const clientErrors: string[] = []
redis.on('error', (error: Error) => { clientErrors.push(error.message) })
// Reads the replica directly, to see what it holds before and after its promotion.
const replica = new Redis({ host: '127.0.0.1', port: deployment.replica.port })
t.teardown(() => {
  redis.disconnect()
  replica.disconnect()
})

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ data: request.session.toJSON(), isNew: request.session.isNew }))
  app.post('/login', async (request) => {
    request.newSession().set('user', (request.body as { user: string }).user)
    return { ok: true }
  })
  app.post('/visit', async (request) => {
    request.session.set('visits', ((request.session.get('visits') as number | undefined) ?? 0) + 1)
    return { ok: true }
  })
}

interface Outcome {
  /** Milliseconds after the master was killed. */
  at: number
  kind: 'read' | 'login'
  response: LightMyRequestResponse
}

t.test('the master is killed: 503s while there is none, then the promoted replica serves every acknowledged session', async (t) => {
  const { app } = await buildApp(t, new RedisStorage(redis, { maxAge: 3600 }), routes)

  // Sessions written before the failover: created, then updated, each acknowledged.
  const before: Array<{ cookie: string, data: Record<string, unknown> }> = []
  for (let index = 0; index < SESSIONS; index++) {
    const login = await app.inject({ method: 'POST', url: '/login', payload: { user: `user-${index}` } })
    t.equal(login.statusCode, 200)
    const cookie = cookiePair(login)!
    const visit = await app.inject({ method: 'POST', url: '/visit', headers: { cookie } })
    t.equal(visit.statusCode, 200)
    t.equal(setCookies(visit).length, 1, 'the update was acknowledged with a cookie')
    before.push({ cookie, data: { user: `user-${index}`, visits: 1 } })
  }
  t.equal(await sentinelMasterAddress(deployment.sentinels[0]!.port, deployment.name), deployment.master.address)

  // Replication is asynchronous: make sure the replica has every acknowledged write
  // before the master dies. WAIT counts the replicas that acknowledged this
  // connection's last write, and the replication stream is ordered, so one write after
  // the sessions' writes, acknowledged by the replica, means it has all of them.
  const waited = await rawCommand(deployment.master.port, 'SET sentinel-test-marker 1\r\nWAIT 1 5000\r\nQUIT\r\n')
  t.equal(waited, '+OK\r\n:1\r\n+OK\r\n', 'the replica acknowledged every write')
  for (const { cookie } of before) {
    t.ok(await replica.exists(recordKey(cookie.slice(cookie.indexOf('=') + 1))), 'the replica holds the session')
  }

  await deployment.master.stop()
  const killedAt = performance.now()

  const outcomes: Outcome[] = []
  const during: Array<{ cookie: string, data: Record<string, unknown> }> = []
  let round = 0
  let recoveredAt: number | undefined
  let promotedAt: number | undefined
  while (recoveredAt === undefined && performance.now() - killedAt < RECOVERY_DEADLINE) {
    const existing = before[round % before.length]!
    const user = `during-${round}`
    const [read, login] = await Promise.all([
      app.inject({ url: '/read', headers: { cookie: existing.cookie } }),
      app.inject({ method: 'POST', url: '/login', payload: { user } })
    ])
    const at = Math.round(performance.now() - killedAt)
    outcomes.push({ at, kind: 'read', response: read }, { at, kind: 'login', response: login })
    if (read.statusCode === 200) {
      t.same(read.json(), { data: existing.data, isNew: false }, 'a read that succeeds finds the session: no silent logout')
    }
    if (login.statusCode === 200) during.push({ cookie: cookiePair(login)!, data: { user } })
    if (read.statusCode === 200 && login.statusCode === 200) recoveredAt = at
    if (promotedAt === undefined && await sentinelMasterAddress(deployment.sentinels[0]!.port, deployment.name) === deployment.replica.address) {
      promotedAt = Math.round(performance.now() - killedAt)
    }
    round++
    await new Promise((resolve) => setTimeout(resolve, PACE))
  }
  if (recoveredAt === undefined) throw new Error(`no master was found within ${RECOVERY_DEADLINE} ms of the kill`)

  const failures = outcomes.filter(({ response }) => response.statusCode !== 200)
  // The first round was sent at the kill. A failover takes down-after-milliseconds (1 s)
  // plus an election and a promotion (2.2-2.6 s in all, measured), while a request waits
  // for the store at most `timeout` (1 s): the old master is gone and no new one can
  // answer it in time.
  t.ok(failures.length > 0, 'requests made while there is no master fail')
  t.not(outcomes[0]!.response.statusCode, 200, 'the first request after the kill fails')
  for (const { kind, response } of failures) {
    t.equal(response.statusCode, 503, `${kind}: 503, not another error`)
    t.match(response.json(), { code: 'FST_SESSIONS_STORAGE', error: 'Service Unavailable' })
    t.same(setCookies(response), [], `${kind}: no cookie for a write that did not happen`)
  }
  const lastFailure = failures.at(-1)!.at
  t.comment(`failover: ${failures.length} of ${outcomes.length} requests answered 503, from ${failures[0]!.at} ms to ${lastFailure} ms ` +
    `after the kill; a Sentinel named the replica at ${promotedAt ?? '?'} ms; first round with every request served at ` +
    `${recoveredAt} ms; ${clientErrors.length} client error events`)

  t.equal(await sentinelMasterAddress(deployment.sentinels[0]!.port, deployment.name), deployment.replica.address,
    'the Sentinels promoted the replica')
  t.equal((await replicationInfo(deployment.replica.port))['role'], 'master')
  t.equal(redis.status, 'ready', 'the same client is connected again')

  for (const { cookie, data } of [...before, ...during]) {
    const read = await app.inject({ url: '/read', headers: { cookie } })
    t.same(read.json(), { data, isNew: false }, 'a session acknowledged before or during the failover is read after it')
  }

  for (let index = 0; index < 10; index++) {
    const login = await app.inject({ method: 'POST', url: '/login', payload: { user: `after-${index}` } })
    t.equal(login.statusCode, 200, 'writes work on the new master')
    const cookie = cookiePair(login)!
    t.ok(await replica.exists(recordKey(cookie.slice(cookie.indexOf('=') + 1))), 'and land on the promoted replica')
    const read = await app.inject({ url: '/read', headers: { cookie } })
    t.same(read.json(), { data: { user: `after-${index}` }, isNew: false })
  }
})

t.test('no unhandled rejection', async (t) => {
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})
