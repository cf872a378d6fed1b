/**
 * Unreadable cookies write at most WARNINGS_PER_MINUTE warnings a minute per storage:
 * past that, the rest of the minute's go to debug, and the next warning says how many
 * did. Routine rejections (expired, empty) stay at debug and do not count. Time is a
 * fake clock moved by the test: nothing sleeps.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { SimpleCookieStorage, generateKey } from '../index.js'
import type { AbstractStorage } from '../index.js'
import { WARNINGS_PER_MINUTE, WarningLimit } from '../lib/storage/warning-limit.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { buildApp, sessionLine } from './helpers/app.js'
import type { LogLine } from './helpers/app.js'
import { fakeDate } from './helpers/clock.js'

const START = 1_700_000_000
const GARBAGE = 'AIOHTTP_SESSION=garbage-cookie-value'
const EMPTY = 'AIOHTTP_SESSION="{}"'

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ isNew: request.session.isNew }))
}

async function appFor (t: Test, storage: AbstractStorage): Promise<(cookie: string) => Promise<LogLine | undefined>> {
  const { app } = await buildApp(t, storage, routes)
  return async (cookie) => {
    const response: LightMyRequestResponse = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(response.statusCode, 200)
    t.same(response.json(), { isNew: true })
    return sessionLine(response)
  }
}

t.test('past the limit, warnings go to debug until the minute ends; the next one counts them', async (t) => {
  const clock = fakeDate(t, START)
  const read = await appFor(t, new SimpleCookieStorage())
  for (let index = 0; index < 5; index++) {
    t.match(await read(EMPTY), { level: 20, reason: 'empty' }, 'routine rejections stay at debug…')
  }
  for (let index = 0; index < WARNINGS_PER_MINUTE; index++) {
    const line = await read(GARBAGE)
    t.match(line, { level: 40, reason: 'the payload could not be decoded (not JSON?)' }, `…and do not count: warning ${index + 1}`)
    t.notOk(line !== undefined && 'suppressedWarnings' in line, 'nothing held back yet')
  }
  clock.tick(10_000)
  for (let index = 0; index < 7; index++) {
    const line = await read(GARBAGE)
    t.match(line, { level: 20, reason: 'the payload could not be decoded (not JSON?)', rateLimited: true }, 'over the limit: debug, with the reason')
  }
  t.match(await read(EMPTY), { level: 20, reason: 'empty' })
  t.notOk('rateLimited' in (await read(EMPTY) as LogLine), 'routine lines are not marked: they were never warnings')
  clock.tick(49_999)
  t.match(await read(GARBAGE), { level: 20, rateLimited: true }, 'still within the minute')

  clock.tick(1)
  const next = await read(GARBAGE)
  t.match(next, {
    level: 40,
    reason: 'the payload could not be decoded (not JSON?)',
    suppressedWarnings: 8,
    suppressedSince: new Date((START + 10) * 1000).toISOString()
  }, 'a minute after the window began: a warning again, saying how many went to debug and since when')
  t.notOk(JSON.stringify(next).includes('garbage-cookie-value'), 'the cookie is not logged')
  const after = await read(GARBAGE)
  t.match(after, { level: 40 })
  t.notOk(after !== undefined && 'suppressedWarnings' in after, 'the count is reported once')
})

t.test('the limit is per storage', async (t) => {
  fakeDate(t, START)
  const first = await appFor(t, new SimpleCookieStorage())
  const second = await appFor(t, new EncryptedCookieStorage(generateKey()))
  for (let index = 0; index < WARNINGS_PER_MINUTE; index++) await first(GARBAGE)
  t.match(await first(GARBAGE), { level: 20, rateLimited: true })
  t.match(await second(GARBAGE), { level: 40, reason: 'not a Fernet token (bad length)' }, 'another storage still warns')
})

t.test('WarningLimit: fixed one-minute windows, no timer', async (t) => {
  const limit = new WarningLimit()
  for (let index = 0; index < WARNINGS_PER_MINUTE; index++) t.same(limit.admit(START), {})
  t.equal(limit.admit(START), false)
  t.equal(limit.admit(START + 59), false)
  t.same(limit.admit(START + 60), { suppressedWarnings: 2, suppressedSince: new Date(START * 1000).toISOString() })
  for (let index = 1; index < WARNINGS_PER_MINUTE; index++) t.same(limit.admit(START + 60), {})
  t.equal(limit.admit(START + 61), false, 'the new window is full too')
  t.same(limit.admit(START + 30), { suppressedWarnings: 1, suppressedSince: new Date((START + 61) * 1000).toISOString() },
    'a clock set back starts a new window rather than holding warnings back until it catches up')
  t.same(limit.admit(START + 1_000_000), {}, 'a quiet hour: a new window, nothing held back')
})
