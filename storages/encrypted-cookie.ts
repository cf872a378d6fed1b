import { nowSeconds } from '../lib/clock.js'
import { CookieStorage, openedText } from '../lib/storage/cookie-storage.js'
import type { CookieStorageOptions, OpenedCookie } from '../lib/storage/cookie-storage.js'
import { Fernet } from '../lib/crypto/fernet.js'
import { normalizeKeys } from '../lib/crypto/keys.js'
import type { SecretKeys } from '../lib/crypto/keys.js'
import type { LoadFailure } from '../lib/load-failure.js'

/**
 * Keeps the session in the cookie as a Fernet token (AES-128-CBC + HMAC-SHA256),
 * exactly as aiohttp-session's `EncryptedCookieStorage` does. With `maxAge`, the
 * token's own timestamp is checked too (Fernet ttl), besides the envelope's `created`.
 *
 * `key`: 32 bytes, their url-safe base64 text (a Fernet key), or an array of those
 * for rotation: the first encrypts, all decrypt, and a cookie opened by an older key
 * is re-issued under the first.
 */
export class EncryptedCookieStorage extends CookieStorage {
  readonly #fernet: Fernet

  constructor (key: SecretKeys, options: CookieStorageOptions = {}) {
    super(options)
    this.#fernet = new Fernet(normalizeKeys(key, 'EncryptedCookieStorage'))
  }

  protected openCookie (value: string): OpenedCookie | LoadFailure {
    return openedText(this.#fernet.decrypt(value, this.maxAge, nowSeconds()))
  }

  protected sealCookie (text: string): string {
    return this.#fernet.encrypt(Buffer.from(text, 'utf8'), nowSeconds())
  }
}
