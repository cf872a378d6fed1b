/**
 * The cookie codec and its model (test/helpers/cookie-model.ts) against the real
 * Python `http.cookies`, which aiohttp uses: one Python process quotes and unquotes a
 * sample of arbitrary values (fast-check, the shared fixed seed) and ours must give
 * the same texts. The codec's property tests then check ours against the model at
 * many more values than a process round trip would allow.
 */
import { spawn } from 'node:child_process'
import fc from 'fast-check'
import t from 'tap'
import { quoteCookieValue, unquoteCookieValue } from '../../lib/wire/cookie.js'
import { cookieText, pythonQuote, pythonUnquote } from '../helpers/cookie-model.js'
import { propertyRunOptions } from '../helpers/property.js'
import { terminate } from '../helpers/servers.js'

const PYTHON = '/usr/bin/python3'

/** Reads a JSON list of strings on stdin, writes `[[_quote(s), _unquote(s)], …]` on stdout. */
const SCRIPT = `
import json, sys
from http.cookies import _quote, _unquote
values = json.loads(sys.stdin.buffer.read().decode('utf-8'))
sys.stdout.write(json.dumps([[_quote(value), _unquote(value)] for value in values]))
`

async function python (values: readonly string[]): Promise<Array<[string, string]>> {
  const child = spawn(PYTHON, ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => terminate(child))
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text })
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', resolve)
  })
  child.stdin.end(JSON.stringify(values))
  const code = await exited
  if (code !== 0) throw new Error(`python exited with ${String(code)}: ${stderr}`)
  return JSON.parse(stdout) as Array<[string, string]>
}

t.test('quote and unquote give what Python gives, for arbitrary values and their quoted forms', async (t) => {
  const sample = fc.sample(cookieText, { seed: propertyRunOptions.seed, numRuns: Math.max(200, propertyRunOptions.numRuns) })
  const values = [...sample, ...sample.map((value) => '"' + value + '"'), '"a\\\nb"', '"\\\\\\""', '"\\400"', '"\\377"', '', '"', '""']
  const answers = await python(values)
  let differences = 0
  values.forEach((value, index) => {
    const [quoted, unquoted] = answers[index] as [string, string]
    const ours = [quoteCookieValue(value), unquoteCookieValue(value)]
    const model = [pythonQuote(value), pythonUnquote(value)]
    if (ours[0] !== quoted || ours[1] !== unquoted || model[0] !== quoted || model[1] !== unquoted) {
      differences++
      t.fail(`${JSON.stringify(value)}: Python ${JSON.stringify([quoted, unquoted])}, ours ${JSON.stringify(ours)}, model ${JSON.stringify(model)}`)
    }
  })
  t.equal(differences, 0, `${values.length} values, the same in Python, in ours and in the model`)
})
