/**
 * The session envelope as text, member by member: what lets a save write back the
 * keys a request did not change as the exact JSON text they were read as.
 *
 * `JSON.parse` turns Python's `1.0` into `1` and rounds integers above 2^53
 * (`18446744073709551616`, a 64-bit id), so re-encoding a value that was only read
 * corrupts it for the Python side. The scanner keeps each top-level member of
 * `session` as its raw text; the writer puts raw texts back into an envelope.
 */
import { EMPTY } from '../load-failure.js'
import type { LoadFailure } from '../load-failure.js'
import { TOO_DEEP } from './envelope.js'
import { MAX_JSON_DEPTH } from './json-value.js'

/** An envelope read as text: `created` and the raw JSON text of each member of `session`. */
export interface RawEnvelope {
  /** `created` as stored, or undefined when the envelope has none (the caller then uses now, as aiohttp does). */
  created: number | undefined
  /**
   * Each top-level key of `session`, decoded as `JSON.parse` decodes it, with the exact
   * text of its value (whitespace inside kept, around it trimmed). For a key written
   * twice the last value wins, at the position of its first appearance: what a JSON
   * object (and a Python dict) does. Order is the text's order, integer-like keys included.
   */
  members: Map<string, string>
}

const QUOTE = 0x22
const COMMA = 0x2c
const MINUS = 0x2d
const POINT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const COLON = 0x3a
const OPEN_BRACKET = 0x5b
const BACKSLASH = 0x5c
const CLOSE_BRACKET = 0x5d
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/** The characters a backslash may escape in JSON, besides `u`: `" \ / b f n r t`. */
const SHORT_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74])

/** Bare words JSON allows, plus the ones Python's `json.dumps` writes for non-finite floats. */
const WORDS = ['true', 'false', 'null', 'NaN', 'Infinity']

/** What the scanner expects next. */
const VALUE = 0
const KEY = 1
const AFTER_VALUE = 2

/**
 * Reads envelope text (`{"created": N, "session": {...}}`) and returns `created` and
 * the raw text of each member of `session`, or why the text is not such an envelope.
 *
 * It accepts exactly what the default decoder accepts (`JSON.parse` plus Python's bare
 * `NaN`, `Infinity` and `-Infinity`) and judges the shape as `readEnvelope` does, in
 * the same order: 'not JSON', 'not an object', 'empty' (`{}`, aiohttp's empty or
 * invalidated session), 'created is not an integer', 'session is not an object',
 * then TOO_DEEP for a member of `session` nested deeper than `set()` accepts.
 * Duplicate keys resolve as in `JSON.parse`, at both levels: the last one wins.
 *
 * One pass over the text, with an explicit stack of open containers instead of
 * recursion (a 100,000-deep value must not overflow the call stack) and no regular
 * expressions (nothing to backtrack): linear in the text's length.
 */
export function scanEnvelope (text: string): RawEnvelope | LoadFailure {
  // One entry per open container: true for an object, false for an array.
  const containers: boolean[] = []
  let rootIsObject = false
  let rootMemberCount = 0
  let rootKey = ''
  let rootValueStart = 0
  let createdText: string | undefined
  // The members of the `session` value being read, while it is an object.
  let reading: Map<string, string> | undefined
  let memberKey = ''
  let memberValueStart = 0
  // The last `session` member's result: its members, null when it is not an object.
  let session: Map<string, string> | null | undefined
  // Whether a member of the `session` being read, or of the last one read, is too deep.
  let readingTooDeep = false
  let sessionTooDeep = false

  let index = skipWhitespace(text, 0)
  let expecting = VALUE
  for (;;) {
    const depth = containers.length
    if (expecting === KEY) {
      if (text.charCodeAt(index) !== QUOTE) return 'not JSON'
      const end = endOfString(text, index)
      if (end < 0) return 'not JSON'
      if (depth === 1) {
        rootKey = decodeKey(text, index, end)
        rootMemberCount++
      } else if (depth === 2 && reading !== undefined) {
        memberKey = decodeKey(text, index, end)
      }
      index = skipWhitespace(text, end)
      if (text.charCodeAt(index) !== COLON) return 'not JSON'
      index = skipWhitespace(text, index + 1)
      expecting = VALUE
    } else if (expecting === VALUE) {
      if (depth === 1) rootValueStart = index
      else if (depth === 2) memberValueStart = index
      const code = text.charCodeAt(index)
      if (code === OPEN_BRACE || code === OPEN_BRACKET) {
        const isObject = code === OPEN_BRACE
        if (depth === 0) rootIsObject = isObject
        if (depth === 1 && rootKey === 'session' && isObject) reading = new Map()
        // The root and `session` are two levels; a member may have MAX_JSON_DEPTH more.
        if (depth === MAX_JSON_DEPTH + 2 && reading !== undefined) readingTooDeep = true
        containers.push(isObject)
        index = skipWhitespace(text, index + 1)
        if (text.charCodeAt(index) === (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
          containers.pop()
          index++
          expecting = AFTER_VALUE
        } else {
          expecting = isObject ? KEY : VALUE
        }
        continue
      }
      index = code === QUOTE ? endOfString(text, index) : endOfScalar(text, index)
      if (index < 0) return 'not JSON'
      expecting = AFTER_VALUE
    } else {
      // A value ended just before `index`, at this depth.
      if (depth === 0) {
        if (skipWhitespace(text, index) !== text.length) return 'not JSON'
        break
      }
      if (depth === 1) {
        if (rootKey === 'created') createdText = text.slice(rootValueStart, index)
        else if (rootKey === 'session') {
          session = reading ?? null
          sessionTooDeep = readingTooDeep
          reading = undefined
          readingTooDeep = false
        }
      } else if (depth === 2 && reading !== undefined) {
        reading.set(memberKey, text.slice(memberValueStart, index))
      }
      index = skipWhitespace(text, index)
      const code = text.charCodeAt(index)
      const inObject = containers[depth - 1] as boolean
      if (code === COMMA) {
        index = skipWhitespace(text, index + 1)
        expecting = inObject ? KEY : VALUE
      } else if (code === (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        containers.pop()
        index++
      } else {
        return 'not JSON'
      }
    }
  }

  if (!rootIsObject) return 'not an object'
  if (rootMemberCount === 0) return EMPTY
  const created = createdText === undefined ? undefined : numberOf(createdText)
  if (created !== undefined && !Number.isSafeInteger(created)) return 'created is not an integer'
  if (session === undefined || session === null) return 'session is not an object'
  if (sessionTooDeep) return TOO_DEEP
  return { created, members: session }
}

/**
 * Compact envelope text from `created` and `[key, raw value text]` members, in the
 * order given: `{"created":N,"session":{"k":<raw>,...}}`. Keys are written by
 * `JSON.stringify`; each raw text must be one complete JSON value (from
 * `scanEnvelope`, or `JSON.stringify(value)`), and is written as it is.
 *
 * For raw texts that are `JSON.stringify(value)`, the result is byte for byte
 * `JSON.stringify({ created, session })` of an object with the same members in the
 * same order. The order is the caller's (a Map's insertion order), not the one a
 * JavaScript object would impose: an object lists integer-like keys ("2", "10") first,
 * in numeric order, while Python's dict, and so aiohttp-session, keeps insertion order;
 * following the given order keeps a Python session's member order as it was.
 * An empty session is written as `{}` by aiohttp-session: that is the caller's choice.
 */
export function writeEnvelope (created: number, members: Iterable<readonly [string, string]>): string {
  let text = '{"created":' + JSON.stringify(created) + ',"session":{'
  let separator = ''
  for (const [key, raw] of members) {
    text += separator + JSON.stringify(key) + ':' + raw
    separator = ','
  }
  return text + '}}'
}

/** The index of the first character at or after `index` that is not JSON whitespace. */
export function skipWhitespace (text: string, index: number): number {
  for (; index < text.length; index++) {
    const code = text.charCodeAt(index)
    // JSON's four whitespace characters; anything else (a BOM, U+00A0) is not JSON.
    if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break
  }
  return index
}

/** The index just after the string literal that starts at `index`, or -1 when it is not valid JSON. */
export function endOfString (text: string, index: number): number {
  for (index++; index < text.length;) {
    const code = text.charCodeAt(index)
    if (code === QUOTE) return index + 1
    if (code === BACKSLASH) {
      const escaped = text.charCodeAt(index + 1)
      if (escaped === 0x75) { // \uXXXX
        if (!isHex(text.charCodeAt(index + 2)) || !isHex(text.charCodeAt(index + 3)) ||
          !isHex(text.charCodeAt(index + 4)) || !isHex(text.charCodeAt(index + 5))) return -1
        index += 6
      } else if (SHORT_ESCAPES.has(escaped)) {
        index += 2
      } else {
        return -1
      }
    } else if (code < 0x20) {
      return -1 // control characters must be escaped inside JSON strings
    } else {
      index++
    }
  }
  return -1
}

/** The index just after the number or bare word that starts at `index`, or -1. */
export function endOfScalar (text: string, index: number): number {
  for (const word of WORDS) {
    if (text.startsWith(word, index)) return index + word.length
  }
  if (text.charCodeAt(index) === MINUS) {
    index++
    if (text.startsWith('Infinity', index)) return index + 'Infinity'.length
  }
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  const first = text.charCodeAt(index)
  if (first === ZERO) index++
  else if (isDigit(first)) index = skipDigits(text, index + 1)
  else return -1
  if (text.charCodeAt(index) === POINT) {
    const end = skipDigits(text, index + 1)
    if (end === index + 1) return -1
    index = end
  }
  const exponent = text.charCodeAt(index)
  if (exponent === 0x65 || exponent === 0x45) {
    index++
    const sign = text.charCodeAt(index)
    if (sign === 0x2b || sign === MINUS) index++
    const end = skipDigits(text, index)
    if (end === index) return -1
    index = end
  }
  return index
}

function skipDigits (text: string, index: number): number {
  while (isDigit(text.charCodeAt(index))) index++
  return index
}

function isDigit (code: number): boolean {
  return code >= ZERO && code <= NINE
}

function isHex (code: number): boolean {
  return isDigit(code) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66)
}

/** A key's string value, decoded exactly as `JSON.parse` decodes it (escapes, lone surrogates). */
function decodeKey (text: string, start: number, end: number): string {
  const inner = text.slice(start + 1, end - 1)
  return inner.includes('\\') ? JSON.parse(text.slice(start, end)) as string : inner
}

/** The number a value's text stands for, or NaN when it is not a number (a string, null, an object). */
function numberOf (raw: string): number {
  const first = raw.charCodeAt(0)
  // Number() reads every JSON number form as JSON.parse does; Python's NaN and ±Infinity are not integers either way.
  return first === MINUS || isDigit(first) ? Number(raw) : Number.NaN
}
