import { sessionPlugin } from './lib/plugin.js'

export default sessionPlugin
export { sessionPlugin, sessionPlugin as fastifySessions, getSession, newSession } from './lib/plugin.js'
export { Session, isSession } from './lib/session.js'
export type { SessionData, SessionInit, SessionKey } from './lib/session.js'
export { AbstractStorage, COOKIE_SIZE_LIMIT, isStorage } from './lib/storage/abstract-storage.js'
export type { SessionEnvelope } from './lib/wire/envelope.js'
export { UNKNOWN_ID } from './lib/load-failure.js'
export type { LoadFailure } from './lib/load-failure.js'
export type { CookieStorageOptions, SameSiteOption, StorageOptions, StoreStorageOptions } from './lib/storage/options.js'
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
export { SimpleCookieStorage } from './storages/simple-cookie.js'
