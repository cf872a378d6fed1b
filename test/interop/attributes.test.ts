/**
 * Cookie attributes between the real aiohttp-session and ours (EncryptedCookieStorage):
 * with the same options both write the same Set-Cookie apart from the value, and a
 * cookie our side scopes with Path, Secure, SameSite and a `__Host-` name is what a
 * browser sends back to the aiohttp side, which reads it (and the other way round).
 * Deletion is where the two differ on purpose (SPEC §3): ours keeps the attributes a
 * browser needs to match the cookie; aiohttp's drops Secure/SameSite/HttpOnly.
 */
import t from 'tap'
import type { Test } from 'tap'
import { generateKey } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { parseSetCookie } from '../helpers/cookies.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { startPython } from './python-service.js'
import type { Reply, Service } from './service.js'
import { nowSeconds } from './suite.js'

const key = generateKey()

/** A Set-Cookie header with its value blanked out, to compare everything else. */
function withoutValue (header: string): string {
  const { name, value } = parseSetCookie(header)
  return header.replace(`${name}=${value}`, `${name}=<value>`)
}

function onlyCookie (t: Test, reply: Reply): string {
  t.equal(reply.setCookies.length, 1, 'one Set-Cookie')
  return reply.setCookies[0] ?? ''
}

t.test('same options, same Set-Cookie; the deletion cookie keeps Secure and SameSite on ours', async (t) => {
  const options = { maxAge: 3600, domain: 'example.com', path: '/app', secure: true }
  const python = await startPython(t, { storage: 'encrypted', key, ...options, samesite: 'Strict' })
  const fastify = await startFastify(t, new EncryptedCookieStorage(key, { ...options, sameSite: 'Strict' }), '/app')
  const clock = nowSeconds()
  const expires = new Date((clock + 3600) * 1000).toUTCString().replace(/^(\w+), (\d+) (\w+) (\d+)/, '$1, $2-$3-$4')
  const expected = `AIOHTTP_SESSION=<value>; Domain=example.com; expires=${expires}; HttpOnly; Max-Age=3600; Path=/app; SameSite=Strict; Secure`
  const written: Record<string, string> = {}
  for (const service of [python, fastify] as Service[]) {
    // Sent without the Browser: it would refuse Domain=example.com on 127.0.0.1.
    const header = onlyCookie(t, await service.send('POST', '/app/set', undefined, { body: { user: 'ann' }, clock }))
    t.equal(withoutValue(header), expected, `${service.name}: attributes in Python's order and format`)
    written[service.name] = parseSetCookie(header).pair
  }
  // Each logs out a session the other wrote.
  const theirs = onlyCookie(t, await python.send('POST', '/app/logout', written['fastify'], { clock }))
  t.equal(theirs, 'AIOHTTP_SESSION=""; Domain=example.com; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/app',
    'aiohttp deletes with Domain and Path only')
  const ours = onlyCookie(t, await fastify.send('POST', '/app/logout', written['aiohttp'], { clock }))
  t.equal(ours, 'AIOHTTP_SESSION=""; Domain=example.com; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path=/app; SameSite=Strict; Secure',
    'ours deletes with every attribute of the cookie (SPEC §3)')
})

t.test('defaults differ only in SameSite: Lax on ours, absent on aiohttp', async (t) => {
  const python = await startPython(t, { storage: 'encrypted', key })
  const fastify = await startFastify(t, new EncryptedCookieStorage(key))
  t.equal(withoutValue(onlyCookie(t, await python.send('POST', '/set', undefined, { body: { a: 1 } }))), 'AIOHTTP_SESSION=<value>; HttpOnly; Path=/')
  t.equal(withoutValue(onlyCookie(t, await fastify.send('POST', '/set', undefined, { body: { a: 1 } }))), 'AIOHTTP_SESSION=<value>; HttpOnly; Path=/; SameSite=Lax')
})

t.test('a __Host- cookie with Secure and SameSite=Strict is shared; only our logout clears it', async (t) => {
  const cookieName = '__Host-session'
  const python = await startPython(t, { storage: 'encrypted', key, cookieName, maxAge: 3600, secure: true, samesite: 'Strict' })
  const fastify = await startFastify(t, new EncryptedCookieStorage(key, { cookieName, maxAge: 3600, secure: true, sameSite: 'Strict' }))
  for (const [from, to] of [[python, fastify], [fastify, python]] as const) {
    const browser = new Browser()
    await browser.write(from, '/set', { user: 'ann' })
    t.same(browser.refused, [], `the browser accepts ${from.name}'s __Host- cookie`)
    t.same((await browser.read(to)).session, { user: 'ann' }, `${to.name} reads it`)
  }

  const ourLogout = new Browser()
  await ourLogout.write(python, '/set', { user: 'ann' })
  await ourLogout.write(fastify, '/logout')
  t.equal(ourLogout.value(cookieName), undefined, 'our deletion cookie (with Secure) clears a __Host- cookie')
  t.equal((await ourLogout.read(python)).empty, true, 'aiohttp sees the user logged out')

  // aiohttp's deletion cookie lacks Secure, so a browser must ignore it for a
  // __Host-/__Secure- name: the cookie stays, and an encrypted cookie stays valid.
  const theirLogout = new Browser()
  await theirLogout.write(fastify, '/set', { user: 'ann' })
  await theirLogout.write(python, '/logout')
  t.equal(theirLogout.refused.length, 1, 'the browser refuses aiohttp\'s deletion cookie')
  t.match(theirLogout.refused[0], /^__Host-session=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=\/$/)
  t.same((await theirLogout.read(fastify)).session, { user: 'ann' }, 'so the user is still logged in on fastify…')
  t.same((await theirLogout.read(python)).session, { user: 'ann' }, '…and on aiohttp')
})

t.test('a cookie scoped to Path=/app by ours is sent to and read by aiohttp under /app', async (t) => {
  const python = await startPython(t, { storage: 'encrypted', key, path: '/app' })
  const fastify = await startFastify(t, new EncryptedCookieStorage(key, { path: '/app' }), '/app')
  const browser = new Browser()
  await browser.write(fastify, '/app/set', { user: 'ann' })
  t.equal(browser.cookieHeader('/get'), undefined, 'the browser keeps it from other paths')
  t.same((await browser.read(python, '/app/get')).session, { user: 'ann' }, 'aiohttp reads it under /app')
  await browser.write(python, '/app/set', { cart: [1] })
  t.same((await browser.read(fastify, '/app/get')).session, { user: 'ann', cart: [1] }, 'and we read aiohttp\'s answer')
})
