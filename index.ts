import { sessionPlugin } from './lib/plugin.js'

export default sessionPlugin
export { sessionPlugin, sessionPlugin as fastifySessions, getSession, newSession } from './lib/plugin.js'
export { Session, isSession } from './lib/session.js'
export type { SessionData, SessionInit, SessionKey } from './lib/session.js'
export { AbstractStorage, COOKIE_SIZE_LIMIT, UNKNOWN_ID, isStorage } from './lib/storage.js'
export type { LoadFailure, SameSiteOption, SessionEnvelope, StorageOptions } from './lib/storage.js'
export { CookieStorage } from './lib/cookie-storage.js'
export { StoreStorage, defaultKeyFactory } from './lib/store-storage.js'
export type { StoreStorageOptions } from './lib/store-storage.js'
export type { CookieStorageOptions, OpenedCookie } from './lib/cookie-storage.js'
export type { CookieAttributes, SameSite } from './lib/cookie.js'
export { generateKey } from './lib/keys.js'
export type { SecretKey, SecretKeys } from './lib/keys.js'
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
