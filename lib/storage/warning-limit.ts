/**
 * How many "the session cookie was not used" warnings one storage writes per minute.
 * Clients choose what they send: without a limit, anyone sending garbage cookies
 * would decide how fast the logs grow. A burst of this size shows the reasons of a real
 * incident (a wrong key after a deployment, a broken client); past it, the rest of
 * the minute's rejections go to debug, and the next warning says how many did.
 */
export const WARNINGS_PER_MINUTE = 30

const MINUTE_SECONDS = 60

/** What the next warning reports about the ones logged at debug before it. */
export interface SuppressedWarnings {
  /** How many warnings went to debug since the last one logged at warn. */
  suppressedWarnings: number
  /** When the first of them happened (ISO 8601). */
  suppressedSince: string
}

/**
 * Counts one storage's warnings in fixed one-minute windows. It needs no timer: a
 * window ends when a warning arrives a minute or more after the window began, and
 * that warning carries the count of those sent to debug before it.
 */
export class WarningLimit {
  #windowStart = Number.NEGATIVE_INFINITY
  #warned = 0
  #suppressed = 0
  #suppressedSince = 0

  /**
   * Whether a warning at `now` (unix seconds) may be logged at warn: `false` when the
   * minute's quota is spent (log it at debug); otherwise what to add to it, `{}` when
   * nothing was held back before it.
   */
  admit (now: number): SuppressedWarnings | Record<string, never> | false {
    // A clock set back starts a new window too, rather than holding warnings back until
    // it has caught up with the old one.
    if (now - this.#windowStart >= MINUTE_SECONDS || now < this.#windowStart) {
      this.#windowStart = now
      this.#warned = 0
    }
    if (this.#warned === WARNINGS_PER_MINUTE) {
      if (this.#suppressed === 0) this.#suppressedSince = now
      this.#suppressed++
      return false
    }
    this.#warned++
    if (this.#suppressed === 0) return {}
    const report = { suppressedWarnings: this.#suppressed, suppressedSince: new Date(this.#suppressedSince * 1000).toISOString() }
    this.#suppressed = 0
    return report
  }
}
