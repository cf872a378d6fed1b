import { CookieStorage, openedText } from '../lib/storage/cookie-storage.js'
import type { CookieStorageOptions, OpenedCookie } from '../lib/storage/cookie-storage.js'
import type { LoadFailure } from '../lib/load-failure.js'
import type { SessionEnvelope } from '../lib/wire/envelope.js'
import { COOKIE_STORAGE_OPTIONS, withDefaults } from '../lib/storage/options.js'
import { UNKEYED_COOKIE_HINTS } from '../lib/storage/option-names.js'
import type { CookieStorageSettings, OptionSchema } from '../lib/storage/options.js'

/**
 * The envelope as Python's `json.dumps` would escape it (`ensure_ascii`): every
 * character outside printable ASCII becomes `\uXXXX`, so the cookie stays ASCII
 * and the Python side reads the same text.
 */
function asciiJson (envelope: SessionEnvelope): string {
  return escapeNonAscii(JSON.stringify(envelope))
}

function escapeNonAscii (json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (char) => '\\u' + char.charCodeAt(0).toString(16).padStart(4, '0'))
}

/**
 * JSON with non-ASCII escaped, as Python writes it, so the cookie is plain ASCII; and no
 * cache: there is nothing to decrypt, nothing worth remembering. A `key` or `secret`
 * given to it is answered with what it is not (signed, encrypted).
 */
const SIMPLE_COOKIE_OPTIONS: OptionSchema<CookieStorageSettings> = {
  ...withDefaults(COOKIE_STORAGE_OPTIONS, { encoder: asciiJson, cacheSize: 0 }),
  hints: UNKEYED_COOKIE_HINTS
}

/**
 * Keeps the session as plain JSON in the cookie, readable **and forgeable** by the
 * client: for tests and local development only (aiohttp-session's
 * `SimpleCookieStorage`). Use EncryptedCookieStorage or NaClCookieStorage otherwise.
 */
export class SimpleCookieStorage extends CookieStorage {
  constructor (options: CookieStorageOptions = {}) {
    super(options)
    if (process.env['NODE_ENV'] === 'production') {
      process.emitWarning('SimpleCookieStorage neither signs nor encrypts: clients can read and forge their sessions. Use it for tests only.', { code: 'FST_SESSIONS_SIMPLE_STORAGE' })
    }
  }

  protected override optionSchema (): OptionSchema<CookieStorageSettings> {
    return SIMPLE_COOKIE_OPTIONS
  }

  /** Members kept as read, the rest escaped to ASCII like the default encoder's output. */
  protected override envelopeText (created: number, members: Iterable<readonly [string, string]>): string {
    return escapeNonAscii(super.envelopeText(created, members))
  }

  protected openCookie (value: string): OpenedCookie | LoadFailure {
    // Header text arrives as latin1; bytes above ASCII are UTF-8 (raw, or \ooo-escaped by Python).
    return isAscii(value) ? { text: value, keyIndex: 0 } : openedText({ plaintext: Buffer.from(value, 'latin1'), keyIndex: 0 })
  }

  protected sealCookie (text: string): string {
    // A custom encoder may emit non-ASCII; send it as UTF-8 bytes (quoted as \ooo).
    return isAscii(text) ? text : Buffer.from(text, 'utf8').toString('latin1')
  }
}

function isAscii (text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text)
}
