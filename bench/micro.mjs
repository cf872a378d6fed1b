// Micro-benchmarks of the hot path's building blocks, each next to a candidate
// replacement: `node bench/micro.mjs [--package DIR] [--filter text]`.
//
// They size the suggestions in bench/README.md ("what the profile says"): each line is
// nanoseconds per operation (median of interleaved batches), and the difference tells
// what a change could save per request. They are not a substitute for bench/run.mjs.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hash, randomFillSync, timingSafeEqual } from 'node:crypto'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import Fastify from 'fastify'

const { values: options } = parseArgs({
  options: {
    package: { type: 'string' },
    filter: { type: 'string' },
    batches: { type: 'string', default: '15' }
  }
})
const dir = options.package === undefined ? fileURLToPath(new URL('..', import.meta.url)) : resolve(options.package)
const ours = (file) => import(pathToFileURL(join(dir, 'dist/esm', file)).href)
const sodium = createRequire(import.meta.url)('sodium-native')

const { quoteCookieValue, formatExpires } = await ours('lib/wire/cookie.js')
const { NaClCookieStorage } = await ours('storages/nacl-cookie.js')
const { EncryptedCookieStorage } = await ours('storages/encrypted-cookie.js')

/** Median ns/op of `fn` over interleaved batches (all candidates of a group alternate). */
function compare (title, candidates, { iterations = 20000 } = {}) {
  if (options.filter !== undefined && !title.includes(options.filter)) return
  /** @type {Array<{ name: string, fn: () => void, values: number[] }>} */
  const samples = Object.entries(candidates).map(([name, fn]) => ({ name, fn, values: [] }))
  for (const { fn } of samples) for (let i = 0; i < iterations; i++) fn() // warm-up
  for (let batch = 0; batch < Number(options.batches); batch++) {
    for (const { fn, values } of samples) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < iterations; i++) fn()
      values.push(Number(process.hrtime.bigint() - start) / iterations)
    }
  }
  console.log(`\n${title}`)
  const base = median(samples[0]?.values ?? [])
  for (const [index, { name, values }] of samples.entries()) {
    const ns = median(values)
    console.log(`  ${name.padEnd(58)} ${ns.toFixed(0).padStart(7)} ns/op  ${index === 0 ? '' : `(${(ns - base >= 0 ? '+' : '') + (ns - base).toFixed(0)} ns)`}`)
  }
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

let sink = 0
const use = (value) => { sink ^= typeof value === 'string' ? value.length : (value?.length ?? 1) }

// ---- cookie value quoting (every write: NaCl's standard base64 has '/', '+' and '=') ----
const key = Buffer.from('6KfEbZsP3Vx8Uu1mBq0yWn4tLr7cJd2aHg9kFe5oTiQ=', 'base64')
const envelopeText = JSON.stringify({ created: 1763773000, session: { user: 'bench-user', visits: 1, roles: ['reader', 'writer'] } })
const naclValue = (() => {
  const box = Buffer.alloc(24 + 16 + Buffer.byteLength(envelopeText))
  sodium.randombytes_buf(box.subarray(0, 24))
  sodium.crypto_secretbox_easy(box.subarray(24), Buffer.from(envelopeText), box.subarray(0, 24), key)
  return box.toString('base64')
})()
const BARE = /^[A-Za-z0-9!#$%&'*+\-.^_`|~:]+$/
// Everything Python leaves literal inside quotes (bare characters plus ` ()/<=>?@[]{}`).
const LITERAL_IN_QUOTES = /^[A-Za-z0-9!#$%&'*+\-.^_`|~: ()/<=>?@[\]{}]*$/
function quoteFast (value) {
  if (BARE.test(value)) return value
  if (LITERAL_IN_QUOTES.test(value)) return '"' + value + '"'
  return quoteCookieValue(value)
}
if (quoteFast(naclValue) !== quoteCookieValue(naclValue)) throw new Error('quoteFast differs')
compare(`quoteCookieValue on a NaCl cookie (${naclValue.length} chars)`, {
  'current: character loop': () => use(quoteCookieValue(naclValue)),
  'candidate: one regex, then wrap in quotes': () => use(quoteFast(naclValue))
})

// ---- random IV / nonce ----
const iv = Buffer.alloc(16)
const nonce = Buffer.alloc(24)
const POOL_BYTES = 4096
let pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES))
let poolOffset = 0
function pooledRandom (target) {
  if (poolOffset + target.length > POOL_BYTES) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES))
    poolOffset = 0
  }
  pool.copy(target, 0, poolOffset, poolOffset + target.length)
  poolOffset += target.length
  return target
}
compare('random bytes for one IV (16) / nonce (24)', {
  'current Fernet: randomFillSync(16 bytes)': () => use(randomFillSync(iv)),
  'current NaCl: sodium.randombytes_buf(24 bytes)': () => use(sodium.randombytes_buf(nonce)),
  'candidate: copy from a 4 KiB randomFillSync pool (16)': () => use(pooledRandom(iv)),
  'candidate: copy from a 4 KiB randomFillSync pool (24)': () => use(pooledRandom(nonce))
}, { iterations: 50000 })

// ---- Fernet MAC (HMAC-SHA256 over ~100 bytes) ----
const signing = key.subarray(0, 16)
const signingKeyObject = createSecretKey(signing)
const token = Buffer.alloc(25 + 96)
const ipad = Buffer.alloc(64, 0x36)
const opad = Buffer.alloc(64, 0x5c)
for (let i = 0; i < signing.length; i++) {
  ipad[i] ^= signing[i]
  opad[i] ^= signing[i]
}
function hmacByHash (data) {
  const inner = hash('sha256', Buffer.concat([ipad, data]), 'buffer')
  return hash('sha256', Buffer.concat([opad, inner]), 'buffer')
}
if (!hmacByHash(token).equals(createHmac('sha256', signing).update(token).digest())) throw new Error('hmacByHash differs')
compare('HMAC-SHA256 of a Fernet token body (121 bytes)', {
  'current: createHmac(KeyObject)': () => use(createHmac('sha256', signingKeyObject).update(token).digest()),
  'candidate: createHmac(Buffer key)': () => use(createHmac('sha256', signing).update(token).digest()),
  'candidate: two crypto.hash() calls on precomputed pads': () => use(hmacByHash(token))
})

// ---- AES-128-CBC (Fernet) ----
const encryption = key.subarray(16, 32)
const encryptionKeyObject = createSecretKey(encryption)
const plaintext = Buffer.from(envelopeText)
const cbc = (() => {
  const cipher = createCipheriv('aes-128-cbc', encryption, iv)
  return Buffer.concat([cipher.update(plaintext), cipher.final()])
})()
compare(`AES-128-CBC decrypt of ${cbc.length} bytes`, {
  'current: createDecipheriv(KeyObject)': () => {
    const decipher = createDecipheriv('aes-128-cbc', encryptionKeyObject, iv)
    use(Buffer.concat([decipher.update(cbc), decipher.final()]))
  },
  'candidate: createDecipheriv(Buffer key)': () => {
    const decipher = createDecipheriv('aes-128-cbc', encryption, iv)
    use(Buffer.concat([decipher.update(cbc), decipher.final()]))
  }
})
compare('timingSafeEqual of 32 bytes', { timingSafeEqual: () => use(timingSafeEqual(token.subarray(0, 32), token.subarray(32, 64))) }, { iterations: 100000 })

// ---- envelope encoding ----
const map = new Map(/** @type {Array<[string, unknown]>} */ ([['user', 'bench-user'], ['visits', 1], ['roles', ['reader', 'writer']]]))
compare('envelope JSON.stringify', {
  'current: session.toJSON() (null-prototype object)': () => {
    const object = Object.create(null)
    for (const [k, v] of map) object[k] = v
    use(JSON.stringify({ created: 1763773000, session: object }))
  },
  'candidate: Object.fromEntries(map) (own data properties, same JSON)': () => use(JSON.stringify({ created: 1763773000, session: Object.fromEntries(map) }))
}, { iterations: 50000 })

// ---- expires attribute ----
let cachedSecond = -1
let cachedExpires = ''
function cachedFormat (seconds) {
  if (seconds !== cachedSecond) {
    cachedSecond = seconds
    cachedExpires = formatExpires(seconds)
  }
  return cachedExpires
}
compare('expires date for Set-Cookie', {
  'current: formatExpires per response': () => use(formatExpires(Math.floor(Date.now() / 1000) + 3600)),
  'candidate: cached per second': () => use(cachedFormat(Math.floor(Date.now() / 1000) + 3600))
}, { iterations: 100000 })

// ---- whole storage operations (what the plugin calls per request) ----
const fakeRequest = (cookie) => ({ headers: { cookie }, log: { debug () {}, warn () {} } })
const fakeReply = () => ({ header () { return this } })
for (const [name, storage] of [['NaClCookieStorage', new NaClCookieStorage(key, { maxAge: 3600 })], ['EncryptedCookieStorage', new EncryptedCookieStorage(key, { maxAge: 3600 })]]) {
  const session = storage.newSession()
  for (const [k, v] of map) session.set(k, v)
  let setCookie = ''
  storage.saveSession(fakeRequest(undefined), { header (_name, value) { setCookie = value } }, session)
  const cookie = setCookie.split(';')[0]
  const loaded = storage.loadSession(fakeRequest(cookie))
  if (loaded.get('user') !== 'bench-user') throw new Error(`${name} round trip failed`)
  compare(`${name}: whole load and save`, {
    'loadSession (read path: find, open, parse)': () => use(storage.loadSession(fakeRequest(cookie)).size),
    'saveSession (write path: encode, seal, Set-Cookie)': () => storage.saveSession(fakeRequest(cookie), fakeReply(), loaded),
    'newSession (anonymous path)': () => use(storage.loadSession(fakeRequest(undefined)).size)
  })
}

// ---- the onRequest hook cookie storages have for request.saveSession(), which needs the reply ----
{
  const { onRequestHookRunner } = createRequire(import.meta.url)('fastify/lib/hooks.js')
  const kReply = Symbol.for('fastify-sessions.request.reply')
  const request = { [kReply]: null }
  const reply = {}
  const next = (error, request, reply) => use(error ?? reply)
  // As Fastify keeps them: one array per route (Fastify also binds each to its instance).
  const hooks = [function rememberReply (request, reply, done) { request[kReply] = reply; done() }]
  const handler = (request, reply) => use(reply)
  const wrapped = (request, reply) => { request[kReply] = reply; return handler(request, reply) }
  compare('keeping the reply per request: an onRequest hook, or (the alternative) a wrapped handler', {
    'no onRequest hook (Fastify goes straight on)': () => next(null, request, reply),
    'one callback hook that keeps the reply (Fastify\'s runner)': () => onRequestHookRunner(hooks, request, reply, next),
    'the handler alone': () => handler(request, reply),
    'the handler wrapped to keep the reply': () => wrapped(request, reply)
  }, { iterations: 200000 })
}

// ---- the same work in @fastify/secure-session (+ @fastify/cookie), for scale ----
{
  const { fastifyCookie } = await import('@fastify/cookie')
  const { default: secureSession } = await import('@fastify/secure-session')
  const peer = Fastify()
  await peer.register(fastifyCookie)
  await peer.register(secureSession, { key, expiry: 3600, cookie: { path: '/', maxAge: 3600 } })
  await peer.ready()
  const session = peer.createSecureSession({})
  // Typed loosely: the session plugins installed here each declare their SessionData.
  for (const [k, v] of map) /** @type {{ set (key: string, value: unknown): void }} */ (session).set(k, v)
  const value = peer.encodeSecureSession(session)
  const header = 'session=' + fastifyCookie.serialize('session', value).split('=').slice(1).join('=').split(';')[0]
  const log = /** @type {import('fastify').FastifyBaseLogger} */ (/** @type {unknown} */ ({ debug () {}, trace () {} }))
  const cookieOptions = { path: '/', maxAge: 3600, httpOnly: true }
  if (peer.decodeSecureSession(fastifyCookie.parse(header).session, log)?.get('user') !== 'bench-user') throw new Error('secure-session round trip failed')
  compare('@fastify/secure-session: the same load and save, for comparison', {
    'read: cookie.parse(header) + decodeSecureSession': () => use(peer.decodeSecureSession(fastifyCookie.parse(header).session, log)),
    'write: encodeSecureSession + cookie.serialize': () => use(fastifyCookie.serialize('session', peer.encodeSecureSession(session), cookieOptions)),
    'anonymous: cookie.parse(undefined) + empty session': () => use(peer.decodeSecureSession(fastifyCookie.parse('').session, log) ?? peer.createSecureSession({}))
  })
  await peer.close()
}

// ---- raw envelope members (the save path of the byte-exact merge) and the JSON-value check of set() ----
{
  const { parsePythonJson } = await ours('lib/wire/python-json.js')
  const { scanEnvelope, writeEnvelope } = await ours('lib/wire/raw-envelope.js')
  const { findNonJsonValue } = await ours('lib/wire/json-value.js')
  const { Session } = await ours('lib/session.js')
  // A typical envelope as aiohttp writes it (json.dumps separators): ~200 bytes, 6 members.
  const pythonEnvelope = '{"created": 1763773000, "session": {"user": {"id": "u-1842", "name": "Ann", "roles": ["reader", "writer"]}, ' +
    '"visits": 12, "csrf": "9f2c4e1ab3d84f0c", "ratio": 1.0, "snowflake": 18446744073709551616, "flash": []}}'
  const scanned = scanEnvelope(pythonEnvelope)
  compare(`raw envelope of ${pythonEnvelope.length} bytes, ${scanned.members.size} members`, {
    'parsePythonJson (JSON.parse): today\'s load': () => use(parsePythonJson(pythonEnvelope)),
    'scanEnvelope: raw text of each member': () => use(scanEnvelope(pythonEnvelope).members),
    'writeEnvelope from the scanned members': () => use(writeEnvelope(1763773001, scanned.members)),
    'JSON.stringify of the parsed envelope: today\'s save': (() => { const parsed = parsePythonJson(pythonEnvelope); return () => use(JSON.stringify(parsed)) })()
  }, { iterations: 50000 })

  const user = { id: 'u-1842', name: 'Ann', roles: ['reader', 'writer'] }
  const session = new Session()
  const plain = new Map()
  compare('set() of a small object ({ id, name, roles: [2] }) and of a number', {
    'Map.set (no check), object': () => use(plain.set('user', user)),
    'findNonJsonValue, object': () => use(findNonJsonValue(user, 'user')),
    'session.set, object (check included)': () => use(session.set('user', user)),
    'findNonJsonValue, number': () => use(findNonJsonValue(12, 'visits')),
    'session.set, number (check included)': () => use(session.set('visits', 12))
  }, { iterations: 100000 })
}

// ---- rolling: a route that never touches request.session, with a young cookie ----
// What the plugin asks a cookie storage at onSend (kUntouchedRefresh): known cookie → a
// Map lookup; unknown (a process restart, another instance, or more than the cache holds)
// → the cookie is opened and decoded once. Set next to what a route that reads the
// session pays for its load, with the opened-cookie cache off and on.
const kUntouchedRefresh = Symbol.for('fastify-sessions.untouchedRefresh')
const quietLog = { debug () {}, warn () {} }
for (const [name, Storage] of [['NaCl', NaClCookieStorage], ['Encrypted', EncryptedCookieStorage]]) {
  const rolling = new Storage(key, { maxAge: 3600, rolling: true })
  const rollingUncached = new Storage(key, { maxAge: 3600, rolling: true, cacheSize: 0 })
  const notRolling = new Storage(key, { maxAge: 3600, cacheSize: 0 })
  const cached = new Storage(key, { maxAge: 3600 })
  const created = Math.floor(Date.now() / 1000)
  const envelope = JSON.stringify({ created, session: { user: 'bench-user', visits: 0, roles: ['reader', 'writer'] } })
  const requestWith = (value) => ({ headers: { cookie: `AIOHTTP_SESSION=${quoteCookieValue(value)}` }, log: quietLog })
  // Seen by this storage (it opened it): remembered.
  const known = requestWith(rolling.sealCookie(envelope))
  rolling.loadSession(known)
  cached.loadSession(known)
  // More distinct cookies than the created cache holds, in turn: every lookup misses.
  const unknown = Array.from({ length: 12000 }, () => requestWith(rolling.sealCookie(envelope)))
  let turn = 0
  compare(`rolling, ${name}: an untouched route's onSend check, young cookie`, {
    'rolling off: nothing': () => use(undefined),
    'rolling on, cookie known (a Map lookup)': () => use(rolling[kUntouchedRefresh](known)),
    'rolling on, cookie unknown (opened and decoded once)': () => use(rolling[kUntouchedRefresh](unknown[turn++ % unknown.length])),
    'the same, opened-cookie cache off (cacheSize: 0)': () => use(rollingUncached[kUntouchedRefresh](unknown[turn++ % unknown.length])),
    'for scale: a reading route\'s load, no opened-cookie cache': () => use(notRolling.loadSession(known)),
    'for scale: a reading route\'s load, opened-cookie cache hit': () => use(cached.loadSession(known))
  }, { iterations: 5000 })
}

// ---- request.routeOptions, read by the plugin's opt-out check ----
const app = Fastify()
let routeOptionsNs = 0
let configNs = 0
app.get('/', { config: { session: true } }, async (request) => {
  const n = 200000
  let start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) use(request.routeOptions.config.session ? 'a' : '')
  routeOptionsNs = Number(process.hrtime.bigint() - start) / n
  const cached = request.routeOptions.config
  start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) use(cached.session ? 'a' : '')
  configNs = Number(process.hrtime.bigint() - start) / n
  return 'ok'
})
if (options.filter === undefined || 'request.routeOptions'.includes(options.filter)) {
  await app.inject('/')
  await app.inject('/')
  console.log('\nrequest.routeOptions.config.session (the opt-out check, per access)')
  console.log(`  ${'current: request.routeOptions (builds a 12-field object)'.padEnd(58)} ${routeOptionsNs.toFixed(0).padStart(7)} ns/op`)
  console.log(`  ${'a config object read once'.padEnd(58)} ${configNs.toFixed(0).padStart(7)} ns/op`)
}
await app.close()
if (sink === 0.5) console.log(sink)
