/**
 * A Secure session cookie sent in answer to a plain-http request is dropped by every
 * browser without a word, except from localhost: the storage logs a warning when it
 * sends one, once. Plain http is told the way Fastify tells it (request.protocol, which
 * follows X-Forwarded-Proto only with trustProxy).
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { SimpleCookieStorage } from '../index.js'
import type { StorageOptions } from '../index.js'
import { isSecureContextHost } from '../lib/storage/plain-http.js'
import { buildApp, sessionLines } from './helpers/app.js'
import type { LogLine } from './helpers/app.js'
import { setCookies } from './helpers/cookies.js'

function routes (app: FastifyInstance): void {
  app.get('/write', async (request) => {
    request.session.set('user', 'ann')
    return 'ok'
  })
  app.get('/read', async (request) => request.session.get('user') ?? null)
}

const WARNING = /^fastify-sessions: the session cookie is Secure, but this request came over plain http: browsers drop such a cookie without a word, so the session will not stick\. Serve the app over https; .*trustProxy.*secure: false or use localhost\. \(Logged once\.\)$/

/** The plain-http warnings fastify-sessions logged for one request. */
function warnings (response: Parameters<typeof sessionLines>[0]): LogLine[] {
  return sessionLines(response).filter((line) => line.level === 40 && line.msg.includes('plain http'))
}

async function appWith (t: Test, options: StorageOptions, trustProxy = false): Promise<FastifyInstance> {
  return (await buildApp(t, new SimpleCookieStorage(options), routes, { trustProxy })).app
}

t.test('a Secure cookie set over plain http to a remote host: one warning, then none', async (t) => {
  const app = await appWith(t, { secure: true })
  const first = await app.inject({ url: '/write', headers: { host: 'example.com:8080' } })
  t.match(setCookies(first), [/; Secure$/], 'the cookie is still sent: the warning changes nothing else')
  t.match(warnings(first), [{ msg: WARNING, cookieName: 'AIOHTTP_SESSION', hostname: 'example.com' }])
  t.equal(warnings(first).length, 1)
  const second = await app.inject({ url: '/write', headers: { host: 'example.com' } })
  t.equal(setCookies(second).length, 1)
  t.same(warnings(second), [], 'once per storage')
})

t.test('responses that set no cookie are not looked at', async (t) => {
  const app = await appWith(t, { secure: true })
  t.same(warnings(await app.inject({ url: '/read', headers: { host: 'example.com' } })), [])
  t.equal(warnings(await app.inject({ url: '/write', headers: { host: 'example.com' } })).length, 1, 'the first cookie sent is')
})

t.test('no warning for localhost and loopback hosts, which browsers treat as secure', async (t) => {
  const app = await appWith(t, { secure: true })
  for (const host of ['localhost', 'localhost:3000', 'LocalHost', 'app.localhost:3000', '127.0.0.1:3000', '127.1.2.3', '[::1]:3000', '']) {
    const response = await app.inject({ url: '/write', headers: { host } })
    t.equal(setCookies(response).length, 1)
    t.same(warnings(response), [], `host ${JSON.stringify(host)}`)
  }
  t.equal(warnings(await app.inject({ url: '/write', headers: { host: '192.168.1.10' } })).length, 1, 'a LAN address is no secure context')
})

t.test('no warning without Secure', async (t) => {
  const app = await appWith(t, { secure: false })
  t.same(warnings(await app.inject({ url: '/write', headers: { host: 'example.com' } })), [])
})

t.test("plain http is what Fastify's request.protocol says: X-Forwarded-Proto counts only with trustProxy", async (t) => {
  const trusting = await appWith(t, { secure: true }, true)
  const https = await trusting.inject({ url: '/write', headers: { host: 'example.com', 'x-forwarded-proto': 'https' } })
  t.same(warnings(https), [], 'https behind a trusted proxy')
  const http = await trusting.inject({ url: '/write', headers: { host: 'example.com', 'x-forwarded-proto': 'http' } })
  t.equal(warnings(http).length, 1, 'plain http behind a trusted proxy')

  const untrusting = await appWith(t, { secure: true })
  const spoofed = await untrusting.inject({ url: '/write', headers: { host: 'example.com', 'x-forwarded-proto': 'https' } })
  t.equal(warnings(spoofed).length, 1, 'without trustProxy the header is not believed')
})

t.test('isSecureContextHost', async (t) => {
  for (const host of ['localhost', 'a.b.localhost', '127.0.0.1', '127.255.0.9', '[::1]']) t.ok(isSecureContextHost(host), host)
  for (const host of ['example.com', 'localhost.example.com', 'notlocalhost', '127.0.0.1.example.com', '128.0.0.1', '[::2]', '10.0.0.1']) {
    t.notOk(isSecureContextHost(host), host)
  }
})
