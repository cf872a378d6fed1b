import t from 'tap'
import { FastifySessionsError, SessionStorageError } from '../index.js'
import { describeType } from '../lib/errors.js'

t.test('describeType names the kind of a value, never its content', async (t) => {
  t.equal(describeType(null), 'null')
  t.equal(describeType(undefined), 'undefined')
  t.equal(describeType([1, 'secret']), 'an array')
  t.equal(describeType(Buffer.from('secret')), 'Buffer of 6 bytes')
  t.equal(describeType(new Uint8Array(3)), 'Uint8Array of 3 bytes')
  t.equal(describeType('secret'), 'a string of 6 characters')
  t.equal(describeType({ secret: 1 }), 'a plain object')
  t.equal(describeType(Object.create(null)), 'a plain object')
  t.equal(describeType(new Map()), 'an instance of Map')
  t.equal(describeType(42), 'number')
  t.equal(describeType(() => 1), 'function')
})

t.test('errors carry a code, a status and their class name', async (t) => {
  const cause = new Error('ECONNREFUSED 10.0.0.1:6379')
  const error = new SessionStorageError('the session read on Redis failed', { cause })
  t.type(error, FastifySessionsError)
  t.match(error, { name: 'SessionStorageError', code: 'FST_SESSIONS_STORAGE_UNAVAILABLE', statusCode: 503, cause })
  t.equal(error.message, 'fastify-sessions: the session read on Redis failed', 'the client-facing message names no host')
})
