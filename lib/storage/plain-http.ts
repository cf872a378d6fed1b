/**
 * A `Secure` cookie in the answer to a plain-http request is dropped by every browser
 * (RFC 6265bis §5.7: a cookie with the Secure attribute from a non-secure origin is
 * ignored), without a word to the page or the server: the session "does not stick",
 * every request starts a new one. Browsers make an exception for hosts that are secure
 * contexts even over http: `localhost`, `*.localhost` and the loopback addresses. This
 * is the check that tells a storage when to warn.
 */
import type { FastifyRequest } from 'fastify'

/** Loopback IPv4 addresses (127.0.0.0/8), which browsers treat as secure contexts. */
const LOOPBACK_IPV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/**
 * True when browsers would drop a Secure cookie set in the answer to `request`: it came
 * over plain http (as Fastify sees it: `request.protocol` follows X-Forwarded-Proto
 * when `trustProxy` allows) to a host that is not a secure context. A request without a
 * Host (not from a browser) says nothing.
 */
export function dropsSecureCookie (request: FastifyRequest): boolean {
  if (request.protocol !== 'http') return false
  const hostname = request.hostname.toLowerCase()
  return hostname !== '' && !isSecureContextHost(hostname)
}

/** Hosts browsers treat as secure contexts over plain http (`hostname` as Fastify gives it, lower-case). */
export function isSecureContextHost (hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || LOOPBACK_IPV4.test(hostname)
}

/** The warning, logged once per storage. */
export const PLAIN_HTTP_WARNING = 'fastify-sessions: the session cookie is Secure, but this request came over plain http: ' +
  'browsers drop such a cookie without a word, so the session will not stick. Serve the app over https; behind a proxy ' +
  "that terminates TLS, set Fastify's trustProxy so that request.protocol follows X-Forwarded-Proto; for development " +
  'over plain http, set secure: false or use localhost. (Logged once.)'
