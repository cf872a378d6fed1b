/**
 * Reading cookies out of responses, the way a browser sees them: every test that needs
 * a cookie's pair, value or attributes gets it here.
 */
import type { LightMyRequestResponse } from 'fastify'

/** aiohttp-session's default cookie name, which our storages keep. */
export const SESSION_COOKIE = 'AIOHTTP_SESSION'

/** All Set-Cookie header values of a response, in order. */
export function setCookies (response: LightMyRequestResponse): string[] {
  const header = response.headers['set-cookie']
  if (header === undefined) return []
  return Array.isArray(header) ? header : [header]
}

/** One parsed Set-Cookie header. */
export interface ParsedSetCookie {
  name: string
  /** The value exactly as sent (quoted form included). */
  value: string
  /** `name=value`, what a browser sends back. */
  pair: string
  /** Attribute names lower-cased; flags map to ''. */
  attributes: Map<string, string>
  /** Everything after the pair, as written (`; HttpOnly; Path=/`…), to compare order and format. */
  attributeText: string
}

export function parseSetCookie (header: string): ParsedSetCookie {
  // Python's quoting turns ';' into \073 and ours does the same, so the first ';'
  // always ends the value.
  const end = header.indexOf(';')
  const pair = end === -1 ? header : header.slice(0, end)
  const attributeText = end === -1 ? '' : header.slice(end)
  const equals = pair.indexOf('=')
  const attributes = new Map<string, string>()
  for (const part of attributeText.split(';').slice(1)) {
    const at = part.indexOf('=')
    const name = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase()
    attributes.set(name, at === -1 ? '' : part.slice(at + 1).trim())
  }
  const name = pair.slice(0, equals).trim()
  const value = pair.slice(equals + 1).trim()
  return { name, value, pair: `${name}=${value}`, attributes, attributeText }
}

/**
 * The Set-Cookie of `name` among `headers`, parsed, or undefined. More than one for
 * the same name is an error: which one a browser keeps would depend on their order.
 */
export function findSetCookie (headers: readonly string[], name = SESSION_COOKIE): ParsedSetCookie | undefined {
  const matching = headers.map(parseSetCookie).filter((cookie) => cookie.name === name)
  if (matching.length > 1) throw new Error(`more than one Set-Cookie for ${name}: ${headers.join(' | ')}`)
  return matching[0]
}

/** The `name=value` pair a browser would send back for the Set-Cookie of `name`, or undefined. */
export function cookiePair (response: LightMyRequestResponse, name = SESSION_COOKIE): string | undefined {
  return findSetCookie(setCookies(response), name)?.pair
}

/**
 * The value of the Set-Cookie of `name`, exactly as sent (quoted form included): for
 * server-side storages, the session id. Throws when the response sets no such cookie.
 */
export function cookieValue (response: LightMyRequestResponse, name = SESSION_COOKIE): string {
  const cookie = findSetCookie(setCookies(response), name)
  if (cookie === undefined) throw new Error(`the response sets no ${name} cookie (status ${response.statusCode})`)
  return cookie.value
}
