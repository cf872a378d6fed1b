import { endOfScalar, endOfString, skipWhitespace } from './raw-envelope.js'

/**
 * `JSON.parse`, also accepting the bare tokens `NaN`, `Infinity` and `-Infinity` that
 * Python's `json.dumps` writes for non-finite floats (its default, `allow_nan=True`),
 * so a session written by aiohttp with such a value is not thrown away. The extra
 * work happens only when `JSON.parse` fails on a text that holds one of those words,
 * so ordinary envelopes pay nothing. (Written back, those values become `null`, as
 * `JSON.stringify` does.) Any other text fails with `JSON.parse`'s SyntaxError.
 */
export function parsePythonJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    // Without one of Python's words JSON.parse's verdict stands: a garbage cookie costs
    // no second pass (`includes` is the engine's own linear search).
    if (!text.includes('NaN') && !text.includes('Infinity')) throw error
    const value = parseJsonWithPythonTokens(text)
    if (value === NOT_JSON) throw error
    return value
  }
}

/** What `parseJsonWithPythonTokens` returns for a text that is not JSON, Python's tokens allowed. */
export const NOT_JSON: unique symbol = Symbol('not JSON')

const QUOTE = 0x22
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/** What the parser expects next. */
const VALUE = 0
const KEY = 1
const AFTER_VALUE = 2

/**
 * Parses JSON that may hold Python's `NaN`, `Infinity` and `-Infinity` where a value
 * belongs (not as keys, not inside strings), and builds what `JSON.parse` would build
 * if JSON had those words: the same numbers, strings decoded the same way, `__proto__`
 * as an own property, the last of duplicate keys winning at the first one's place.
 *
 * A cookie or a record full of such tokens is hostile input, so the cost is bounded
 * by the text's length: one pass with the raw envelope scanner's lexer, an explicit
 * stack of open containers instead of recursion (a 100,000-deep text must not
 * overflow the call stack), no regular expressions, each character read a bounded
 * number of times, and only string literals with escapes handed to `JSON.parse`
 * (each its own text, once).
 */
export function parseJsonWithPythonTokens (text: string): unknown {
  // The open containers, innermost last, and for each open object the key being read.
  const containers: Array<unknown[] | Record<string, unknown>> = []
  const keys: string[] = []
  let value: unknown
  let index = skipWhitespace(text, 0)
  let expecting = VALUE
  for (;;) {
    if (expecting === KEY) {
      if (text.charCodeAt(index) !== QUOTE) return NOT_JSON
      const end = endOfString(text, index)
      if (end < 0) return NOT_JSON
      keys[containers.length - 1] = stringValue(text, index, end)
      index = skipWhitespace(text, end)
      if (text.charCodeAt(index) !== COLON) return NOT_JSON
      index = skipWhitespace(text, index + 1)
      expecting = VALUE
    } else if (expecting === VALUE) {
      const code = text.charCodeAt(index)
      if (code === OPEN_BRACE || code === OPEN_BRACKET) {
        const isObject = code === OPEN_BRACE
        const container = isObject ? {} : []
        index = skipWhitespace(text, index + 1)
        if (text.charCodeAt(index) === (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
          index++
          value = container
          expecting = AFTER_VALUE
        } else {
          containers.push(container)
          expecting = isObject ? KEY : VALUE
        }
        continue
      }
      const end = code === QUOTE ? endOfString(text, index) : endOfScalar(text, index)
      if (end < 0) return NOT_JSON
      value = code === QUOTE ? stringValue(text, index, end) : scalarValue(text.slice(index, end))
      index = end
      expecting = AFTER_VALUE
    } else {
      // `value` ended just before `index`: it belongs to the innermost open container.
      const depth = containers.length
      if (depth === 0) return skipWhitespace(text, index) === text.length ? value : NOT_JSON
      const container = containers[depth - 1] as unknown[] | Record<string, unknown>
      const inArray = Array.isArray(container)
      if (inArray) container.push(value)
      else setMember(container, keys[depth - 1] as string, value)
      index = skipWhitespace(text, index)
      const code = text.charCodeAt(index)
      if (code === COMMA) {
        index = skipWhitespace(text, index + 1)
        expecting = inArray ? VALUE : KEY
      } else if (code === (inArray ? CLOSE_BRACKET : CLOSE_BRACE)) {
        containers.pop()
        index++
        // The closed container is the value that just ended, one level up.
        value = container
      } else {
        return NOT_JSON
      }
    }
  }
}

/** The string a literal (quotes included, already checked) stands for, decoded as `JSON.parse` decodes it. */
function stringValue (text: string, start: number, end: number): string {
  const literal = text.slice(start, end)
  return literal.includes('\\') ? JSON.parse(literal) as string : literal.slice(1, -1)
}

/** The value of a number or bare word the lexer accepted. */
function scalarValue (word: string): unknown {
  switch (word) {
    case 'true': return true
    case 'false': return false
    case 'null': return null
    case 'NaN': return Number.NaN
    case 'Infinity': return Number.POSITIVE_INFINITY
    case '-Infinity': return Number.NEGATIVE_INFINITY
    // The lexer let through only JSON's number grammar, which Number reads as JSON.parse does.
    default: return Number(word)
  }
}

function setMember (object: Record<string, unknown>, key: string, value: unknown): void {
  // JSON.parse makes `__proto__` an own property; assigning it would set the prototype.
  if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true })
  else object[key] = value
}
