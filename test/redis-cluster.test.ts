/**
 * RedisStorage on a real 3-master Redis Cluster through an ioredis `Cluster` client:
 * sessions spread over the nodes, and every operation (read, write with and without a
 * TTL, invalidate, newSession/regenerate deleting a record on another node) works,
 * since the storage only ever sends single-key commands.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import t from 'tap'
import { RedisStorage } from '../storages/redis.js'
import { buildApp, injector } from './helpers/app.js'
import { cookiePair, cookieValue, setCookies } from './helpers/cookies.js'
import { startRedisCluster } from './helpers/servers.js'
import { storeRoutes } from './helpers/store-routes.js'
import { recordKeyOf } from './helpers/stores.js'

const nodes = await startRedisCluster(t)
const cluster = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }])
// One plain client per node, to see where the records really are.
const perNode = nodes.map((node) => new Redis({ host: '127.0.0.1', port: node.port }))
t.teardown(() => {
  cluster.disconnect()
  for (const client of perNode) client.disconnect()
})

function routes (app: FastifyInstance): void {
  storeRoutes(app)
  app.post('/regenerate', async (request) => {
    request.session.regenerate(['user'])
    request.session.set('role', 'admin')
    return { ok: true }
  })
}

/** A session as a browser holds it (the pair it sends back), its id, and where its record is kept. */
interface StoredSession {
  pair: string
  id: string
  key: string
}

function storedSession (response: LightMyRequestResponse): StoredSession {
  return { pair: cookiePair(response)!, id: cookieValue(response), key: recordKeyOf(response) }
}

/**
 * Which nodes (indexes) hold `key`, from each node's own key list (asking a node about
 * a key of another node's slot would only get a MOVED redirect).
 */
async function holderOf (key: string): Promise<number[]> {
  const present = await Promise.all(perNode.map(async (client) => (await client.keys('AIOHTTP_SESSION_*')).includes(key)))
  return present.flatMap((isThere, index) => (isThere ? [index] : []))
}

t.test('sessions spread over the three masters and every operation works', async (t) => {
  const { app } = await buildApp(t, new RedisStorage(cluster, { maxAge: 3600 }), routes)
  const inject = injector(app)

  const sessions: StoredSession[] = []
  for (let index = 0; index < 30; index++) {
    const response = await inject('POST', '/set', undefined, { index })
    t.equal(response.statusCode, 200)
    sessions.push(storedSession(response))
  }
  const perNodeCount = [0, 0, 0]
  for (const { key } of sessions) {
    const holders = await holderOf(key)
    t.equal(holders.length, 1, 'each record lives on exactly one master')
    perNodeCount[holders[0]!]!++
  }
  t.ok(perNodeCount.every((count) => count > 0), `every master holds sessions (${perNodeCount.join(' / ')})`)

  for (const [index, { pair, id }] of sessions.entries()) {
    t.same((await inject('GET', '/read', pair)).json(), { data: { index }, isNew: false, identity: id }, 'read back through the cluster')
  }

  // Logins whose old and new records sit on different nodes.
  let crossNode = 0
  for (const old of sessions.slice(0, 10)) {
    const oldHolder = (await holderOf(old.key))[0]
    const next = storedSession(await inject('POST', '/login', old.pair, { user: 'ada' }))
    const newHolder = await holderOf(next.key)
    if (newHolder[0] !== oldHolder) crossNode++
    t.same(await holderOf(old.key), [], 'the pre-login record is deleted')
    t.equal(newHolder.length, 1)
    t.same((await inject('GET', '/read', old.pair)).json(), { data: {}, isNew: true, identity: null }, 'the old id is dead')

    const regenerated = storedSession(await inject('POST', '/regenerate', next.pair))
    t.same(await holderOf(next.key), [], 'regenerate() deletes the old record')
    t.same((await inject('GET', '/read', regenerated.pair)).json(), { data: { user: 'ada', role: 'admin' }, isNew: false, identity: regenerated.id })

    const shorter = await inject('POST', '/set', regenerated.pair, { maxAge: 120, seen: true })
    t.match(setCookies(shorter)[0], /; Max-Age=120; /)
    const ttl = await cluster.ttl(regenerated.key)
    t.ok(ttl > 110 && ttl <= 120, `the per-session TTL applies on the cluster (${ttl})`)

    const logout = await inject('POST', '/logout', regenerated.pair)
    t.match(setCookies(logout), [/^AIOHTTP_SESSION=""; /])
    t.same(await holderOf(regenerated.key), [], 'invalidate() deletes the record')
  }
  t.ok(crossNode > 0, `some logins moved the session to another node (${crossNode} of 10)`)

  const noTtl = new RedisStorage(cluster)
  const { app: plain } = await buildApp(t, noTtl, routes)
  const written = await plain.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
  t.equal(await cluster.ttl(recordKeyOf(written)), -1, 'no TTL without maxAge')
})
