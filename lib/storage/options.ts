/**
 * Every storage option in one place: which options each kind of storage takes, the
 * default of each, and the check that turns what the user wrote into the value the
 * storage uses. A storage reads its options once, at construction (`readOptions`), into
 * a frozen settings object; nothing here runs per request.
 *
 * Adding an option: declare it, with its documentation, in the options interface of its
 * kind (every storage, cookie storages, server-side storages), and give it an entry in
 * that kind's table below: its default and its check. The `satisfies` clauses keep each
 * interface and its table in step, so the compiler refuses an option that is in one and
 * not the other. Rules that involve several options go in the kind's `check`.
 *
 * Every check throws a SessionConfigError that says what was expected and what kind of
 * value arrived; messages quote a value only where it cannot be a secret.
 */
import { SessionConfigError, describeType } from '../errors.js'
import { COOKIE_NAME } from '../wire/cookie.js'
import type { CookieAttributes, SameSite } from '../wire/cookie.js'
import type { SessionEnvelope } from '../wire/envelope.js'
import { parsePythonJson } from '../wire/python-json.js'
import { COMMON_HINTS, KEYED_COOKIE_HINTS, STORE_HINTS, unknownOptionsMessage } from './option-names.js'
import type { NameHints } from './option-names.js'
import { DEFAULT_ID_LENGTH, MAX_RECORD_KEY_BYTES, defaultKeyFactory } from './session-ids.js'

export type SameSiteOption = SameSite | 'strict' | 'lax' | 'none' | false | null

/** Options every storage accepts: camelCase versions of aiohttp-session's. */
export interface StorageOptions {
  /** Cookie name; default `AIOHTTP_SESSION` (the same as aiohttp-session). */
  cookieName?: string
  domain?: string | undefined
  /**
   * Session lifetime in seconds, at most 400 days (what browsers keep a cookie); default
   * none (a browser-session cookie, no expiry).
   */
  maxAge?: number | undefined
  /** Default `/`. */
  path?: string
  /** Default false; set it in production (HTTPS). */
  secure?: boolean
  /** Default true. */
  httpOnly?: boolean
  /** Default `Lax`; `false` omits the attribute. `None` requires `secure: true`. */
  sameSite?: SameSiteOption
  /** CHIPS partitioned cookie; requires `secure: true`. */
  partitioned?: boolean
  /** Turns the envelope into text; default `JSON.stringify`. */
  encoder?: (envelope: SessionEnvelope) => string
  /** Turns text back into the envelope; default `JSON.parse` (also reading Python's `NaN`/`Infinity`). */
  decoder?: (text: string) => unknown
  /**
   * Rolling sessions: a request that reads a session older than `refreshAfter` seconds
   * (and changes nothing) saves it again with `created` = now, so an active user is not
   * logged out `maxAge` seconds after their last change. The idle timeout is then between
   * `maxAge - refreshAfter` and `maxAge` seconds, for at most one extra write per session
   * per `refreshAfter` seconds of activity. `true` means `refreshAfter = ceil(maxAge / 10)`.
   * Requires `maxAge`; default false (a session expires `maxAge` after its last change).
   */
  rolling?: boolean | RollingOptions | undefined
}

/** The detailed form of the `rolling` option. */
export interface RollingOptions {
  /** Seconds a session may age before a request refreshes it: a whole number from 1 to `maxAge`. */
  refreshAfter: number
}

/** Options of the cookie storages, on top of every storage's. */
export interface CookieStorageOptions extends StorageOptions {
  /**
   * How many recently opened cookies to remember, so that a cookie that comes back
   * (every request of a logged-in user, until the session changes) is not decrypted
   * again. Expiry is still checked on every request. Default 1000; 0 turns it off.
   */
  cacheSize?: number | undefined
}

/** Options of the server-side storages (Redis, Memcached), on top of every storage's. */
export interface StoreStorageOptions extends StorageOptions {
  /**
   * Makes the id of a new session (the cookie value; the record key is
   * `${cookieName}_${id}`). Default: a uuid4 in hex, 122 random bits, as aiohttp-session.
   * Ids must be 1 to 250 visible ASCII characters, with the key prefix included.
   */
  keyFactory?: (() => string) | undefined
  /**
   * Milliseconds a store operation may take before the request fails with a 503
   * (`SessionStorageError`). Default 1000.
   */
  timeout?: number | undefined
  /**
   * The largest session record, in bytes of the encoded envelope, that is written or
   * read. A bigger session fails its save with a `SessionTooLargeError` (500) before
   * anything is sent to the store; a bigger record found in the store (written by
   * another application) is not decoded: the request gets a new session and a warning.
   * Default 1 MiB minus 1 KiB (1047552), which memcached's default item size limit takes
   * with any key; at most 512 MiB (Redis's largest string).
   */
  maxRecordBytes?: number | undefined
  /**
   * After `failureThreshold` store failures or timeouts in a row, fail every request
   * that needs the store at once (503 with `Retry-After`) for `coolDown` milliseconds,
   * then let one request check whether the store is back. Default
   * `{ failureThreshold: 5, coolDown: 5000 }`; `false` turns it off.
   */
  circuitBreaker?: CircuitBreakerOption | undefined
}

/** `circuitBreaker`: `false` (off), `true` (the defaults), or some settings, each defaulted. */
export type CircuitBreakerOption = boolean | {
  /** Consecutive store failures or timeouts that open the breaker; default 5. */
  failureThreshold?: number | undefined
  /** Milliseconds it stays open before one request may try the store again; default 5000. */
  coolDown?: number | undefined
}

/** `circuitBreaker` once read: the settings, or false when it is off. */
export type CircuitBreakerSettings = false | { readonly failureThreshold: number, readonly coolDown: number }

/** How one option is read. */
export interface OptionSpec<Value> {
  /** The value when the option is absent (undefined). */
  readonly default: Value
  /** Checks a value the user gave (never undefined) and returns it normalised; throws a SessionConfigError. */
  read (value: unknown, name: string): Value
}

/** The options of one kind of storage: each option's spec, and the rules between options. */
export interface OptionSchema<Settings> {
  readonly table: { readonly [Name in keyof Settings]: OptionSpec<Settings[Name]> }
  /** Rules that involve several options, run once every option is read; `storageName` is for messages. */
  check (settings: Settings, storageName: string): void
  /**
   * What to say about names that are not options but that users of other session
   * libraries write (`secret`, `cookie`, `store`…); default `COMMON_HINTS`.
   */
  readonly hints?: NameHints
}

/** What a table's options are once read. */
type SettingsOf<Table> = { readonly [Name in keyof Table]: Table[Name] extends OptionSpec<infer Value> ? Value : never }

/** One spec per option name of `Options`, no more, no fewer. */
type TableOf<Options> = { readonly [Name in keyof Required<Options>]: OptionSpec<unknown> }

export const DEFAULT_COOKIE_NAME = 'AIOHTTP_SESSION'

/** Default for `cacheSize`. */
export const DEFAULT_COOKIE_CACHE_SIZE = 1000

/** Default for `timeout`: a request waits at most this long for the store. */
export const DEFAULT_STORE_TIMEOUT = 1000

/**
 * The longest maxAge, in seconds: 400 days. Browsers keep a cookie no longer (RFC 6265bis
 * caps Max-Age and Expires there), so a longer one would end sessions earlier than the
 * server expects; and a value this large is usually milliseconds given for seconds.
 */
export const MAX_AGE_LIMIT = 400 * 24 * 3600

/** The longest timeout Node's timers accept (2^31 - 1 ms). */
const MAX_TIMEOUT = 2147483647

/**
 * Default for `maxRecordBytes`: 1 MiB minus 1 KiB. Memcached's default item size limit
 * (`-I 1m`) counts the key and the item header too: memcached 1.6 takes values up to
 * 1 MiB minus (59 + key length) bytes, so 1048267 with the longest key we write (250
 * bytes); the KiB left over covers that with room to spare. A real session is a few
 * kilobytes; a megabyte is a bug (data that belongs elsewhere), caught before the store
 * turns it into an error that looks like an outage.
 */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024 - 1024

/** Redis's largest string: no store we support keeps a bigger record. */
const MAX_RECORD_BYTES = 512 * 1024 * 1024

/**
 * Default circuit breaker. Five failures in a row: one or two lost answers (a blip, a
 * restart) do not shut the store off, and a blackholed store costs five timeouts before
 * requests fail at once. Five seconds: during an outage each process sends the store
 * one probe per five seconds, and once the store is back users wait at most that long
 * (ioredis itself waits up to a few seconds between reconnection attempts).
 */
export const DEFAULT_CIRCUIT_BREAKER = Object.freeze({ failureThreshold: 5, coolDown: 5000 })

/** Characters allowed in Domain and Path: visible ASCII except `;` (which would start a new attribute). */
const ATTRIBUTE_VALUE = /^[\x21-\x3a\x3c-\x7e]*$/

const defaultEncoder = (envelope: SessionEnvelope): string => JSON.stringify(envelope)

function option<Value> (fallback: NoInfer<Value>, read: (value: unknown, name: string) => Value): OptionSpec<Value> {
  return { default: fallback, read }
}

function functionOption<Fn> (fallback: Fn, expected = 'a function'): OptionSpec<Fn> {
  return option(fallback, (value, name) => {
    if (typeof value !== 'function') throw new SessionConfigError(`${name} must be ${expected}; got ${describeType(value)}`)
    return value as Fn
  })
}

function wholeNumberOption (fallback: number, min: number, max: number, expected: string): OptionSpec<number> {
  return option(fallback, (value, name) => readWholeNumber(value, name, min, max, expected))
}

const STORAGE_TABLE = {
  // null is taken for "the default" here, as it always was.
  cookieName: option(DEFAULT_COOKIE_NAME, (value) => readCookieName(value ?? DEFAULT_COOKIE_NAME)),
  maxAge: option(undefined, readMaxAge),
  path: option('/', readPath),
  domain: option(undefined, readAttributeValue),
  secure: option(false, readBoolean),
  httpOnly: option(true, readBoolean),
  sameSite: option('Lax', readSameSite),
  partitioned: option(false, readBoolean),
  encoder: functionOption(defaultEncoder),
  decoder: functionOption<(text: string) => unknown>(parsePythonJson),
  rolling: option<boolean | Readonly<RollingOptions>>(false, readRolling)
} satisfies TableOf<StorageOptions>

const COOKIE_STORAGE_TABLE = {
  ...STORAGE_TABLE,
  cacheSize: wholeNumberOption(DEFAULT_COOKIE_CACHE_SIZE, 0, Number.MAX_SAFE_INTEGER, 'a whole number (0 turns the cache off)')
} satisfies TableOf<CookieStorageOptions>

const STORE_STORAGE_TABLE = {
  ...STORAGE_TABLE,
  keyFactory: functionOption<() => string>(defaultKeyFactory, 'a function returning a new session id'),
  timeout: wholeNumberOption(DEFAULT_STORE_TIMEOUT, 1, MAX_TIMEOUT, `a whole number of milliseconds from 1 to ${MAX_TIMEOUT}`),
  maxRecordBytes: wholeNumberOption(DEFAULT_MAX_RECORD_BYTES, 1, MAX_RECORD_BYTES, `a whole number of bytes from 1 to ${MAX_RECORD_BYTES}`),
  circuitBreaker: option<CircuitBreakerSettings>(DEFAULT_CIRCUIT_BREAKER, readCircuitBreaker)
} satisfies TableOf<StoreStorageOptions>

/** Every storage's options once read: what `AbstractStorage` keeps as `settings`. */
export type StorageSettings = SettingsOf<typeof STORAGE_TABLE>
export type CookieStorageSettings = SettingsOf<typeof COOKIE_STORAGE_TABLE>
export type StoreStorageSettings = SettingsOf<typeof STORE_STORAGE_TABLE>

/** The options only one kind of storage takes, with that kind, for the message when another kind is given one. */
const KIND_OPTIONS: Readonly<Record<string, string>> = {
  ...kindOptions(COOKIE_STORAGE_TABLE, 'the cookie storages (EncryptedCookieStorage, NaClCookieStorage, SimpleCookieStorage)'),
  ...kindOptions(STORE_STORAGE_TABLE, 'the server-side storages (RedisStorage, MemcachedStorage)')
}

function kindOptions (table: object, kind: string): Record<string, string> {
  return Object.fromEntries(Object.keys(table).filter((name) => !Object.hasOwn(STORAGE_TABLE, name)).map((name) => [name, kind]))
}

/** The options of any storage (custom storages that extend `AbstractStorage`). */
export const STORAGE_OPTIONS: OptionSchema<StorageSettings> = {
  table: STORAGE_TABLE,
  check: checkSharedRules
}

/** The options of the cookie storages (Simple, Encrypted, NaCl). */
export const COOKIE_STORAGE_OPTIONS: OptionSchema<CookieStorageSettings> = {
  table: COOKIE_STORAGE_TABLE,
  check: checkSharedRules,
  hints: KEYED_COOKIE_HINTS
}

/** The options of the server-side storages (Redis, Memcached). */
export const STORE_STORAGE_OPTIONS: OptionSchema<StoreStorageSettings> = {
  table: STORE_STORAGE_TABLE,
  check (settings, storageName) {
    checkSharedRules(settings)
    checkRoomForIds(settings.cookieName, storageName)
  },
  hints: STORE_HINTS
}

/** The same options with other defaults, for a storage whose defaults differ from its kind's. */
export function withDefaults<Settings> (schema: OptionSchema<Settings>, defaults: { readonly [Name in keyof Settings]?: Settings[Name] }): OptionSchema<Settings> {
  const table: { [Name in keyof Settings]: OptionSpec<Settings[Name]> } = { ...schema.table }
  for (const name of Object.keys(defaults) as Array<keyof Settings>) {
    table[name] = { ...table[name], default: defaults[name] as Settings[typeof name] }
  }
  return { ...schema, table }
}

/**
 * Reads the options given to a storage's constructor into its settings: each known
 * option checked and normalised, or its default, then the rules between options.
 * Throws a SessionConfigError at the first problem; names that are not options of the
 * storage (its schema's table) are the first problem, even with the value undefined:
 * a misspelt option would otherwise leave its default in place without a word.
 */
export function readOptions<Settings> (schema: OptionSchema<Settings>, options: unknown, storageName: string): Settings {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SessionConfigError(`storage options must be an object; got ${describeType(options)}`)
  }
  const given = options as Readonly<Record<string, unknown>>
  const unknown = Object.keys(given).filter((name) => !Object.hasOwn(schema.table, name))
  if (unknown.length > 0) {
    throw new SessionConfigError(unknownOptionsMessage(unknown, given, {
      storageName, known: Object.keys(schema.table), hints: schema.hints ?? COMMON_HINTS, otherKinds: KIND_OPTIONS
    }))
  }
  const settings: Partial<Record<keyof Settings, unknown>> = {}
  for (const name of Object.keys(schema.table) as Array<keyof Settings & string>) {
    const value = given[name]
    const spec = schema.table[name]
    settings[name] = value === undefined ? spec.default : spec.read(value, name)
  }
  schema.check(settings as Settings, storageName)
  return Object.freeze(settings as Settings)
}

/** The Set-Cookie attributes of a storage's settings. */
export function cookieAttributes (settings: StorageSettings): Readonly<CookieAttributes> {
  const { domain, path, secure, httpOnly, sameSite, partitioned } = settings
  return Object.freeze({ domain, path, secure, httpOnly, sameSite, partitioned })
}

/**
 * Reads an option that must be a whole number from `min` to `max`; the error says
 * what was `expected` and shows what arrived (a number as such, anything else by kind).
 */
export function readWholeNumber (value: unknown, name: string, min: number, max: number, expected: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const shown = typeof value === 'number' ? String(value) : describeType(value)
    throw new SessionConfigError(`${name} must be ${expected}; got ${shown}`)
  }
  return value
}

/**
 * Reads a max age in seconds: a positive integer up to 400 days, or undefined/null for
 * none. Zero is refused: a cookie with `Max-Age=0` is deleted at once and Redis rejects
 * `EX 0`; use `session.invalidate()` to end a session. Above `MAX_AGE_LIMIT` the message
 * shows a value in milliseconds (what @fastify/session and Express take) in seconds.
 */
export function readMaxAge (value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined
  const seconds = readWholeNumber(value, name, 1, Number.MAX_SAFE_INTEGER, 'a whole number of seconds of at least 1, or undefined for none')
  if (seconds <= MAX_AGE_LIMIT) return seconds
  const inSeconds = seconds % 1000 === 0 && seconds / 1000 <= MAX_AGE_LIMIT
    ? `, which looks like milliseconds: did you mean ${seconds / 1000}?`
    : ''
  throw new SessionConfigError(`${name} is in seconds, at most ${MAX_AGE_LIMIT} (400 days: browsers keep a cookie no longer); got ${seconds}${inSeconds}`)
}

/**
 * Validates the client a server-side storage was given (a constructor argument, not an
 * option): an object with the `members` the storage uses, of the kinds listed. It is
 * duck-typed because the application brings its own copy of the client's package.
 */
export function readClient<Client> (client: unknown, members: Readonly<Record<string, 'function' | 'string'>>, expected: string): Client {
  if (typeof client === 'object' && client !== null &&
    Object.entries(members).every(([member, kind]) => isOfKind((client as Record<string, unknown>)[member], kind))) {
    return client as Client
  }
  throw new SessionConfigError(`${expected}; got ${describeType(client)}`)
}

function isOfKind (value: unknown, kind: 'function' | 'string'): boolean {
  if (kind === 'string') return typeof value === 'string'
  return typeof value === 'function'
}

/** A string the user gave, quoted in messages; anything else described by its kind. */
function shown (value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : describeType(value)
}

function readCookieName (name: unknown): string {
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new SessionConfigError(`cookieName must be a non-empty cookie token (letters, digits and !#$%&'*+-.^_\`|~); got ${shown(name)}`)
  }
  return name
}

const CIRCUIT_BREAKER_SETTINGS = ['failureThreshold', 'coolDown']

function readCircuitBreaker (value: unknown, name: string): CircuitBreakerSettings {
  if (value === false) return false
  if (value === true) return DEFAULT_CIRCUIT_BREAKER
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SessionConfigError(`${name} must be false, true or { failureThreshold, coolDown }; got ${describeType(value)}`)
  }
  const given = value as Readonly<Record<string, unknown>>
  const unknown = Object.keys(given).find((key) => !CIRCUIT_BREAKER_SETTINGS.includes(key))
  if (unknown !== undefined) {
    throw new SessionConfigError(`${name} takes failureThreshold and coolDown; got an unknown setting ${JSON.stringify(unknown)}`)
  }
  const { failureThreshold, coolDown } = given
  return Object.freeze({
    failureThreshold: failureThreshold === undefined
      ? DEFAULT_CIRCUIT_BREAKER.failureThreshold
      : readWholeNumber(failureThreshold, `${name}.failureThreshold`, 1, Number.MAX_SAFE_INTEGER, 'a whole number of at least 1'),
    coolDown: coolDown === undefined
      ? DEFAULT_CIRCUIT_BREAKER.coolDown
      : readWholeNumber(coolDown, `${name}.coolDown`, 1, MAX_TIMEOUT, `a whole number of milliseconds from 1 to ${MAX_TIMEOUT}`)
  })
}

function readBoolean (value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new SessionConfigError(`${name} must be a boolean; got ${describeType(value)}`)
  return value
}

function readAttributeValue (value: unknown, name: string): string | undefined {
  if (value === null) return undefined
  if (typeof value !== 'string' || value.length === 0 || !ATTRIBUTE_VALUE.test(value)) {
    throw new SessionConfigError(`${name} must be a non-empty string of visible ASCII characters without ';'; got ${shown(value)}`)
  }
  return value
}

function readPath (value: unknown, name: string): string {
  const path = readAttributeValue(value, name) ?? '/'
  if (!path.startsWith('/')) throw new SessionConfigError(`path must start with '/'; got ${JSON.stringify(path)}`)
  return path
}

function readSameSite (value: unknown): SameSite | undefined {
  if (value === false || value === null) return undefined
  const normalized = typeof value === 'string' ? value.toLowerCase() : ''
  if (normalized === 'lax') return 'Lax'
  if (normalized === 'strict') return 'Strict'
  if (normalized === 'none') return 'None'
  throw new SessionConfigError(`sameSite must be 'Strict', 'Lax', 'None' or false; got ${shown(value)}`)
}

/** The rules between options that every kind of storage has. */
function checkSharedRules (settings: StorageSettings): void {
  checkCookieAttributes(settings)
  refreshAfterOf(settings)
}

/**
 * The seconds after which a read session is refreshed (the `rolling` option), or
 * undefined when sessions do not roll. Throws a SessionConfigError when `rolling` does
 * not fit `maxAge`.
 */
export function refreshAfterOf (settings: StorageSettings): number | undefined {
  const { rolling, maxAge } = settings
  if (rolling === false) return undefined
  if (maxAge === undefined) {
    // Without maxAge a session never expires (a browser-session cookie): there is no
    // lifetime to extend, and a refresh would be a write for nothing.
    throw new SessionConfigError('rolling requires maxAge: without it sessions never expire, so there is nothing to extend')
  }
  if (rolling === true) return Math.ceil(maxAge / 10)
  return readWholeNumber(rolling.refreshAfter, 'rolling.refreshAfter', 1, maxAge, `a whole number of seconds from 1 to maxAge (${maxAge})`)
}

/** `rolling`: a boolean, or `{ refreshAfter }` (checked against maxAge by `refreshAfterOf`). */
function readRolling (value: unknown, name: string): boolean | Readonly<RollingOptions> {
  if (typeof value === 'boolean') return value
  const expected = `${name} must be true, false or { refreshAfter: seconds }`
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SessionConfigError(`${expected}; got ${describeType(value)}`)
  }
  const unknown = Object.keys(value).find((key) => key !== 'refreshAfter')
  if (unknown !== undefined) throw new SessionConfigError(`${expected}; got an object with ${JSON.stringify(unknown)}`)
  return Object.freeze({ refreshAfter: (value as Partial<RollingOptions>).refreshAfter as number })
}

/** Refuses the attribute combinations browsers silently reject. */
function checkCookieAttributes (settings: StorageSettings): void {
  const requirement = secureRequirement(settings)
  if (requirement !== undefined && !settings.secure) {
    throw new SessionConfigError(`${requirement} requires secure: true (browsers reject the cookie otherwise)`)
  }
  if (settings.cookieName.startsWith('__Host-') && (settings.domain !== undefined || settings.path !== '/')) {
    throw new SessionConfigError("a '__Host-' cookie must have path '/' and no domain (browsers reject it otherwise)")
  }
}

/** The first setting that makes browsers require `Secure`, as the message names it; undefined for none. */
function secureRequirement (settings: StorageSettings): string | undefined {
  if (settings.sameSite === 'None') return "sameSite: 'None'"
  if (settings.partitioned) return 'partitioned: true'
  if (settings.cookieName.startsWith('__Secure-') || settings.cookieName.startsWith('__Host-')) {
    return `the cookie name prefix of ${JSON.stringify(settings.cookieName)}`
  }
  return undefined
}

/** Record keys are `${cookieName}_${id}`: the name must leave room for a default id. */
function checkRoomForIds (cookieName: string, storageName: string): void {
  if (cookieName.length + 1 + DEFAULT_ID_LENGTH > MAX_RECORD_KEY_BYTES) {
    throw new SessionConfigError(`cookieName is too long for ${storageName}: record keys (cookieName_id) must fit in ` +
      `${MAX_RECORD_KEY_BYTES} bytes with ${DEFAULT_ID_LENGTH}-character ids; got a ${cookieName.length}-character name`)
  }
}
