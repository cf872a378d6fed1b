// The CommonJS build's types, as `require` users get them.
import sessions = require('fastify-sessions')
import encrypted = require('fastify-sessions/storages/encrypted-cookie')
import Fastify = require('fastify')
import { expect, test } from 'tstyche'

test('require() gives the plugin and the storages', () => {
  const app = Fastify()
  expect(app.register(sessions.default, new encrypted.EncryptedCookieStorage(sessions.generateKey()))).type.not.toRaiseError()
  expect(app.register(sessions.sessionPlugin, new sessions.SimpleCookieStorage())).type.not.toRaiseError()
  expect(new sessions.Session().get('x')).type.toBe<unknown>()
})

test('require() users get the JSON-safe value types too', () => {
  const session = new sessions.Session()
  expect(session.set('x', { a: [1, 'b', null] })).type.toBe<sessions.Session>()
  expect(session.set('x', new Date())).type.toRaiseError("Argument of type 'Date' is not assignable to parameter of type 'NotJson<\"Date is not JSON: store a string or number\">'")
  expect<sessions.JsonSafe<Date>>().type.toBe<sessions.NotJson<'Date is not JSON: store a string or number'>>()
})

test('require() users save without a reply and load from a Cookie header', () => {
  const app = Fastify()
  app.get('/', async (request) => {
    expect(request.saveSession()).type.toBe<Promise<void>>()
    expect(sessions.saveSession(request)).type.toBe<Promise<void>>()
  })
  expect(new sessions.SimpleCookieStorage().loadSessionFromCookieHeader('x', { logger: app.log })).type.toBe<Promise<sessions.Session>>()
})
