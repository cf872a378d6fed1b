/**
 * Values at the edges of JSON's number model and of JavaScript objects, between the
 * real aiohttp-session and ours (EncryptedCookieStorage; the envelope is the same for
 * every storage). Python's json tells 1.0 from 1, keeps integers of any size and
 * writes NaN/Infinity; JavaScript numbers are doubles and JSON.parse knows no NaN.
 * These tests pin down what survives a round trip through a mixed deployment.
 */
import t from 'tap'
import { generateKey } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { pythonRepr, startPython } from './python-service.js'
import type { SessionView } from './service.js'

const key = generateKey()
const python = await startPython(t, { storage: 'encrypted', key, maxAge: 3600 })
const fastify = await startFastify(t, new EncryptedCookieStorage(key, { maxAge: 3600 }))

t.test('integral floats and integers beyond 2^53 survive a write by our side that does not touch them', async (t) => {
  const browser = new Browser()
  t.same((await browser.post(python, '/special', { one: 'float-one', big: 'big-int' })).body,
    { one: '1.0', big: '18446744073709551617' }, 'aiohttp holds the float 1.0 and 2**64 + 1')
  const read = await browser.read(fastify)
  t.same(read.session, { one: 1, big: 2 ** 64 }, 'we read them as doubles (2**64 + 1 rounds to 2**64)')
  await browser.write(fastify, '/set', { touched: true })
  // Keys a request does not change are written back as the JSON text they were read as.
  t.same(await pythonRepr(python, browser), { one: '1.0', big: '18446744073709551617', touched: 'True' },
    'after our write Python still reads the float 1.0 and the exact integer')
  await browser.write(fastify, '/set', { one: 2 })
  t.same(await pythonRepr(python, browser), { one: '2', big: '18446744073709551617', touched: 'True' },
    'a key we set is ours; the others stay as they were')
})

t.test('keys such as __proto__ and constructor written by aiohttp survive our side', async (t) => {
  // Sent to aiohttp only: Fastify's own body parser refuses __proto__ in request bodies.
  const data = JSON.parse('{"__proto__": {"admin": true}, "constructor": "c", "toString": 1, "hasOwnProperty": null}') as Record<string, unknown>
  const browser = new Browser()
  await browser.write(python, '/set', data)
  const view = await browser.read(fastify)
  t.same(Object.keys(view.session), Object.keys(data), 'we load them as ordinary keys')
  t.equal(JSON.stringify(view.session), JSON.stringify(data), 'with their values')
  t.equal(({} as { admin?: unknown }).admin, undefined, 'no prototype was polluted')
  await browser.write(fastify, '/set', { touched: true })
  t.same(await pythonRepr(python, browser), { ['__proto__']: "{'admin': True}", constructor: "'c'", toString: '1', hasOwnProperty: 'None', touched: 'True' },
    'and write them back for aiohttp')
})

t.test('a Python session holding NaN or Infinity', async (t) => {
  const browser = new Browser()
  await browser.post(python, '/special', { user: 'float-one', ratio: 'nan', limit: 'infinity' })
  t.same(await pythonRepr(python, browser), { user: '1.0', ratio: 'nan', limit: 'inf' }, 'aiohttp reads its own session')
  const reply = await browser.get(fastify, '/get')
  t.equal(reply.status, 200, 'never a 500 on ours')
  // json.dumps writes the bare tokens NaN and Infinity (allow_nan=True by default),
  // which JSON.parse rejects; our default decoder reads them.
  t.same((reply.body as SessionView).session, { user: 1, ratio: null, limit: null },
    'the session survives on our side (the non-finite numbers cannot, in JSON replies)')
  t.same(reply.logLines.filter((line) => line.level >= 40), [], 'without a warning')
  await browser.write(fastify, '/set', { touched: true })
  t.same(await pythonRepr(python, browser), { user: '1.0', ratio: 'nan', limit: 'inf', touched: 'True' },
    'written back untouched, they are still NaN and Infinity for aiohttp')
})
