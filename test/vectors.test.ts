/**
 * Golden cookies produced by the real aiohttp-session (test/fixtures, copied from the
 * project's shared vectors): every one must decode to its data, and what we write must
 * be accepted by an independent decoder (test/helpers/reference.ts) and carry the same
 * attributes in the same order.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import type { Test } from 'tap'
import { SimpleCookieStorage } from '../index.js'
import type { AbstractStorage, SessionEnvelope, StorageOptions } from '../index.js'
import { unquoteCookieValue } from '../lib/wire/cookie.js'
import { Fernet } from '../lib/crypto/fernet.js'
import { SecretBox } from '../lib/crypto/secretbox.js'
import { loadPeer } from '../lib/storage/peer.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { buildApp } from './helpers/app.js'
import { fakeDate } from './helpers/clock.js'
import { parseSetCookie, setCookies } from './helpers/cookies.js'
import { fernetDecrypt, naclOpen } from './helpers/reference.js'

interface Vector {
  storage: 'simple' | 'encrypted' | 'nacl'
  case: string
  options: { max_age?: number, domain?: string, secure?: boolean, samesite?: string }
  data?: Record<string, unknown>
  envelope_python?: string
  request_cookie?: string
  loaded?: Record<string, unknown>
  set_cookie: string[]
}

interface Fixtures {
  now: number
  keys: { encrypted_raw_hex: string, encrypted_fernet_text: string, nacl_raw_hex: string }
  fernet_iv_hex: string
  nacl_nonce_hex: string
  vectors: Vector[]
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/aiohttp-session-cookies.json', import.meta.url), 'utf8')) as Fixtures
const NOW = fixtures.now
const FERNET_KEY = Buffer.from(fixtures.keys.encrypted_raw_hex, 'hex')
const NACL_KEY = Buffer.from(fixtures.keys.nacl_raw_hex, 'hex')

/** Python `json.dumps` with its defaults (separators ', ' and ': ', ensure_ascii). */
function pythonJson (value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(pythonJson).join(', ') + ']'
  if (value !== null && typeof value === 'object') {
    return '{' + Object.entries(value).map(([key, item]) => `${pythonJson(key)}: ${pythonJson(item)}`).join(', ') + '}'
  }
  if (typeof value === 'number' && Number.isInteger(value) === false) return String(value)
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => '\\u' + char.charCodeAt(0).toString(16).padStart(4, '0'))
}

/** aiohttp's options in our spelling; aiohttp's SameSite default is none at all. */
function optionsOf (vector: Vector, extra: StorageOptions = {}): StorageOptions {
  const { max_age: maxAge, domain, secure, samesite } = vector.options
  return { maxAge, domain, sameSite: (samesite as StorageOptions['sameSite']) ?? false, ...(secure === undefined ? {} : { secure }), ...extra }
}

function storageFor (vector: Vector, extra: StorageOptions = {}): AbstractStorage {
  const options = optionsOf(vector, extra)
  if (vector.storage === 'simple') return new SimpleCookieStorage(options)
  if (vector.storage === 'encrypted') return new EncryptedCookieStorage(fixtures.keys.encrypted_fernet_text, options)
  return new NaClCookieStorage(NACL_KEY, options)
}

/** The envelope inside one of our cookie values, opened by the reference decoders. */
function openEnvelope (vector: Vector, value: string): unknown {
  const raw = unquoteCookieValue(value)
  if (vector.storage === 'simple') return JSON.parse(raw)
  if (vector.storage === 'encrypted') return JSON.parse(fernetDecrypt(raw, FERNET_KEY).plaintext.toString('utf8'))
  return JSON.parse(naclOpen(raw, NACL_KEY).plaintext.toString('utf8'))
}

async function appFor (t: Test, storage: AbstractStorage) {
  return buildApp(t, storage, (app) => {
    app.get('/read', async (request) => ({ isNew: request.session.isNew, data: request.session.toJSON() }))
    app.post('/write', async (request) => {
      for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) request.session.set(key, value)
      return 'ok'
    })
    app.post('/invalidate', async (request) => {
      request.session.invalidate()
      return 'ok'
    })
  })
}

t.beforeEach((t) => { fakeDate(t, NOW) })

for (const vector of fixtures.vectors.filter((item) => item.case !== 'invalidate')) {
  t.test(`${vector.storage}/${vector.case}`, async (t) => {
    const golden = parseSetCookie(vector.set_cookie[0] as string)
    const { app } = await appFor(t, storageFor(vector))

    const read = await app.inject({ url: '/read', headers: { cookie: golden.pair } })
    t.same(read.json(), { isNew: false, data: vector.data }, 'the aiohttp cookie decodes to its data')
    t.same(setCookies(read), [], 'reading sends no cookie')

    const written = await app.inject({ method: 'POST', url: '/write', payload: vector.data as object })
    const [header, ...others] = setCookies(written)
    t.same(others, [])
    const ours = parseSetCookie(header as string)
    t.same(openEnvelope(vector, ours.value), { created: NOW, session: vector.data }, 'our cookie opens with an independent decoder')
    t.equal(ours.attributeText, golden.attributeText, 'attributes are aiohttp\'s, in the same order')

    const again = await app.inject({ url: '/read', headers: { cookie: ours.pair } })
    t.same(again.json(), { isNew: false, data: vector.data }, 'and we read back what we wrote')
  })
}

t.test('with an encoder that mimics json.dumps, Simple cookies are byte-identical to aiohttp\'s', async (t) => {
  for (const vector of fixtures.vectors.filter((item) => item.storage === 'simple' && item.case !== 'invalidate')) {
    const { app } = await appFor(t, storageFor(vector, { encoder: (envelope: SessionEnvelope) => pythonJson(envelope) }))
    const written = await app.inject({ method: 'POST', url: '/write', payload: vector.data as object })
    t.same(setCookies(written), vector.set_cookie, vector.case)
  }
})

t.test('the codecs reproduce aiohttp\'s tokens byte for byte given the same IV / nonce', async (t) => {
  class FixedIvFernet extends Fernet {
    protected override randomIv (target: Buffer): Buffer {
      Buffer.from(fixtures.fernet_iv_hex, 'hex').copy(target)
      return target
    }
  }
  class FixedNonceBox extends SecretBox {
    protected override randomNonce (target: Buffer): Buffer {
      Buffer.from(fixtures.nacl_nonce_hex, 'hex').copy(target)
      return target
    }
  }
  const fernet = new FixedIvFernet([FERNET_KEY])
  const box = new FixedNonceBox([NACL_KEY], loadPeer('sodium-native', 'test'))
  for (const vector of fixtures.vectors.filter((item) => item.envelope_python !== undefined && item.storage !== 'simple')) {
    const plaintext = Buffer.from(vector.envelope_python as string, 'utf8')
    const token = vector.storage === 'encrypted' ? fernet.encrypt(plaintext, NOW) : box.seal(plaintext)
    t.equal(token, unquoteCookieValue(parseSetCookie(vector.set_cookie[0] as string).value), `${vector.storage}/${vector.case}`)
  }
})

for (const vector of fixtures.vectors.filter((item) => item.case === 'invalidate')) {
  t.test(`${vector.storage}/invalidate`, async (t) => {
    // Without HttpOnly/SameSite our deletion cookie is aiohttp's exactly; with them we
    // repeat them (browsers need matching attributes to delete __Host-/__Secure- cookies).
    const { app } = await appFor(t, storageFor(vector, { httpOnly: false }))
    const cookie = vector.request_cookie as string
    const read = await app.inject({ url: '/read', headers: { cookie } })
    t.same(read.json(), { isNew: false, data: vector.loaded })
    const response = await app.inject({ method: 'POST', url: '/invalidate', headers: { cookie } })
    const deletion = 'AIOHTTP_SESSION=""; Domain=example.com; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/'
    if (vector.storage === 'simple') {
      t.equal(vector.set_cookie[0]?.startsWith('AIOHTTP_SESSION="{}"'), true, 'aiohttp writes "{}" for Simple…')
      t.same(setCookies(response), [deletion], '…we delete the cookie, which both sides read as no session')
    } else {
      t.same(setCookies(response), vector.set_cookie)
    }
  })
}
