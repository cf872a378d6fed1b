import type { FastifyRequest } from 'fastify'
import { generateKey } from '../../index.js'
import type { StorageOptions } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'

/**
 * An EncryptedCookieStorage that counts the work it does: cookies looked for, opened
 * (decrypted) and sealed (encrypted). Tests reset a count, send a request and read it.
 */
export class CountingStorage extends EncryptedCookieStorage {
  opened = 0
  sealed = 0
  cookieReads = 0

  constructor (options: StorageOptions = {}) {
    super(generateKey(), options)
  }

  override loadCookie (request: FastifyRequest): string | undefined {
    this.cookieReads++
    return super.loadCookie(request)
  }

  protected override openCookie (value: string) {
    this.opened++
    return super.openCookie(value)
  }

  protected override sealCookie (text: string): string {
    this.sealed++
    return super.sealCookie(text)
  }
}
