import t from 'tap'
import { MissingDependencyError } from '../index.js'
import { loadPeer } from '../lib/storage/peer.js'

t.test('a missing optional peer says what to install', async (t) => {
  const error = t.throws(() => loadPeer('fastify-sessions-test-missing-peer', 'NaClCookieStorage')) as MissingDependencyError
  t.match(error, {
    name: 'MissingDependencyError',
    code: 'FST_SESSIONS_MISSING_DEPENDENCY',
    dependency: 'fastify-sessions-test-missing-peer',
    message: "fastify-sessions: NaClCookieStorage needs the optional package 'fastify-sessions-test-missing-peer'; " +
      'install it with `npm install fastify-sessions-test-missing-peer`'
  })
  t.match(error.cause, { code: 'MODULE_NOT_FOUND' })
})

t.test('a peer that is installed but broken is not reported as missing', async (t) => {
  t.throws(() => loadPeer('../../test/fixtures/broken-peer.cjs', 'NaClCookieStorage'), {
    code: 'MODULE_NOT_FOUND',
    message: /Cannot find module 'fastify-sessions-test-missing-inner-dependency'/
  })
})

t.test('an installed peer loads', async (t) => {
  t.type(loadPeer<{ crypto_secretbox_easy: unknown }>('sodium-native', 'NaClCookieStorage').crypto_secretbox_easy, 'function')
})
