import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { SetCookieBuilder, findCookie, formatExpires, quoteCookieValue, unquoteCookieValue } from '../lib/wire/cookie.js'
import { cookieText, cookieUnit, lastCookieValue, pythonQuote, pythonUnquote } from './helpers/cookie-model.js'
import { propertyOptions } from './helpers/property.js'

t.test('quoteCookieValue follows Python http.cookies._quote', async (t) => {
  t.equal(quoteCookieValue('abcXYZ019!#$%&\'*+-.^_`|~:'), 'abcXYZ019!#$%&\'*+-.^_`|~:', 'legal characters stay bare')
  t.equal(quoteCookieValue(''), '""', 'an empty value is written as ""')
  t.equal(quoteCookieValue('a=b/c'), '"a=b/c"', '= and / force quotes but stay literal')
  t.equal(quoteCookieValue('a"b\\c'), '"a\\"b\\\\c"', 'quote and backslash are escaped')
  t.equal(quoteCookieValue('a,b;c'), '"a\\054b\\073c"', 'comma and semicolon become octal')
  t.equal(quoteCookieValue(' ()/<=>?@[]{}'), '" ()/<=>?@[]{}"', 'these stay literal inside quotes')
  t.equal(quoteCookieValue('\x00\x1f\x7f\xe9'), '"\\000\\037\\177\\351"', 'control and latin1 bytes become octal')
  t.equal(quoteCookieValue('\u20ac'), '"\u20ac"', 'above 0xff Python leaves the character as is')
})

t.test('unquoteCookieValue follows Python http.cookies._unquote', async (t) => {
  t.equal(unquoteCookieValue('plain'), 'plain')
  t.equal(unquoteCookieValue('"'), '"', 'a lone quote is not a quoted value')
  t.equal(unquoteCookieValue('"abc'), '"abc', 'an unterminated quote is kept')
  t.equal(unquoteCookieValue('""'), '')
  t.equal(unquoteCookieValue('"a=b"'), 'a=b')
  t.equal(unquoteCookieValue('"a\\"b\\\\c"'), 'a"b\\c')
  t.equal(unquoteCookieValue('"a\\054b\\073c"'), 'a,b;c')
  // Expectations below are what Python 3.11's http.cookies._unquote returns.
  t.equal(unquoteCookieValue('"\\351\\400\\x"'), '\xe9400x', 'octal needs [0-3][0-7][0-7]; other escapes keep the next character')
  t.equal(unquoteCookieValue('"ab\\"'), 'ab\\', 'a trailing backslash is kept')
  t.equal(unquoteCookieValue('"ab\\\\"'), 'ab\\')
  t.equal(unquoteCookieValue('"a\\'), '"a\\', 'not quoted: kept verbatim')
  t.equal(unquoteCookieValue('"x\\"'), 'x\\')
  t.equal(unquoteCookieValue('"x\\1"'), 'x1', 'a short octal is a plain escape')
  for (const value of ['', 'x', 'a"b', '{"a": 1, "b": "c;d\\\\e"}', '\x00\xff']) {
    t.equal(unquoteCookieValue(quoteCookieValue(value)), value, `round trip of ${JSON.stringify(value)}`)
  }
})

t.test('findCookie finds only our cookie; the last one wins', async (t) => {
  t.equal(findCookie(undefined, 'S'), undefined)
  t.equal(findCookie('', 'S'), undefined)
  t.equal(findCookie('S=1', 'S'), '1')
  t.equal(findCookie('a=1; S=2; b=3', 'S'), '2')
  t.equal(findCookie('S=1; S=2', 'S'), '2', 'duplicate names: the last wins, as in aiohttp')
  t.equal(findCookie('XS=1; S_=2', 'S'), undefined, 'names that merely contain ours do not match')
  t.equal(findCookie('a="S=1"', 'S'), undefined, 'our name inside another value does not match')
  t.equal(findCookie('a=x S=1', 'S'), undefined, 'a name must start a pair')
  t.equal(findCookie('a=1;S=2', 'S'), '2', 'no space after the separator')
  t.equal(findCookie('a=1;\t S=2 ', 'S'), '2', 'whitespace around the value is trimmed')
  t.equal(findCookie('x={"k": 1}; S="v\\054w"; y', 'S'), '"v\\054w"', 'a malformed cookie elsewhere does not hide ours')
  t.equal(findCookie('S=', 'S'), '')
})

t.test('formatExpires writes aiohttp\'s date format', async (t) => {
  t.equal(formatExpires(1700000000 + 3600), 'Tue, 14-Nov-2023 23:13:20 GMT')
  t.equal(formatExpires(0), 'Thu, 01-Jan-1970 00:00:00 GMT')
  t.equal(formatExpires(1709251199), 'Thu, 29-Feb-2024 23:59:59 GMT')
})

t.test('SetCookieBuilder uses Python Morsel attribute order', async (t) => {
  const full = new SetCookieBuilder('S', { domain: 'example.com', path: '/app', secure: true, httpOnly: true, sameSite: 'Lax', partitioned: true })
  const pair = full.pair('v')
  t.equal(pair, 'S=v')
  t.equal(full.build(pair, 3600, 1700000000),
    'S=v; Domain=example.com; expires=Tue, 14-Nov-2023 23:13:20 GMT; HttpOnly; Max-Age=3600; Path=/app; SameSite=Lax; Secure; Partitioned')
  t.equal(full.build(pair, undefined, 1700000000), 'S=v; Domain=example.com; HttpOnly; Path=/app; SameSite=Lax; Secure; Partitioned')
  t.equal(full.deletion(),
    'S=""; Domain=example.com; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path=/app; SameSite=Lax; Secure; Partitioned',
    'the deletion cookie keeps the attributes browsers need to match the cookie')
  const bare = new SetCookieBuilder('S', { domain: undefined, path: '/', secure: false, httpOnly: false, sameSite: undefined, partitioned: false })
  t.equal(bare.build(bare.pair('v'), undefined, 0), 'S=v; Path=/')
  t.equal(bare.deletion(), 'S=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/')
})

t.test('property: quoting and unquoting follow Python\'s http.cookies, and round-trip', async (t) => {
  fc.assert(fc.property(cookieText, (value) => {
    const quoted = quoteCookieValue(value)
    assert.equal(quoted, pythonQuote(value), 'quote as Python does')
    assert.equal(unquoteCookieValue(quoted), value, 'and back')
    assert.equal(unquoteCookieValue(value), pythonUnquote(value), 'unquote any text as Python does')
    const wrapped = '"' + value + '"'
    assert.equal(unquoteCookieValue(wrapped), pythonUnquote(wrapped), 'in quotes too')
  }), propertyOptions(5))
  t.equal(unquoteCookieValue('"a\\\nb"'), 'a\\\nb', 'a backslash before a newline stays, as in Python (its `.` skips newlines)')
  t.equal(unquoteCookieValue('"a\\\rb"'), 'a\rb', 'before any other character it goes')
})

t.test('property: findCookie on any header never throws and finds the last of our cookies', async (t) => {
  const name = 'AIOHTTP_SESSION'
  const headerUnit = fc.oneof(
    fc.constantFrom(';', '; ', ';\t', ' ', '\t', '=', '"', name, `${name}=`, 'X' + name, `${name}_`, '\u00a0', '\n'),
    cookieUnit
  )
  const ours = fc.tuple(fc.constantFrom('', ' ', '\t '), fc.string({ unit: fc.constantFrom('a', 'b', '"', '=', ' ', '\\', '\u00e9'), maxLength: 8 }))
    .map(([space, value]) => `${space}${name}=${value}`)
  const piece = fc.oneof(fc.string({ unit: headerUnit, maxLength: 12 }), ours, fc.constantFrom('other=1', 'x="AIOHTTP_SESSION=forged"', '', `${name}`))
  const header = fc.oneof(
    fc.array(piece, { maxLength: 6 }).map((pieces) => pieces.join(';')),
    fc.string({ unit: headerUnit, maxLength: 40 })
  )
  let found = 0
  fc.assert(fc.property(header, (text) => {
    const value = findCookie(text, name)
    assert.equal(value, lastCookieValue(text, name), JSON.stringify(text))
    if (value !== undefined) found++
  }), propertyOptions(5))
  t.ok(found > 0, `${found} headers held our cookie`)
  t.equal(findCookie(undefined, name), undefined)
})
