/**
 * The `rolling` option: accepted on every storage, `true` meaning a tenth of maxAge,
 * refused at construction without maxAge or with a refreshAfter outside 1..maxAge.
 */
import { Redis } from 'ioredis'
import memjs from 'memjs'
import t from 'tap'
import { SessionConfigError, SimpleCookieStorage, generateKey } from '../../index.js'
import type { AbstractStorage, StorageOptions } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { MemcachedStorage } from '../../storages/memcached.js'
import { NaClCookieStorage } from '../../storages/nacl-cookie.js'
import { RedisStorage } from '../../storages/redis.js'
import { MemoryStorage } from '../helpers/memory-storage.js'

// Clients that never connect: only the options are under test.
const redis = new Redis({ lazyConnect: true })
const memcached = memjs.Client.create('127.0.0.1:1')
t.teardown(() => { redis.disconnect(); memcached.close() })
const key = generateKey()

const storages: Array<[string, (options: StorageOptions) => AbstractStorage]> = [
  ['SimpleCookieStorage', (options) => new SimpleCookieStorage(options)],
  ['EncryptedCookieStorage', (options) => new EncryptedCookieStorage(key, options)],
  ['NaClCookieStorage', (options) => new NaClCookieStorage(key, options)],
  ['RedisStorage', (options) => new RedisStorage(redis, options)],
  ['MemcachedStorage', (options) => new MemcachedStorage(memcached, options)],
  ['a custom storage', (options) => new MemoryStorage(options)]
]

for (const [name, make] of storages) {
  t.test(`${name}: rolling is off by default, true is a tenth of maxAge (rounded up), an object sets it`, async (t) => {
    t.equal(make({}).refreshAfter, undefined)
    t.equal(make({ maxAge: 3600, rolling: false }).refreshAfter, undefined)
    t.equal(make({ rolling: false }).refreshAfter, undefined, 'rolling: false needs no maxAge')
    t.equal(make({ maxAge: 3600, rolling: undefined }).refreshAfter, undefined)
    t.equal(make({ maxAge: 3600, rolling: true }).refreshAfter, 360)
    t.equal(make({ maxAge: 3601, rolling: true }).refreshAfter, 361)
    t.equal(make({ maxAge: 1, rolling: true }).refreshAfter, 1)
    t.equal(make({ maxAge: 3600, rolling: { refreshAfter: 60 } }).refreshAfter, 60)
    t.equal(make({ maxAge: 3600, rolling: { refreshAfter: 1 } }).refreshAfter, 1)
    t.equal(make({ maxAge: 3600, rolling: { refreshAfter: 3600 } }).refreshAfter, 3600)
  })

  t.test(`${name}: a rolling option that cannot work is refused at construction`, async (t) => {
    const cases: Array<[StorageOptions, RegExp]> = [
      [{ rolling: true }, /^fastify-sessions: rolling requires maxAge: without it sessions never expire, so there is nothing to extend$/],
      [{ rolling: { refreshAfter: 60 } }, /^fastify-sessions: rolling requires maxAge/],
      [{ maxAge: 3600, rolling: { refreshAfter: 0 } }, /^fastify-sessions: rolling\.refreshAfter must be a whole number of seconds from 1 to maxAge \(3600\); got 0$/],
      [{ maxAge: 3600, rolling: { refreshAfter: 3601 } }, /rolling\.refreshAfter .*got 3601$/],
      [{ maxAge: 3600, rolling: { refreshAfter: 1.5 } }, /rolling\.refreshAfter .*got 1\.5$/],
      [{ maxAge: 3600, rolling: { refreshAfter: Number.NaN } }, /rolling\.refreshAfter .*got NaN$/],
      [{ maxAge: 3600, rolling: { refreshAfter: '60' } as never }, /rolling\.refreshAfter .*got a string/],
      [{ maxAge: 3600, rolling: {} as never }, /rolling\.refreshAfter .*got undefined$/],
      [{ maxAge: 3600, rolling: { refreshAfter: 60, every: 5 } as never }, /^fastify-sessions: rolling must be true, false or \{ refreshAfter: seconds \}; got an object with "every"$/],
      [{ maxAge: 3600, rolling: 'yes' as never }, /^fastify-sessions: rolling must be true, false or \{ refreshAfter: seconds \}; got a string/],
      [{ maxAge: 3600, rolling: 1 as never }, /^fastify-sessions: rolling must be .*; got number$/],
      [{ maxAge: 3600, rolling: null as never }, /^fastify-sessions: rolling must be .*; got null$/],
      [{ maxAge: 3600, rolling: [60] as never }, /^fastify-sessions: rolling must be .*; got an array/]
    ]
    for (const [options, message] of cases) {
      t.throws(() => make(options), SessionConfigError, JSON.stringify(options))
      t.throws(() => make(options), { message }, JSON.stringify(options))
    }
  })
}
