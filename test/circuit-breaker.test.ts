/**
 * The circuit breaker alone, on a clock the test moves: closed → open after
 * `failureThreshold` consecutive failures → half-open after `coolDown` → one probe at a
 * time → closed on its success, open again on its failure; late outcomes of an earlier
 * period never count, and a clock set back never prolongs the cool-down.
 */
import t from 'tap'
import { CircuitBreaker } from '../lib/storage/circuit-breaker.js'
import type { Admission, CircuitBreakerOptions, Permit } from '../lib/storage/circuit-breaker.js'

interface Harness {
  breaker: CircuitBreaker
  /** Moves the clock by `ms`. */
  tick (ms: number): void
  readonly now: number
}

function harness (options: Partial<CircuitBreakerOptions> = {}): Harness {
  let now = 1_000_000
  const breaker = new CircuitBreaker({ failureThreshold: 3, coolDown: 5000, probeTimeout: 1000, now: () => now, ...options })
  return { breaker, tick (ms) { now += ms }, get now () { return now } }
}

/** The permit of an admission, failing the test when it was refused. */
function permitOf (admission: Admission): Permit {
  if ('refusal' in admission) throw new Error(`refused: ${JSON.stringify(admission.refusal)}`)
  return admission.permit
}

t.test('closed: everything goes through; a success ends a run of failures', async (t) => {
  const { breaker } = harness()
  t.equal(breaker.state, 'closed')
  t.same(breaker.admit(), { permit: { period: 0, probe: false } }, 'a permit, and no state change')
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined)
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined)
  t.equal(breaker.succeeded(permitOf(breaker.admit())), undefined, 'a success changes no state')
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined)
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined, 'the count started again after the success: 2 of 3')
  t.equal(breaker.state, 'closed')
})

t.test('open after failureThreshold consecutive failures; refused until the cool-down is over', async (t) => {
  const clock = harness()
  const { breaker } = clock
  // Three operations in flight at once, as concurrent requests are.
  const permits = [breaker.admit(), breaker.admit(), breaker.admit()].map(permitOf)
  t.equal(breaker.failed(permits[0]!), undefined)
  t.equal(breaker.failed(permits[1]!), undefined)
  t.same(breaker.failed(permits[2]!), { from: 'closed', to: 'open', until: clock.now + 5000, failures: 3 }, 'the third failure opens it')
  t.equal(breaker.state, 'open')
  t.same(breaker.admit(), { refusal: { reason: 'open', until: clock.now + 5000, failures: 3 } })
  clock.tick(4999)
  t.same(breaker.admit(), { refusal: { reason: 'open', until: clock.now + 1, failures: 3 } }, 'still refused 1 ms before the end')
  t.equal(breaker.state, 'open')
})

t.test('half-open: one probe at a time, the others refused until the probe must have ended', async (t) => {
  const clock = harness()
  const { breaker } = clock
  for (let index = 0; index < 3; index++) breaker.failed(permitOf(breaker.admit()))
  clock.tick(5000)
  const probe = breaker.admit()
  t.same(probe, { permit: { period: 2, probe: true }, change: { from: 'open', to: 'half-open' } }, 'the first caller after the cool-down is the probe')
  t.equal(breaker.state, 'half-open')
  clock.tick(300)
  t.same(breaker.admit(), { refusal: { reason: 'probing', until: clock.now - 300 + 1000, failures: 3 } },
    'another caller is refused until the probe has answered or timed out')
  t.same(breaker.succeeded(permitOf(probe)), { from: 'half-open', to: 'closed' }, 'the probe\'s success closes it')
  t.equal(breaker.state, 'closed')
  t.same(breaker.admit(), { permit: { period: 3, probe: false } })
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined, 'closed again with a fresh count: 1 of 3')
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined, '2 of 3')
})

t.test('a failed probe opens it again for a whole cool-down', async (t) => {
  const clock = harness()
  const { breaker } = clock
  for (let index = 0; index < 3; index++) breaker.failed(permitOf(breaker.admit()))
  clock.tick(6000)
  const probe = permitOf(breaker.admit())
  clock.tick(1000)
  t.same(breaker.failed(probe), { from: 'half-open', to: 'open', until: clock.now + 5000, failures: 1 })
  t.same(breaker.admit(), { refusal: { reason: 'open', until: clock.now + 5000, failures: 1 } })
  clock.tick(5000)
  const next = breaker.admit()
  t.match(next, { permit: { probe: true }, change: { from: 'open', to: 'half-open' } }, 'and probes again after it')
  t.same(breaker.succeeded(permitOf(next)), { from: 'half-open', to: 'closed' })
})

t.test('outcomes of an earlier period are not counted', async (t) => {
  const clock = harness()
  const { breaker } = clock
  const late = [permitOf(breaker.admit()), permitOf(breaker.admit())]
  for (let index = 0; index < 3; index++) breaker.failed(permitOf(breaker.admit()))
  t.equal(breaker.state, 'open')
  t.equal(breaker.succeeded(late[0]!), undefined, 'a late success while open does not close it')
  t.equal(breaker.failed(late[1]!), undefined, 'a late failure while open does not prolong it')
  t.same(breaker.admit(), { refusal: { reason: 'open', until: clock.now + 5000, failures: 3 } }, 'the cool-down is unchanged')

  clock.tick(5000)
  const probe = permitOf(breaker.admit())
  t.equal(breaker.failed(late[0]!), undefined, 'a late failure while half-open does not reopen it')
  t.equal(breaker.state, 'half-open')
  t.same(breaker.succeeded(probe), { from: 'half-open', to: 'closed' })

  const earlierClosed = permitOf(breaker.admit())
  for (let index = 0; index < 3; index++) breaker.failed(permitOf(breaker.admit()))
  clock.tick(5000)
  breaker.succeeded(permitOf(breaker.admit()))
  t.equal(breaker.state, 'closed')
  t.equal(breaker.failed(earlierClosed), undefined)
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined)
  t.equal(breaker.failed(permitOf(breaker.admit())), undefined, 'a permit from an earlier closed period does not add to the count: 2 of 3')
  t.equal(breaker.state, 'closed')
})

t.test('a clock set back never prolongs the cool-down', async (t) => {
  const clock = harness()
  const { breaker } = clock
  for (let index = 0; index < 3; index++) breaker.failed(permitOf(breaker.admit()))
  clock.tick(-1)
  t.match(breaker.admit(), { permit: { probe: true }, change: { to: 'half-open' } }, 'set back before the opening: the probe goes out')
})

t.test('a threshold of 1 opens on the first failure', async (t) => {
  const { breaker } = harness({ failureThreshold: 1 })
  t.match(breaker.failed(permitOf(breaker.admit())), { from: 'closed', to: 'open', failures: 1 })
})
