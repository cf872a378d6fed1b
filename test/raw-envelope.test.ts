/**
 * The raw envelope scanner and writer (lib/wire/raw-envelope.ts): keys a request did
 * not change must be written back as the exact JSON text they were read as.
 * Property-based (fast-check, seed fixed in test/helpers/property.ts) plus the cases
 * that matter most spelled out.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { TOO_DEEP, readEnvelope } from '../lib/wire/envelope.js'
import { MAX_JSON_DEPTH } from '../lib/wire/json-value.js'
import { parsePythonJson } from '../lib/wire/python-json.js'
import { scanEnvelope, writeEnvelope } from '../lib/wire/raw-envelope.js'
import type { RawEnvelope } from '../lib/wire/raw-envelope.js'
import { propertyOptions } from './helpers/property.js'
import { countingText } from './helpers/counting-text.js'

const NOW = 1700000000

/** Strings of any UTF-16 code units: lone surrogates, controls, quotes, backslashes, U+2028. */
const anyUnit = fc.oneof(
  fc.constantFrom('"', '\\', '/', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udfff', 'é', '😀'),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 })
)
const anyString = fc.string({ unit: anyUnit, maxLength: 12 })
const key = fc.oneof(anyString, fc.constantFrom('__proto__', 'constructor', 'toString', '0', '10', '2', 'created', 'session', ''))
const jsonValue = fc.jsonValue({ maxDepth: 4, stringUnit: anyUnit })
const created = fc.oneof(fc.integer(), fc.maxSafeInteger())

/**
 * Prints JSON the way other encoders may: any whitespace between tokens, any valid
 * escape for any character, several spellings of the same number. Every choice comes
 * from fast-check, so a failure shrinks and replays.
 */
class Printer {
  readonly #choices: Iterator<number>

  constructor (choices: Iterable<number>) {
    this.#choices = choices[Symbol.iterator]()
  }

  pick<T> (options: readonly T[]): T {
    return options[(this.#choices.next().value as number) % options.length] as T
  }

  space (): string {
    return this.pick(['', '', ' ', '\n', '\t', '\r\n', ' \n\t  '])
  }

  string (text: string): string {
    let printed = '"'
    for (const char of text.split('')) {
      const code = char.charCodeAt(0)
      const hex = code.toString(16).padStart(4, '0')
      const escapes = ['\\u' + hex, '\\u' + hex.toUpperCase()]
      const short = SHORT_ESCAPES[char]
      if (short !== undefined) escapes.push(short)
      if (code >= 0x20 && char !== '"' && char !== '\\') escapes.push(char, char, char)
      printed += this.pick(escapes)
    }
    return printed + '"'
  }

  number (value: number): string {
    // JSON.stringify and toExponential drop the sign of -0
    if (Object.is(value, -0)) return this.pick(['-0', '-0.0', '-0e0', '-0E+00'])
    const forms = [JSON.stringify(value), value.toExponential(), value.toExponential().toUpperCase().replace('E+', 'E')]
    if (Number.isInteger(value) && Math.abs(value) < 1e21) forms.push(`${value}.0`, `${value}.000`, `${value}e0`, `${value}E+00`)
    return this.pick(forms)
  }

  value (value: unknown): string {
    if (typeof value === 'number') return this.number(value)
    if (typeof value === 'string') return this.string(value)
    if (Array.isArray(value)) {
      if (value.length === 0) return '[' + this.space() + ']'
      return '[' + value.map((item) => this.space() + this.value(item) + this.space()).join(',') + ']'
    }
    if (typeof value === 'object' && value !== null) {
      return this.object(Object.entries(value).map(([name, item]) => [name, this.value(item)]))
    }
    return JSON.stringify(value)
  }

  /** An object of members whose values are already printed. */
  object (members: ReadonlyArray<readonly [string, string]>): string {
    if (members.length === 0) return '{' + this.space() + '}'
    return '{' + members.map(([name, raw]) => this.space() + this.string(name) + this.space() + ':' + this.space() + raw + this.space()).join(',') + '}'
  }
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function scanned (text: string): RawEnvelope {
  const result = scanEnvelope(text)
  if (typeof result === 'string') assert.fail(`expected an envelope, got '${result}' for ${JSON.stringify(text)}`)
  return result
}

/** What today's load path makes of the text: the default decoder, then readEnvelope (no expiry). */
function reference (text: string): ReturnType<typeof readEnvelope> | 'not JSON' {
  let parsed: unknown
  try {
    parsed = parsePythonJson(text)
  } catch {
    return 'not JSON'
  }
  return readEnvelope(parsed, undefined, NOW)
}

/** Asserts that the scanner agrees with the load path: same verdict, same keys, same values. */
function assertAgreesWithLoadPath (text: string): void {
  const expected = reference(text)
  const actual = scanEnvelope(text)
  if (typeof expected === 'string' || typeof actual === 'string') {
    assert.equal(actual, expected, `verdict for ${JSON.stringify(text)}`)
    return
  }
  assert.equal(actual.created ?? NOW, expected.created)
  assert.deepEqual(new Set(actual.members.keys()), new Set(Object.keys(expected.data)))
  for (const [name, raw] of actual.members) {
    assert.deepStrictEqual(parsePythonJson(raw), expected.data[name], `value of ${JSON.stringify(name)}`)
  }
}

t.test('the cases that matter, spelled out', async (t) => {
  const python = '{"created": 1700000000, "session": {"f": 1.0, "big": 18446744073709551616, "g": 1e+20, "z": -0.0, ' +
    '"nan": NaN, "inf": -Infinity, "list": [1.0, {"a": "\\u00e9"}], "text": "\\ud83d\\ude00"}}'
  const envelope = scanned(python)
  t.equal(envelope.created, 1700000000)
  t.same([...envelope.members], [
    ['f', '1.0'], ['big', '18446744073709551616'], ['g', '1e+20'], ['z', '-0.0'], ['nan', 'NaN'], ['inf', '-Infinity'],
    ['list', '[1.0, {"a": "\\u00e9"}]'], ['text', '"\\ud83d\\ude00"']
  ], 'each value exactly as Python wrote it')
  t.equal(writeEnvelope(NOW + 5, envelope.members),
    '{"created":1700000005,"session":{"f":1.0,"big":18446744073709551616,"g":1e+20,"z":-0.0,"nan":NaN,"inf":-Infinity,' +
    '"list":[1.0, {"a": "\\u00e9"}],"text":"\\ud83d\\ude00"}}', 'and written back byte for byte')

  const spaced = scanned(' \r\n{ "session" :\t{ "a" :  [ 1 ,\n2 ]  , "b":{} }, "created":1 } \n')
  t.same([...spaced.members], [['a', '[ 1 ,\n2 ]'], ['b', '{}']], 'whitespace inside a value kept, around it trimmed')
  t.equal(spaced.created, 1)

  t.same(scanned('{"session": {}}'), { created: undefined, members: new Map() }, 'no created: the caller uses now, as aiohttp does')
  t.same([...scanned('{"created": 1, "session": {"\\u005f_proto__": {"admin": true}, "constructor": 1}}').members],
    [['__proto__', '{"admin": true}'], ['constructor', '1']], '__proto__ is an ordinary key, decoded from its escapes')
  t.same([...scanned('{"created": 1, "session": {"b": 1, "2": 2, "1": 3}}').members].map(([name]) => name), ['b', '2', '1'],
    'integer-like keys keep the text\'s order (JSON.parse would list them first)')
  t.same([...scanned('{"created": 1, "session": {"a": 1, "b": 2, "a": 3}}').members], [['a', '3'], ['b', '2']],
    'a duplicate key: the last value wins, at the first position')
  t.same([...scanned('{"session": {"a": 1}, "created": 1, "session": {"b": 2}, "created": 2}').members], [['b', '2']],
    'duplicate envelope members: the last one wins too')
  t.equal(scanned('{"session": {"a": 1}, "created": 1, "session": {"b": 2}, "created": 2}').created, 2)
  t.equal(scanned('{"created": 1e3, "session": {}, "extra": [1]}').created, 1000, 'created in any number form; other members ignored')
})

t.test('what is not an envelope, in readEnvelope\'s words', async (t) => {
  const cases: Array<[string, string]> = [
    ['', 'not JSON'], ['   ', 'not JSON'], ['{', 'not JSON'], ['{"a" 1}', 'not JSON'], ['{"a": 1,}', 'not JSON'],
    ['[1,]', 'not JSON'], ['{"a": 01}', 'not JSON'], ['{"a": 1.}', 'not JSON'], ['{"a": .5}', 'not JSON'], ['{"a": 1e}', 'not JSON'],
    ['{"a": +1}', 'not JSON'], ['{"a": -}', 'not JSON'], ['{"a": "\\x"}', 'not JSON'], ['{"a": "\\u12G4"}', 'not JSON'],
    ['{"a": "\t"}', 'not JSON'], ['{"a": "open}', 'not JSON'], ['{"a": nan}', 'not JSON'], ['{"a": -NaN}', 'not JSON'],
    ['{"a": NaNa}', 'not JSON'], ['{NaN: 1}', 'not JSON'], ['\ufeff{}', 'not JSON'], ['{} {}', 'not JSON'], ['{"a": tru}', 'not JSON'],
    ['[]', 'not an object'], ['1', 'not an object'], ['"s"', 'not an object'], ['null', 'not an object'], ['NaN', 'not an object'],
    ['{}', 'empty'], [' { } ', 'empty'],
    ['{"created": 1.5, "session": {}}', 'created is not an integer'], ['{"created": "1", "session": {}}', 'created is not an integer'],
    ['{"created": null, "session": {}}', 'created is not an integer'], ['{"created": NaN, "session": {}}', 'created is not an integer'],
    ['{"created": 9007199254740993, "session": {}}', 'created is not an integer'], ['{"created": -Infinity, "session": {}}', 'created is not an integer'],
    ['{"created": 1}', 'session is not an object'], ['{"created": 1, "session": [1]}', 'session is not an object'],
    ['{"created": 1, "session": null}', 'session is not an object'], ['{"session": {"a": 1}, "session": 2}', 'session is not an object'],
    ['{"foo": {"session": {}}}', 'session is not an object'],
    [nestedIn(MAX_JSON_DEPTH + 1, '{"created": 1, "session": {"a": 1, "deep": ', '}}'), TOO_DEEP],
    [nestedIn(MAX_JSON_DEPTH + 1, '{"created": 1, "session": {"deep": ', ', "b": 2}}'), TOO_DEEP],
    [nestedIn(MAX_JSON_DEPTH, '{"created": 1, "session": {"a": {"b": ', '}}}'), TOO_DEEP],
    [nestedIn(MAX_JSON_DEPTH + 1, '{"session": {"deep": ', '}, "created": 1.5}'), 'created is not an integer'],
    [nestedIn(MAX_JSON_DEPTH + 1, '{"session": {"deep": ', '}, "session": []}'), 'session is not an object'],
    [nestedIn(MAX_JSON_DEPTH + 1, '{"session": {"deep": ', '}, "session": {"a": 1},}'), 'not JSON']
  ]
  for (const [text, reason] of cases) {
    t.equal(scanEnvelope(text), reason, JSON.stringify(text))
    t.equal(reference(text), reason, `the load path agrees on ${JSON.stringify(text)}`)
  }
})

t.test('nesting: a member may be as deep as set() accepts, no deeper', async (t) => {
  const atLimit = nestedIn(MAX_JSON_DEPTH, '{"created": 1, "session": {"deep": ', ', "b": 2}}')
  t.same([...scanned(atLimit).members.keys()], ['deep', 'b'], `${MAX_JSON_DEPTH} levels load`)
  t.equal(reference(atLimit) !== 'not JSON' && typeof reference(atLimit), 'object', 'on the load path too')
  const objects = `{"created": 1, "session": {"deep": ${'{"a": '.repeat(MAX_JSON_DEPTH)}{}${'}'.repeat(MAX_JSON_DEPTH)}}}`
  t.equal(scanEnvelope(objects), TOO_DEEP, 'an empty object is a level too')
  t.equal(reference(objects), TOO_DEEP)
  const fixedLater = nestedIn(MAX_JSON_DEPTH + 1, '{"created": 1, "session": {"deep": ', '}, "session": {"a": 1}}')
  t.same([...scanned(fixedLater).members], [['a', '1']], 'only the last session counts, as in JSON.parse')
  t.equal(typeof reference(fixedLater), 'object')
})

t.test('property: any JSON, any whitespace and escapes: scan keeps each member\'s text and write gives the same data', async (t) => {
  const entries = fc.uniqueArray(fc.tuple(key, jsonValue), { selector: ([name]) => name, maxLength: 8 })
  fc.assert(fc.property(created, entries, fc.infiniteStream(fc.nat()), (createdAt, members, choices) => {
    const printer = new Printer(choices)
    const printed = members.map(([name, value]) => [name, printer.value(value)] as const)
    const sessionText = printer.object(printed)
    const createdText = printer.number(createdAt)
    const text = printer.space() + printer.object(printer.pick([true, false])
      ? [['created', createdText], ['session', sessionText]]
      : [['session', sessionText], ['created', createdText]]) + printer.space()
    const envelope = scanned(text)
    assert.equal(envelope.created, createdAt)
    assert.deepStrictEqual([...envelope.members], printed, 'each member\'s value text, byte for byte, in the text\'s order')
    const written = writeEnvelope(createdAt, envelope.members)
    assert.deepStrictEqual(JSON.parse(written), { created: createdAt, session: Object.fromEntries(members) })
    assert.deepStrictEqual([...scanned(written).members], printed, 'and a second round changes nothing')
    assertAgreesWithLoadPath(text)
  }), propertyOptions())
  t.pass('held')
})

t.test('property: for JSON.stringify\'d values the writer gives JSON.stringify({ created, session }) byte for byte', async (t) => {
  fc.assert(fc.property(created, fc.dictionary(key, jsonValue, { maxKeys: 8 }), (createdAt, session) => {
    const members = Object.entries(session).map(([name, value]) => [name, JSON.stringify(value)] as const)
    const written = writeEnvelope(createdAt, members)
    assert.equal(written, JSON.stringify({ created: createdAt, session }))
    assert.deepStrictEqual([...scanned(written).members], members)
  }), propertyOptions())
  t.pass('held')
})

t.test('the writer follows the given order, where JSON.stringify of an object lists integer-like keys first', async (t) => {
  const members = new Map([['b', '1'], ['10', '2'], ['2', '3']])
  t.equal(writeEnvelope(1, members), '{"created":1,"session":{"b":1,"10":2,"2":3}}', 'insertion order, as Python keeps it')
  t.equal(JSON.stringify({ created: 1, session: Object.fromEntries([...members].map(([name, raw]) => [name, JSON.parse(raw) as unknown])) }),
    '{"created":1,"session":{"2":3,"10":2,"b":1}}', 'what JSON.stringify of an object would write')
  t.equal(writeEnvelope(1, []), '{"created":1,"session":{}}', 'no members: an empty session object (writing {} is the caller\'s choice)')
})

t.test('property: Python\'s number forms survive scan and write byte for byte', async (t) => {
  const pythonRaw = fc.constantFrom('1.0', '1e+20', '18446744073709551616', '-0.0', 'NaN', 'Infinity', '-Infinity', '1E400',
    '2.5e-05', '-123456789012345678901234567890', '[1.0, NaN, {"x": -0.0}]', '{"a": 1e+20, "b": [Infinity]}', '"\\u00e9\\ud83d\\ude00"')
  const entries = fc.uniqueArray(fc.tuple(key, pythonRaw), { selector: ([name]) => name, minLength: 1, maxLength: 6 })
  fc.assert(fc.property(fc.maxSafeInteger(), entries, (createdAt, members) => {
    // json.dumps' default separators and ensure_ascii
    const text = `{"created": ${createdAt}, "session": {` + members.map(([name, raw]) => asciiJson(name) + ': ' + raw).join(', ') + '}}'
    const envelope = scanned(text)
    assert.deepStrictEqual([...envelope.members], members)
    const written = writeEnvelope(createdAt, envelope.members)
    assert.deepStrictEqual([...scanned(written).members], members)
    assert.deepStrictEqual(parsePythonJson(written), parsePythonJson(text))
    assertAgreesWithLoadPath(text)
  }), propertyOptions())
  t.pass('held')
})

t.test('property: duplicate keys, at both levels, resolve as JSON.parse resolves them', async (t) => {
  const memberKey = fc.constantFrom('a', 'b', '__proto__', '1', 'a\u0000')
  const sessionObject = fc.array(fc.tuple(memberKey, jsonValue), { maxLength: 8 })
  const rootMember = fc.oneof(
    fc.tuple(fc.constant('created'), fc.oneof(created, fc.constantFrom(1.5, -0, 'x', null))),
    fc.tuple(fc.constant('session'), fc.oneof(sessionObject, fc.constantFrom(null, 1, 'x'))),
    fc.tuple(fc.constantFrom('other', '__proto__'), jsonValue)
  )
  fc.assert(fc.property(fc.array(rootMember, { maxLength: 6 }), fc.infiniteStream(fc.nat()), (rootMembers, choices) => {
    const printer = new Printer(choices)
    const text = printer.object(rootMembers.map(([name, value]) => [name, name === 'session' && Array.isArray(value)
      ? printer.object((value as Array<[string, unknown]>).map(([member, item]) => [member, printer.value(item)]))
      : printer.value(value)]))
    assertAgreesWithLoadPath(text)
    const lastSession = rootMembers.filter(([name]) => name === 'session').at(-1)?.[1]
    const result = scanEnvelope(text)
    if (typeof result !== 'string' && Array.isArray(lastSession)) {
      const firstAppearance = [...new Set((lastSession as Array<[string, unknown]>).map(([member]) => member))]
      assert.deepStrictEqual([...result.members.keys()], firstAppearance, 'keys in the order they first appear')
    }
  }), propertyOptions())
  t.pass('held')
})

t.test('property: damaged texts get the load path\'s verdict', async (t) => {
  const edit = fc.tuple(fc.nat(), fc.constantFrom('delete', 'insert', 'replace'), fc.constantFrom(...'{}[]",:0123456789.eE+-\\ ntrufalsNIy'.split('')))
  fc.assert(fc.property(created, fc.dictionary(key, jsonValue, { maxKeys: 4 }), fc.array(edit, { minLength: 1, maxLength: 3 }),
    (createdAt, session, edits) => {
      let text = JSON.stringify({ created: createdAt, session })
      for (const [position, kind, char] of edits) {
        const at = position % (text.length + 1)
        text = text.slice(0, at) + (kind === 'delete' ? '' : char) + text.slice(kind === 'insert' ? at : at + 1)
      }
      assertAgreesWithLoadPath(text)
    }), propertyOptions(5))
  t.pass('held')
})

/**
 * Hostile texts: deep nesting, huge strings, many members. Work is counted, not timed:
 * the scanner gets a stand-in for the text that counts the characters it reads and
 * copies, and the counts must stay within a small multiple of the text's length.
 */
t.test('hostile texts: no unexpected error, work linear in the length', async (t) => {
  const deep = 100_000
  const many = 20_000
  const cases: Array<[string, string, (result: ReturnType<typeof scanEnvelope>) => void]> = [
    ['100k nested arrays in a member', `{"created": 1, "session": {"deep": ${'['.repeat(deep)}${']'.repeat(deep)}, "after": 1}}`,
      (result) => { assert.equal(result, TOO_DEEP) }],
    ['100k nested objects in a member', `{"created": 1, "session": {"deep": ${'{"a":'.repeat(deep)}0${'}'.repeat(deep)}}}`,
      (result) => { assert.equal(result, TOO_DEEP) }],
    ['100k nested arrays in another member', `{"created": 1, "other": ${'['.repeat(deep)}${']'.repeat(deep)}, "session": {"a": 1}}`,
      (result) => { assert.deepStrictEqual([...(result as RawEnvelope).members], [['a', '1']]) }],
    [`members nested ${MAX_JSON_DEPTH} levels deep, ${deep / 100} times`,
      `{"created": 1, "session": {${Array.from({ length: deep / 100 }, (_, index) => `"k${index}": ${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`).join(', ')}}}`,
      (result) => { assert.equal((result as RawEnvelope).members.get('k0')?.length, 2 * MAX_JSON_DEPTH) }],
    ['100k nested arrays, never closed', `{"created": 1, "session": {"deep": ${'['.repeat(deep)}`, (result) => { assert.equal(result, 'not JSON') }],
    ['100k nested arrays as the envelope', '['.repeat(deep) + ']'.repeat(deep), (result) => { assert.equal(result, 'not an object') }],
    ['a 2 MB string', `{"created": 1, "session": {"s": "${'x'.repeat(2_000_000)}"}}`,
      (result) => { assert.equal((result as RawEnvelope).members.get('s')?.length, 2_000_002) }],
    ['250,000 escapes', `{"created": 1, "session": {"s": "${'\\u00e9\\\\'.repeat(250_000)}"}}`,
      (result) => { assert.equal((result as RawEnvelope).members.size, 1) }],
    ['a 500 kB key full of escapes', `{"created": 1, "session": {"${'\\n'.repeat(250_000)}": 1}}`,
      (result) => { assert.equal([...(result as RawEnvelope).members.keys()][0], '\n'.repeat(250_000)) }],
    ['20k members', `{"created": 1, "session": {${Array.from({ length: many }, (_, index) => `"k${index}": [${index}]`).join(', ')}}}`,
      (result) => { assert.equal((result as RawEnvelope).members.size, many) }],
    ['20k duplicates of one key', `{"created": 1, "session": {${'"k": [1, 2, 3], '.repeat(many)}"k": 0}}`,
      (result) => { assert.deepStrictEqual([...(result as RawEnvelope).members], [['k', '0']]) }],
    ['20k session members', `{${'"session": {"a": 1, "b": 2}, '.repeat(many)}"created": 1}`,
      (result) => { assert.equal((result as RawEnvelope).members.size, 2) }],
    ['a million-digit created', `{"created": ${'9'.repeat(1_000_000)}, "session": {}}`,
      (result) => { assert.equal(result, 'created is not an integer') }],
    ['a string never closed', `{"created": 1, "session": {"s": "${'\\"'.repeat(500_000)}`, (result) => { assert.equal(result, 'not JSON') }]
  ]
  for (const [name, text, check] of cases) {
    check(scanEnvelope(text))
    const { stand, work } = countingText(text)
    check(scanEnvelope(stand))
    t.ok(work.charactersRead <= 4 * text.length + 16, `${name}: ${work.charactersRead} characters read for ${text.length}`)
    t.ok(work.wordsCompared <= text.length + 16, `${name}: ${work.wordsCompared} word comparisons`)
    t.ok(work.charactersCopied <= 3 * text.length, `${name}: ${work.charactersCopied} characters copied`)
  }
})

function asciiJson (text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (char) => '\\u' + char.charCodeAt(0).toString(16).padStart(4, '0'))
}

/** `before`, then `levels` nested arrays (`[[…]]`), then `after`. */
function nestedIn (levels: number, before: string, after: string): string {
  return before + '['.repeat(levels) + ']'.repeat(levels) + after
}
