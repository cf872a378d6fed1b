/**
 * Cookie codec compatible with Python's `http.cookies` (what aiohttp uses): values are
 * written bare or in Python's quoted form, and read back whichever form they come in.
 * We never percent-encode (Python would not decode it) and never parse the whole
 * Cookie header: we only look for our own cookie.
 */

/** Characters Python writes bare (a regex character class body). */
const BARE_CHARACTERS = "A-Za-z0-9!#$%&'*+\\-.^_`|~:"

/** Characters Python leaves literal inside quotes, besides the bare ones. */
const LITERAL_IN_QUOTES = ' ()/<=>?@[]{}'

/** A value made only of bare characters is not quoted. */
const BARE_VALUE = new RegExp(`^[${BARE_CHARACTERS}]+$`)

/** Values Python quotes without escaping anything. */
const QUOTED_AS_IS = new RegExp(`^[${BARE_CHARACTERS}${LITERAL_IN_QUOTES.replace(/[[\]]/g, '\\$&')}]*$`)

/** Cookie names: an RFC 6265 token (what browsers and Python's Morsel accept). */
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

function isLiteralInQuotes (code: number): boolean {
  const char = String.fromCharCode(code)
  return BARE_VALUE.test(char) || LITERAL_IN_QUOTES.includes(char)
}

/** Escapes Python's `_quote` uses, for the 256 code points it translates. */
const QUOTE_ESCAPES: readonly string[] = Array.from({ length: 256 }, (_, code) => {
  if (code === 0x22) return '\\"'
  if (code === 0x5c) return '\\\\'
  if (isLiteralInQuotes(code)) return String.fromCharCode(code)
  return '\\' + code.toString(8).padStart(3, '0')
})

/** Python `http.cookies._quote`: bare when possible, else `"…"` with `\"`, `\\` and `\ooo`. */
export function quoteCookieValue (value: string): string {
  if (BARE_VALUE.test(value)) return value
  // Base64 cookies (NaCl, Fernet) hold '/', '+' or '=': quoted, but nothing to escape.
  if (QUOTED_AS_IS.test(value)) return '"' + value + '"'
  let quoted = '"'
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index)
    // Above 0xff Python leaves characters as they are; our storages never write them.
    quoted += code < 256 ? QUOTE_ESCAPES[code] : value[index]
  }
  return quoted + '"'
}

/**
 * Python `http.cookies._unquote`: strips quotes, decodes `\ooo` (octal) and `\X` for
 * any X but a newline (its pattern's `.` does not match one: the backslash stays).
 */
export function unquoteCookieValue (value: string): string {
  if (value.length < 2 || value.charCodeAt(0) !== 0x22 || value.charCodeAt(value.length - 1) !== 0x22) {
    return value
  }
  const inner = value.slice(1, -1)
  if (!inner.includes('\\')) return inner
  let result = ''
  let index = 0
  while (index < inner.length) {
    const char = inner[index] as string
    if (char !== '\\' || index + 1 >= inner.length || inner.charCodeAt(index + 1) === 0x0a) {
      result += char
      index++
    } else if (isOctalEscape(inner, index)) {
      result += String.fromCharCode(parseInt(inner.slice(index + 1, index + 4), 8))
      index += 4
    } else {
      result += inner[index + 1]
      index += 2
    }
  }
  return result
}

function isOctalEscape (text: string, at: number): boolean {
  const first = text.charCodeAt(at + 1)
  const second = text.charCodeAt(at + 2)
  const third = text.charCodeAt(at + 3)
  return first >= 0x30 && first <= 0x33 &&
    second >= 0x30 && second <= 0x37 &&
    third >= 0x30 && third <= 0x37
}

/**
 * The raw value of cookie `name` in a Cookie header, or undefined. When the name
 * appears more than once the last one wins, as in aiohttp. Only our cookie is looked
 * at, so a malformed cookie elsewhere in the header cannot hide it.
 */
export function findCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  const needle = name + '='
  let found: string | undefined
  let from = 0
  for (;;) {
    const at = header.indexOf(needle, from)
    if (at === -1) return found
    if (startsPair(header, at)) {
      const start = at + needle.length
      const end = header.indexOf(';', start)
      found = header.slice(start, end === -1 ? header.length : end).trim()
    }
    from = at + needle.length
  }
}

/** True when position `at` begins a `name=value` pair (start of header or after `;`). */
function startsPair (header: string, at: number): boolean {
  let index = at - 1
  while (index >= 0) {
    const code = header.charCodeAt(index)
    if (code === 0x3b) return true
    if (code !== 0x20 && code !== 0x09) return false
    index--
  }
  return true
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

function pad2 (value: number): string {
  return value < 10 ? '0' + value : String(value)
}

/** The `expires` date as aiohttp writes it: `Tue, 14-Nov-2023 23:13:20 GMT`. */
export function formatExpires (unixSeconds: number): string {
  const date = new Date(unixSeconds * 1000)
  return `${DAYS[date.getUTCDay()]}, ${pad2(date.getUTCDate())}-${MONTHS[date.getUTCMonth()]}-` +
    `${date.getUTCFullYear()} ${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())} GMT`
}

/** The date aiohttp's `del_cookie` writes (no hyphens). */
const DELETION_EXPIRES = 'Thu, 01 Jan 1970 00:00:00 GMT'

export type SameSite = 'Strict' | 'Lax' | 'None'

export interface CookieAttributes {
  domain: string | undefined
  path: string
  secure: boolean
  httpOnly: boolean
  sameSite: SameSite | undefined
  partitioned: boolean
}

/**
 * Builds Set-Cookie values in aiohttp's attribute order (Python's Morsel sorts them):
 * `Domain; expires; HttpOnly; Max-Age; Path; SameSite; Secure`, then `Partitioned`.
 * Everything but the value and the expiry is fixed per storage, so it is built once.
 */
export class SetCookieBuilder {
  readonly #prefix: string
  readonly #domain: string
  readonly #httpOnly: string
  readonly #tail: string

  constructor (name: string, attributes: CookieAttributes) {
    this.#prefix = name + '='
    this.#domain = attributes.domain === undefined ? '' : `; Domain=${attributes.domain}`
    this.#httpOnly = attributes.httpOnly ? '; HttpOnly' : ''
    this.#tail = `; Path=${attributes.path}` +
      (attributes.sameSite === undefined ? '' : `; SameSite=${attributes.sameSite}`) +
      (attributes.secure ? '; Secure' : '') +
      (attributes.partitioned ? '; Partitioned' : '')
  }

  /** `name=value`, the part browsers hold to their 4096-byte limit. */
  pair (quotedValue: string): string {
    return this.#prefix + quotedValue
  }

  /** A session cookie; with `maxAge` (seconds) it gets `expires` and `Max-Age`. */
  build (pair: string, maxAge: number | undefined, nowSeconds: number): string {
    if (maxAge === undefined) return pair + this.#domain + this.#httpOnly + this.#tail
    return pair + this.#domain + '; expires=' + this.#expires(nowSeconds + maxAge) + this.#httpOnly +
      '; Max-Age=' + maxAge + this.#tail
  }

  #expiresAt = -1
  #expiresText = ''

  /** formatExpires, once per second rather than once per response. */
  #expires (unixSeconds: number): string {
    if (unixSeconds !== this.#expiresAt) {
      this.#expiresText = formatExpires(unixSeconds)
      this.#expiresAt = unixSeconds
    }
    return this.#expiresText
  }

  /**
   * The deletion cookie. Unlike aiohttp's, it keeps Secure/SameSite/Partitioned: browsers
   * refuse to overwrite a `__Host-`/`__Secure-` or partitioned cookie without them.
   */
  deletion (): string {
    return this.#prefix + '""' + this.#domain + '; expires=' + DELETION_EXPIRES + this.#httpOnly + '; Max-Age=0' + this.#tail
  }
}
