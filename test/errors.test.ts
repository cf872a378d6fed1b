import t from 'tap'
import * as api from '../index.js'
import {
  FastifySessionsError, InvalidSessionError, MissingDependencyError, SessionConfigError, SessionEncodingError,
  SessionIdentityError, SessionNotAvailableError, SessionStorageError, SessionTooLargeError
} from '../index.js'
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
  t.match(error, { name: 'SessionStorageError', code: 'FST_SESSIONS_STORAGE', statusCode: 503, cause })
  t.equal(error.message, 'fastify-sessions: the session read on Redis failed', 'the client-facing message names no host')
})

t.test('a SessionStorageError that knows when to come back carries Retry-After for Fastify\'s error handler', async (t) => {
  const refused = new SessionStorageError('Redis is considered down', { retryAfter: 5 })
  t.match(refused, { statusCode: 503, retryAfter: 5, headers: { 'retry-after': '5' } })
  const failed = new SessionStorageError('the session read on Redis failed')
  t.equal(failed.retryAfter, undefined)
  t.notOk('headers' in failed, 'no headers property at all: Fastify adds none')
})

t.test('SessionTooLargeError says what was too large, and what to do', async (t) => {
  t.match(new SessionTooLargeError(5000, 4096), { subject: 'cookie', size: 5000, limit: 4096, message: /^fastify-sessions: the session cookie would be 5000 bytes/ })
  t.match(new SessionTooLargeError(2000, 1000, 'record'), {
    subject: 'record',
    statusCode: 500,
    message: 'fastify-sessions: the session record would be 2000 bytes, over the 1000-byte limit (maxRecordBytes); store less in the session ' +
      '(a session this large usually holds data that belongs in a database or a cache), or raise maxRecordBytes'
  })
  t.match(new SessionTooLargeError(2000, undefined, 'record', 'Memcached'), {
    limit: undefined,
    message: /^fastify-sessions: Memcached refused the 2000-byte session record as over its item size limit; store less in the session .*, or set maxRecordBytes below the server's limit so that such sessions are refused before they are sent$/
  })
  t.match(new SessionTooLargeError(2000, undefined, 'record'), { message: /^fastify-sessions: the store refused the 2000-byte session record/ })
})

t.test('every error code is its class name in the FST_SESSIONS_ namespace', async (t) => {
  const errors: FastifySessionsError[] = [
    new SessionConfigError('x'), new MissingDependencyError('x', 'y'), new SessionTooLargeError(1, 2), new SessionStorageError('x'),
    new SessionNotAvailableError('x'), new SessionIdentityError('x'), new SessionEncodingError('x'), new InvalidSessionError('x')
  ]
  const exported = Object.values(api).filter((value: unknown): value is typeof FastifySessionsError =>
    typeof value === 'function' && value.prototype instanceof FastifySessionsError)
  t.same(errors.map((error) => error.constructor).sort(byName), exported.sort(byName), 'one of each exported error class')
  for (const error of errors) {
    const words = error.name.replace(/^Session/, '').replace(/Error$/, '').replace(/([a-z])([A-Z])/g, '$1_$2')
    t.equal(error.code, `FST_SESSIONS_${words.toUpperCase()}`, error.name)
  }
})

function byName (a: { name: string }, b: { name: string }): number {
  return a.name.localeCompare(b.name)
}
