/**
 * Option names a storage does not take. Without this check a misspelt or misplaced
 * option is ignored without a word and its default stays in place: `max_age` copied
 * from aiohttp-session, `{ cookie: { maxAge } }` from @fastify/session or `expiry` from
 * @fastify/secure-session gave sessions that never expire, `httponly: false` a cookie
 * that is still HttpOnly. So every name a storage is given must be one of its options,
 * and the error names the option meant where one is close:
 *
 * 1. the same name in another case or spelling (`maxage`, `max-age`, `max_age`,
 *    `httponly`, `cookie_name`): aiohttp-session's names, camelCased;
 * 2. a name another session library uses, with what it is here (`cookie`, `expiry`,
 *    `secret`, `store`, `saveUninitialized`…), given by `hints`;
 * 3. an option of another kind of storage (`keyFactory` on a cookie storage);
 * 4. an option a small edit away (`domian`, `secrue`, `cokieName`).
 *
 * Otherwise the message lists the storage's options.
 */
import { shorten } from '../wire/json-value.js'

/** What to say about an option name that is not one, keyed by its normal form (see `normalName`). */
export type NameHints = Readonly<Record<string, NameHint>>

/** The advice for a misused name: `storageName` is the class being constructed, `value` what it was given. */
export type NameHint = (storageName: string, value: unknown) => string

/** What `unknownOptionsMessage` needs to know about the storage being constructed. */
export interface OptionNames {
  /** The class being constructed, for messages. */
  storageName: string
  /** Its options, in table order. */
  known: readonly string[]
  /** Advice for names other libraries use (see `COMMON_HINTS`), this kind's first. */
  hints: NameHints
  /** Options of the other kinds of storage, with the kind that takes each. */
  otherKinds: Readonly<Record<string, string>>
}

/** The storages of this package: a storage of another name is the user's own. */
const BUILT_IN_STORAGES: ReadonlySet<string> = new Set([
  'SimpleCookieStorage', 'EncryptedCookieStorage', 'NaClCookieStorage', 'RedisStorage', 'MemcachedStorage'
])

/**
 * A name without case and separators: `max_age`, `max-age`, `MaxAge` and `maxage` are
 * all `maxage`, which is how aiohttp-session's snake_case names and their typos find
 * their camelCase option.
 */
export function normalName (name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '')
}

/**
 * The message of the SessionConfigError for the `unknown` option names given in
 * `options`: each name with the option it probably meant, or the list of options.
 */
export function unknownOptionsMessage (unknown: readonly string[], options: Readonly<Record<string, unknown>>, names: OptionNames): string {
  let guessedAll = true
  const advice = unknown.map((name) => {
    const suggestion = suggest(name, options[name], names)
    if (suggestion === undefined) guessedAll = false
    return suggestion === undefined ? quoted(name) : `${quoted(name)}: ${suggestion}`
  })
  const head = `${names.storageName} has no option${unknown.length === 1 ? '' : 's'} ${advice.join('; ')}`
  if (guessedAll) return head
  const custom = BUILT_IN_STORAGES.has(names.storageName)
    ? ''
    : ' (a storage that takes options of its own must take them out of the object it passes to super())'
  return `${head}. Its options are ${names.known.join(', ')}${custom}`
}

/** What `name` most likely meant, or undefined when nothing is close. */
function suggest (name: string, value: unknown, names: OptionNames): string | undefined {
  const normal = normalName(name)
  const sameName = names.known.find((option) => normalName(option) === normal)
  if (sameName !== undefined) {
    return `did you mean ${sameName}? (${/[-_\s]/.test(name) ? 'options are camelCase here' : 'names are case-sensitive'})`
  }
  // Own names only: `constructor` or `toString` must not find Object.prototype's.
  const hint = Object.hasOwn(names.hints, normal) ? names.hints[normal] : undefined
  if (hint !== undefined) return hint(names.storageName, value)
  const otherKind = Object.keys(names.otherKinds).find((option) => normalName(option) === normal)
  if (otherKind !== undefined) return `${otherKind} is an option of ${names.otherKinds[otherKind] as string} only`
  const close = closestName(normal, names.known)
  return close === undefined ? undefined : `did you mean ${close}?`
}

/** The option a few edits away from `normal`, the closest first; undefined when none is close. */
function closestName (normal: string, known: readonly string[]): string | undefined {
  // One edit per four characters (at least one): `pth` finds path and `cokieName`
  // cookieName, while short unrelated names (`key`, `ttl`) find nothing.
  const allowed = Math.max(1, Math.floor(normal.length / 4))
  let best: string | undefined
  let bestDistance = allowed + 1
  for (const option of known) {
    const distance = editDistance(normal, normalName(option))
    if (distance < bestDistance) {
      best = option
      bestDistance = distance
    }
  }
  return best
}

/**
 * The number of single-character insertions, deletions, substitutions and swaps of
 * neighbours that turn `a` into `b` (optimal string alignment), so `domian` is one
 * edit from `domain`.
 */
export function editDistance (a: string, b: string): number {
  // Three rows of the table: the one before the previous (for swaps), the previous, the current.
  let beforePrevious: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, column) => column)
  for (let row = 1; row <= a.length; row++) {
    const current = [row]
    for (let column = 1; column <= b.length; column++) {
      const substitution = a[row - 1] === b[column - 1] ? 0 : 1
      let distance = Math.min((previous[column] as number) + 1, (current[column - 1] as number) + 1, (previous[column - 1] as number) + substitution)
      if (row > 1 && column > 1 && a[row - 1] === b[column - 2] && a[row - 2] === b[column - 1]) {
        distance = Math.min(distance, (beforePrevious[column - 2] as number) + 1)
      }
      current.push(distance)
    }
    beforePrevious = previous
    previous = current
  }
  return previous[b.length] as number
}

function quoted (name: string): string {
  return JSON.stringify(shorten(name))
}

/**
 * For `{ cookie: { … } }` (@fastify/session, @fastify/secure-session): which options to
 * move up, and a millisecond cookie.maxAge in seconds.
 */
function cookieHint (storageName: string, value: unknown): string {
  const cookie: Readonly<Record<string, unknown>> = typeof value === 'object' && value !== null ? value as Record<string, unknown> : {}
  const names = Object.keys(cookie).map(shorten)
  const moved = names.length === 0 ? '' : `: move ${names.map((name) => `cookie.${name}`).join(', ')} up, new ${storageName}(…, { ${names.join(', ')} })`
  const maxAge = cookie['maxAge']
  // Its number is not a secret: showing it in seconds is the point.
  const inSeconds = typeof maxAge === 'number' && Number.isSafeInteger(maxAge) && maxAge > 0 && maxAge % 1000 === 0
    ? ` (cookie.maxAge ${maxAge}, in milliseconds, is maxAge: ${maxAge / 1000})`
    : ''
  return `options are flat here, not grouped under cookie as in @fastify/session${moved}; maxAge is in seconds, not milliseconds${inSeconds}`
}

function keyHint (storageName: string): string {
  return `the key is not an option: it is the constructor's first argument, new ${storageName}(key, options)`
}

function noKeyHint (storageName: string): string {
  return `${storageName} takes no key: it neither signs nor encrypts the cookie; for one that is signed and encrypted, use EncryptedCookieStorage(key, options)`
}

function someKeyHint (): string {
  return 'a key is not an option: a storage that needs one takes it as a constructor argument'
}

function idHint (): string {
  return 'new session ids come from keyFactory, an option of the server-side storages (RedisStorage, MemcachedStorage)'
}

function prefixHint (): string {
  return 'record keys are cookieName + "_" + id, as in aiohttp-session; for a further prefix, set keyPrefix on the ioredis client'
}

/** Names other session libraries use, and what they are here; for every kind of storage. */
export const COMMON_HINTS: NameHints = {
  cookie: cookieHint,
  expiry: () => 'did you mean maxAge? (@fastify/secure-session\'s expiry; both are in seconds)',
  expires: () => 'use maxAge, in seconds: the cookie\'s expiry is computed from it',
  ttl: () => 'use maxAge, in seconds: it is the cookie\'s Max-Age and, for Redis and Memcached, the record\'s TTL',
  name: () => 'did you mean cookieName?',
  store: () => 'the storage is the store here: register(sessionPlugin, new RedisStorage(client, options)), ' +
    'or MemcachedStorage, or a storage of your own',
  saveuninitialized: () => 'there is no such option: a session is saved only when it changed (set, delete, clear, ' +
    'invalidate, newSession…), so a new session nobody wrote to is never saved, as with saveUninitialized: false',
  resave: () => 'there is no such option: an unchanged session is never saved again, as with resave: false',
  refreshafter: () => 'it goes inside rolling: { rolling: { refreshAfter: seconds } }',
  touchafter: () => 'did you mean rolling: { refreshAfter: seconds }? (connect-mongo\'s touchAfter: at most one refresh per interval)',
  genid: idHint,
  idgenerator: idHint,
  generateid: idHint,
  prefix: prefixHint,
  keyprefix: prefixHint,
  key: someKeyHint,
  keys: someKeyHint,
  secret: someKeyHint,
  secrets: someKeyHint
}

/** For the cookie storages that take a key (EncryptedCookieStorage, NaClCookieStorage). */
export const KEYED_COOKIE_HINTS: NameHints = {
  ...COMMON_HINTS,
  key: keyHint,
  keys: keyHint,
  secret: keyHint,
  secrets: keyHint,
  salt: (storageName) => `keys are 32 random bytes here, not derived from a secret and a salt: make one with \`npx fastify-sessions keygen\` and pass it as the first argument, new ${storageName}(key, options)`
}

/** For a cookie storage that takes no key (SimpleCookieStorage). */
export const UNKEYED_COOKIE_HINTS: NameHints = {
  ...COMMON_HINTS,
  key: noKeyHint,
  keys: noKeyHint,
  secret: noKeyHint,
  secrets: noKeyHint,
  salt: noKeyHint
}

/** For the server-side storages (Redis, Memcached). */
export const STORE_HINTS: NameHints = {
  ...COMMON_HINTS,
  key: noSecretHint,
  keys: noSecretHint,
  secret: noSecretHint,
  secrets: noSecretHint,
  salt: noSecretHint,
  client: clientHint,
  redis: clientHint,
  memcached: clientHint
}

function noSecretHint (storageName: string): string {
  return `${storageName} takes no key or secret: the cookie holds a random session id, as in aiohttp-session, and the session stays on the server`
}

function clientHint (storageName: string): string {
  return `the client is not an option: it is the constructor's first argument, new ${storageName}(client, options)`
}
