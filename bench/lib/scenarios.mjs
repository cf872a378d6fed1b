// The measured scenarios, and the checks that each server really does the work a
// scenario stands for before it is measured (a server that answers fast but wrong
// would otherwise win).

/**
 * @typedef {object} Scenario
 * @property {string} name
 * @property {string} title
 * @property {string} path
 * @property {boolean} cookie   send the session cookie obtained from GET /login (or `login`)
 * @property {string} [login]   the setup route whose cookie the scenario sends (default /login)
 * @property {boolean} [optional]  left out unless named by --scenarios (the rolling ones)
 * @property {number} [sessions]  log in this many times and send the cookies in turn, one per request
 * @property {(body: any) => string | undefined} check   what is wrong with the body, if anything
 */

/** @type {Scenario[]} */
export const scenarios = [
  {
    name: 'read',
    title: 'read-only (valid cookie, session read, unchanged)',
    path: '/read',
    cookie: true,
    check: (body) => (body.user === 'bench-user' ? undefined : `expected user "bench-user", got ${JSON.stringify(body)}`)
  },
  {
    name: 'write',
    title: 'writing (valid cookie, session changed every request)',
    path: '/write',
    cookie: true,
    // The original cookie holds visits: 0, and it is what every request sends.
    check: (body) => (body.visits === 1 ? undefined : `expected visits 1, got ${JSON.stringify(body)}`)
  },
  {
    name: 'anon',
    title: 'anonymous (no cookie, route reads the session)',
    path: '/read',
    cookie: false,
    check: (body) => (body.user === null ? undefined : `expected user null, got ${JSON.stringify(body)}`)
  },
  {
    name: 'optout',
    title: 'opted-out route (`config: { session: false }`, cookie sent)',
    path: '/health',
    // A browser sends its cookie to every path, including the opted-out ones.
    cookie: true,
    check: (body) => (body.ok === true ? undefined : `expected { ok: true }, got ${JSON.stringify(body)}`)
  },
  {
    name: 'rolling-old',
    title: 'read-only with a session past rolling\'s refreshAfter (every request refreshes it)',
    path: '/read-old',
    cookie: true,
    login: '/login-old',
    // A different session on each request (users, not one user's tabs): on a server-side
    // storage, requests of one session that all find it old make one write between them.
    sessions: 1000,
    optional: true,
    check: (body) => (body.user === 'bench-user' ? undefined : `expected user "bench-user", got ${JSON.stringify(body)}`)
  },
  {
    name: 'untouched',
    title: 'a route that never uses request.session (valid, young cookie)',
    path: '/untouched',
    cookie: true,
    optional: true,
    check: (body) => (body.ok === true ? undefined : `expected { ok: true }, got ${JSON.stringify(body)}`)
  }
]

/** The scenarios a run measures unless told otherwise. */
export const defaultScenarios = scenarios.filter((scenario) => scenario.optional !== true)

export function findScenario (name) {
  const scenario = scenarios.find((candidate) => candidate.name === name)
  if (scenario === undefined) throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${scenarios.map((s) => s.name).join(', ')}`)
  return scenario
}

/** The Cookie header a browser would send after `response`. */
function cookieHeader (response) {
  return response.headers.getSetCookie().map((value) => value.split(';')[0]).join('; ')
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
