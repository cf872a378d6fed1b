/**
 * The default decoder (lib/wire/python-json.ts): JSON.parse, plus Python's NaN,
 * Infinity and -Infinity through a one-pass parser whose work is bounded by the text's
 * length. Property-based (fast-check, seed fixed in test/helpers/property.ts) against
 * JSON.parse and against the previous implementation (tokens rewritten to tagged
 * strings, then JSON.parse with a reviver), kept here as an oracle.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { NOT_JSON, parseJsonWithPythonTokens, parsePythonJson } from '../lib/wire/python-json.js'
import { propertyOptions } from './helpers/property.js'
import { countingText } from './helpers/counting-text.js'

t.test('standard JSON is parsed as JSON.parse does', async (t) => {
  t.same(parsePythonJson('{"a": [1, 2.5, "x", true, null]}'), { a: [1, 2.5, 'x', true, null] })
  t.throws(() => parsePythonJson('not json'), SyntaxError, 'and invalid JSON still fails')
  t.throws(() => parsePythonJson('{"a": NaNa}'), SyntaxError, 'a token glued to garbage still fails')
  t.throws(() => parsePythonJson('{NaN: 1}'), SyntaxError, 'a token where a key belongs fails, as in Python')
  t.throws(() => parsePythonJson('{"a": {Infinity: 1, "b": NaN}}'), SyntaxError, 'at any depth')
})

t.test('Python\'s non-finite floats are read', async (t) => {
  const value = parsePythonJson('{"created": 1, "session": {"n": NaN, "big": Infinity, "small": -Infinity, "list": [NaN, 1]}}') as {
    session: { n: number, big: number, small: number, list: number[] }
  }
  t.ok(Number.isNaN(value.session.n))
  t.equal(value.session.big, Infinity)
  t.equal(value.session.small, -Infinity)
  t.ok(Number.isNaN(value.session.list[0]))
  t.equal(value.session.list[1], 1)
})

t.test('tokens inside strings are text, not numbers', async (t) => {
  t.same(parsePythonJson('{"k": "NaN \\"Infinity\\" \\\\", "n": NaN}'), { k: 'NaN "Infinity" \\', n: NaN })
  t.same(parsePythonJson('{"NaN": -Infinity}'), { NaN: -Infinity })
})

/**
 * Texts full of Python's tokens: what an attacker can put in a SimpleCookieStorage
 * cookie (4 kB) and what a Python service may store in a record (any size). Work is
 * counted, not timed: the characters handed to JSON.parse (the engine's work) and the
 * values passed through a reviver, per character of the text.
 */
t.test('Python\'s tokens cost work linear in the text, with a small factor', async (t) => {
  const tokens = (count: number, token: (index: number) => string): string => Array.from({ length: count }, (_, index) => token(index)).join(',')
  const cases: Array<[string, string]> = [
    ['a 4 kB cookie of 1,000 NaN', `{"created": 1, "session": {"a": [${tokens(1000, () => 'NaN')}]}}`],
    ['1,000 members', `{"created": 1, "session": {${tokens(1000, (index) => `"k${index}": -Infinity`)}}}`],
    ['tokens among strings with escapes', `{"created": 1, "session": {"a": [${tokens(1000, () => '"\\"NaN\\u00e9", Infinity')}]}}`],
    ['400 levels of [NaN, …]', `{"created": 1, "session": {"a": ${'[NaN, '.repeat(400)}1${']'.repeat(400)}}}`],
    ['a 200 kB record of NaN', `{"created": 1, "session": {"a": [${tokens(50_000, () => 'NaN')}]}}`],
    ['tokens, then not JSON', `{"created": 1, "session": {"a": [${tokens(1000, () => 'NaN')}}}`]
  ]
  for (const [name, text] of cases) {
    const work = nativeWork(() => {
      try {
        parsePythonJson(text)
      } catch {}
    })
    t.ok(work.charactersParsed + work.revived <= 2 * text.length,
      `${name}: ${work.charactersParsed} characters parsed and ${work.revived} values revived for ${text.length}`)
  }
})

/** Runs `action` and counts what it handed to JSON.parse: characters, and values passed through a reviver. */
function nativeWork (action: () => void): { charactersParsed: number, revived: number } {
  const original = JSON.parse
  const work = { charactersParsed: 0, revived: 0 }
  JSON.parse = (text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown): unknown => {
    work.charactersParsed += text.length
    if (reviver === undefined) return original(text)
    return original(text, function (this: unknown, key, value) {
      work.revived++
      return reviver.call(this, key, value)
    })
  }
  try {
    action()
  } finally {
    JSON.parse = original
  }
  return work
}

t.test('the one-pass parser: each character read a bounded number of times', async (t) => {
  const deep = 100_000
  // The deep ones are compared by their depth below: assert's deep equality recurses.
  const cases: Array<[string, string, 'deep'?]> = [
    ['1,000 NaN', `[${Array(1000).fill('NaN').join(',')}]`],
    ['dense scalars', `[${Array(20_000).fill('1').join(',')}, NaN]`],
    ['100k levels of [NaN, …]', `${'[NaN, '.repeat(deep)}1${']'.repeat(deep)}`, 'deep'],
    ['100k levels of {"a": …}', `${'{"a": '.repeat(deep)}-Infinity${'}'.repeat(deep)}`, 'deep'],
    ['100k levels, never closed', '[NaN, '.repeat(deep)],
    ['a 500 kB string full of escapes', `[NaN, "${'\\u00e9\\\\'.repeat(50_000)}"]`],
    ['20k members', `{${Array.from({ length: 20_000 }, (_, index) => `"k${index}": NaN`).join(', ')}}`],
    ['20k duplicates of one key', `{${'"k": [NaN], '.repeat(20_000)}"k": 0}`]
  ]
  for (const [name, text, deepValue] of cases) {
    const { stand, work } = countingText(text)
    const value = parseJsonWithPythonTokens(stand)
    if (deepValue === undefined) assert.deepStrictEqual(value, parseJsonWithPythonTokens(text), `${name}: the stand-in changes nothing`)
    // A number is read to the character after it, then checked for a fraction and an exponent.
    t.ok(work.charactersRead <= 6 * text.length + 16, `${name}: ${work.charactersRead} characters read for ${text.length}`)
    t.ok(work.wordsCompared <= 3 * text.length + 16, `${name}: ${work.wordsCompared} word comparisons`)
    t.ok(work.charactersCopied <= 2 * text.length, `${name}: ${work.charactersCopied} characters copied`)
  }
  t.equal(parseJsonWithPythonTokens('[NaN, '.repeat(deep)), NOT_JSON)
  let depth = 0
  for (let value = parseJsonWithPythonTokens(`${'[NaN, '.repeat(deep)}1${']'.repeat(deep)}`); Array.isArray(value); value = value[1]) depth++
  t.equal(depth, deep, 'all 100,000 levels built, without recursion')
})

t.test('the one-pass parser builds what JSON.parse builds', async (t) => {
  const proto = parseJsonWithPythonTokens('{"__proto__": {"admin": true}, "a": NaN, "__proto__": [1]}') as Record<string, unknown>
  t.same(Object.keys(proto), ['__proto__', 'a'], '__proto__ is an own property, at its first place')
  t.same(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, [1], 'the last duplicate wins')
  t.equal(Object.getPrototypeOf(proto), Object.prototype, 'no prototype was set')
  t.same(Object.keys(parseJsonWithPythonTokens('{"b": 1, "2": NaN, "1": 3}') as object), ['1', '2', 'b'], 'key order as in a JSON.parse object')
  t.ok(Object.is(parseJsonWithPythonTokens('-0'), -0), '-0')
  t.same(parseJsonWithPythonTokens(' [1E400, -1e-400, 18446744073709551616, 1.0] '), JSON.parse('[1E400, -1e-400, 18446744073709551616, 1.0]'))
  for (const text of ['', ' ', '[', '[NaN', '[NaN,]', '{"a" NaN}', '{"a": NaN,}', '{NaN: 1}', '{"a": NaN', '[NaN] x', '[-NaN]', '[nan]', '["\\x"]', '{"a\\x": 1}', '{"a": NaN "b"}', '[NaN}', '{"a": 1]']) {
    t.equal(parseJsonWithPythonTokens(text), NOT_JSON, JSON.stringify(text))
  }
  t.same(parseJsonWithPythonTokens(' {"a\\u0062": [true, false, null, "x\\"y"], "c": {}, "d": []} '), { ab: [true, false, null, 'x"y'], c: {}, d: [] })
})

/** Strings of any UTF-16 code units: lone surrogates, controls, quotes, backslashes, the tokens' own letters. */
const anyUnit = fc.oneof(
  fc.constantFrom('"', '\\', '/', '\n', '\u0000', '\u001f', '\u2028', '\ud800', '\udfff', 'é', '😀', 'NaN', 'Infinity', '-'),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))
)
const anyString = fc.string({ unit: anyUnit, maxLength: 8 })
const key = fc.oneof(anyString, fc.constantFrom('__proto__', 'constructor', '0', '10', 'NaN', 'Infinity'))
/** Any number, NaN, ±Infinity and -0 included. */
const anyNumber = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 2 ** 53 + 2, 1e300))

/** A value as Python's `json.dumps` writes it (its default separators), with spaces or not. */
function pythonDumps (value: unknown, spaced: boolean): string {
  const [comma, colon] = spaced ? [', ', ': '] : [',', ':']
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN'
    if (value === Number.POSITIVE_INFINITY) return 'Infinity'
    if (value === Number.NEGATIVE_INFINITY) return '-Infinity'
    return Object.is(value, -0) ? '-0.0' : JSON.stringify(value)
  }
  if (Array.isArray(value)) return '[' + value.map((item) => pythonDumps(item, spaced)).join(comma) + ']'
  if (typeof value === 'object' && value !== null) {
    return '{' + Object.entries(value).map(([name, item]) => JSON.stringify(name) + colon + pythonDumps(item, spaced)).join(comma) + '}'
  }
  return JSON.stringify(value)
}

const { pythonValue } = fc.letrec((tie) => ({
  pythonValue: fc.oneof({ depthSize: 'small', maxDepth: 4 }, anyNumber, anyString, fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('pythonValue'), { maxLength: 5 }),
  object: fc.array(fc.tuple(key, tie('pythonValue')), { maxLength: 5 }).map((entries) => {
    const object: Record<string, unknown> = {}
    // defineProperty: assigning a '__proto__' key would set the prototype instead.
    for (const [name, item] of entries) Object.defineProperty(object, name, { value: item, writable: true, enumerable: true, configurable: true })
    return object
  })
}))

t.test('property: what Python writes, NaN and ±Infinity included, reads back as it was', async (t) => {
  fc.assert(fc.property(pythonValue, fc.boolean(), (value, spaced) => {
    const text = pythonDumps(value, spaced)
    assert.deepStrictEqual(parsePythonJson(text), value)
    assert.deepStrictEqual(parseJsonWithPythonTokens(text), value)
  }), propertyOptions())
  t.pass('held')
})

t.test('property: on any JSON text the one-pass parser agrees with JSON.parse', async (t) => {
  const spacing = fc.constantFrom(undefined, 1, '\t', ' \n ')
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 4, stringUnit: anyUnit }), spacing, (value, space) => {
    const text = JSON.stringify(value, null, space)
    assert.deepStrictEqual(parseJsonWithPythonTokens(text), JSON.parse(text))
    assert.deepStrictEqual(parsePythonJson(text), JSON.parse(text))
  }), propertyOptions())
  t.pass('held')
})

t.test('property: on damaged and arbitrary texts it agrees with the previous implementation', async (t) => {
  const edit = fc.tuple(fc.nat(), fc.constantFrom('delete', 'insert', 'replace'),
    fc.constantFrom('{', '}', '[', ']', '"', ',', ':', '0', '.', 'e', '-', '\\', ' ', 'NaN', 'Infinity', '-Infinity', 'N', 'null', 'x'))
  const damaged = fc.tuple(pythonValue, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([value, edits]) => {
    let text = pythonDumps(value, true)
    for (const [position, kind, inserted] of edits) {
      const at = position % (text.length + 1)
      text = text.slice(0, at) + (kind === 'delete' ? '' : inserted) + text.slice(kind === 'insert' ? at : at + 1)
    }
    return text
  })
  const arbitrary = fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', ',', ':', '1', ' ', 'NaN', '-Infinity', 'Infinity', '\\', 'a'), maxLength: 30 })
  fc.assert(fc.property(fc.oneof(damaged, arbitrary), (text) => {
    const expected = previousParsePythonJson(text)
    let actual: unknown
    try {
      actual = parsePythonJson(text)
    } catch (error) {
      assert.ok(error instanceof SyntaxError, 'only SyntaxError')
      actual = NOT_JSON
    }
    assert.deepStrictEqual(actual, expected, JSON.stringify(text))
  }), propertyOptions(5))
  t.pass('held')
})

/**
 * The previous parsePythonJson, as an oracle: each token outside strings rewritten to a
 * string with a random tag, then JSON.parse with a reviver that turns those strings
 * back into numbers. Correct, but its work grew with the tag's length per token.
 */
function previousParsePythonJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    const tag = `\u0000${randomUUID()}:`
    let rewritten = ''
    let copiedUpTo = 0
    let inString = false
    for (let index = 0; index < text.length; index++) {
      const char = text[index]
      if (inString) {
        if (char === '\\') index++
        else if (char === '"') inString = false
        continue
      }
      if (char === '"') {
        inString = true
        continue
      }
      const token = ['-Infinity', 'Infinity', 'NaN'].find((candidate) => text.startsWith(candidate, index))
      if (token === undefined) continue
      rewritten += text.slice(copiedUpTo, index) + JSON.stringify(tag + token)
      index += token.length - 1
      copiedUpTo = index + 1
    }
    rewritten += text.slice(copiedUpTo)
    if (rewritten === text) return NOT_JSON
    try {
      return JSON.parse(rewritten, (name, value: unknown) => {
        if (name.startsWith(tag)) throw new SyntaxError('a token as a key')
        return typeof value === 'string' && value.startsWith(tag) ? Number(value.slice(tag.length)) : value
      })
    } catch {
      return NOT_JSON
    }
  }
}
