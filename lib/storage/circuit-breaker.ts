/**
 * A circuit breaker for the session store: after `failureThreshold` store failures in a
 * row it stops sending anything to the store for `coolDown` milliseconds, then lets one
 * request through to see whether the store is back.
 *
 * Why: with the store blackholed (connections open, nothing answered) each request
 * waits the whole timeout before its 503, and the command it handed to the client stays
 * queued in the client after our timeout fired (ioredis keeps it until the reply or the
 * end of the connection: replies come in order, so a sent command cannot be forgotten).
 * Without a breaker that queue grows with the request rate for as long as the partition
 * lasts, and every queued write is replayed when it heals. With it, an open breaker
 * hands the client nothing, the requests fail at once, and the queue is bounded by what
 * was sent before it opened plus one probe per cool-down.
 *
 * States: `closed` (everything goes through; consecutive failures are counted), `open`
 * (everything is refused until the cool-down is over), `half-open` (the first caller
 * after the cool-down is the probe; the others are refused while it is out). The
 * probe's success closes the breaker, its failure opens it again.
 *
 * Pure: no timers, no I/O, no logging. Time comes from the `now` it is given (in
 * milliseconds); each method returns the state change it caused, if any, for the caller
 * to log.
 */

export type CircuitState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerOptions {
  /** Consecutive failures (timeouts, connection errors, server errors) that open the breaker. */
  readonly failureThreshold: number
  /** Milliseconds the breaker stays open before it lets a probe through. */
  readonly coolDown: number
  /**
   * Milliseconds a probe can be out at most (the store operation's timeout): callers
   * refused while it is out are told to come back after that.
   */
  readonly probeTimeout: number
  /** The clock, in milliseconds. */
  readonly now: () => number
}

/** Leave to run one store operation; its outcome must be reported once, with `succeeded` or `failed`. */
export interface Permit {
  /** The period the permit was given in: outcomes of permits from an earlier period are not counted. */
  readonly period: number
  readonly probe: boolean
}

/** Why an operation may not run now, and until when (`now` milliseconds) asking again is pointless. */
export interface Refusal {
  /** `open`: cooling down; `probing`: half-open, another request is the probe. */
  readonly reason: 'open' | 'probing'
  readonly until: number
  /** The consecutive failures that opened the breaker. */
  readonly failures: number
}

/** A transition, for the caller to log once. */
export interface StateChange {
  readonly from: CircuitState
  readonly to: CircuitState
  /** When opening: until when it stays open. */
  readonly until?: number
  /** When opening: the consecutive failures that opened it (1 when a probe failed). */
  readonly failures?: number
}

/** What `admit` answers: a permit (and the state change taking it caused, if any), or a refusal. */
export type Admission = { readonly permit: Permit, readonly change?: StateChange } | { readonly refusal: Refusal }

export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions
  #state: CircuitState = 'closed'
  /** Bumped on every transition, so that late outcomes of an earlier period are ignored. */
  #period = 0
  /** Consecutive failures in the current closed period. */
  #failures = 0
  /** The failures that opened the breaker, for refusals. */
  #openedAfter = 0
  #openedAt = 0
  #openUntil = 0
  #probeSince = 0

  constructor (options: CircuitBreakerOptions) {
    this.#options = options
  }

  get state (): CircuitState {
    return this.#state
  }

  /** Asks to run one operation: a permit, or a refusal; and the state change this caused (open to half-open). */
  admit (): Admission {
    if (this.#state === 'closed') return { permit: { period: this.#period, probe: false } }
    const now = this.#options.now()
    if (this.#state === 'half-open') {
      return { refusal: { reason: 'probing', until: this.#probeSince + this.#options.probeTimeout, failures: this.#openedAfter } }
    }
    // A clock set back past the moment the breaker opened ends the cool-down too: it
    // must never keep the store shut for longer than the cool-down it was given.
    if (now < this.#openUntil && now >= this.#openedAt) {
      return { refusal: { reason: 'open', until: this.#openUntil, failures: this.#openedAfter } }
    }
    this.#probeSince = now
    const change = this.#move('half-open')
    return { permit: { period: this.#period, probe: true }, change }
  }

  /** The store answered: closes a half-open breaker, and ends a run of failures. */
  succeeded (permit: Permit): StateChange | undefined {
    if (permit.period !== this.#period) return undefined
    if (permit.probe) return this.#move('closed')
    this.#failures = 0
    return undefined
  }

  /** The store failed or did not answer in time: may open the breaker. */
  failed (permit: Permit): StateChange | undefined {
    if (permit.period !== this.#period) return undefined
    if (permit.probe) return this.#open(1)
    this.#failures++
    return this.#failures >= this.#options.failureThreshold ? this.#open(this.#failures) : undefined
  }

  #open (failures: number): StateChange {
    const now = this.#options.now()
    this.#openedAt = now
    this.#openUntil = now + this.#options.coolDown
    this.#openedAfter = failures
    return { ...this.#move('open'), until: this.#openUntil, failures }
  }

  #move (to: CircuitState): StateChange {
    const from = this.#state
    this.#state = to
    this.#period++
    this.#failures = 0
    return { from, to }
  }
}
