import t from 'tap'
import { SessionConfigError, SimpleCookieStorage } from '../index.js'
import type { StorageOptions } from '../index.js'

t.test('defaults follow aiohttp-session, with SameSite=Lax', async (t) => {
  const storage = new SimpleCookieStorage()
  t.equal(storage.cookieName, 'AIOHTTP_SESSION')
  t.equal(storage.maxAge, undefined)
  t.same(storage.cookieOptions, { domain: undefined, path: '/', secure: false, httpOnly: true, sameSite: 'Lax', partitioned: false })
  t.ok(Object.isFrozen(storage.cookieOptions))
})

t.test('options are applied and normalised', async (t) => {
  const storage = new SimpleCookieStorage({ cookieName: '__Host-sid', maxAge: 60, secure: true, httpOnly: false, sameSite: 'strict', partitioned: true })
  t.equal(storage.cookieName, '__Host-sid')
  t.equal(storage.maxAge, 60)
  t.same(storage.cookieOptions, { domain: undefined, path: '/', secure: true, httpOnly: false, sameSite: 'Strict', partitioned: true })
  t.equal(new SimpleCookieStorage({ sameSite: 'none', secure: true }).cookieOptions.sameSite, 'None')
  t.equal(new SimpleCookieStorage({ sameSite: 'LAX' as 'lax' }).cookieOptions.sameSite, 'Lax')
  t.equal(new SimpleCookieStorage({ sameSite: false }).cookieOptions.sameSite, undefined)
  t.equal(new SimpleCookieStorage({ sameSite: null }).cookieOptions.sameSite, undefined)
  t.equal(new SimpleCookieStorage({ maxAge: null as unknown as undefined }).maxAge, undefined)
  t.equal(new SimpleCookieStorage({ maxAge: 34560000 }).maxAge, 34560000, 'up to 400 days, what browsers keep')
  t.equal(new SimpleCookieStorage({ cookieName: null as unknown as string }).cookieName, 'AIOHTTP_SESSION', 'null is the default')
  t.same(new SimpleCookieStorage({ path: null as unknown as string, domain: null as unknown as string }).cookieOptions,
    { domain: undefined, path: '/', secure: false, httpOnly: true, sameSite: 'Lax', partitioned: false }, 'null is the default')
  t.equal(new SimpleCookieStorage({ domain: 'example.com', path: '/app' }).cookieOptions.domain, 'example.com')
  t.equal(new SimpleCookieStorage({ cookieName: '__Secure-sid', secure: true, domain: 'example.com' }).cookieName, '__Secure-sid')
})

t.test('bad options fail at construction with what was expected', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /storage options must be an object; got null/],
    ['x', /storage options must be an object; got a string/],
    [{ cookieName: '' }, /cookieName must be a non-empty cookie token/],
    [{ cookieName: 'a b' }, /cookieName .*got "a b"/],
    [{ cookieName: 'a;b' }, /cookieName/],
    [{ cookieName: 7 }, /cookieName .*got number/],
    [{ maxAge: 0 }, /maxAge must be a whole number of seconds of at least 1, or undefined for none; got 0/],
    [{ maxAge: 1.5 }, /maxAge .*got 1\.5/],
    [{ maxAge: '60' }, /maxAge .*got a string of 2 characters/],
    [{ maxAge: 86400000 }, /^fastify-sessions: maxAge is in seconds, at most 34560000 \(400 days: browsers keep a cookie no longer\); got 86400000, which looks like milliseconds: did you mean 86400\?$/],
    [{ maxAge: 34560001 }, /maxAge is in seconds, at most 34560000 .*; got 34560001$/],
    [{ maxAge: 34560000000 }, /got 34560000000, which looks like milliseconds: did you mean 34560000\?$/],
    [{ maxAge: 34560001000 }, /got 34560001000$/], // over 400 days in milliseconds too: no suggestion
    [{ path: 'app' }, /path must start with '\/'/],
    [{ path: '/a;b' }, /path must be a non-empty string of visible ASCII characters without ';'/],
    [{ path: '' }, /path must be a non-empty string/],
    [{ domain: 'exa mple.com' }, /domain must be/],
    [{ domain: 5 }, /domain .*got number/],
    [{ secure: 'yes' }, /secure must be a boolean; got a string/],
    [{ httpOnly: 1 }, /httpOnly must be a boolean; got number/],
    [{ partitioned: 'no' }, /partitioned must be a boolean/],
    [{ sameSite: 'sometimes' }, /sameSite must be 'Strict', 'Lax', 'None' or false; got "sometimes"/],
    [{ sameSite: true }, /sameSite .*got boolean/],
    [{ sameSite: 'None' }, /sameSite: 'None' requires secure: true/],
    [{ partitioned: true }, /partitioned: true requires secure: true/],
    [{ cookieName: '__Secure-s' }, /prefix of "__Secure-s" requires secure: true/],
    [{ cookieName: '__Host-s' }, /prefix of "__Host-s" requires secure: true/],
    [{ cookieName: '__Host-s', secure: true, domain: 'example.com' }, /'__Host-' cookie must have path '\/' and no domain/],
    [{ cookieName: '__Host-s', secure: true, path: '/app' }, /'__Host-' cookie must have path/],
    [{ encoder: 'json' }, /encoder must be a function; got a string/],
    [{ decoder: {} }, /decoder must be a function; got a plain object/]
  ]
  for (const [options, message] of cases) {
    t.throws(() => new SimpleCookieStorage(options as StorageOptions), { name: 'SessionConfigError', code: 'FST_SESSIONS_CONFIG', message }, JSON.stringify(options))
  }
  t.type(new SessionConfigError('x'), Error)
})

t.test('SimpleCookieStorage warns in production: it neither signs nor encrypts', async (t) => {
  const warnings: Array<string | Error> = []
  const onWarning = (warning: Error): void => { warnings.push(warning) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const previous = process.env['NODE_ENV']
  t.teardown(() => { process.env['NODE_ENV'] = previous })
  process.env['NODE_ENV'] = 'production'
  new SimpleCookieStorage() // eslint-disable-line no-new
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(warnings.length, 1)
  t.match(warnings[0], { code: 'FST_SESSIONS_SIMPLE_STORAGE', message: /for tests only/ })
})
