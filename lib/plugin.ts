import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { InvalidSessionError, SessionConfigError, SessionNotAvailableError, describeType } from './errors.js'
import { isSession } from './session.js'
import type { Session } from './session.js'
import { isStorage } from './storage/abstract-storage.js'
import type { AbstractStorage } from './storage/abstract-storage.js'
import { isRefreshDue } from './storage/rolling.js'
import { nowSeconds } from './clock.js'
import { kChanged, kKeepsSessionInCookie, kLoadsNothingWithoutCookie, kLoadsSynchronously, kRefresh, kSession, kStaleIdentities, kUntouchedRefresh } from './symbols.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The request's session. Available in every handler and in hooks after
     * `onRequest`; throws a SessionNotAvailableError on routes with
     * `config: { session: false }`, in contexts the plugin's registration does not
     * reach, and (server-side storages) in onRequest hooks added before the plugin.
     */
    readonly session: Session
    /**
     * Replaces `request.session` with a new, empty session with a new identity (use it
     * on login, against session fixation). The old server-side record is deleted when
     * the response is saved.
     */
    newSession (): Session
    /**
     * Saves the session now, where the reply cannot (a `@fastify/websocket` route, a
     * hijacked reply) or before it goes out. Redis and Memcached write the record now
     * (no reply needed, as long as the session keeps the id its cookie holds); cookie
     * storages need the reply: they throw a `SessionNotAvailableError` where there is
     * none, and otherwise leave the cookie to the reply, as usual. Does nothing for an
     * unchanged session; changes made afterwards can be saved by calling it again.
     * Calls on one request run one after another, and the reply waits for them.
     */
    saveSession (): Promise<void>
  }
  interface FastifyContextConfig {
    /** `false` opts the route out: no cookie parsing, no storage I/O, no Set-Cookie. */
    session?: boolean
  }
}

/** On a request: loads the session (even before onRequest), for `getSession()`. */
const kLoadSession: unique symbol = Symbol.for('fastify-sessions.request.load')

/** On a request: true after an unexpected error; nothing is saved for it. */
const kDiscarded: unique symbol = Symbol.for('fastify-sessions.request.discarded')

/** On a request: the session on first use of `request.session`, when the slot has none. */
const kLoadOnFirstUse: unique symbol = Symbol.for('fastify-sessions.request.loadOnFirstUse')

/** On a request: what `request.newSession()` does. */
const kNewSession: unique symbol = Symbol.for('fastify-sessions.request.newSession')

/** On a request: what `request.saveSession()` does. */
const kSaveSession: unique symbol = Symbol.for('fastify-sessions.request.saveSession')

/** On a request: its reply, which request.saveSession() needs to know whether a cookie can still go out. */
const kReply: unique symbol = Symbol.for('fastify-sessions.request.reply')

/** On a request: its latest request.saveSession(), which the next one (and onSend) waits for; null for none. */
const kPendingSave: unique symbol = Symbol.for('fastify-sessions.request.pendingSave')

/**
 * On the requests of the application's root: the error for a request whose context has
 * no registration of the plugin. Its presence says that `request.session` and
 * `request.newSession()` are installed on the root (see `installAccessors`).
 */
const kNotRegisteredHere: unique symbol = Symbol.for('fastify-sessions.request.notRegisteredHere')

/**
 * The request as the plugin sees it. The slot `kSession` holds the loaded session; before
 * that it is null, except after the load hook found no session cookie (server-side
 * storages), when it is undefined: the session is then made on first use, with no I/O.
 * The functions exist only in the contexts where the plugin is registered.
 */
interface SessionRequest extends FastifyRequest {
  [kSession]: Session | null | undefined
  [kDiscarded]: boolean
  [kReply]: FastifyReply | null
  [kPendingSave]: Promise<void> | null
  [kLoadSession]?: () => Promise<Session>
  [kLoadOnFirstUse]?: () => Session
  [kNewSession]?: () => Session
  [kSaveSession]?: () => Promise<void>
  [kNotRegisteredHere]?: (what: string) => SessionNotAvailableError
}

type OnSendDone = (error?: Error | null, payload?: unknown) => void

function internal (request: FastifyRequest): SessionRequest {
  return request as SessionRequest
}

function isThenable<T> (value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as Partial<PromiseLike<T>> | undefined)?.then === 'function'
}

function isOptedOut (request: FastifyRequest): boolean {
  return request.routeOptions.config.session === false
}

/** True when an error carries its own HTTP status (like aiohttp's HTTPException). */
function hasHttpStatus (error: FastifyError & { status?: unknown }): boolean {
  const status = error.statusCode ?? error.status
  return typeof status === 'number' && status >= 400 && status <= 599
}

function routeName (request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? request.url}`
}

/**
 * The request's reply while it can still carry a Set-Cookie; undefined on a websocket
 * route (@fastify/websocket hijacks the reply before calling the handler), after
 * `reply.hijack()`, and once the reply or its headers have gone out.
 */
function replyOf (request: FastifyRequest): FastifyReply | undefined {
  const reply = internal(request)[kReply]
  return reply === null || reply.sent || reply.raw.headersSent ? undefined : reply
}

/** What to do about a request whose context has no registration of the plugin. */
const REGISTER_HERE = 'register it on this instance or a parent, before the plugin that declares this route: ' +
  '`app.register(sessionPlugin, storage)`; if a plugin of yours registers it, wrap that plugin with fastify-plugin ' +
  'so that the registration is not encapsulated in it'

/** The error for `what` on a request whose context has no registration, although another context has one. */
function notRegisteredHere (this: FastifyRequest, what: string): SessionNotAvailableError {
  return new SessionNotAvailableError(`${what} on ${routeName(this)}: fastify-sessions is not registered in the context of ` +
    `this route, only in another, encapsulated one; ${REGISTER_HERE}`)
}

/**
 * The application's root instance. Fastify makes each encapsulated context an object
 * whose prototype is its parent's instance, so the prototypes that are Fastify instances
 * lead to the root. Were that to change, this finds `fastify` itself, and only the error
 * for routes outside the plugin's context is lost (they would see no `request.session`).
 */
function rootOf (fastify: FastifyInstance): FastifyInstance {
  let root = fastify
  for (let parent: unknown = Object.getPrototypeOf(root); isFastifyInstance(parent); parent = Object.getPrototypeOf(parent)) root = parent
  return root
}

function isFastifyInstance (value: unknown): value is FastifyInstance {
  return typeof value === 'object' && value !== null && typeof (value as Partial<FastifyInstance>).decorateRequest === 'function'
}

/**
 * Installs `request.session`, `request.newSession()` and `request.saveSession()` once, on
 * the root: each context where the plugin is registered adds its own `kLoadOnFirstUse`,
 * `kNewSession` and `kSaveSession`, which they call. So in an encapsulated context without the plugin (a sibling of the plugin
 * that registered it) `request.session` throws an error that says where to register it,
 * instead of being undefined ("Cannot read properties of undefined").
 */
function installAccessors (root: FastifyInstance): void {
  root.decorateRequest(kNotRegisteredHere, notRegisteredHere)
  root.decorateRequest('session', {
    getter (this: FastifyRequest): Session {
      const request = internal(this)
      const loaded = request[kSession]
      if (loaded !== null && loaded !== undefined) return loaded
      const load = request[kLoadOnFirstUse]
      if (load === undefined) throw notRegisteredHere.call(this, 'request.session')
      return load.call(this)
    }
  })
  root.decorateRequest('newSession', function (this: FastifyRequest): Session {
    const replace = internal(this)[kNewSession]
    if (replace === undefined) throw notRegisteredHere.call(this, 'request.newSession()')
    return replace.call(this)
  })
  root.decorateRequest('saveSession', async function (this: FastifyRequest): Promise<void> {
    const save = internal(this)[kSaveSession]
    if (save === undefined) throw notRegisteredHere.call(this, 'request.saveSession()')
    await save.call(this)
  })
}

// Async, so that a bad registration rejects `register()` (avvio does not catch a throw
// from a callback-style plugin: it would crash the process).
async function fastifySessions (fastify: FastifyInstance, storage: AbstractStorage): Promise<void> {
  if (!isStorage(storage)) {
    throw new SessionConfigError('register(sessionPlugin, storage) expects the storage itself as the options ' +
      `(an AbstractStorage instance, e.g. new EncryptedCookieStorage(key)); got ${describeType(storage)}`)
  }
  if (fastify.hasRequestDecorator(kLoadSession)) {
    throw new SessionConfigError('the plugin is already registered in this context or a parent; register it once, with one storage')
  }
  if (!fastify.hasRequestDecorator(kNotRegisteredHere)) {
    if (fastify.hasRequestDecorator('session') || fastify.hasRequestDecorator('newSession')) {
      throw new SessionConfigError('request.session is already decorated by another plugin in this context ' +
        '(@fastify/session, @fastify/secure-session…): use one session plugin')
    }
    installAccessors(rootOf(fastify))
  }
  // Cookie storages load synchronously and without I/O: they wait for the first use
  // of request.session, so requests that never touch it decrypt nothing. (Their only
  // onRequest hook keeps the reply for request.saveSession(); bench/README.md sizes it.)
  const loadsOnFirstUse = storage[kLoadsSynchronously]
  // Server-side storages have nothing to read for a request without their cookie: such
  // requests skip the load hook's work, and get a new session when (if) they use it.
  const loadsNothingWithoutCookie = storage[kLoadsNothingWithoutCookie]
  // Cookie storages save nothing but the cookie: request.saveSession() leaves it to the
  // reply, and explains itself where there is no reply.
  const keepsSessionInCookie = storage[kKeepsSessionInCookie]
  // Rolling sessions: undefined when they do not roll, and then the hooks pay one check.
  const refreshAfter = storage.refreshAfter
  // A storage that loads on first use says what a request that never used the session
  // must refresh (cookie storages: without decrypting a young cookie).
  const untouchedRefresh = loadsOnFirstUse ? storage[kUntouchedRefresh] : undefined

  /** A request that has no stored session to read: nothing to load before it is used. */
  function isCookielessStoreRequest (request: FastifyRequest): boolean {
    return loadsNothingWithoutCookie && storage.loadCookie(request) === undefined
  }

  /** Puts what the storage's `method` returned in the request's slot, if it is a Session. */
  function setSession (request: FastifyRequest, session: unknown, method: string): Session {
    if (!isSession(session)) {
      throw new InvalidSessionError(`${storage.constructor.name}.${method}() must return a Session; it returned ${describeType(session)}`)
    }
    internal(request)[kSession] = session
    return session
  }

  function checkAvailable (request: FastifyRequest): void {
    if (isOptedOut(request)) {
      throw new SessionNotAvailableError(`request.session is not available on ${routeName(request)}: the route opted out with config: { session: false }`)
    }
  }

  /**
   * request.session before the session is in the slot: load it now, or explain why it
   * cannot be. A server-side storage loads in the onRequest hook: before that hook has
   * run (in an onRequest hook added before the plugin) the session is not there, with a
   * cookie or without. Both cases throw, so that such a hook fails on its developer's
   * first try, not only once a visitor has a session cookie.
   */
  function loadOnFirstUse (request: FastifyRequest): Session {
    checkAvailable(request)
    if (loadsOnFirstUse) return setSession(request, storage.loadSession(request), 'loadSession')
    // The cookie is looked at again: only a context the hook does not reach (made before
    // the plugin was registered) leaves undefined with a cookie there.
    if (internal(request)[kSession] === undefined && isCookielessStoreRequest(request)) {
      return setSession(request, storage.newSession(), 'newSession')
    }
    throw new SessionNotAvailableError(`request.session on ${routeName(request)} is not loaded yet: ${storage.constructor.name} loads it ` +
      "in its onRequest hook, which runs after the onRequest hooks added before the plugin's registration. In such a hook use " +
      '`await getSession(request)` instead, or add the hook after registering the plugin.')
  }

  async function loadSession (this: FastifyRequest): Promise<Session> {
    const current = internal(this)[kSession]
    if (current !== null && current !== undefined) return current
    checkAvailable(this)
    return setSession(this, await storage.loadSession(this), 'loadSession')
  }

  /** The session `newSession()` replaces, whose identities the new one must retire; undefined for none. */
  function replacedSession (request: FastifyRequest): Session | undefined {
    const current = internal(request)[kSession]
    if (current !== null && current !== undefined) return current
    if (!loadsOnFirstUse) return loadOnFirstUse(request)
    // A cookie session has no server-side record to retire, so it need not be decrypted here.
    checkAvailable(request)
    return undefined
  }

  function newSession (this: FastifyRequest): Session {
    const replaced = replacedSession(this)
    const session = setSession(this, storage.newSession(), 'newSession')
    if (replaced !== undefined) {
      session[kStaleIdentities].push(...replaced[kStaleIdentities])
      if (replaced.identity !== null) session[kStaleIdentities].push(replaced.identity)
    }
    session[kChanged] = true
    return session
  }

  /**
   * request.saveSession(). Calls on one request run one after another (a websocket may
   * call it for every message), each saving what changed before it started.
   */
  async function saveSession (this: FastifyRequest): Promise<void> {
    checkAvailable(this)
    if (keepsSessionInCookie) {
      if (replyOf(this) === undefined) {
        throw new SessionNotAvailableError(`request.saveSession() on ${routeName(this)}: ${storage.constructor.name} ` +
          'keeps the session in the cookie, and there is no reply here to carry one (a websocket route, or a reply that was hijacked ' +
          'or has been sent), so changes made here cannot be saved. Change the session in an HTTP route, or use a server-side ' +
          'storage (RedisStorage, MemcachedStorage), which saves without a reply.')
      }
      // The cookie goes out with the reply, in onSend, with whatever changes come later.
      return
    }
    const previous = internal(this)[kPendingSave]
    const saving = previous === null ? saveNow(this) : previous.then(() => saveNow(this), () => saveNow(this))
    internal(this)[kPendingSave] = saving
    await saving
  }

  async function saveNow (request: FastifyRequest): Promise<void> {
    const session = internal(request)[kSession]
    if (session === null || session === undefined || !session[kChanged]) return
    // Cleared first, so that changes made while the store works mark it again.
    session[kChanged] = false
    try {
      await storage.saveSession(request, replyOf(request), session)
    } catch (error) {
      session[kChanged] = true
      throw error
    }
  }

  /** Keeps the reply for request.saveSession(): cookie storages have no other onRequest hook to do it. */
  function rememberReply (request: FastifyRequest, reply: FastifyReply, next: HookHandlerDoneFunction): void {
    internal(request)[kReply] = reply
    next()
  }

  // The hooks below take callbacks on purpose; do not turn them into async functions. An
  // async hook costs a promise and its microtask turns on every request, even when there
  // is nothing to wait for (no cookie, an unchanged session, a cookie storage), and these
  // hooks run on every request: only a storage that really returns a promise pays for one.
  function loadOnRequest (request: FastifyRequest, reply: FastifyReply, next: HookHandlerDoneFunction): void {
    internal(request)[kReply] = reply
    if (internal(request)[kSession] !== null) {
      next()
      return
    }
    if (isCookielessStoreRequest(request)) {
      // Nothing stored to read: the session is made on first use, if there is one.
      // Undefined tells loadOnFirstUse that this hook has run.
      internal(request)[kSession] = undefined
      next()
      return
    }
    if (isOptedOut(request)) {
      next()
      return
    }
    let loading: Session | Promise<Session>
    try {
      loading = storage.loadSession(request)
      if (!isThenable(loading)) {
        setSession(request, loading, 'loadSession')
        next()
        return
      }
    } catch (error) {
      next(error as Error)
      return
    }
    loading.then((session) => {
      // A second call to next() would start the request twice; report setSession's errors once.
      let failure: Error | undefined
      try {
        setSession(request, session, 'loadSession')
      } catch (error) {
        failure = error as Error
      }
      next(failure)
    }, next)
  }

  function saveOnSend (request: FastifyRequest, reply: FastifyReply, payload: unknown, next: OnSendDone): void {
    const pending = internal(request)[kPendingSave]
    if (pending !== null) {
      // A request.saveSession() the handler did not wait for: the reply waits for it (the
      // cookie it sets must go out with the reply), then saves what changed since.
      internal(request)[kPendingSave] = null
      const resume = (): void => { saveOnSend(request, reply, payload, next) }
      pending.then(resume, resume)
      return
    }
    const session = internal(request)[kSession]
    if (session === null || session === undefined || !session[kChanged] || internal(request)[kDiscarded]) {
      if (refreshAfter === undefined) next(null, payload)
      else refreshOnSend(request, reply, session ?? null, payload, next)
      return
    }
    // Cleared first: if saving fails, the error reply passes through here again.
    session[kChanged] = false
    let saving: void | Promise<void>
    try {
      saving = storage.saveSession(request, reply, session)
    } catch (error) {
      next(error as Error)
      return
    }
    if (isThenable(saving)) saving.then(() => next(null, payload), next)
    else next(null, payload)
  }

  /**
   * The rolling refresh: a request that read a stored session older than `refreshAfter`
   * and did not change it saves it again with `created` = now (see `isRefreshDue`). Not
   * after an unexpected error (nothing is saved then), not on opted-out routes, not for a
   * new session (an anonymous request, or a cookie that was refused: never revived).
   */
  function refreshOnSend (request: FastifyRequest, reply: FastifyReply, loaded: Session | null, payload: unknown, next: OnSendDone): void {
    const session = internal(request)[kDiscarded] ? undefined : loaded ?? untouchedSession(request)
    if (session === undefined || session.isNew || session.empty || !isRefreshDue(session.created, refreshAfter as number, storage.maxAge as number, nowSeconds())) {
      next(null, payload)
      return
    }
    session[kRefresh]()
    let saving: void | Promise<void>
    try {
      saving = storage.saveSession(request, reply, session)
    } catch (error) {
      refreshFailed(request, error)
      next(null, payload)
      return
    }
    if (isThenable(saving)) {
      saving.then(() => next(null, payload), (error: unknown) => {
        refreshFailed(request, error)
        next(null, payload)
      })
    } else {
      next(null, payload)
    }
  }

  /** The session of a request that never used `request.session`, if it may be due a refresh. */
  function untouchedSession (request: FastifyRequest): Session | undefined {
    if (untouchedRefresh === undefined || isOptedOut(request)) return undefined
    const session = untouchedRefresh(request)
    // In the slot, as if the route had used it: later hooks see the session that was saved.
    if (session !== undefined) internal(request)[kSession] = session
    return session
  }

  /**
   * A refresh that could not be saved does not fail the response: the request itself
   * succeeded, the session stays valid until its old expiry, and the next request tries
   * again. The client gets no cookie for a write that did not happen.
   */
  function refreshFailed (request: FastifyRequest, error: unknown): void {
    request.log.warn({ err: error }, 'fastify-sessions: the rolling refresh of the session failed; it keeps its previous expiry')
  }

  /**
   * After an error without an HTTP status of its own (an unexpected exception, which
   * Fastify turns into a 500) nothing is saved for the request, even if an error handler
   * changes the session: the handler may have stopped half-way through its changes.
   * This is aiohttp-session's rule. An error with a status (a 4xx from httpErrors, a
   * redirect) is a normal reply and saves.
   */
  function discardOnError (request: FastifyRequest, reply: FastifyReply, error: FastifyError, next: () => void): void {
    if (!hasHttpStatus(error)) internal(request)[kDiscarded] = true
    next()
  }

  function checkRouteConfig (route: RouteOptions): void {
    const value = (route.config as { session?: unknown } | undefined)?.session
    if (value !== undefined && typeof value !== 'boolean') {
      throw new SessionConfigError(`config.session on ${String(route.method)} ${route.url} must be a boolean; got ${describeType(value)}`)
    }
  }

  fastify.decorateRequest(kSession, null)
  fastify.decorateRequest(kDiscarded, false)
  fastify.decorateRequest(kReply, null)
  fastify.decorateRequest(kPendingSave, null)
  fastify.decorateRequest(kLoadOnFirstUse, function (this: FastifyRequest): Session {
    return loadOnFirstUse(this)
  })
  fastify.decorateRequest(kNewSession, newSession)
  fastify.decorateRequest(kSaveSession, saveSession)
  fastify.decorateRequest(kLoadSession, loadSession)
  fastify.addHook('onRequest', loadsOnFirstUse ? rememberReply : loadOnRequest)
  fastify.addHook('onSend', saveOnSend)
  fastify.addHook('onError', discardOnError)
  fastify.addHook('onRoute', checkRouteConfig)
}

/**
 * The plugin. Register it with a storage as its options:
 * `await app.register(sessionPlugin, new EncryptedCookieStorage(key))`.
 */
export const sessionPlugin = fp(fastifySessions, { fastify: '5.x', name: 'fastify-sessions' })

/** The plugin's `kLoadSession` on the request; throws where the plugin is not registered. */
function loaderOf (request: FastifyRequest, what: string): () => Promise<Session> {
  const load = internal(request)[kLoadSession]
  if (load !== undefined) return load
  const notRegistered = internal(request)[kNotRegisteredHere]
  if (notRegistered !== undefined) throw notRegistered.call(request, what)
  throw new SessionNotAvailableError(`${what} on ${routeName(request)}: fastify-sessions is not registered in this application; ${REGISTER_HERE}`)
}

/** The request's session, loading it if needed (aiohttp `get_session`). */
export async function getSession (request: FastifyRequest): Promise<Session> {
  return loaderOf(request, 'getSession(request)').call(request)
}

/** A new session for the request, replacing the current one (aiohttp `new_session`). */
export async function newSession (request: FastifyRequest): Promise<Session> {
  loaderOf(request, 'newSession(request)')
  return request.newSession()
}

/** Saves the request's session now: `request.saveSession()` (see there). */
export async function saveSession (request: FastifyRequest): Promise<void> {
  loaderOf(request, 'saveSession(request)')
  await request.saveSession()
}
