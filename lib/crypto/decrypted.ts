/** When a decrypted value may be used: a Fernet token's ttl window; unset without a ttl, and for NaCl boxes. */
export interface Validity {
  /** Unix seconds after which the token no longer opens, if any. */
  validUntil?: number | undefined
  /** Unix seconds before which the token does not open (a token from the future), if any. */
  validFrom?: number | undefined
}

/** What a token or box decrypted to, and which key opened it. */
export interface Decrypted extends Validity {
  plaintext: Buffer
  /** 0 for the first (current) key; higher for an older one. */
  keyIndex: number
}
