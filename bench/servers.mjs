// The servers the benchmark compares. Every entry registers one session library on a
// Fastify app; bench/server.mjs then adds the same routes to each (bench/routes.mjs).
//
// Adding a server is adding one entry here: `needs` names the stores the runner must
// start, `requires` the built files without which the entry is skipped (with a note),
// `register(app, env)` sets the library up and may return a `close()` for its clients.
//
// Every library is configured the way its README shows for production, with the same
// lifetime (one hour) and the settings that give it our semantics: no session is
// stored for anonymous visitors and an unchanged session is not re-saved (for
// @fastify/session that means `saveUninitialized: false, rolling: false`; without
// them it writes the store and a Set-Cookie on every request).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/**
 * The package whose build (dist/esm) is measured as "ours": this repository, or the
 * directory given by BENCH_PACKAGE_DIR (run.mjs --package), e.g. a build of another
 * commit for an A/B comparison.
 */
export function packageDir (env = process.env) {
  return env['BENCH_PACKAGE_DIR'] ?? ROOT
}
const MAX_AGE = 3600
/** A fixed 32-byte key, so that a cookie stays valid across server restarts. */
const KEY = Buffer.from('6KfEbZsP3Vx8Uu1mBq0yWn4tLr7cJd2aHg9kFe5oTiQ=', 'base64')
/**
 * Why the cookie storages sit out the `concurrent` scenario: each response carries the
 * whole session, so of several concurrent changes the browser keeps the last Set-Cookie
 * it receives. No library can prevent that; only a server-side record can merge.
 */
const COOKIE_SESSION = 'n/a: the browser keeps the last Set-Cookie (the whole session is in the cookie)'
/** @fastify/session signs its cookie with a secret of at least 32 characters. */
const SECRET = 'benchmark-secret-with-at-least-32-characters'

async function redisClient (env) {
  const { Redis } = await import('ioredis')
  return new Redis({ host: '127.0.0.1', port: Number(env.BENCH_REDIS_PORT) })
}

async function memcachedClient (env) {
  const memjs = (await import('memjs')).default
  return memjs.Client.create(`127.0.0.1:${env.BENCH_MEMCACHED_PORT}`, { logger: { log () {} } })
}

/**
 * Imports our built package the way users do (`fastify-sessions`,
 * `fastify-sessions/storages/…`, resolved through its exports map to dist/esm), or
 * the same files of the package in BENCH_PACKAGE_DIR.
 */
function importOurs (env, subpath = '') {
  if (env['BENCH_PACKAGE_DIR'] === undefined) return import(subpath === '' ? 'fastify-sessions' : `fastify-sessions/${subpath}`)
  return import(pathToFileURL(join(packageDir(env), 'dist/esm', subpath === '' ? 'index.js' : `${subpath}.js`)).href)
}

/** Our storages' options: a one-hour lifetime, rolling in the `…-rolling` servers. */
function ourOptions (env) {
  return env.BENCH_ROLLING === '1' ? { maxAge: MAX_AGE, rolling: true } : { maxAge: MAX_AGE }
}

async function registerOurs (app, env, storage) {
  const { default: sessionPlugin } = await importOurs(env)
  await app.register(sessionPlugin, storage)
}

/**
 * @typedef {object} ServerEntry
 * @property {string} name         id used by --only and in results
 * @property {string} label        shown in tables
 * @property {boolean} ours        one of our storages
 * @property {string[]} packages   packages whose versions the report lists
 * @property {string[]} needs      stores the runner starts: 'redis', 'memcached'
 * @property {string[]} requires   files of our package (relative to packageDir()) that must exist
 * @property {boolean} [optional]  left out unless named by --only or --all
 * @property {string} optOut       what the `config: { session: false }` route does here
 * @property {true | string} concurrent  runs the `concurrent` scenario (a server-side session),
 *   or why not
 * @property {string} [cookie]     a Cookie header to send instead of logging in (bare)
 * @property {boolean} [advanceClockOnOldReads]  Date jumps ahead on every GET /read-old (see routes.mjs)
 * @property {'b'} [variant]       set on the build-B copies that variantB() makes
 * @property {string} [base]       for a build-B copy, the name of the original
 * @property {(app: import('fastify').FastifyInstance, env: NodeJS.ProcessEnv) => Promise<void | (() => Promise<void>)>} register
 */

/** @type {ServerEntry[]} */
export const servers = [
  {
    name: 'bare',
    label: 'bare Fastify (ceiling)',
    ours: false,
    packages: ['fastify'],
    needs: [],
    requires: [],
    optOut: 'same handler, no plugin',
    concurrent: 'n/a: no session',
    // No session to log into; it still gets a cookie of a typical size to parse past.
    cookie: 'AIOHTTP_SESSION=' + 'x'.repeat(180),
    async register (app) {
      // The same handlers, with a stand-in session that does no work.
      const stub = { get: (key) => STUB_DATA[key], set () {} }
      app.decorateRequest('session', { getter: () => /** @type {any} */ (stub) })
    }
  },
  {
    name: 'secure-session',
    label: '@fastify/secure-session',
    ours: false,
    packages: ['@fastify/secure-session', '@fastify/cookie', 'sodium-native'],
    needs: [],
    requires: [],
    optOut: 'no opt-out: hooks still run (cookie parsed and decrypted)',
    concurrent: COOKIE_SESSION,
    async register (app) {
      const { default: fastifyCookie } = await import('@fastify/cookie')
      const { default: secureSession } = await import('@fastify/secure-session')
      await app.register(fastifyCookie)
      await app.register(secureSession, { key: KEY, expiry: MAX_AGE, cookie: { path: '/', maxAge: MAX_AGE } })
    }
  },
  {
    name: 'fastify-session-memory',
    label: '@fastify/session (memory store)',
    ours: false,
    packages: ['@fastify/session', '@fastify/cookie'],
    needs: [],
    requires: [],
    optOut: 'no opt-out: hooks still run (cookie unsigned, store read)',
    concurrent: true,
    async register (app, env) {
      const { default: fastifyCookie } = await import('@fastify/cookie')
      const { default: fastifySession } = await import('@fastify/session')
      await app.register(fastifyCookie)
      await app.register(fastifySession, {
        secret: SECRET,
        saveUninitialized: false,
        rolling: env.BENCH_ROLLING === '1',
        cookie: { secure: false, maxAge: MAX_AGE * 1000 }
      })
    }
  },
  {
    name: 'fastify-session-redis',
    label: '@fastify/session + connect-redis',
    ours: false,
    packages: ['@fastify/session', '@fastify/cookie', 'connect-redis', 'redis'],
    needs: ['redis'],
    requires: [],
    optOut: 'no opt-out: hooks still run (cookie unsigned, store read)',
    concurrent: true,
    async register (app, env) {
      const { default: fastifyCookie } = await import('@fastify/cookie')
      const { default: fastifySession } = await import('@fastify/session')
      const { RedisStore } = await import('connect-redis')
      const { createClient } = await import('redis')
      const client = createClient({ url: `redis://127.0.0.1:${env.BENCH_REDIS_PORT}` })
      await client.connect()
      await app.register(fastifyCookie)
      await app.register(fastifySession, {
        secret: SECRET,
        saveUninitialized: false,
        rolling: env.BENCH_ROLLING === '1',
        store: new RedisStore({ client, prefix: 'fastify-session:', ttl: MAX_AGE }),
        cookie: { secure: false, maxAge: MAX_AGE * 1000 }
      })
      return async () => { await client.close() }
    }
  },
  {
    name: 'mgcrea-sodium',
    label: '@mgcrea/fastify-session (sodium secretbox)',
    ours: false,
    packages: ['@mgcrea/fastify-session', '@mgcrea/fastify-session-sodium-crypto', '@fastify/cookie', 'sodium-native'],
    needs: [],
    requires: [],
    optOut: 'no opt-out: hooks still run (cookie parsed and decrypted)',
    concurrent: COOKIE_SESSION,
    async register (app) {
      const { default: fastifyCookie } = await import('@fastify/cookie')
      const { default: mgcreaSession } = await import('@mgcrea/fastify-session')
      const { SODIUM_SECRETBOX } = await import('@mgcrea/fastify-session-sodium-crypto')
      await app.register(fastifyCookie)
      await app.register(mgcreaSession, { key: KEY, crypto: SODIUM_SECRETBOX, saveUninitialized: false, cookie: { maxAge: MAX_AGE } })
    }
  },
  {
    name: 'mgcrea-redis',
    label: '@mgcrea/fastify-session + redis-store (ioredis)',
    ours: false,
    packages: ['@mgcrea/fastify-session', '@mgcrea/fastify-session-redis-store', '@mgcrea/fastify-session-sodium-crypto', 'ioredis'],
    needs: ['redis'],
    requires: [],
    optOut: 'no opt-out: hooks still run (cookie verified, store read and touched)',
    concurrent: true,
    async register (app, env) {
      const { default: fastifyCookie } = await import('@fastify/cookie')
      const { default: mgcreaSession } = await import('@mgcrea/fastify-session')
      const { SODIUM_AUTH } = await import('@mgcrea/fastify-session-sodium-crypto')
      const { RedisStore } = await import('@mgcrea/fastify-session-redis-store')
      const client = await redisClient(env)
      await app.register(fastifyCookie)
      // The README's production setup: the id signed with crypto_auth, data in Redis.
      await app.register(mgcreaSession, {
        key: KEY,
        crypto: SODIUM_AUTH,
        saveUninitialized: false,
        store: new RedisStore({ client, prefix: 'mgcrea:', ttl: MAX_AGE }),
        cookie: { maxAge: MAX_AGE }
      })
      return async () => { client.disconnect() }
    }
  },
  {
    name: 'ours-encrypted',
    label: 'fastify-sessions EncryptedCookieStorage (Fernet)',
    ours: true,
    packages: ['fastify-sessions'],
    needs: [],
    requires: ['dist/esm/storages/encrypted-cookie.js'],
    optOut: '`config: { session: false }`',
    concurrent: COOKIE_SESSION,
    async register (app, env) {
      const { EncryptedCookieStorage } = await importOurs(env, 'storages/encrypted-cookie')
      await registerOurs(app, env, new EncryptedCookieStorage(KEY, ourOptions(env)))
    }
  },
  {
    name: 'ours-nacl',
    label: 'fastify-sessions NaClCookieStorage',
    ours: true,
    packages: ['fastify-sessions', 'sodium-native'],
    needs: [],
    requires: ['dist/esm/storages/nacl-cookie.js'],
    optOut: '`config: { session: false }`',
    concurrent: COOKIE_SESSION,
    async register (app, env) {
      const { NaClCookieStorage } = await importOurs(env, 'storages/nacl-cookie')
      await registerOurs(app, env, new NaClCookieStorage(KEY, ourOptions(env)))
    }
  },
  {
    name: 'ours-simple',
    label: 'fastify-sessions SimpleCookieStorage (unsigned)',
    ours: true,
    optional: true,
    packages: ['fastify-sessions'],
    needs: [],
    requires: ['dist/esm/index.js'],
    optOut: '`config: { session: false }`',
    concurrent: COOKIE_SESSION,
    async register (app, env) {
      const { SimpleCookieStorage } = await importOurs(env)
      await registerOurs(app, env, new SimpleCookieStorage({ maxAge: MAX_AGE }))
    }
  },
  {
    name: 'ours-redis',
    label: 'fastify-sessions RedisStorage (ioredis)',
    ours: true,
    packages: ['fastify-sessions', 'ioredis'],
    needs: ['redis'],
    requires: ['dist/esm/storages/redis.js'],
    optOut: '`config: { session: false }`',
    concurrent: true,
    async register (app, env) {
      const { RedisStorage } = await importOurs(env, 'storages/redis')
      // Built the way users build it (`new Redis({ host, port })`, defaults otherwise).
      const client = await redisClient(env)
      await registerOurs(app, env, new RedisStorage(client, ourOptions(env)))
      return async () => { client.disconnect() }
    }
  },
  {
    name: 'ours-memcached',
    label: 'fastify-sessions MemcachedStorage (memjs)',
    ours: true,
    packages: ['fastify-sessions', 'memjs'],
    needs: ['memcached'],
    requires: ['dist/esm/storages/memcached.js'],
    optOut: '`config: { session: false }`',
    concurrent: true,
    async register (app, env) {
      const { MemcachedStorage } = await importOurs(env, 'storages/memcached')
      const client = await memcachedClient(env)
      await registerOurs(app, env, new MemcachedStorage(client, ourOptions(env)))
      return async () => { client.close() }
    }
  }
]

/**
 * Rolling sessions (optional servers: `--only …-rolling,secure-session-touch --scenarios
 * read,rolling-old,untouched`). Ours with `rolling: true` (refreshAfter = a tenth of the
 * hour); the peers' equivalents: @fastify/session's `rolling: true` (a Set-Cookie on every
 * response) and @fastify/secure-session's `touch()` on every request (a new token each time).
 */
const ROLLING_NOTE = 'rolling: see the rolling section of bench/README.md'
servers.push(
  ...['ours-encrypted', 'ours-nacl', 'ours-redis', 'ours-memcached'].map((name) => {
    const entry = findServer(name)
    return {
      ...entry,
      name: `${name}-rolling`,
      label: `${entry.label}, rolling: true`,
      optional: true,
      concurrent: 'n/a: a rolling configuration (see the rolling scenarios)',
      // The record is refreshed in the store: only a clock that moves on makes it old again.
      advanceClockOnOldReads: entry.needs.length > 0,
      register: (app, env) => entry.register(app, { ...env, BENCH_ROLLING: '1' })
    }
  }),
  {
    name: 'secure-session-touch',
    label: '@fastify/secure-session, touch() on every request',
    ours: false,
    optional: true,
    concurrent: COOKIE_SESSION,
    packages: ['@fastify/secure-session', '@fastify/cookie', 'sodium-native'],
    needs: [],
    requires: [],
    optOut: ROLLING_NOTE,
    async register (app) {
      await findServer('secure-session').register(app)
      // Its way to extend a session: touch() re-stamps it, so the response carries a new token.
      app.addHook('preHandler', (request, reply, done) => {
        if (request.routeOptions.url?.startsWith('/read') === true) /** @type {any} */ (request.session).touch()
        done()
      })
    }
  },
  ...['fastify-session-memory', 'fastify-session-redis'].map((name) => {
    const entry = findServer(name)
    return {
      ...entry,
      name: `${name}-rolling`,
      label: `${entry.label}, rolling: true`,
      optional: true,
      concurrent: 'n/a: a rolling configuration (see the rolling scenarios)',
      optOut: ROLLING_NOTE,
      register: (app, env) => entry.register(app, { ...env, BENCH_ROLLING: '1' })
    }
  })
)

/** What the bare server's stand-in session returns. */
const STUB_DATA = { user: 'bench-user', visits: 0 }

/** Why an entry cannot run with this build, or undefined when it can. */
export function missingFiles (entry, env = process.env) {
  const dir = packageDir(entry.variant === 'b' ? { BENCH_PACKAGE_DIR: env['BENCH_PACKAGE_DIR_B'] } : env)
  const missing = entry.requires.filter((file) => !existsSync(join(dir, file)))
  return missing.length === 0 ? undefined : `not built: ${missing.map((file) => join(dir, file)).join(', ')}`
}

/**
 * The same server on build B (BENCH_PACKAGE_DIR_B, run.mjs --compare): `ours-nacl@b`.
 * Measured in the same rounds as the original, for an A/B comparison of two builds.
 */
export function variantB (entry) {
  return {
    ...entry,
    name: `${entry.name}@b`,
    label: `${entry.label} [B]`,
    variant: 'b',
    base: entry.name,
    register: (app, env) => entry.register(app, { ...env, BENCH_PACKAGE_DIR: env['BENCH_PACKAGE_DIR_B'] })
  }
}

export function findServer (name) {
  if (name.endsWith('@b')) return variantB(findServer(name.slice(0, -2)))
  const entry = servers.find((server) => server.name === name)
  if (entry === undefined) throw new Error(`unknown server ${JSON.stringify(name)}; known: ${servers.map((server) => server.name).join(', ')}`)
  return entry
}
