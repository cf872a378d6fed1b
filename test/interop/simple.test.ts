/**
 * SimpleCookieStorage against the real aiohttp_session SimpleCookieStorage: plain
 * JSON in a Python-quoted cookie. The flows of test/interop/suite.ts in both
 * directions, plus the exact quoting Python applies to the JSON.
 */
import t from 'tap'
import { SimpleCookieStorage } from '../../index.js'
import { unquoteCookieValue } from '../../lib/wire/cookie.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { startPython } from './python-service.js'
import { interopSuite } from './suite.js'

const maxAge = 60
const python = await startPython(t, { storage: 'simple', maxAge })
const fastify = await startFastify(t, new SimpleCookieStorage({ maxAge }))

interopSuite(t, { kind: 'simple', python, fastify, maxAge })

t.test('the JSON travels in Python\'s quoted form both ways', async (t) => {
  const data = { text: 'a "b", c; d \\ é 😀' }
  const fromPython = new Browser()
  await fromPython.write(python, '/set', data)
  const theirs = fromPython.value() as string
  // json.dumps(ensure_ascii) then http.cookies quoting: \" \\ \054 \073 and \uXXXX.
  t.match(theirs, /^"\{\\"created\\": \d+\\054 \\"session\\": \{\\"text\\": \\"a \\\\\\"b\\\\\\"\\054 c\\073 d \\\\\\\\ \\\\u00e9 \\\\ud83d\\\\ude00\\"\}\}"$/,
    'aiohttp escapes quotes, backslashes, commas and semicolons')
  t.same((await fromPython.read(fastify)).session, data, 'fastify reads it')

  const fromFastify = new Browser()
  await fromFastify.write(fastify, '/set', data)
  const ours = fromFastify.value() as string
  t.match(ours, /^"\{\\"created\\":\d+\\054\\"session\\":\{\\"text\\":\\"a \\\\\\"b\\\\\\"\\054 c\\073 d \\\\\\\\ \\\\u00e9 \\\\ud83d\\\\ude00\\"\}\}"$/,
    'ours is quoted the same way (compact JSON, also ASCII-only)')
  t.same(JSON.parse(unquoteCookieValue(ours)).session, data)
  t.same((await fromFastify.read(python)).session, data, 'aiohttp reads it')
})
