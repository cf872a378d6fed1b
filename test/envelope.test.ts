/**
 * readEnvelope (lib/wire/envelope.ts): aiohttp-session's rules for what a decoded
 * envelope yields, spelled out, then property-based (fast-check, seed fixed in
 * test/helpers/property.ts) on arbitrary values and texts.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { TOO_DEEP, readEnvelope } from '../lib/wire/envelope.js'
import { MAX_JSON_DEPTH, describeNonJsonValue, findNonJsonValue } from '../lib/wire/json-value.js'
import { parsePythonJson } from '../lib/wire/python-json.js'
import { dataKey, jsonData } from './helpers/json-data.js'
import { propertyOptions } from './helpers/property.js'

const NOW = 1700000000

t.test('a valid envelope loads', async (t) => {
  t.same(readEnvelope({ created: NOW - 10, session: { a: 1 } }, undefined, NOW), { data: { a: 1 }, created: NOW - 10 })
  t.same(readEnvelope({ created: NOW - 10, session: {} }, 60, NOW), { data: {}, created: NOW - 10 }, 'an empty session object still loads')
  t.same(readEnvelope({ created: NOW, session: { a: 1 }, extra: true }, undefined, NOW), { data: { a: 1 }, created: NOW }, 'unknown keys are ignored')
})

t.test('without created: loads with created = now, as in aiohttp', async (t) => {
  t.same(readEnvelope({ session: { a: 1 } }, 60, NOW), { data: { a: 1 }, created: NOW })
})

t.test('expiry: now - created > maxAge (strict), with the storage maxAge', async (t) => {
  t.same(readEnvelope({ created: NOW - 60, session: { a: 1 } }, 60, NOW), { data: { a: 1 }, created: NOW - 60 }, 'age == maxAge is still valid')
  t.equal(readEnvelope({ created: NOW - 61, session: { a: 1 } }, 60, NOW), 'expired')
  t.same(readEnvelope({ created: 0, session: { a: 1 } }, undefined, NOW), { data: { a: 1 }, created: 0 }, 'without maxAge nothing expires')
})

t.test('shapes that give no session', async (t) => {
  t.equal(readEnvelope({}, undefined, NOW), 'empty', '{} is what aiohttp stores for an empty session')
  for (const value of [null, [], [1], 1, 'str', true]) {
    t.equal(readEnvelope(value, undefined, NOW), 'not an object', JSON.stringify(value))
  }
  for (const created of [1.5, '1700000000', null, Number.MAX_VALUE]) {
    t.equal(readEnvelope({ created, session: {} }, undefined, NOW), 'created is not an integer', JSON.stringify(created))
  }
  for (const session of [undefined, null, [], 'x', 1]) {
    t.equal(readEnvelope({ created: NOW, session }, undefined, NOW), 'session is not an object', JSON.stringify(session))
  }
  t.equal(readEnvelope({ foo: 1 }, undefined, NOW), 'session is not an object')
})

t.test('inherited properties are not read', async (t) => {
  const envelope = Object.create({ created: NOW, session: { a: 1 } }) as object
  Object.assign(envelope, { x: 1 })
  t.equal(readEnvelope(envelope, undefined, NOW), 'session is not an object')
})

t.test('nesting: a session value may be as deep as set() accepts, no deeper', async (t) => {
  const nested = (levels: number, leaf: unknown = 1): unknown => {
    let value = leaf
    for (let level = 0; level < levels; level++) value = level % 2 === 0 ? [value] : { k: value }
    return value
  }
  t.same(readEnvelope({ created: NOW, session: { a: nested(MAX_JSON_DEPTH), b: 1 } }, undefined, NOW),
    { data: { a: nested(MAX_JSON_DEPTH), b: 1 }, created: NOW }, `${MAX_JSON_DEPTH} levels load`)
  t.equal(readEnvelope({ created: NOW, session: { b: 1, a: nested(MAX_JSON_DEPTH + 1) } }, undefined, NOW), TOO_DEEP, 'one more is refused')
  t.equal(TOO_DEEP, `a session value is nested more than ${MAX_JSON_DEPTH} levels deep`)
  t.equal(readEnvelope({ created: NOW, session: { a: nested(MAX_JSON_DEPTH, {}) } }, undefined, NOW), TOO_DEEP, 'an empty object is a level too')
  t.equal(readEnvelope({ created: NOW - 61, session: { a: nested(MAX_JSON_DEPTH + 1) } }, 60, NOW), 'expired',
    'expiry is checked first: it is routine and costs nothing')
  t.equal(readEnvelope({ created: NOW, session: { a: nested(100_000) } }, undefined, NOW), TOO_DEEP, '100,000 levels: no stack overflow')
  t.same(readEnvelope({ created: NOW, session: {}, other: nested(MAX_JSON_DEPTH + 5) }, undefined, NOW), { data: {}, created: NOW },
    'members other than session are not read, whatever their depth')
  const loop: Record<string, unknown> = {}
  loop['self'] = loop
  t.equal(readEnvelope({ created: NOW, session: { loop } }, undefined, NOW), TOO_DEEP, 'a cycle a custom decoder made is refused, not walked forever')
})

const REASONS = new Set(['not an object', 'empty', 'created is not an integer', 'session is not an object', 'expired', TOO_DEEP])

/** The verdict of readEnvelope, checked: a known reason, or the envelope's own session and an integer created. */
function checkedVerdict (envelope: unknown, maxAge: number | undefined): string {
  const result = readEnvelope(envelope, maxAge, NOW)
  if (typeof result === 'string') {
    assert.ok(REASONS.has(result), `a known reason: ${result}`)
    return result
  }
  assert.equal(result.data, (envelope as { session: unknown }).session, 'the data is the envelope\'s own session object')
  assert.ok(Number.isSafeInteger(result.created))
  return 'loaded'
}

t.test('property: readEnvelope never throws, whatever the decoder returned', async (t) => {
  const anything = fc.anything({ maxDepth: 3, withBoxedValues: true, withMap: true, withNullPrototype: true, withBigInt: true, withDate: true, withSparseArray: true })
  const envelopeLike = fc.record({ created: fc.oneof(fc.integer(), anything), session: fc.oneof(fc.object(), anything), extra: anything }, { requiredKeys: [] })
  const verdicts = new Set<string>()
  fc.assert(fc.property(fc.oneof(anything, envelopeLike), fc.option(fc.nat(), { nil: undefined }), (envelope, maxAge) => {
    verdicts.add(checkedVerdict(envelope, maxAge))
  }), propertyOptions(2))
  t.same([...verdicts].sort(), ['created is not an integer', 'empty', 'expired', 'loaded', 'not an object', 'session is not an object'],
    'every verdict but TOO_DEEP met (the cases above cover it)')
})

t.test('property: from any text, what the default decoder and readEnvelope load is what set() accepts, and can be written back', async (t) => {
  // Envelope-like texts with deep nesting, Python's tokens and garbage mixed in.
  const fragment = fc.oneof(
    fc.constantFrom('{', '}', '[', ']', ',', ':', '"a"', '"session"', '"created"', '1', '1.5', 'NaN', '-Infinity', 'null', '"\\u00e9"', ' '),
    fc.integer({ min: 1, max: MAX_JSON_DEPTH + 3 }).map((levels) => '['.repeat(levels) + ']'.repeat(levels)),
    fc.string({ maxLength: 4 })
  )
  const member = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: MAX_JSON_DEPTH + 2 }), fc.constantFrom('', 'NaN', '1', '{"x": -Infinity}', '"s"'))
      .map(([levels, inner]) => '['.repeat(levels) + inner + ']'.repeat(levels)),
    jsonData.map((value) => JSON.stringify(value)),
    fc.array(fragment, { maxLength: 6 }).map((parts) => parts.join(''))
  )
  const text = fc.oneof(
    { arbitrary: fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join('')), weight: 1 },
    {
      arbitrary: fc.uniqueArray(fc.tuple(dataKey, member), { selector: ([name]) => name, maxLength: 4 })
        .map((members) => `{"created": ${NOW}, "session": {${members.map(([name, raw]) => JSON.stringify(name) + ': ' + raw).join(', ')}}}`),
      weight: 4
    }
  )
  let loaded = 0
  fc.assert(fc.property(text, (candidate) => {
    let envelope: unknown
    try {
      envelope = parsePythonJson(candidate)
    } catch (error) {
      assert.ok(error instanceof SyntaxError, 'the decoder fails only with a SyntaxError')
      return
    }
    if (checkedVerdict(envelope, undefined) !== 'loaded') return
    loaded++
    const session = (envelope as { session: Record<string, unknown> }).session
    for (const [name, value] of Object.entries(session)) {
      // What set() would accept, but Python's non-finite floats, which a save writes as null.
      const problem = findNonJsonValue(value, name)
      assert.ok(problem === undefined || ['NaN', 'Infinity', '-Infinity'].includes(problem.found), problem === undefined ? '' : describeNonJsonValue(problem))
    }
    // What a save does with loaded data: JSON.stringify of the envelope (Simple escapes it afterwards).
    assert.equal(typeof JSON.stringify({ created: NOW, session }), 'string')
  }), propertyOptions(5))
  t.ok(loaded > 0, `${loaded} texts loaded and were written back`)
})
