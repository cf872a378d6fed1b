/**
 * The package root. What it exports, and what it does not:
 *
 * - The plugin and everything every storage shares: Session, the errors, keys, the
 *   "value or why not" convention (LoadFailure), and the bases for writing a storage
 *   (AbstractStorage, CookieStorage, StoreStorage) with their option types.
 * - Concrete storages are imported from their own subpath,
 *   `fastify-sessions/storages/<name>`, never from here: an application loads, and
 *   type-checks against, only the storage it uses and that storage's optional peer. So
 *   the root works with no optional peer installed: it never loads sodium-native and
 *   never refers to the types of ioredis or memjs (scripts/check-package.mjs checks it).
 * - The one exception is SimpleCookieStorage, exported here as well as from its subpath:
 *   it needs no key and no peer, and it is what tests and first steps reach for.
 *
 * A new storage gets a subpath in package.json's `exports`, not an export here.
 */
import { sessionPlugin } from './lib/plugin.js'

export default sessionPlugin
export { sessionPlugin, sessionPlugin as fastifySessions, getSession, newSession, saveSession } from './lib/plugin.js'
export { Session, isSession } from './lib/session.js'
export type { SessionData, SessionInit, SessionKey, SessionValue } from './lib/session.js'
export type { JsonSafe, NotJson } from './lib/wire/json-value.js'
export { AbstractStorage, COOKIE_SIZE_LIMIT, isStorage } from './lib/storage/abstract-storage.js'
export type { LoadFromCookieHeaderOptions, SessionLogger } from './lib/storage/abstract-storage.js'
export type { SessionEnvelope } from './lib/wire/envelope.js'
export { UNKNOWN_ID } from './lib/load-failure.js'
export type { LoadFailure } from './lib/load-failure.js'
export type { CircuitBreakerOption, CookieStorageOptions, RollingOptions, SameSiteOption, StorageOptions, StoreStorageOptions } from './lib/storage/options.js'
export { CookieStorage } from './lib/storage/cookie-storage.js'
export type { OpenedCookie } from './lib/storage/cookie-storage.js'
export { StoreStorage } from './lib/storage/store-storage.js'
export { defaultKeyFactory } from './lib/storage/session-ids.js'
export type { CookieAttributes, SameSite } from './lib/wire/cookie.js'
export { generateKey } from './lib/crypto/keys.js'
export type { SecretKey, SecretKeys } from './lib/crypto/keys.js'
export {
  FastifySessionsError,
  InvalidSessionError,
  MissingDependencyError,
  SessionConfigError,
  SessionEncodingError,
  SessionIdentityError,
  SessionNotAvailableError,
  SessionStorageError,
  SessionTooLargeError
} from './lib/errors.js'
export type { SessionStorageErrorOptions, TooLargeSubject } from './lib/errors.js'
export { SimpleCookieStorage } from './storages/simple-cookie.js'
