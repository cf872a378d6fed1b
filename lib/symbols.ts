/**
 * Module-level symbols for state shared between the plugin, the storages and the
 * Session, out of reach of user keys and of the public API. They are registered
 * (`Symbol.for`) so that a storage from the ESM build and the plugin from the
 * CommonJS build of this package (both can load in one process) still understand
 * each other.
 */

/** On a Session: true when it must be saved at the end of the request. */
export const kChanged: unique symbol = Symbol.for('fastify-sessions.changed')

/** On a Session: identities whose server-side records must be deleted when it is saved. */
export const kStaleIdentities: unique symbol = Symbol.for('fastify-sessions.staleIdentities')

/** On a Session: the record it was loaded from (text and store version), the base of the merge on save. */
export const kLoaded: unique symbol = Symbol.for('fastify-sessions.loaded')

/** On a Session: what the request changed since the load (keys set or deleted, in-place edits). */
export const kChanges: unique symbol = Symbol.for('fastify-sessions.changes')

/** On a Session: marks it saved (under an identity, as a record): the next save merges from there. */
export const kSaved: unique symbol = Symbol.for('fastify-sessions.saved')

/** On a Session: how many changes it has had, so a save can tell the changes it wrote from those made while it ran. */
export const kRevision: unique symbol = Symbol.for('fastify-sessions.revision')

/** On a Session: ends it in place when a save finds its record gone (logged out meanwhile). */
export const kEnded: unique symbol = Symbol.for('fastify-sessions.ended')

/** On a request: the loaded Session, or null until it is needed. */
export const kSession: unique symbol = Symbol.for('fastify-sessions.request.session')

/** On a storage: true when `loadSession` is synchronous and may run lazily, on first use. */
export const kLoadsSynchronously: unique symbol = Symbol.for('fastify-sessions.loadsSynchronously')

/** On a storage: true when a request without the session cookie has no stored session (no I/O). */
export const kLoadsNothingWithoutCookie: unique symbol = Symbol.for('fastify-sessions.loadsNothingWithoutCookie')

/** On a storage: true when the whole session is in the cookie, so saving it needs a reply. */
export const kKeepsSessionInCookie: unique symbol = Symbol.for('fastify-sessions.keepsSessionInCookie')

/** Brands that identify storages and sessions (where `instanceof` would miss the other build). */
export const kStorageBrand: unique symbol = Symbol.for('fastify-sessions.brand.storage')
export const kSessionBrand: unique symbol = Symbol.for('fastify-sessions.brand.session')

/** On a Session: marks it for a rolling refresh (`created` = now, saved as if changed). */
export const kRefresh: unique symbol = Symbol.for('fastify-sessions.refresh')

/** On a Session: true while its only change is a rolling refresh (a save then yields to a fresher record). */
export const kRefreshOnly: unique symbol = Symbol.for('fastify-sessions.refreshOnly')

/** On a storage: the session a request that never used `request.session` must refresh, or undefined. */
export const kUntouchedRefresh: unique symbol = Symbol.for('fastify-sessions.untouchedRefresh')
