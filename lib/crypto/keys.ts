import { randomBytes } from 'node:crypto'
import { SessionConfigError, describeType } from '../errors.js'

/** A 32-byte key, or its url-safe base64 text (a Fernet key, as `generateKey()` returns). */
export type SecretKey = string | Uint8Array

/** One key, or several for rotation: the first seals, every one opens. */
export type SecretKeys = SecretKey | readonly SecretKey[]

const KEY_BYTES = 32
/** Padded base64 of 32 bytes, url-safe (Fernet) or standard alphabet. */
const KEY_TEXT = /^[A-Za-z0-9\-_+/]{43}=$/

/** A new random key: url-safe base64 of 32 bytes with padding (44 characters). */
export function generateKey (): string {
  return randomBytes(KEY_BYTES).toString('base64url') + '='
}

/**
 * Validates and copies keys once, at construction. Error messages say what is
 * expected and what kind of value arrived, never any part of the key itself.
 */
export function normalizeKeys (keys: unknown, storageName: string): Buffer[] {
  const list = Array.isArray(keys) ? keys : [keys]
  if (list.length === 0) throw new SessionConfigError(`${storageName} needs at least one key of 32 bytes (or its url-safe base64 text); got an empty array`)
  return list.map((key: unknown, index) => normalizeKey(key, list.length > 1 ? `${storageName} key #${index + 1}` : `${storageName} key`, storageName))
}

function normalizeKey (key: unknown, what: string, storageName: string): Buffer {
  const expected = `${what} must be 32 bytes (a Buffer or Uint8Array) or their url-safe base64 text with padding (44 characters, as generateKey() and Fernet.generate_key() produce)`
  if (typeof key === 'string') {
    if (KEY_TEXT.test(key)) return Buffer.from(key, 'base64')
    throw new SessionConfigError(`${expected}; got ${describeType(key)}${textHint(key)}`)
  }
  if (key instanceof Uint8Array) {
    if (key.length === KEY_BYTES) return Buffer.from(key)
    const hint = key.length === 44 && KEY_TEXT.test(Buffer.from(key).toString('latin1'))
      ? ' that hold base64 text: pass the text as a string instead'
      : ''
    throw new SessionConfigError(`${expected}; got ${describeType(key)}${hint}`)
  }
  // A plain object is most likely the options, written where the key goes (as
  // `{ key, … }` is written in @fastify/secure-session).
  const hint = describeType(key) === 'a plain object' ? ` (the key comes first, the options second: new ${storageName}(key, { … }))` : ''
  throw new SessionConfigError(`${expected}; got ${describeType(key)}${hint}`)
}

function textHint (key: string): string {
  if (key.length === 43 && /^[A-Za-z0-9\-_+/]+$/.test(key)) return " (the '=' padding is missing)"
  if (key.length === 64 && /^[0-9a-fA-F]+$/.test(key)) return " (hex text: pass Buffer.from(key, 'hex'))"
  return ''
}
