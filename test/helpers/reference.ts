/**
 * Reference codecs written from the specifications, independently of the library:
 * Fernet from https://github.com/fernet/spec (Spec.md) on node:crypto primitives, and
 * PyNaCl's SecretBox framing on libsodium (sodium-native) called directly. Tests use
 * them to check that our cookies are what another implementation accepts, and to
 * craft tokens our code would never produce.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto'
import sodium from 'sodium-native'

export interface FernetContents {
  timestamp: number
  iv: Buffer
  plaintext: Buffer
}

/** Strict Fernet decoding: padded base64url, version 0x80, valid HMAC, valid PKCS7. */
export function fernetDecrypt (token: string, key: Buffer): FernetContents {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(token) || token.length % 4 !== 0) throw new Error('token is not padded base64url')
  const data = Buffer.from(token, 'base64url')
  if (data[0] !== 0x80) throw new Error('bad version')
  const signed = data.subarray(0, data.length - 32)
  const mac = createHmac('sha256', key.subarray(0, 16)).update(signed).digest()
  if (!timingSafeEqual(mac, data.subarray(data.length - 32))) throw new Error('bad HMAC')
  const iv = data.subarray(9, 25)
  const decipher = createDecipheriv('aes-128-cbc', key.subarray(16, 32), iv)
  const plaintext = Buffer.concat([decipher.update(data.subarray(25, data.length - 32)), decipher.final()])
  return { timestamp: Number(data.readBigUInt64BE(1)), iv, plaintext }
}

/** Fernet encoding with a chosen timestamp and IV; `pad: false` skips PKCS7 (for broken tokens). */
export function fernetEncrypt (plaintext: Buffer, key: Buffer, timestamp: number, iv = Buffer.alloc(16), pad = true): string {
  const cipher = createCipheriv('aes-128-cbc', key.subarray(16, 32), iv)
  cipher.setAutoPadding(pad)
  const header = Buffer.alloc(9)
  header[0] = 0x80
  header.writeBigUInt64BE(BigInt(timestamp), 1)
  const body = Buffer.concat([header, iv, cipher.update(plaintext), cipher.final()])
  const mac = createHmac('sha256', key.subarray(0, 16)).update(body).digest()
  const text = Buffer.concat([body, mac]).toString('base64url')
  return text + '='.repeat((4 - (text.length % 4)) % 4)
}

/** Opens `base64(nonce ‖ secretbox)` with libsodium; throws if it does not authenticate. */
export function naclOpen (text: string, key: Buffer): { nonce: Buffer, plaintext: Buffer } {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error('not padded standard base64')
  const data = Buffer.from(text, 'base64')
  const nonce = data.subarray(0, sodium.crypto_secretbox_NONCEBYTES)
  const box = data.subarray(sodium.crypto_secretbox_NONCEBYTES)
  const plaintext = Buffer.alloc(box.length - sodium.crypto_secretbox_MACBYTES)
  if (!sodium.crypto_secretbox_open_easy(plaintext, box, nonce, key)) throw new Error('secretbox did not authenticate')
  return { nonce, plaintext }
}

/** Seals like PyNaCl `SecretBox(key).encrypt(plaintext, nonce, Base64Encoder)`. */
export function naclSeal (plaintext: Buffer, key: Buffer, nonce = Buffer.alloc(sodium.crypto_secretbox_NONCEBYTES)): string {
  const box = Buffer.alloc(plaintext.length + sodium.crypto_secretbox_MACBYTES)
  sodium.crypto_secretbox_easy(box, plaintext, nonce, key)
  return Buffer.concat([nonce, box]).toString('base64')
}
