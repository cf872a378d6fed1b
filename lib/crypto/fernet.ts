import { createCipheriv, createDecipheriv, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import type { Cipher, Decipher, KeyObject } from 'node:crypto'
import { EXPIRED } from '../load-failure.js'
import type { LoadFailure } from '../load-failure.js'
import { randomFill } from './random.js'
import type { Decrypted } from './decrypted.js'

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
  /**
   * AES-128-CBC encryption that is never finalised, reused for every token: it carries
   * its chaining block from one token to the next (see `encrypt`).
   */
  chained: Cipher
  /** The last ciphertext block `chained` produced: what it will XOR into the next block. */
  carried: Buffer
  /** AES-128 block decryption, reused for every token (CBC is chained by hand). */
  blocks: Decipher
}

export class Fernet {
  readonly #keys: FernetKey[]

  /** `keys`: 32-byte keys, the first used to encrypt, all tried to decrypt. */
  constructor (keys: readonly Buffer[]) {
    this.#keys = keys.map((key) => {
      const encryption = createSecretKey(key.subarray(16, 32))
      // Creating a cipher per token costs ~1.5 µs; these are made once per key.
      // ECB without padding is stateless per block, so one decipher serves every token.
      const blocks = createDecipheriv('aes-128-ecb', encryption, null).setAutoPadding(false)
      const carried = Buffer.alloc(BLOCK_BYTES)
      const chained = createCipheriv('aes-128-cbc', encryption, carried).setAutoPadding(false)
      return { signing: createSecretKey(key.subarray(0, 16)), chained, carried, blocks }
    })
  }

  /** Encrypts with the first key at time `now` (unix seconds). */
  encrypt (plaintext: Buffer, now: number): string {
    const key = this.#keys[0] as FernetKey
    const padding = BLOCK_BYTES - (plaintext.length % BLOCK_BYTES)
    const paddedLength = plaintext.length + padding
    const token = Buffer.allocUnsafe(HEADER_BYTES + paddedLength + MAC_BYTES)
    token[0] = VERSION
    token.writeUInt32BE(Math.floor(now / 0x100000000), 1)
    token.writeUInt32BE(now >>> 0, 5)
    const iv = this.randomIv(token.subarray(9, HEADER_BYTES))
    // PKCS7 padding, written into the token, which is then encrypted in place.
    const blocks = token.subarray(HEADER_BYTES, HEADER_BYTES + paddedLength)
    plaintext.copy(blocks)
    blocks.fill(padding, plaintext.length)
    // CBC encrypts the first block as AES(P0 ⊕ IV). The reused cipher XORs in the block
    // it carried over from the previous token instead, so that block is folded out and
    // this token's IV folded in: AES((P0 ⊕ IV ⊕ carried) ⊕ carried) = AES(P0 ⊕ IV).
    // The result is exactly standard CBC with this IV (the golden vectors check it).
    for (let index = 0; index < BLOCK_BYTES; index++) {
      blocks[index] = (blocks[index] as number) ^ (iv[index] as number) ^ (key.carried[index] as number)
    }
    const ciphertext = key.chained.update(blocks)
    ciphertext.copy(blocks)
    ciphertext.copy(key.carried, 0, paddedLength - BLOCK_BYTES)
    const macAt = HEADER_BYTES + paddedLength
    hmac(key, token.subarray(0, macAt)).copy(token, macAt)
    const text = token.toString('base64url')
    return text + '=='.slice(0, (4 - (text.length % 4)) % 4)
  }

  /** Fills `target` with a random IV; a seam for tests that reproduce known tokens. */
  protected randomIv (target: Buffer): Buffer {
    return randomFill(target)
  }

  /**
   * Decrypts a token. With `ttl` (seconds), tokens older than `ttl` or more than 60 s in
   * the future are refused, as `Fernet.decrypt(token, ttl)` does. Returns the reason on failure.
   */
  decrypt (token: string, ttl: number | undefined, now: number): Decrypted | LoadFailure {
    if (token.length % 4 !== 0 || !TOKEN_TEXT.test(token)) return 'not a Fernet token (bad base64)'
    const data = Buffer.from(token, 'base64')
    if (data.length < HEADER_BYTES + BLOCK_BYTES + MAC_BYTES || (data.length - HEADER_BYTES - MAC_BYTES) % BLOCK_BYTES !== 0) {
      return 'not a Fernet token (bad length)'
    }
    if (data[0] !== VERSION) return 'not a Fernet token (unknown version)'
    const macAt = data.length - MAC_BYTES
    const keyIndex = this.#keys.findIndex((key) => macMatches(key, data, macAt))
    if (keyIndex === -1) return 'authentication failed (wrong key or tampered cookie)'
    let validity: { validUntil: number, validFrom: number } | undefined
    if (ttl !== undefined) {
      const timestamp = data.readUInt32BE(1) * 0x100000000 + data.readUInt32BE(5)
      validity = { validUntil: timestamp + ttl, validFrom: timestamp - MAX_CLOCK_SKEW }
      if (now > validity.validUntil) return EXPIRED
      if (now < validity.validFrom) return 'the token is from the future'
    }
    const key = this.#keys[keyIndex] as FernetKey
    // CBC: plaintext block i = AES⁻¹(ciphertext block i) XOR ciphertext block i-1 (the IV for
    // the first). The MAC was checked first, so padding errors are no oracle.
    const plaintext = key.blocks.update(data.subarray(HEADER_BYTES, macAt))
    for (let index = 0; index < plaintext.length; index++) plaintext[index] = (plaintext[index] as number) ^ (data[9 + index] as number)
    const padding = plaintext[plaintext.length - 1] as number
    if (padding < 1 || padding > BLOCK_BYTES) return 'the token could not be decrypted'
    for (let index = plaintext.length - padding; index < plaintext.length; index++) {
      if (plaintext[index] !== padding) return 'the token could not be decrypted'
    }
    return { plaintext: plaintext.subarray(0, plaintext.length - padding), keyIndex, ...validity }
  }
}

function hmac (key: FernetKey, data: Buffer): Buffer {
  return createHmac('sha256', key.signing).update(data).digest()
}

function macMatches (key: FernetKey, data: Buffer, macAt: number): boolean {
  return timingSafeEqual(hmac(key, data.subarray(0, macAt)), data.subarray(macAt))
}
