/**
 * Option names a storage does not take are refused at construction, and the error
 * names the option meant: aiohttp-session's snake_case, other session libraries'
 * names, options of another kind of storage, typos. Custom storages that declare
 * options of their own have them accepted.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { AbstractStorage, SessionConfigError, SimpleCookieStorage, generateKey } from '../index.js'
import type { Session, StorageOptions } from '../index.js'
import { editDistance, normalName } from '../lib/storage/option-names.js'
import { STORAGE_OPTIONS } from '../lib/storage/options.js'
import type { OptionSchema, StorageSettings } from '../lib/storage/options.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { MemcachedStorage } from '../storages/memcached.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { RedisStorage } from '../storages/redis.js'

const KEY = generateKey()
// Options are read before the client is looked at, so a stand-in client is enough here.
const redis = { getBuffer () {}, set () {}, del () {}, status: 'ready' } as unknown as ConstructorParameters<typeof RedisStorage>[0]

/** The message of the SessionConfigError that `construct` throws. */
function refusal (t: Test, construct: () => unknown): string {
  const error = t.throws(construct, { name: 'SessionConfigError', code: 'FST_SESSIONS_CONFIG' }) as Error
  return error.message
}

function encrypted (options: object): EncryptedCookieStorage {
  return new EncryptedCookieStorage(KEY, options as StorageOptions)
}

/** A custom storage that takes only the options every storage takes. */
class MemoryLike extends AbstractStorage {
  loadSession (): Session {
    return this.newSession()
  }

  saveSession (_request: FastifyRequest, _reply: FastifyReply, _session: Session): void {}
}

interface TenantSettings extends StorageSettings {
  readonly tenant: string
}

/** A custom storage that declares an option of its own, `tenant`. */
class TenantStorage extends MemoryLike {
  get tenant (): string {
    return (this.settings as TenantSettings).tenant
  }

  protected override optionSchema (): OptionSchema<TenantSettings> {
    return {
      ...STORAGE_OPTIONS,
      table: {
        ...STORAGE_OPTIONS.table,
        tenant: {
          default: 'main',
          read (value, name) {
            if (typeof value !== 'string') throw new SessionConfigError(`${name} must be a string`)
            return value
          }
        }
      }
    }
  }
}

t.test('names from other libraries say what they are here', async (t) => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['@fastify/session cookie: options are flat, maxAge in seconds',
      () => encrypted({ cookie: { maxAge: 86400000, secure: true } }),
      /^fastify-sessions: EncryptedCookieStorage has no option "cookie": options are flat here, not grouped under cookie as in @fastify\/session: move cookie\.maxAge, cookie\.secure up, new EncryptedCookieStorage\(…, \{ maxAge, secure \}\); maxAge is in seconds, not milliseconds \(cookie\.maxAge 86400000, in milliseconds, is maxAge: 86400\)$/],
    ['a cookie object without a maxAge in milliseconds',
      () => encrypted({ cookie: { maxAge: 1500, path: '/' } }),
      /"cookie": options are flat here, .*move cookie\.maxAge, cookie\.path up, .*; maxAge is in seconds, not milliseconds$/],
    ['cookie that is not an object', () => encrypted({ cookie: true }), /"cookie": options are flat here, not grouped under cookie as in @fastify\/session; maxAge is in seconds/],
    ['@fastify/secure-session expiry', () => encrypted({ expiry: 3600 }), /"expiry": did you mean maxAge\? \(@fastify\/secure-session's expiry; both are in seconds\)$/],
    ['expires', () => encrypted({ expires: new Date() }), /"expires": use maxAge, in seconds/],
    ['connect-redis ttl', () => new RedisStorage(redis, { ttl: 60 } as StorageOptions), /"ttl": use maxAge, in seconds: .*the record's TTL/],
    ['express-session name', () => encrypted({ name: 'sid' }), /"name": did you mean cookieName\?$/],
    ['a key to an encrypting storage', () => encrypted({ secret: 'x'.repeat(40) }),
      /EncryptedCookieStorage has no option "secret": the key is not an option: it is the constructor's first argument, new EncryptedCookieStorage\(key, options\)$/],
    ['key, to NaCl', () => new NaClCookieStorage(KEY, { key: KEY } as StorageOptions), /"key": .*new NaClCookieStorage\(key, options\)$/],
    ['keys', () => encrypted({ keys: [KEY] }), /"keys": the key is not an option/],
    ['secure-session salt', () => encrypted({ salt: 'x' }), /"salt": keys are 32 random bytes here, not derived from a secret and a salt: make one with `npx fastify-sessions keygen`/],
    ['a key to SimpleCookieStorage', () => new SimpleCookieStorage({ secret: 'x' } as StorageOptions),
      /SimpleCookieStorage has no option "secret": SimpleCookieStorage takes no key: it neither signs nor encrypts the cookie; for one that is signed and encrypted, use EncryptedCookieStorage\(key, options\)$/],
    ['a secret to Redis', () => new RedisStorage(redis, { secret: 'x' } as StorageOptions), /RedisStorage has no option "secret": RedisStorage takes no key or secret: the cookie holds a random session id/],
    ['a client as an option', () => new RedisStorage(redis, { client: redis } as StorageOptions), /"client": the client is not an option: it is the constructor's first argument, new RedisStorage\(client, options\)$/],
    ['store', () => encrypted({ store: {} }), /"store": the storage is the store here: register\(sessionPlugin, new RedisStorage\(client, options\)\)/],
    ['saveUninitialized', () => encrypted({ saveUninitialized: false }), /"saveUninitialized": there is no such option: a session is saved only when it changed .* as with saveUninitialized: false$/],
    ['save_uninitialized', () => encrypted({ save_uninitialized: false }), /"save_uninitialized": there is no such option/],
    ['resave', () => encrypted({ resave: false }), /"resave": there is no such option: an unchanged session is never saved again/],
    ['express-session genid', () => new RedisStorage(redis, { genid: () => 'x' } as StorageOptions), /"genid": new session ids come from keyFactory/],
    ['@fastify/session idGenerator', () => encrypted({ idGenerator: () => 'x' }), /"idGenerator": new session ids come from keyFactory, an option of the server-side storages/],
    ['connect-redis prefix', () => new RedisStorage(redis, { prefix: 'sess:' } as StorageOptions), /"prefix": record keys are cookieName \+ "_" \+ id, as in aiohttp-session; for a further prefix, set keyPrefix on the ioredis client$/],
    ['a key to a custom storage', () => new MemoryLike({ secret: 'x' } as StorageOptions), /MemoryLike has no option "secret": a key is not an option: a storage that needs one takes it as a constructor argument$/]
  ]
  for (const [what, construct, message] of cases) t.match(refusal(t, construct), message, what)
})

t.test("aiohttp-session's snake_case names and other spellings find their camelCase option", async (t) => {
  const message = refusal(t, () => new RedisStorage(redis, { max_age: 60, httponly: false, cookie_name: 'sid', samesite: 'Lax', key_factory: () => 'x' } as StorageOptions))
  t.equal(message, 'fastify-sessions: RedisStorage has no options "max_age": did you mean maxAge? (options are camelCase here); ' +
    '"httponly": did you mean httpOnly? (names are case-sensitive); "cookie_name": did you mean cookieName? (options are camelCase here); ' +
    '"samesite": did you mean sameSite? (names are case-sensitive); "key_factory": did you mean keyFactory? (options are camelCase here)',
  'every name, each with its option; no list of options when every name found one')
  const spellings: Array<[string, string]> = [['maxage', 'maxAge'], ['max-age', 'maxAge'], ['MaxAge', 'maxAge'], ['cookiename', 'cookieName'], ['HTTPONLY', 'httpOnly'], ['Cache_Size', 'cacheSize']]
  for (const [name, meant] of spellings) {
    t.match(refusal(t, () => encrypted({ [name]: 1 })), new RegExp(`has no option "${name}": did you mean ${meant}\\? \\(`), name)
  }
})

t.test('an option of another kind of storage says which kind takes it', async (t) => {
  t.match(refusal(t, () => encrypted({ keyFactory: () => 'x' })), /"keyFactory": keyFactory is an option of the server-side storages \(RedisStorage, MemcachedStorage\) only$/)
  t.match(refusal(t, () => encrypted({ key_factory: () => 'x' })), /"key_factory": keyFactory is an option of the server-side storages/)
  t.match(refusal(t, () => new SimpleCookieStorage({ timeout: 100 } as StorageOptions)), /"timeout": timeout is an option of the server-side storages/)
  t.match(refusal(t, () => new RedisStorage(redis, { cacheSize: 10 } as StorageOptions)),
    /"cacheSize": cacheSize is an option of the cookie storages \(EncryptedCookieStorage, NaClCookieStorage, SimpleCookieStorage\) only$/)
})

t.test('typos find the option a small edit away', async (t) => {
  const typos: Array<[string, string]> = [['domian', 'domain'], ['secrue', 'secure'], ['cokieName', 'cookieName'], ['pth', 'path'], ['paht', 'path'],
    ['sameSit', 'sameSite'], ['partitoned', 'partitioned'], ['timout', 'timeout'], ['keyFactroy', 'keyFactory'], ['encodr', 'encoder']]
  for (const [name, meant] of typos) {
    t.match(refusal(t, () => new MemcachedStorage({} as never, { [name]: 1 } as StorageOptions)), new RegExp(`"${name}": did you mean ${meant}\\?$`), name)
  }
})

t.test('a name close to nothing gets the list of options', async (t) => {
  t.equal(refusal(t, () => encrypted({ renew: true })),
    'fastify-sessions: EncryptedCookieStorage has no option "renew". Its options are cookieName, maxAge, path, domain, secure, httpOnly, sameSite, partitioned, encoder, decoder, rolling, cacheSize',
    'refused, with nothing suggested')
  t.ok(encrypted({ maxAge: 60, rolling: true }), 'rolling is an option (issue 10): the check reads the table')
  t.match(refusal(t, () => encrypted({ maxAge: 60, refreshAfter: 6 })), /"refreshAfter": it goes inside rolling: \{ rolling: \{ refreshAfter: seconds \} \}$/)
  t.match(refusal(t, () => encrypted({ maxAge: 60, touchAfter: 6 })), /"touchAfter": did you mean rolling: \{ refreshAfter: seconds \}\? \(connect-mongo's touchAfter/)
  t.match(refusal(t, () => new RedisStorage(redis, { signed: true } as StorageOptions)), /has no option "signed"\. Its options are .*keyFactory, timeout, maxRecordBytes, circuitBreaker$/)
  t.match(refusal(t, () => encrypted({ saveUninitialized: false, renew: true })),
    /has no options "saveUninitialized": there is no such option: .*; "renew"\. Its options are cookieName,/, 'several names: each with its advice, then the list')
  t.match(refusal(t, () => encrypted({ constructor: 1, toString: 2, __proto__: null, hasOwnProperty: 3 })),
    /has no options "constructor"; "toString"; "hasOwnProperty"\. Its options are/, "Object.prototype's names are not options, nor hints")
  t.match(refusal(t, () => encrypted(JSON.parse('{"__proto__": 1}') as object)), /has no option "__proto__"\. Its options are/)
  t.match(refusal(t, () => encrypted({ ['x'.repeat(100)]: 1 })), /has no option "x{40}…"\. /, 'a long name is shortened')
})

t.test('an unknown name is refused even when its value is undefined', async (t) => {
  t.match(refusal(t, () => encrypted({ max_age: undefined })), /has no option "max_age": did you mean maxAge\?/)
  t.doesNotThrow(() => encrypted({ maxAge: undefined, domain: undefined }), 'known options may still be undefined (their default)')
})

t.test('options must be a plain object, not an array', async (t) => {
  t.match(refusal(t, () => new SimpleCookieStorage([] as StorageOptions)), /storage options must be an object; got an array/)
})

t.test('custom storages: their own declared options are accepted, others refused with a word on super()', async (t) => {
  const storage = new TenantStorage({ tenant: 'acme', maxAge: 60 } as StorageOptions)
  t.equal(storage.tenant, 'acme')
  t.equal(storage.maxAge, 60)
  t.equal(new TenantStorage().tenant, 'main')
  t.match(refusal(t, () => new TenantStorage({ tenat: 'acme' } as StorageOptions)), /^fastify-sessions: TenantStorage has no option "tenat": did you mean tenant\?$/,
    'their own options are suggested too')
  t.equal(refusal(t, () => new MemoryLike({ tenant: 'acme' } as StorageOptions)),
    'fastify-sessions: MemoryLike has no option "tenant". Its options are cookieName, maxAge, path, domain, secure, httpOnly, sameSite, ' +
    'partitioned, encoder, decoder, rolling (a storage that takes options of its own must take them out of the object it passes to super())')
})

t.test('normalName and editDistance', async (t) => {
  t.equal(normalName('Max_Age'), 'maxage')
  t.equal(normalName('max-age'), 'maxage')
  t.equal(normalName('max age'), 'maxage')
  t.equal(editDistance('', ''), 0)
  t.equal(editDistance('', 'abc'), 3)
  t.equal(editDistance('abc', ''), 3)
  t.equal(editDistance('domain', 'domain'), 0)
  t.equal(editDistance('domian', 'domain'), 1, 'a swap of neighbours is one edit')
  t.equal(editDistance('pth', 'path'), 1)
  t.equal(editDistance('secret', 'secure'), 2)
  t.equal(editDistance('ca', 'abc'), 3, 'optimal string alignment: no edit of a swapped pair')
  t.equal(editDistance('kitten', 'sitting'), 3)
})
