/**
 * EncryptedCookieStorage against the real aiohttp_session EncryptedCookieStorage
 * (Fernet), sharing one key: the flows of test/interop/suite.ts in both directions,
 * plus the quoting of padded tokens.
 */
import t from 'tap'
import { generateKey } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { startPython } from './python-service.js'
import { interopSuite } from './suite.js'

const key = generateKey()
const maxAge = 60
const python = await startPython(t, { storage: 'encrypted', key, maxAge })
const fastify = await startFastify(t, new EncryptedCookieStorage(key, { maxAge }))

interopSuite(t, { kind: 'encrypted', python, fastify, maxAge })

t.test('padded Fernet tokens travel quoted, unpadded ones bare, both ways', async (t) => {
  // Fernet pads the base64 text with '=' depending on the plaintext length, and
  // Python's cookie quoting wraps any value with '=' in quotes. Python's envelope
  // for {"abcd": 12} is 48 bytes (a padded token), for {"a": 1} 44 bytes (bare).
  for (const [data, quoted] of [[{ abcd: 12 }, true], [{ a: 1 }, false]] as const) {
    const browser = new Browser()
    await browser.write(python, '/set', data)
    const value = browser.value() as string
    t.equal(value.startsWith('"'), quoted, `aiohttp sends ${JSON.stringify(data)} ${quoted ? 'quoted' : 'bare'}`)
    t.same((await browser.read(fastify)).session, data, 'fastify reads it')
  }
  // Our compact envelope has other lengths: find one of each form on our side.
  const seen = new Set<boolean>()
  for (let length = 0; seen.size < 2; length++) {
    const browser = new Browser()
    await browser.write(fastify, '/set', { k: 'x'.repeat(length) })
    const quoted = (browser.value() as string).startsWith('"')
    if (seen.has(quoted)) continue
    seen.add(quoted)
    t.same((await browser.read(python)).session, { k: 'x'.repeat(length) }, `aiohttp reads our ${quoted ? 'quoted' : 'bare'} token`)
  }
})

t.test('key rotation in a mixed deployment: aiohttp knows one key, we re-issue old cookies', async (t) => {
  // aiohttp-session takes a single Fernet key (MultiFernet is rejected), so a rotation
  // switches aiohttp to the new key while our side lists [new, old].
  const newKey = generateKey()
  const rotated = await startFastify(t, new EncryptedCookieStorage([newKey, key], { maxAge }))
  const rotatedPython = await startPython(t, { storage: 'encrypted', key: newKey, maxAge })

  const browser = new Browser()
  await browser.write(python, '/set', { user: 'ann' })
  const beforeRotation = browser.value() as string
  t.same((await browser.read(rotatedPython)).session, {}, 'aiohttp with the new key cannot read a cookie from before the rotation')

  const reply = await browser.get(rotated, '/get')
  t.same((reply.body as { session: unknown }).session, { user: 'ann' }, 'we still read it with the old key')
  t.equal(reply.setCookies.length, 1, 'and re-issue it under the new key, even on a read')
  t.not(browser.value(), beforeRotation)
  t.same((await browser.read(rotatedPython)).session, { user: 'ann' }, 'which aiohttp with the new key reads')
})

t.test('clocks more than 60 s apart reject each other\'s Fernet tokens', async (t) => {
  // With max_age set, Fernet refuses tokens stamped over 60 s in its future: a
  // service whose clock runs ahead logs users out of the other one.
  const now = Math.floor(Date.now() / 1000)
  for (const [from, to] of [[python, fastify], [fastify, python]] as const) {
    for (const [skew, readable] of [[60, true], [61, false]] as const) {
      const browser = new Browser()
      await browser.write(from, '/set', { user: 'ann' }, { clock: now + skew })
      const view = await browser.read(to, '/get', { clock: now })
      t.same(view.session, readable ? { user: 'ann' } : {},
        `${to.name} ${readable ? 'reads' : 'refuses'} a token from ${from.name} ${skew} s ahead`)
    }
  }
})
