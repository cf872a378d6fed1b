// The measured scenarios, and the checks that each server really does the work a
// scenario stands for before it is measured (a server that answers fast but wrong
// would otherwise win).

/**
 * @typedef {object} Scenario
 * @property {string} name
 * @property {string} title
 * @property {string} path
 * @property {boolean} cookie   send the session cookie obtained from GET /login
 * @property {(body: any) => string | undefined} check   what is wrong with the body, if anything
 * @property {boolean} [spread]  send each request with one of many sessions' cookies in turn
 *   (SESSIONS_PER_CONNECTION × connections of them), so requests in flight at once belong to
 *   different sessions: the cost of a write, not of writers racing on one session
 * @property {string} [login]   the setup route whose cookies the scenario sends (default /login)
 * @property {boolean} [optional]  left out unless named by --scenarios (the rolling ones)
 * @property {'wrk' | 'concurrent'} driver   the load generator: wrk replaying one request, or
 *   bench/lib/concurrent.mjs (several requests of a fresh session at once, then a read-back)
 */

/** @type {Scenario[]} */
export const scenarios = [
  {
    name: 'read',
    driver: 'wrk',
    title: 'read-only (valid cookie, session read, unchanged)',
    path: '/read',
    cookie: true,
    check: (body) => (body.user === 'bench-user' ? undefined : `expected user "bench-user", got ${JSON.stringify(body)}`)
  },
  {
    name: 'write',
    driver: 'wrk',
    title: 'writing (valid cookie, session changed every request)',
    path: '/write',
    cookie: true,
    // With one shared session, 32 connections would be 32 writers racing on one record: a
    // store storage that merges and compares-and-sets would retry most saves (the
    // `concurrent` scenario measures that case, and that nothing is lost). Real users each
    // have their own session.
    spread: true,
    // The probe sends a session's cookie for the first time: its record holds visits: 0.
    check: (body) => (body.visits === 1 ? undefined : `expected visits 1, got ${JSON.stringify(body)}`)
  },
  {
    name: 'anon',
    driver: 'wrk',
    title: 'anonymous (no cookie, route reads the session)',
    path: '/read',
    cookie: false,
    check: (body) => (body.user === null ? undefined : `expected user null, got ${JSON.stringify(body)}`)
  },
  {
    name: 'optout',
    driver: 'wrk',
    title: 'opted-out route (`config: { session: false }`, cookie sent)',
    path: '/health',
    // A browser sends its cookie to every path, including the opted-out ones.
    cookie: true,
    check: (body) => (body.ok === true ? undefined : `expected { ok: true }, got ${JSON.stringify(body)}`)
  },
  {
    name: 'concurrent',
    driver: 'concurrent',
    title: 'concurrent writers (one fresh session, several requests at once, each setting its own key)',
    path: '/write-key',
    // Each round logs in afresh (bench/lib/concurrent.mjs); the cookie from the runner's
    // login is not used.
    cookie: false,
    // Checked by probeConcurrent (write two keys, read both back) instead.
    check: () => undefined
  },
  {
    name: 'rolling-old',
    driver: 'wrk',
    title: 'read-only with a session past rolling\'s refreshAfter (every request refreshes it)',
    path: '/read-old',
    cookie: true,
    login: '/login-old',
    // Sessions of many users, not one user's tabs: on a server-side storage, requests of
    // one session that all find it old make one write between them.
    spread: true,
    optional: true,
    check: (body) => (body.user === 'bench-user' ? undefined : `expected user "bench-user", got ${JSON.stringify(body)}`)
  },
  {
    name: 'untouched',
    driver: 'wrk',
    title: 'a route that never uses request.session (valid, young cookie)',
    path: '/untouched',
    cookie: true,
    optional: true,
    check: (body) => (body.ok === true ? undefined : `expected { ok: true }, got ${JSON.stringify(body)}`)
  }
]

/** The scenarios a run measures unless told otherwise. */
export const defaultScenarios = scenarios.filter((scenario) => scenario.optional !== true)

/**
 * Whether a server can run a scenario. `concurrent` needs a server-side session (a
 * store): with a cookie storage each response carries the whole session and the
 * browser keeps whichever Set-Cookie arrives last, which no library can change.
 * @param {{ concurrent: true | string }} entry
 * @param {Scenario} scenario
 */
export function supports (entry, scenario) {
  return scenario.driver !== 'concurrent' || entry.concurrent === true
}

export function findScenario (name) {
  const scenario = scenarios.find((candidate) => candidate.name === name)
  if (scenario === undefined) throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${scenarios.map((s) => s.name).join(', ')}`)
  return scenario
}

/** The Cookie header a browser would send after `response`. */
function cookieHeader (response) {
  return response.headers.getSetCookie().map((value) => value.split(';')[0]).join('; ')
}

/**
 * How many sessions a `spread` scenario cycles through per connection. wrk sends them
 * in turn, and the requests in flight at a time are (about) the last `connections`
 * sent, so with 4 × connections sessions two of them share a session only when one
 * request stays in flight while three rounds of the others complete.
 */
export const SESSIONS_PER_CONNECTION = 4

/** Logs in `count` times (GET /login, or `path`): the Cookie headers of as many sessions. */
export async function loginMany (base, count, path = '/login') {
  const cookies = []
  for (let index = 0; index < count; index++) cookies.push(await login(base, path))
  return cookies
}

/** Logs in once (GET /login, or `path`) and returns the Cookie header to replay. */
export async function login (base, path = '/login') {
  const response = await fetch(base + path)
  await response.text()
  const cookie = cookieHeader(response)
  if (response.status !== 200 || cookie === '') throw new Error(`GET ${path} gave ${response.status} and no session cookie`)
  return cookie
}

/**
 * Sends one request of the scenario and checks the answer. Returns whether the
 * response carried a Set-Cookie (reported, since it is part of each library's cost).
 */
export async function probe (base, scenario, cookie, { checkBody = true } = {}) {
  const response = await fetch(base + scenario.path, { headers: scenario.cookie ? { cookie } : {} })
  const text = await response.text()
  if (response.status !== 200) throw new Error(`${scenario.name}: GET ${scenario.path} gave ${response.status}: ${text.slice(0, 200)}`)
  if (checkBody) {
    const problem = scenario.check(JSON.parse(text))
    if (problem !== undefined) throw new Error(`${scenario.name}: ${problem}`)
  }
  return { setCookie: response.headers.getSetCookie().length > 0 }
}
