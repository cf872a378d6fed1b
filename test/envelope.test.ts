import t from 'tap'
import { TOO_DEEP, readEnvelope } from '../lib/wire/envelope.js'
import { MAX_JSON_DEPTH } from '../lib/wire/json-value.js'

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
