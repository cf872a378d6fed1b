import { inspect } from 'node:util'
import t from 'tap'
import { Session, SessionConfigError, SessionIdentityError, isSession } from '../index.js'
import { kChanged, kStaleIdentities } from '../lib/symbols.js'
import { fakeDate } from './helpers/clock.js'
import type { Clock } from './helpers/clock.js'

const NOW = 1700000000

t.beforeEach((t) => {
  t.context = fakeDate(t, NOW)
})

t.test('a new session', async (t) => {
  const session = new Session()
  t.equal(session.isNew, true)
  t.equal(session.identity, null)
  t.equal(session.created, NOW)
  t.equal(session.empty, true)
  t.equal(session.size, 0)
  t.equal(session.maxAge, undefined)
  t.equal(session[kChanged], false, 'a new session is not changed')
  t.ok(isSession(session))
  t.notOk(isSession({}))
  t.notOk(isSession(null))
})

t.test('constructed from stored data', async (t) => {
  const session = new Session({ identity: 'abc', data: { a: 1, b: 'x' }, isNew: false, created: 123, maxAge: 60 })
  t.equal(session.identity, 'abc')
  t.equal(session.isNew, false)
  t.equal(session.created, 123)
  t.equal(session.maxAge, 60)
  t.same([...session.keys()], ['a', 'b'])
  t.same([...new Session({ data: [['k', 1]] }).entries()], [['k', 1]], 'entries are accepted too')
  t.same([...new Session({ data: null }).keys()], [])
  t.throws(() => new Session({ maxAge: 0 }), SessionConfigError)
})

t.test('Map-like access', async (t) => {
  const session = new Session({ data: { a: 1 } })
  t.equal(session.get('a'), 1)
  t.equal(session.get('missing'), undefined)
  t.equal(session.has('a'), true)
  t.equal(session.set('b', 2), session, 'set returns the session')
  t.same([...session.keys()], ['a', 'b'])
  t.same([...session.values()], [1, 2])
  t.same([...session.entries()], [['a', 1], ['b', 2]])
  t.same([...session], [['a', 1], ['b', 2]])
  t.equal(session.size, 2)
  t.equal(session.empty, false)
})

t.test('set and delete mark the session changed and refresh created', async (t) => {
  const clock = t.context as Clock
  const session = new Session({ data: { a: 1 }, isNew: false, created: NOW - 100 })
  session.set('a', 2)
  t.equal(session[kChanged], true)
  t.equal(session.created, NOW, 'set refreshes created, as in aiohttp 2.11+')
  clock.tick(5000)
  const other = new Session({ data: { a: 1 }, created: NOW - 100 })
  t.equal(other.delete('missing'), false)
  t.equal(other[kChanged], false, 'deleting a missing key changes nothing')
  t.equal(other.created, NOW - 100)
  t.equal(other.delete('a'), true)
  t.equal(other[kChanged], true)
  t.equal(other.created, NOW + 5)
})

t.test('set(key, undefined) removes the key', async (t) => {
  const session = new Session({ data: { user: 'ann' } })
  session.set('user', undefined)
  t.equal(session.has('user'), false)
  t.equal(session[kChanged], true)
  const untouched = new Session()
  untouched.set('user', undefined)
  t.equal(untouched[kChanged], false, 'removing an absent key changes nothing')
})

t.test('clear', async (t) => {
  const empty = new Session()
  empty.clear()
  t.equal(empty[kChanged], false, 'clearing an empty session changes nothing')
  const session = new Session({ data: { a: 1 }, created: 5 })
  session.clear()
  t.equal(session.empty, true)
  t.equal(session[kChanged], true)
  t.equal(session.created, NOW)
})

t.test('changed() marks without touching created', async (t) => {
  const session = new Session({ data: { list: [1] }, created: 5 })
  ;(session.get('list') as number[]).push(2)
  t.equal(session[kChanged], false, 'nested mutation is not tracked')
  session.changed()
  t.equal(session[kChanged], true)
  t.equal(session.created, 5)
})

t.test('invalidate drops data and gives up the identity', async (t) => {
  const session = new Session({ identity: 'old', data: { a: 1 }, isNew: false, created: 5 })
  session.invalidate()
  t.equal(session.empty, true)
  t.equal(session[kChanged], true)
  t.equal(session.identity, null)
  t.same(session[kStaleIdentities], ['old'], 'the old record is deleted on save')
  session.set('b', 1)
  t.equal(session.identity, null, 'data set afterwards goes to a new identity')
  const anonymous = new Session()
  anonymous.invalidate()
  t.same(anonymous[kStaleIdentities], [], 'no identity, nothing to delete')
})

t.test('setNewIdentity only on a new session', async (t) => {
  const session = new Session()
  session.setNewIdentity('chosen')
  t.equal(session.identity, 'chosen')
  t.equal(session[kChanged], false, 'choosing an identity does not mark changed')
  t.throws(() => session.setNewIdentity(''), SessionIdentityError)
  t.throws(() => session.setNewIdentity(42 as unknown as string), { name: 'SessionIdentityError', message: /non-empty string; got number/ })
  const loaded = new Session({ identity: 'x', isNew: false })
  t.throws(() => loaded.setNewIdentity('y'), { code: 'FST_SESSIONS_IDENTITY', message: /loaded from storage/ })
})

t.test('regenerate keeps the listed keys and takes a new identity', async (t) => {
  const session = new Session({ identity: 'old', data: { user: 'ann', cart: [1], csrf: 't' }, isNew: false, created: 5 })
  session.regenerate(['cart', 'missing'])
  t.same([...session.entries()], [['cart', [1]]])
  t.equal(session.identity, null)
  t.equal(session.isNew, true)
  t.equal(session.created, NOW)
  t.equal(session[kChanged], true)
  t.same(session[kStaleIdentities], ['old'])
  session.setNewIdentity('fresh')
  session.regenerate()
  t.equal(session.empty, true)
  t.same(session[kStaleIdentities], ['old', 'fresh'])
})

t.test('maxAge is settable per response and validated', async (t) => {
  const session = new Session({ maxAge: 60 })
  session.maxAge = 120
  t.equal(session.maxAge, 120)
  session.maxAge = undefined
  t.equal(session.maxAge, undefined)
  for (const bad of [0, -1, 1.5, Number.NaN, '60', Infinity]) {
    t.throws(() => { session.maxAge = bad as number }, { name: 'SessionConfigError', message: /session\.maxAge must be a whole number of seconds/ }, `refuses ${String(bad)}`)
  }
  t.throws(() => { session.maxAge = 86400000 }, {
    name: 'SessionConfigError',
    statusCode: 500,
    message: 'fastify-sessions: session.maxAge is in seconds, at most 34560000 (400 days: browsers keep a cookie no longer); got 86400000, which looks like milliseconds: did you mean 86400?'
  }, 'over 400 days: refused, with the value in seconds when it looks like milliseconds')
  t.equal(session.maxAge, undefined, 'a refused value changes nothing')
  session.maxAge = 34560000
  t.equal(session.maxAge, 34560000, '400 days is the most')
  t.throws(() => new Session({ maxAge: 34560001 }), { name: 'SessionConfigError', message: /^fastify-sessions: maxAge is in seconds, at most 34560000 .*; got 34560001$/ })
})

t.test('prototype keys are plain keys', async (t) => {
  const session = new Session({ data: JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}') })
  t.same(session.get('__proto__'), { polluted: true })
  t.equal(session.get('constructor'), 1)
  t.equal(session.get('toString'), undefined, 'inherited members are not session keys')
  const json = session.toJSON()
  t.equal(Object.getPrototypeOf(json), null, 'toJSON gives a null-prototype object')
  t.equal(JSON.stringify(json), '{"__proto__":{"polluted":true},"constructor":1}')
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype is untouched')
})

t.test('inspection shows keys, never values', async (t) => {
  const session = new Session({ data: { password: 'hunter2' } })
  const shown = inspect(session)
  t.match(shown, /Session \[new: true, changed: false, created: 1700000000\] \{ keys: \["password"\] \}/)
  t.notMatch(shown, /hunter2/)
})

t.test('set() refuses values that would not read back as set, naming the key and the path', async (t) => {
  const session = new Session({ data: { kept: 1 }, created: 5 })
  const user = { name: 'ann', roles: ['reader', 'writer', new Date(0)] }
  t.throws(() => session.set('user', user as never), {
    name: 'SessionEncodingError',
    code: 'FST_SESSIONS_ENCODING',
    message: "fastify-sessions: session.set('user', …): user.roles[2] is a Date, which JSON turns into a string; store date.toISOString() or date.getTime() instead"
  })
  t.equal(session.has('user'), false, 'nothing is stored')
  t.equal(session[kChanged], false, 'and nothing changed')
  t.equal(session.created, 5)
  t.throws(() => session.set('a b', { 'c-d': new Map() } as never), {
    message: "fastify-sessions: session.set('a b', …): session.get(\"a b\")[\"c-d\"] is a Map, which JSON turns into {}; store Object.fromEntries(map) instead"
  }, 'a key that is not an identifier')
  t.throws(() => session.set('it\'s\n"x"', Number.NaN), {
    message: "fastify-sessions: session.set('it\\'s\\n\"x\"', …): session.get(\"it's\\n\\\"x\\\"\") is NaN, which JSON turns into null; store null or a string instead"
  }, 'quotes and control characters escaped')
  t.throws(() => session.set('k'.repeat(100), 1n as never), { message: new RegExp(`^fastify-sessions: session.set\\('${'k'.repeat(40)}…', …\\): ${'k'.repeat(100)} is a bigint`) },
    'a long key is shortened in the call, the path keeps an identifier whole')
  const secret = 'hunter2'
  const error = t.throws(() => session.set('password', [secret, () => secret] as never)) as Error
  t.equal(error.message, "fastify-sessions: session.set('password', …): password[1] is a function, which JSON turns into null; store data, not code")
  t.notMatch(error.message, secret, 'the value is never echoed')
})

t.test('set() accepts what JSON holds', async (t) => {
  const session = new Session()
  const value = { name: 'ann', roles: ['a'], nested: { n: -0, nothing: null, dropped: undefined }, list: [1.5, 'x', true, []] }
  session.set('user', value)
  t.equal(session.get('user'), value, 'stored as given')
  const shared = { id: 1 }
  session.set('pair', [shared, shared])
  t.same(session.get('pair'), [{ id: 1 }, { id: 1 }], 'a shared reference is not a cycle')
  session.set('user', undefined)
  t.equal(session.has('user'), false, 'undefined still removes the key')
})
