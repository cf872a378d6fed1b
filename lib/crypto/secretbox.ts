import type { Decrypted } from './decrypted.js'
import type { LoadFailure } from '../load-failure.js'
import { randomFill } from './random.js'

/** The part of sodium-native this package uses (an optional peer: the storage that needs it loads it). */
export interface Sodium {
  crypto_secretbox_NONCEBYTES: number
  crypto_secretbox_MACBYTES: number
  crypto_secretbox_KEYBYTES: number
  crypto_secretbox_easy (ciphertext: Buffer, message: Buffer, nonce: Buffer, key: Buffer): void
  crypto_secretbox_open_easy (message: Buffer, ciphertext: Buffer, nonce: Buffer, key: Buffer): boolean
  randombytes_buf (buffer: Buffer): void
  sodium_malloc (size: number): Buffer
}

/** Standard padded base64 (PyNaCl's Base64Encoder). */
const BOX_TEXT = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * PyNaCl's `SecretBox.encrypt` framing over libsodium (sodium-native):
 * standard base64 of `nonce (24) ‖ Poly1305 tag (16) ‖ XSalsa20 ciphertext`.
 */
export class SecretBox {
  readonly #sodium: Sodium
  readonly #keys: Buffer[]

  /** `keys`: 32-byte keys, the first used to seal, all tried to open; `sodium`: sodium-native. */
  constructor (keys: readonly Buffer[], sodium: Sodium) {
    this.#sodium = sodium
    // Keep keys in libsodium's guarded memory rather than on the JS heap.
    this.#keys = keys.map((key) => {
      const secure = sodium.sodium_malloc(sodium.crypto_secretbox_KEYBYTES)
      key.copy(secure)
      return secure
    })
  }

  seal (plaintext: Buffer): string {
    const sodium = this.#sodium
    const nonceBytes = sodium.crypto_secretbox_NONCEBYTES
    const box = Buffer.allocUnsafe(nonceBytes + sodium.crypto_secretbox_MACBYTES + plaintext.length)
    const nonce = this.randomNonce(box.subarray(0, nonceBytes))
    sodium.crypto_secretbox_easy(box.subarray(nonceBytes), plaintext, nonce, this.#keys[0] as Buffer)
    return box.toString('base64')
  }

  /** Fills `target` with a random nonce; a seam for tests that reproduce known cookies. */
  protected randomNonce (target: Buffer): Buffer {
    return randomFill(target)
  }

  open (text: string): Decrypted | LoadFailure {
    const sodium = this.#sodium
    if (text.length % 4 !== 0 || !BOX_TEXT.test(text)) return 'not a NaCl box (bad base64)'
    const box = Buffer.from(text, 'base64')
    const nonceBytes = sodium.crypto_secretbox_NONCEBYTES
    if (box.length < nonceBytes + sodium.crypto_secretbox_MACBYTES) return 'not a NaCl box (too short)'
    const nonce = box.subarray(0, nonceBytes)
    const sealed = box.subarray(nonceBytes)
    const plaintext = Buffer.allocUnsafe(sealed.length - sodium.crypto_secretbox_MACBYTES)
    const keyIndex = this.#keys.findIndex((key) => sodium.crypto_secretbox_open_easy(plaintext, sealed, nonce, key))
    if (keyIndex === -1) return 'authentication failed (wrong key or tampered cookie)'
    return { plaintext, keyIndex }
  }
}
