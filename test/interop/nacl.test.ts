/**
 * NaClCookieStorage against the real aiohttp_session NaClCookieStorage (PyNaCl
 * SecretBox), sharing one key: the flows of test/interop/suite.ts in both
 * directions, plus the quoting of values that contain '/' or '='.
 */
import t from 'tap'
import { generateKey } from '../../index.js'
import { NaClCookieStorage } from '../../storages/nacl-cookie.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { startPython } from './python-service.js'
import type { Service } from './service.js'
import { interopSuite } from './suite.js'

// Python takes the 32 raw bytes (app.py decodes this text); we take the text itself.
const key = generateKey()
const maxAge = 60
const python = await startPython(t, { storage: 'nacl', key, maxAge })
const fastify = await startFastify(t, new NaClCookieStorage(key, { maxAge }))

interopSuite(t, { kind: 'nacl', python, fastify, maxAge })

t.test('quoted and bare NaCl values travel both ways', async (t) => {
  // Standard base64 has '/' (random, from the nonce and ciphertext) and '=' padding
  // (from the length); Python quotes a value containing either. Collect both forms
  // from each side; a bare one needs a length without padding and no '/' by chance.
  const check = async (from: Service, to: Service): Promise<void> => {
    const seen = new Set<boolean>()
    for (let attempt = 0; seen.size < 2 && attempt < 300; attempt++) {
      const browser = new Browser()
      const data = { k: 'x'.repeat(attempt % 3) }
      await browser.write(from, '/set', data)
      const quoted = (browser.value() as string).startsWith('"')
      if (seen.has(quoted)) continue
      seen.add(quoted)
      t.same((await browser.read(to)).session, data, `${to.name} reads a ${quoted ? 'quoted' : 'bare'} value from ${from.name}`)
    }
    t.equal(seen.size, 2, `saw both forms from ${from.name}`)
  }
  await check(python, fastify)
  await check(fastify, python)
})
