import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomFillSync, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { OpenedBytes } from './cookie-storage.js'

/**
 * Fernet (https://github.com/fernet/spec), as Python's `cryptography` implements it:
 * base64url-with-padding of `0x80 ‖ timestamp (u64 BE) ‖ IV (16) ‖ AES-128-CBC(PKCS7) ‖ HMAC-SHA256 (32)`.
 * Bytes 0–15 of the key sign, bytes 16–31 encrypt.
 */

const VERSION = 0x80
const HEADER_BYTES = 1 + 8 + 16
const MAC_BYTES = 32
const BLOCK_BYTES = 16
/** cryptography's `_MAX_CLOCK_SKEW`: tokens from up to 60 s in the future are accepted. */
export const MAX_CLOCK_SKEW = 60
/** Padded base64, url-safe or standard alphabet (Python's decoder accepts both). */
const TOKEN_TEXT = /^[A-Za-z0-9\-_+/]+={0,2}$/

interface FernetKey {
  signing: KeyObject
  encryption: KeyObject
}

export class Fernet {
  readonly #keys: FernetKey[]

  /** `keys`: 32-byte keys, the first used to encrypt, all tried to decrypt. */
  constructor (keys: readonly Buffer[]) {
    this.#keys = keys.map((key) => ({
      signing: createSecretKey(key.subarray(0, 16)),
      encryption: createSecretKey(key.subarray(16, 32))
    }))
  }

  /** Encrypts with the first key at time `now` (unix seconds). */
  encrypt (plaintext: Buffer, now: number): string {
    const key = this.#keys[0] as FernetKey
    const paddedLength = (Math.floor(plaintext.length / BLOCK_BYTES) + 1) * BLOCK_BYTES
    const token = Buffer.allocUnsafe(HEADER_BYTES + paddedLength + MAC_BYTES)
    token[0] = VERSION
    token.writeUInt32BE(Math.floor(now / 0x100000000), 1)
    token.writeUInt32BE(now >>> 0, 5)
    const iv = this.randomIv(token.subarray(9, HEADER_BYTES))
    const cipher = createCipheriv('aes-128-cbc', key.encryption, iv)
    const written = cipher.update(plaintext).copy(token, HEADER_BYTES)
    cipher.final().copy(token, HEADER_BYTES + written)
    const macAt = HEADER_BYTES + paddedLength
    createHmac('sha256', key.signing).update(token.subarray(0, macAt)).digest().copy(token, macAt)
    const text = token.toString('base64url')
    return text + '=='.slice(0, (4 - (text.length % 4)) % 4)
  }

  /** Fills `target` with a random IV; a seam for tests that reproduce known tokens. */
  protected randomIv (target: Buffer): Buffer {
    return randomFillSync(target)
  }

  /**
   * Decrypts a token. With `ttl` (seconds), tokens older than `ttl` or more than 60 s in
   * the future are refused, as `Fernet.decrypt(token, ttl)` does. Returns the reason on failure.
   */
  decrypt (token: string, ttl: number | undefined, now: number): OpenedBytes | string {
    if (token.length % 4 !== 0 || !TOKEN_TEXT.test(token)) return 'not a Fernet token (bad base64)'
    const data = Buffer.from(token, 'base64')
    if (data.length < HEADER_BYTES + BLOCK_BYTES + MAC_BYTES || (data.length - HEADER_BYTES - MAC_BYTES) % BLOCK_BYTES !== 0) {
      return 'not a Fernet token (bad length)'
    }
    if (data[0] !== VERSION) return 'not a Fernet token (unknown version)'
    const macAt = data.length - MAC_BYTES
    const keyIndex = this.#keys.findIndex((key) => macMatches(key.signing, data, macAt))
    if (keyIndex === -1) return 'authentication failed (wrong key or tampered cookie)'
    if (ttl !== undefined) {
      const timestamp = data.readUInt32BE(1) * 0x100000000 + data.readUInt32BE(5)
      if (timestamp + ttl < now) return 'expired'
      if (now + MAX_CLOCK_SKEW < timestamp) return 'the token is from the future'
    }
    const key = this.#keys[keyIndex] as FernetKey
    try {
      const decipher = createDecipheriv('aes-128-cbc', key.encryption, data.subarray(9, HEADER_BYTES))
      const ciphertext = data.subarray(HEADER_BYTES, macAt)
      return { plaintext: Buffer.concat([decipher.update(ciphertext), decipher.final()]), keyIndex }
    } catch {
      // Only reachable with a valid MAC, i.e. a token made with our key but bad padding.
      return 'the token could not be decrypted'
    }
  }
}

function macMatches (signing: KeyObject, data: Buffer, macAt: number): boolean {
  const expected = createHmac('sha256', signing).update(data.subarray(0, macAt)).digest()
  return timingSafeEqual(expected, data.subarray(macAt))
}
