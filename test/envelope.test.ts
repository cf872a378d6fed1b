import t from 'tap'
import { readEnvelope } from '../lib/wire/envelope.js'

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
