/**
 * The run-time check of values that must survive JSON (lib/wire/json-value.ts): what it
 * refuses, the path and words it reports, and, property-based, that whatever it
 * accepts reads back through JSON as it was set.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { MAX_JSON_DEPTH, describeNonJsonValue, findNonJsonValue, isNestedDeeperThan } from '../lib/wire/json-value.js'
import { objectOf, sessionEntries } from './helpers/json-data.js'
import { propertyOptions } from './helpers/property.js'

/** The one-line description, or undefined when the value is accepted. */
function check (value: unknown, root = 'value'): string | undefined {
  const problem = findNonJsonValue(value, root)
  return problem === undefined ? undefined : describeNonJsonValue(problem)
}

class Point {
  x = 1
}

class Money {
  toJSON (): string {
    return '1 EUR'
  }
}

t.test('JSON values are accepted', async (t) => {
  for (const value of ['', 'text', 0, -0, 1.5, -1e300, Number.MAX_SAFE_INTEGER, true, false, null, [], {}, [1, 'a', null, [true]],
    { a: { b: [{ c: 'd' }] } }, Object.create(null), { kept: 1, dropped: undefined }, undefined]) {
    t.equal(check(value), undefined, JSON.stringify(value) ?? 'undefined')
  }
  t.equal(check(Object.assign([1], { [Symbol('marker')]: true })), undefined, 'an array is read by index alone (symbol keys on it are not looked for)')
  const shared = { id: 1 }
  t.equal(check({ a: shared, b: shared, list: [shared, shared] }), undefined, 'a value referenced twice, not in a cycle')
  const nested = Object.create(null) as Record<string, unknown>
  nested['__proto__'] = { constructor: 1 } // eslint-disable-line no-proto -- a null-prototype object: an ordinary key
  t.equal(check(nested), undefined, '__proto__ and constructor are ordinary keys')
})

t.test('what is refused, where, and what to do instead', async (t) => {
  const sparse = [1, , 3] // eslint-disable-line no-sparse-arrays
  const cases: Array<[unknown, string]> = [
    [new Date(0), 'value is a Date, which JSON turns into a string; store date.toISOString() or date.getTime() instead'],
    [{ user: { roles: ['a', 'b', new Date(0)] } }, 'value.user.roles[2] is a Date, which JSON turns into a string; store date.toISOString() or date.getTime() instead'],
    [new Map(), 'value is a Map, which JSON turns into {}; store Object.fromEntries(map) instead'],
    [[new Set([1])], 'value[0] is a Set, which JSON turns into {}; store [...set] (an array) instead'],
    [10n, 'value is a bigint, which JSON.stringify cannot encode (it throws); store it as a string (String(value)) instead'],
    [Number.NaN, 'value is NaN, which JSON turns into null; store null or a string instead'],
    [{ limit: Infinity }, 'value.limit is Infinity, which JSON turns into null; store null or a string instead'],
    [[-Infinity], 'value[0] is -Infinity, which JSON turns into null; store null or a string instead'],
    [() => 1, 'value is a function, which JSON drops; store data, not code'],
    [{ callback () {} }, 'value.callback is a function, which JSON drops; store data, not code'],
    [[Math.max], 'value[0] is a function, which JSON turns into null; store data, not code'],
    [Symbol('s'), 'value is a symbol, which JSON drops; store a string instead'],
    [[Symbol('s')], 'value[0] is a symbol, which JSON turns into null; store a string instead'],
    [[1, undefined], 'value[1] is undefined, which JSON turns into null in an array; store null instead'],
    [sparse, 'value[1] is an empty slot of a sparse array, which JSON turns into null; store null there instead'],
    [new Point(), 'value is an instance of Point, which JSON reads back as a plain object, without its class; store plain data instead, and rebuild the Point after get()'],
    [new Money(), 'value is an instance of Money, which JSON replaces by what its toJSON() returns; store what toJSON() returns instead, and rebuild the Money after get()'],
    [Object.create({ inherited: 1 }), 'value is an object with a custom prototype, which JSON reads back as a plain object, without its class; store plain data instead, and rebuild the object after get()'],
    [new (class {})(), 'value is an object with a custom prototype, which JSON reads back as a plain object, without its class; store plain data instead, and rebuild the object after get()'],
    [Object.assign(new Error('x')), 'value is an instance of Error, which JSON reads back as a plain object, without its class; store plain data instead, and rebuild the Error after get()'],
    [Buffer.from('ab'), 'value is a Buffer, which JSON does not read back as bytes; store it as a base64 string instead'],
    [new Uint8Array(2), 'value is a Uint8Array, which JSON does not read back as bytes; store it as a base64 string instead'],
    [new ArrayBuffer(2), 'value is a ArrayBuffer, which JSON does not read back as bytes; store it as a base64 string instead'],
    [new String('s'), 'value is a String object, which JSON turns into a primitive; store the primitive (value.valueOf()) instead'], // eslint-disable-line no-new-wrappers
    [{ toJSON: () => 1 }, 'value is an object with a toJSON method, which JSON replaces by what toJSON() returns; store what toJSON() returns instead'],
    [{ [Symbol('k')]: 1 }, 'value is an object with symbol keys, which JSON drops; use string keys instead'],
    [class {}, 'value is a function, which JSON drops; store data, not code'],
    [[[], { a: [{ 'a b': { 'x-y': [0, { ok: Number.NaN }] } }] }], 'value[1].a[0]["a b"]["x-y"][1].ok is NaN, which JSON turns into null; store null or a string instead']
  ]
  for (const [value, expected] of cases) t.equal(check(value), expected, expected.split(',')[0] ?? expected)
  const unnamed = Object.create(Object.create(null)) as object
  t.equal(check(unnamed), 'value is an object with a custom prototype, which JSON reads back as a plain object, without its class; store plain data instead, and rebuild the object after get()',
    'no constructor to name')
  const bytes = new Uint8Array(1)
  Object.defineProperty(bytes, 'constructor', { value: undefined })
  t.equal(check(bytes), 'value is a binary buffer, which JSON does not read back as bytes; store it as a base64 string instead')
  const boxed = new Number(1) // eslint-disable-line no-new-wrappers
  Object.defineProperty(boxed, 'constructor', { value: { name: '' } })
  t.equal(check(boxed), 'value is a boxed primitive object, which JSON turns into a primitive; store the primitive (value.valueOf()) instead')
})

t.test('the first problem in JSON.stringify\'s order is reported', async (t) => {
  t.equal(findNonJsonValue({ a: [1, new Map()], b: new Date() }, 'v')?.path, 'v.a[1]')
  t.same(findNonJsonValue([Number.NaN], 'prefs'), { path: 'prefs[0]', found: 'NaN', outcome: 'JSON turns into null', advice: 'store null or a string instead' })
})

t.test('cycles: a value met again on its own path', async (t) => {
  const user: Record<string, unknown> = { name: 'ann' }
  user['self'] = user
  t.equal(check(user, 'user'), 'user.self is a cycle back to user, which JSON.stringify cannot encode (it throws); store the data without the reference back')
  const team: { members: Array<Record<string, unknown>> } = { members: [{ name: 'bo' }] }
  ;(team.members[0] as Record<string, unknown>)['team'] = team
  t.equal(findNonJsonValue({ teams: [team] }, 'org')?.found, 'a cycle back to org.teams[0]')
  const list: unknown[] = []
  list.push({ inner: [list] })
  t.equal(findNonJsonValue(list, 'list')?.path, 'list[0].inner[0]')
  t.equal(findNonJsonValue(list, 'list')?.found, 'a cycle back to list')
})

t.test('nesting: bounded depth, no recursion', async (t) => {
  let atLimit: unknown = 'leaf'
  for (let depth = 0; depth < MAX_JSON_DEPTH; depth++) atLimit = [atLimit]
  t.equal(check(atLimit), undefined, `${MAX_JSON_DEPTH} levels are fine`)
  t.equal(check([atLimit], 'deep'), `deep is nested more than ${MAX_JSON_DEPTH} levels deep, which Python's json (aiohttp-session) cannot read, ` +
    'and JSON.stringify may not write; store a flatter structure instead', 'one more is refused, at the root of the path')
  let hostile: Record<string, unknown> = {}
  for (let depth = 0; depth < 100_000; depth++) hostile = { a: hostile }
  t.match(check(hostile), /^value is nested more than 500 levels deep/, 'a 100,000-deep object is refused without a stack overflow')
})

t.test('long keys are shortened in paths', async (t) => {
  const key = 'k'.repeat(100)
  t.equal(findNonJsonValue({ [key]: Number.NaN }, 'v')?.path, `v.${'k'.repeat(40)}…`.replace(/\.(k+…)$/, '["$1"]'))
  t.equal(findNonJsonValue({ [key]: Number.NaN }, 'v')?.path, `v["${'k'.repeat(40)}…"]`)
})

/** True when `copy` holds what `original` held, as far as JSON can tell (prototypes of plain objects aside). */
function sameData (original: unknown, copy: unknown): boolean {
  if (typeof original !== 'object' || original === null) return original === copy || (Number.isNaN(original) && Number.isNaN(copy))
  if (typeof copy !== 'object' || copy === null) return false
  if (Array.isArray(original)) {
    return Array.isArray(copy) && copy.length === original.length && original.every((item, index) => sameData(item, copy[index]))
  }
  const kept = Object.keys(original).filter((name) => (original as Record<string, unknown>)[name] !== undefined)
  const copied = Object.keys(copy)
  return !Array.isArray(copy) && kept.length === copied.length &&
    kept.every((name) => Object.hasOwn(copy, name) && sameData((original as Record<string, unknown>)[name], (copy as Record<string, unknown>)[name]))
}

t.test('property: whatever is accepted reads back through JSON as it was set', async (t) => {
  const anything = fc.anything({
    maxDepth: 4,
    withBoxedValues: true,
    withMap: true,
    withSet: true,
    withObjectString: true,
    withNullPrototype: true,
    withBigInt: true,
    withDate: true,
    withTypedArray: true,
    withSparseArray: true,
    withUnicodeString: true
  })
  let accepted = 0
  fc.assert(fc.property(anything, (value) => {
    if (findNonJsonValue(value, 'value') !== undefined) return true
    accepted++
    const text = JSON.stringify(value)
    return text === undefined ? value === undefined : sameData(value, JSON.parse(text))
  }), propertyOptions(5))
  t.ok(accepted > 0, `${accepted} accepted values checked`)
})

t.test('property: a JSON value with one bad part planted anywhere is refused at that part', async (t) => {
  const bad = fc.constantFrom<[unknown, string]>([new Date(0), 'a Date'], [new Map(), 'a Map'], [new Set(), 'a Set'], [1n, 'a bigint'],
    [Number.NaN, 'NaN'], [() => 0, 'a function'], [new Point(), 'an instance of Point'], [{ toJSON: () => 1 }, 'an object with a toJSON method'])
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), bad, fc.infiniteStream(fc.nat()), (json, [planted, found], choices) => {
    // Walk down a random route, then plant the bad value there.
    const root: Record<string, unknown> = { value: json }
    let holder: Record<string | number, unknown> = root
    let slot: string | number = 'value'
    let expectedPath = 'v'
    for (const choice of choices) {
      const current = holder[slot]
      if (typeof current !== 'object' || current === null || choice % 3 === 0) break
      const names: Array<string | number> = Array.isArray(current) ? current.map((_, index) => index) : Object.keys(current)
      if (names.length === 0) break
      holder = current as Record<string | number, unknown>
      slot = names[choice % names.length] as string | number
      expectedPath += segment(slot)
    }
    // defineProperty: assigning to a '__proto__' key would set the prototype instead.
    Object.defineProperty(holder, slot, { value: planted, enumerable: true, writable: true, configurable: true })
    const problem = findNonJsonValue(root['value'], 'v')
    return problem?.found === found && problem.path === expectedPath
  }), propertyOptions())
  t.pass('held')
})

/** A path segment as the messages write it: `.name`, `["a b"]`, `[2]`, long keys cut at 40 characters. */
function segment (name: string | number): string {
  if (typeof name === 'number') return `[${name}]`
  const shown = name.length > 40 ? name.slice(0, 40) + '…' : name
  return /^[A-Za-z_$][\w$]*$/.test(shown) ? '.' + shown : `[${JSON.stringify(shown)}]`
}

t.test('isNestedDeeperThan counts levels of arrays and objects, recursing no deeper than the limit', async (t) => {
  for (const primitive of [1, 'text', null, true, undefined]) t.notOk(isNestedDeeperThan(primitive, 0), `${String(primitive)}: no level`)
  t.notOk(isNestedDeeperThan([], 1))
  t.ok(isNestedDeeperThan([], 0), '[] is one level')
  t.notOk(isNestedDeeperThan({ a: [1, { b: 'x' }], c: [] }, 3))
  t.ok(isNestedDeeperThan({ a: [1, { b: 'x' }], c: [] }, 2), 'the deepest branch counts, wherever it is')
  t.ok(isNestedDeeperThan({ a: 1, b: [[[]]] }, 3))
  let deep: unknown = 0
  for (let level = 0; level < 100_000; level++) deep = [deep]
  t.ok(isNestedDeeperThan(deep, MAX_JSON_DEPTH), '100,000 levels')
  let exact: unknown = 0
  for (let level = 0; level < 600; level++) exact = [exact]
  t.notOk(isNestedDeeperThan(exact, 600), '600 levels within a limit of 600')
  t.ok(isNestedDeeperThan(exact, 599))
})

t.test('property: the tests\' session data (test/helpers/json-data.ts) is what set() accepts, and reads back exactly', async (t) => {
  fc.assert(fc.property(sessionEntries, (entries) => {
    for (const [name, value] of entries) {
      assert.equal(findNonJsonValue(value, 'value'), undefined, name)
      assert.deepStrictEqual(JSON.parse(JSON.stringify(value)), value)
    }
    const data = objectOf(entries)
    assert.deepStrictEqual(JSON.parse(JSON.stringify(data)), data)
  }), propertyOptions())
  t.pass('held')
})
