/**
 * Rolling sessions against the real aiohttp-session, for all five storages: a session
 * that we refreshed is valid for aiohttp-session after its OLD `created + max_age`, on
 * the shared key (Simple, Fernet, NaCl) or the shared store (Redis, Memcached). Each
 * service reads its clock from the request (X-Clock), so no one waits; the same flow
 * without our refresh is shown to expire, so the assertion cannot pass without it.
 */
import { Redis } from 'ioredis'
import memjs from 'memjs'
import t from 'tap'
import { SimpleCookieStorage, generateKey } from '../../index.js'
import type { AbstractStorage, StorageOptions } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { MemcachedStorage } from '../../storages/memcached.js'
import { NaClCookieStorage } from '../../storages/nacl-cookie.js'
import { RedisStorage } from '../../storages/redis.js'
import { startMemcached, startRedis } from '../helpers/servers.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { startPython } from './python-service.js'
import type { PythonConfig } from './python-service.js'
import type { Service } from './service.js'

// Real time: the stores' TTLs run on it, and maxAge outlasts the test by far.
const T0 = Math.floor(Date.now() / 1000)
const MAX_AGE = 600
const OPTIONS: StorageOptions = { maxAge: MAX_AGE, rolling: true }
const REFRESH_AT = T0 + MAX_AGE / 10 + 1
const PAST_OLD_EXPIRY = T0 + MAX_AGE + 30
const key = generateKey()

const redisServer = await startRedis(t)
const redis = new Redis({ host: '127.0.0.1', port: redisServer.port })
const memcachedServer = await startMemcached(t)
const memcached = memjs.Client.create(memcachedServer.address, { logger: { log () {} } })
t.teardown(() => { redis.disconnect(); memcached.close() })

const setups: Array<[string, PythonConfig, () => AbstractStorage]> = [
  ['Simple', { storage: 'simple' }, () => new SimpleCookieStorage(OPTIONS)],
  ['Encrypted', { storage: 'encrypted', key }, () => new EncryptedCookieStorage(key, OPTIONS)],
  ['NaCl', { storage: 'nacl', key }, () => new NaClCookieStorage(key, OPTIONS)],
  ['Redis', { storage: 'redis', redisUrl: `redis://127.0.0.1:${redisServer.port}/0` }, () => new RedisStorage(redis, OPTIONS)],
  ['Memcached', { storage: 'memcached', memcached: memcachedServer.address }, () => new MemcachedStorage(memcached, OPTIONS)]
]

for (const [name, config, storage] of setups) {
  t.test(`${name}: aiohttp-session reads a session we refreshed after its old expiry`, async (t) => {
    const python = await startPython(t, { ...config, maxAge: MAX_AGE })
    const fastify = await startFastify(t, storage())
    for (const creator of [fastify, python] as Service[]) {
      const refreshed = new Browser()
      const untouched = new Browser()
      for (const browser of [refreshed, untouched]) await browser.write(creator, '/set', { user: 'ann' }, { clock: T0 })

      const before = refreshed.value()
      const view = await refreshed.read(fastify, '/get', { clock: REFRESH_AT })
      t.same([view.created, view.session], [T0, { user: 'ann' }], `created by ${creator.name}: we read it as it was`)
      if (name === 'Redis' || name === 'Memcached') t.equal(refreshed.value(), before, 'the same id, sent again')
      else t.not(refreshed.value(), before, 'a new sealed value')

      const afterwards = await refreshed.read(python, '/get', { clock: PAST_OLD_EXPIRY })
      t.same([afterwards.new, afterwards.created, afterwards.session], [false, REFRESH_AT, { user: 'ann' }],
        `created by ${creator.name}, refreshed by us: aiohttp-session still reads it ${PAST_OLD_EXPIRY - T0} s after it was created`)
      const expired = await untouched.read(python, '/get', { clock: PAST_OLD_EXPIRY })
      // aiohttp-session keeps `new` false for an expired cookie; what counts is that it is empty.
      t.same([expired.empty, expired.session], [true, {}], 'without the refresh it would have expired')
    }
  })
}
