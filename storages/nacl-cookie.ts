import { CookieStorage, openedText } from '../lib/storage/cookie-storage.js'
import type { CookieStorageOptions, OpenedCookie } from '../lib/storage/cookie-storage.js'
import { normalizeKeys } from '../lib/crypto/keys.js'
import type { SecretKeys } from '../lib/crypto/keys.js'
import { SecretBox } from '../lib/crypto/secretbox.js'
import { loadPeer } from '../lib/storage/peer.js'
import type { LoadFailure } from '../lib/load-failure.js'

/**
 * Keeps the session in the cookie as a NaCl secretbox (XSalsa20-Poly1305, via
 * sodium-native, an optional peer dependency), exactly as aiohttp-session's
 * `NaClCookieStorage` does. There is no timestamp in the box: expiry relies on the
 * envelope's `created` and `maxAge`.
 *
 * `key`: 32 bytes, their url-safe base64 text, or an array of those for rotation.
 */
export class NaClCookieStorage extends CookieStorage {
  readonly #box: SecretBox

  constructor (key: SecretKeys, options: CookieStorageOptions = {}) {
    super(options)
    this.#box = new SecretBox(normalizeKeys(key, 'NaClCookieStorage'), loadPeer('sodium-native', 'NaClCookieStorage'))
  }

  protected openCookie (value: string): OpenedCookie | LoadFailure {
    return openedText(this.#box.open(value))
  }

  protected sealCookie (text: string): string {
    return this.#box.seal(Buffer.from(text, 'utf8'))
  }
}
