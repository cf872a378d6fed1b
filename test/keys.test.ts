import t from 'tap'
import { SessionConfigError, generateKey } from '../index.js'
import { normalizeKeys } from '../lib/crypto/keys.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'

const RAW = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex')
const TEXT = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='

t.test('generateKey gives 44-character padded url-safe base64 of 32 random bytes', async (t) => {
  const key = generateKey()
  t.match(key, /^[A-Za-z0-9_-]{43}=$/)
  t.equal(Buffer.from(key, 'base64url').length, 32)
  t.not(generateKey(), key, 'keys are random')
})

t.test('accepted key forms', async (t) => {
  t.same(normalizeKeys(RAW, 'S'), [RAW], 'a 32-byte Buffer')
  t.same(normalizeKeys(new Uint8Array(RAW), 'S'), [RAW], 'a 32-byte Uint8Array')
  t.same(normalizeKeys(TEXT, 'S'), [RAW], 'the Fernet key text')
  const std = Buffer.alloc(32, 0xfb).toString('base64')
  t.match(std, /[+/]/)
  t.same(normalizeKeys(std, 'S'), [Buffer.alloc(32, 0xfb)], 'standard base64 text too')
  t.same(normalizeKeys([TEXT, Buffer.alloc(32, 1)], 'S'), [RAW, Buffer.alloc(32, 1)], 'an array for rotation')
})

t.test('keys are copied: later changes to the caller\'s buffer do not matter', async (t) => {
  const key = Buffer.from(RAW)
  const [normalized] = normalizeKeys(key, 'S')
  key.fill(0)
  t.same(normalized, RAW)
})

t.test('wrong keys fail with what is expected, never the key', async (t) => {
  const secret = 'my-super-secret-password'
  const cases: Array<[unknown, RegExp]> = [
    [secret, /got a string of 24 characters$/],
    [TEXT.slice(0, 43), /the '=' padding is missing/],
    [RAW.toString('hex'), /hex text: pass Buffer\.from\(key, 'hex'\)/],
    [Buffer.alloc(16), /got Buffer of 16 bytes$/],
    [Buffer.from(TEXT), /got Buffer of 44 bytes that hold base64 text: pass the text as a string instead/],
    [Buffer.alloc(44, 0xff), /got Buffer of 44 bytes$/],
    [undefined, /got undefined/],
    [42, /got number/],
    [{ key: secret }, /got a plain object \(the key comes first, the options second: new EncryptedCookieStorage\(key, \{ … \}\)\)/],
    [[], /needs at least one key of 32 bytes \(or its url-safe base64 text\); got an empty array/]
  ]
  for (const [key, message] of cases) {
    const error = t.throws(() => new EncryptedCookieStorage(key as string), SessionConfigError) as Error
    t.match(error.message, message)
    t.match(error.message, /32 bytes/, 'names the expected length')
    t.notMatch(error.message, secret)
    t.notMatch(error.message, TEXT.slice(0, 20))
  }
  t.throws(() => new NaClCookieStorage([TEXT, 'short']), { message: /NaClCookieStorage key #2 must be 32 bytes/ }, 'names which key of an array is wrong')
})
