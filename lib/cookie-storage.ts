import { isUtf8 } from 'node:buffer'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Session } from './session.js'
import { AbstractStorage } from './storage.js'
import type { LoadFailure } from './storage.js'
import { kLoadsSynchronously } from './symbols.js'

/** A cookie value opened by `openCookie`: the envelope text and which key opened it. */
export interface OpenedCookie {
  text: string
  /** 0 for the current key; higher for an older key (the cookie is then re-issued). */
  keyIndex: number
}

/**
 * Base of the storages that keep the whole session in the cookie. Loading is
 * synchronous and needs no I/O, so the plugin defers it to the first use of
 * `request.session`: a route that never looks at the session pays nothing.
 * Cookie storages have no identity: `session.identity` is always null.
 */
export abstract class CookieStorage extends AbstractStorage {
  readonly [kLoadsSynchronously] = true

  /** Turns the cookie value into envelope text, or says why it cannot. */
  protected abstract openCookie (value: string): OpenedCookie | LoadFailure

  /** Turns envelope text into the cookie value. */
  protected abstract sealCookie (text: string): string

  loadSession (request: FastifyRequest): Session {
    const value = this.loadCookie(request)
    if (value === undefined) return this.newSession()
    const opened = this.openCookie(value)
    if (typeof opened === 'string') return this.rejectSession(request, opened)
    const session = this.decodeSession(opened.text)
    if (typeof session === 'string') return this.rejectSession(request, session)
    // Re-issue a cookie sealed by an older key under the current one, so retiring the
    // old key later does not log anybody out.
    if (opened.keyIndex > 0) session.changed()
    return session
  }

  saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): void {
    if (!session.empty) {
      this.saveCookie(reply, this.sealCookie(this.encodeSession(session)), session.maxAge)
    } else if (this.loadCookie(request) !== undefined) {
      // Only a browser that holds the cookie needs to be told to forget it.
      this.deleteCookie(reply)
    }
  }
}

/** Plaintext bytes recovered from a cookie, and which key recovered them. */
export interface OpenedBytes {
  plaintext: Buffer
  keyIndex: number
}

/** Opened bytes as envelope text; invalid UTF-8 is refused, never guessed at. */
export function openedText (opened: OpenedBytes | LoadFailure): OpenedCookie | LoadFailure {
  if (typeof opened === 'string') return opened
  if (!isUtf8(opened.plaintext)) return 'the payload is not valid UTF-8'
  return { text: opened.plaintext.toString('utf8'), keyIndex: opened.keyIndex }
}
