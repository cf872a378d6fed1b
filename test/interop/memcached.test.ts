/**
 * MemcachedStorage against aiohttp_session's MemcachedStorage, both on one memcached.
 * Debian has no Python memcached client, so the Python side runs the real storage
 * code over test/interop/python/shim/aiomcache (get/set on the text protocol, flags
 * 0 as aiomcache writes them). Besides the flows of test/interop/suite.ts, the items
 * themselves are read back with memcached's meta protocol (value, flags, TTL) and
 * compared with what aiohttp-session wrote, and items written raw in its format are
 * read by both.
 */
import { randomUUID } from 'node:crypto'
import memjs from 'memjs'
import t from 'tap'
import { MemcachedStorage } from '../../storages/memcached.js'
import { rawCommand, startMemcached } from '../helpers/servers.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { startPython } from './python-service.js'
import type { Service } from './service.js'
import { interopSuite, nowSeconds } from './suite.js'

const maxAge = 60
const THIRTY_DAYS = 30 * 24 * 3600
const server = await startMemcached(t)
const client = memjs.Client.create(server.address, { logger: { log () {} } })
t.teardown(() => client.close())
const python = await startPython(t, { storage: 'memcached', memcached: server.address, maxAge })
const fastify = await startFastify(t, new MemcachedStorage(client, { maxAge }))

interface RawItem {
  /** The value's bytes, decoded as UTF-8. */
  value: string
  flags: number
  /** Seconds left, -1 for never (memcached's `mg … t`). */
  ttl: number
}

/** `mg <key> v f t`: the item as memcached holds it, or null. */
async function rawGet (key: string): Promise<RawItem | null> {
  const reply = Buffer.from(await rawCommand(server.port, `mg ${key} v f t\r\nquit\r\n`), 'latin1')
  const headerEnd = reply.indexOf('\r\n')
  const header = reply.subarray(0, headerEnd).toString('latin1')
  if (header === 'EN') return null
  const match = /^VA (\d+) f(\d+) t(-?\d+)$/.exec(header)
  if (match === null) throw new Error(`unexpected memcached reply: ${header}`)
  const start = headerEnd + 2
  return { value: reply.subarray(start, start + Number(match[1])).toString('utf8'), flags: Number(match[2]), ttl: Number(match[3]) }
}

/** A classic `set`, with exactly the bytes, flags and exptime given. */
async function rawSet (key: string, value: string, flags: number, exptime: number): Promise<void> {
  const bytes = Buffer.from(value, 'utf8')
  const command = Buffer.concat([Buffer.from(`set ${key} ${flags} ${exptime} ${bytes.length}\r\n`), bytes, Buffer.from('\r\nquit\r\n')])
  const reply = await rawCommand(server.port, command.toString('latin1'))
  if (reply !== 'STORED\r\n') throw new Error(`set failed: ${reply}`)
}

interopSuite(t, {
  kind: 'memcached',
  python,
  fastify,
  maxAge,
  readRecord: async (id) => (await rawGet(`AIOHTTP_SESSION_${id}`))?.value ?? null
})

t.test('our items match aiohttp-session\'s: key, value, flags and exptime with the 30-day rule', async (t) => {
  const data = { user: 'ann', é: '😀', n: [1, 2.5] }
  // session.max_age set per response: no maxAge (never expire), relative seconds up
  // to exactly 30 days, an absolute unix time above.
  const cases: Array<[string, number]> = [['none', -1], ['3600', 3600], [String(THIRTY_DAYS), THIRTY_DAYS], [String(THIRTY_DAYS + 1), THIRTY_DAYS + 1]]
  for (const [override, expectedTtl] of cases) {
    const items = new Map<Service, RawItem & { id: string, created: number }>()
    for (const service of [python, fastify]) {
      const browser = new Browser()
      const view = await browser.write(service, `/set?max_age=${override}`, data)
      const id = browser.value() as string
      t.match(id, /^[0-9a-f]{32}$/, `${service.name}: the cookie is a bare uuid4 hex`)
      const item = await rawGet(`AIOHTTP_SESSION_${id}`)
      if (item === null) {
        t.fail(`${service.name}, max_age ${override}: no item under AIOHTTP_SESSION_${id}`)
        continue
      }
      items.set(service, { ...item, id, created: view.created })
    }
    const theirs = items.get(python)
    const ours = items.get(fastify)
    if (theirs === undefined || ours === undefined) continue
    t.equal(theirs.value, `{"created": ${theirs.created}, "session": {"user": "ann", "\\u00e9": "\\ud83d\\ude00", "n": [1, 2.5]}}`,
      'aiohttp writes json.dumps (spaced, ASCII-only)')
    // SPEC §3: a compact envelope, UTF-8 as is; json.loads reads both the same way.
    t.equal(ours.value, `{"created":${ours.created},"session":{"user":"ann","é":"😀","n":[1,2.5]}}`, 'we write compact JSON')
    t.same({ ...JSON.parse(ours.value), created: 0 }, { ...JSON.parse(theirs.value), created: 0 }, 'the same envelope')
    t.equal(ours.flags, theirs.flags, `flags ${theirs.flags}, like aiomcache`)
    t.equal(theirs.flags, 0)
    // A second may pass between a write and its read-back.
    t.ok(Math.abs(theirs.ttl - expectedTtl) <= 2, `max_age ${override}: aiohttp's item has ${theirs.ttl} s left`)
    t.ok(Math.abs(ours.ttl - theirs.ttl) <= 2, `max_age ${override}: ours has ${ours.ttl} s left`)
  }
})

t.test('items written raw in aiohttp-session\'s format are read by both', async (t) => {
  const envelope = (created: number): string =>
    `{"created": ${created}, "session": {"user": "ann", "\\u00e9": "\\ud83d\\ude00", "nested": {"a": [true, null, 1.5]}}}`
  const data = { user: 'ann', é: '😀', nested: { a: [true, null, 1.5] } }
  // A relative exptime, and an absolute one as aiohttp writes for max_age > 30 days.
  for (const exptime of [maxAge, nowSeconds() + THIRTY_DAYS + 1]) {
    const id = randomUUID().replaceAll('-', '')
    await rawSet(`AIOHTTP_SESSION_${id}`, envelope(nowSeconds()), 0, exptime)
    for (const service of [fastify, python]) {
      const view = await Browser.holding(id).read(service)
      t.same(view.session, data, `${service.name} reads the item (exptime ${exptime})`)
      t.same([view.new, view.identity], [false, id])
    }
  }
  // The record aiohttp's invalidate() leaves behind: a new session, not the old id.
  const id = randomUUID().replaceAll('-', '')
  await rawSet(`AIOHTTP_SESSION_${id}`, '{}', 0, maxAge)
  for (const service of [fastify, python]) {
    const view = await Browser.holding(id).read(service)
    t.same([view.new, view.empty, view.identity], [true, true, null], `${service.name}: {} is no session`)
  }
})
