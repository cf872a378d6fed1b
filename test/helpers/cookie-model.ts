/**
 * Models written from Python's `http.cookies` (3.11, what aiohttp uses) and from the
 * Cookie header's grammar, independently of lib/wire/cookie.ts: the oracles of the
 * codec's property tests. test/interop/cookie-codec.test.ts checks them against the
 * real Python.
 */
import fc from 'fast-check'
import { anyUnit } from './json-data.js'

/** Cookie-value text: latin1 (what Python escapes as \ooo), quotes, backslashes, octal-looking digits, newlines. */
export const cookieUnit = fc.oneof(
  fc.constantFrom('"', '\\', '0', '1', '3', '4', '7', '8', '\n', '\r', '\u2028', ';', ' ', 'a'),
  fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code)),
  anyUnit
)
export const cookieText = fc.string({ unit: cookieUnit, maxLength: 24 })

/** Python's `_LegalChars`: written bare. */
const LEGAL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~:"
/** Python's `_UnescapedChars`: literal inside quotes. */
const UNESCAPED = LEGAL + ' ()/<=>?@[]{}'

/** `http.cookies._quote`: bare when every character is legal (and there is one), else quoted with `\"`, `\\` and `\ooo` below 256. */
export function pythonQuote (value: string): string {
  if (value.length > 0 && [...value].every((char) => LEGAL.includes(char))) return value
  let quoted = '"'
  for (const char of value) {
    const code = char.codePointAt(0) as number
    if (char === '"' || char === '\\') quoted += '\\' + char
    else if (code < 256 && !UNESCAPED.includes(char)) quoted += '\\' + code.toString(8).padStart(3, '0')
    else quoted += char
  }
  return quoted + '"'
}

/**
 * `http.cookies._unquote`: a value in double quotes loses them, `\ooo` (first digit
 * 0-3) becomes that character and `\X` becomes X, for any X but a newline (Python's
 * `.` does not match one); anything else is returned as it is.
 */
export function pythonUnquote (value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value
  // [^\n], not `.`: JavaScript's dot also skips \r, U+2028 and U+2029.
  return value.slice(1, -1).replace(/\\(?:([0-3][0-7][0-7])|([^\n]))/g, (_escape, octal: string | undefined, other: string | undefined) =>
    octal !== undefined ? String.fromCharCode(parseInt(octal, 8)) : other as string)
}

/**
 * The value of the last `name=value` pair of a Cookie header, trimmed, or undefined:
 * the header split at every `;`, each part's leading spaces and tabs skipped.
 */
export function lastCookieValue (header: string, name: string): string | undefined {
  let found: string | undefined
  for (const part of header.split(';')) {
    const start = part.length - part.replace(/^[ \t]*/, '').length
    if (part.startsWith(name + '=', start)) found = part.slice(start + name.length + 1).trim()
  }
  return found
}
