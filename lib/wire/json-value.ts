/**
 * Which JavaScript values survive a trip through JSON, at run time and in the types.
 *
 * A session value is written as JSON and read back by `JSON.parse` (ours) or
 * `json.loads` (aiohttp's). A value that does not come back as it was set would
 * change silently between two requests: a Date comes back as a string, a Map as
 * `{}`, a function not at all, NaN as null. Refusing it where it is set, with the
 * path to the culprit, turns a puzzling bug two requests later into an error at the
 * line that caused it.
 */

/** A value that would not read back as set, and where it sits. */
export interface NonJsonValue {
  /** Where, in JavaScript notation from the root name given: `user.roles[2]`, `user["a b"]`. */
  path: string
  /** What it is: 'a Date', 'a Map', 'NaN', 'a cycle back to user', ... */
  found: string
  /** What JSON makes of it, to follow "which": 'JSON turns into a string'. */
  outcome: string
  /** What to store instead. */
  advice: string
}

/**
 * The deepest nesting of arrays and objects a value may have. Python's `json` (so
 * aiohttp-session) stops reading near 1,000 levels, the envelope adds two, and V8's
 * `JSON.stringify` overflows its stack a few thousand levels down; no session needs
 * more than a handful.
 */
export const MAX_JSON_DEPTH = 500

/**
 * Finds the first part of `value` that would not read back as set through JSON:
 * Dates, Maps, Sets, class instances (any object whose prototype is not
 * `Object.prototype`, `null` or `Array.prototype`), functions, bigints, symbols,
 * non-finite numbers, `undefined` or empty slots in arrays, cycles (a value met again
 * on the path that leads to it; shared references elsewhere are fine), objects with
 * own symbol keys or a `toJSON` method, and nesting deeper than MAX_JSON_DEPTH.
 *
 * `undefined` as an object property is fine: JSON drops the property, and reading it
 * gives `undefined` again. `-0` is fine too. Returns undefined when the whole value
 * survives. The walk uses its own stack, not recursion, and costs what
 * `JSON.stringify` of the value costs: it visits what the encoder would write.
 */
export function findNonJsonValue (value: unknown, root: string): NonJsonValue | undefined {
  const verdict = inspect(value, 'root')
  if (verdict === undefined) return undefined
  if (verdict !== CONTAINER) return { path: root, ...verdict }

  // The containers on the current path, root first: what a cycle would lead back to.
  const frames: Frame[] = [frameOf(value as object, '')]
  while (frames.length > 0) {
    const frame = frames[frames.length - 1] as Frame
    if (frame.next === frame.length) {
      frames.pop()
      continue
    }
    const position = frame.next++
    let child: unknown
    let segment: string | number
    if (frame.keys === undefined) {
      segment = position
      child = (frame.container as unknown[])[position]
      if (child === undefined && !(position in frame.container)) {
        return { path: pathOf(root, frames, frames.length, segment), ...EMPTY_SLOT }
      }
    } else {
      segment = frame.keys[position] as string
      child = (frame.container as Record<string, unknown>)[segment]
    }
    const childVerdict = inspect(child, frame.keys === undefined ? 'array' : 'object')
    if (childVerdict === undefined) continue
    if (childVerdict !== CONTAINER) return { path: pathOf(root, frames, frames.length, segment), ...childVerdict }
    // A scan of the path, as JSON.stringify does: depth is bounded, and a Map per call
    // would cost more than the scan for the shallow values sessions hold.
    const ancestor = frames.findIndex((open) => open.container === child)
    if (ancestor !== -1) {
      return {
        path: pathOf(root, frames, frames.length, segment),
        found: `a cycle back to ${pathOf(root, frames, ancestor + 1)}`,
        outcome: 'JSON.stringify cannot encode (it throws)',
        advice: 'store the data without the reference back'
      }
    }
    if (frames.length === MAX_JSON_DEPTH) {
      return {
        path: root,
        found: `nested more than ${MAX_JSON_DEPTH} levels deep`,
        outcome: 'Python\'s json (aiohttp-session) cannot read, and JSON.stringify may not write',
        advice: 'store a flatter structure instead'
      }
    }
    frames.push(frameOf(child as object, segment))
  }
  return undefined
}

/**
 * True when `value` holds arrays and objects nested more than `limit` levels deep: a
 * primitive has no level, `[]` and `{}` one, `[[1]]` two. What a JSON decoder gives is
 * checked this way before it is used, so data read from a cookie or a record can
 * always be written back (see MAX_JSON_DEPTH). It runs on every load, so it is plain
 * recursion that allocates nothing (a typical session costs ~70 ns, a 200-key one
 * ~18 µs, against ~0.8 µs and ~40 µs for JSON.parse of them); the recursion stops `limit` levels down, so a decoded 100,000-deep value cannot
 * overflow the call stack. Each container is visited once, the walk stops at the first
 * one too deep: linear in the size of the value. (A decoder's output is a tree; a
 * cycle a custom decoder made is refused too, once the walk round it passes `limit`.)
 */
export function isNestedDeeperThan (value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (limit === 0) return true
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      if (isNestedDeeperThan(value[index], limit - 1)) return true
    }
    return false
  }
  for (const key in value) {
    if (isNestedDeeperThan((value as Record<string, unknown>)[key], limit - 1)) return true
  }
  return false
}

/** One sentence for an error message: `user.roles[2] is a Date, which JSON turns into a string; store … instead`. */
export function describeNonJsonValue (problem: NonJsonValue): string {
  return `${problem.path} is ${problem.found}, which ${problem.outcome}; ${problem.advice}`
}

type Finding = Omit<NonJsonValue, 'path'>

/** Where a value sits: what JSON does with `undefined`, functions and symbols depends on it. */
type Place = 'root' | 'object' | 'array'

interface Frame {
  container: object
  /** The keys to visit, or undefined for an array (visited by index). */
  keys: readonly string[] | undefined
  length: number
  next: number
  /** How the container is reached from its parent: a key or an index. */
  segment: string | number
}

const CONTAINER = Symbol('container')

const EMPTY_SLOT: Finding = {
  found: 'an empty slot of a sparse array',
  outcome: 'JSON turns into null',
  advice: 'store null there instead'
}

function frameOf (container: object, segment: string | number): Frame {
  if (Array.isArray(container)) return { container, keys: undefined, length: container.length, next: 0, segment }
  // Object.keys: own enumerable string keys, the ones JSON.stringify writes.
  const keys = Object.keys(container)
  return { container, keys, length: keys.length, next: 0, segment }
}

/** undefined when the value is fine as it is, CONTAINER when its contents need a look, else what is wrong. */
function inspect (value: unknown, place: Place): Finding | typeof CONTAINER | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : { found: String(value), outcome: 'JSON turns into null', advice: 'store null or a string instead' }
    case 'undefined':
      return place === 'array' ? { found: 'undefined', outcome: 'JSON turns into null in an array', advice: 'store null instead' } : undefined
    case 'bigint':
      return { found: 'a bigint', outcome: 'JSON.stringify cannot encode (it throws)', advice: 'store it as a string (String(value)) instead' }
    case 'symbol':
      return { found: 'a symbol', outcome: lostIn(place), advice: 'store a string instead' }
    case 'function':
      return { found: 'a function', outcome: lostIn(place), advice: 'store data, not code' }
  }
  if (value === null) return undefined
  const object = value as object
  const prototype: unknown = Object.getPrototypeOf(object)
  const plain = Array.isArray(object) ? prototype === Array.prototype : prototype === Object.prototype || prototype === null
  if (!plain) return inspectInstance(object)
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    return { found: 'an object with a toJSON method', outcome: 'JSON replaces by what toJSON() returns', advice: 'store what toJSON() returns instead' }
  }
  // Arrays are read by index alone: like other extra properties, symbol keys on an
  // array are not data anyone expects back, and looking for them would double the cost.
  if (!Array.isArray(object) && Object.getOwnPropertySymbols(object).length > 0) {
    return { found: 'an object with symbol keys', outcome: 'JSON drops', advice: 'use string keys instead' }
  }
  return CONTAINER
}

function lostIn (place: Place): string {
  return place === 'array' ? 'JSON turns into null' : 'JSON drops'
}

/** An object of a class: what JSON makes of the common ones, and of any other. */
function inspectInstance (object: object): Finding {
  if (object instanceof Date) {
    return { found: 'a Date', outcome: 'JSON turns into a string', advice: 'store date.toISOString() or date.getTime() instead' }
  }
  if (object instanceof Map) {
    return { found: 'a Map', outcome: 'JSON turns into {}', advice: 'store Object.fromEntries(map) instead' }
  }
  if (object instanceof Set) {
    return { found: 'a Set', outcome: 'JSON turns into {}', advice: 'store [...set] (an array) instead' }
  }
  const name = constructorName(object)
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    return { found: `a ${name ?? 'binary buffer'}`, outcome: 'JSON does not read back as bytes', advice: 'store it as a base64 string instead' }
  }
  if (object instanceof String || object instanceof Number || object instanceof Boolean) {
    return { found: `a ${name ?? 'boxed primitive'} object`, outcome: 'JSON turns into a primitive', advice: 'store the primitive (value.valueOf()) instead' }
  }
  const found = name === undefined ? 'an object with a custom prototype' : `an instance of ${name}`
  const rebuild = name === undefined ? 'the object' : `the ${name}`
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    return { found, outcome: 'JSON replaces by what its toJSON() returns', advice: `store what toJSON() returns instead, and rebuild ${rebuild} after get()` }
  }
  return { found, outcome: 'JSON reads back as a plain object, without its class', advice: `store plain data instead, and rebuild ${rebuild} after get()` }
}

/** The name of the class that made `object`; none for `Object.create(someObject)`, which only inherits a constructor. */
function constructorName (object: object): string | undefined {
  const maker: unknown = (object as { constructor?: unknown }).constructor
  if (typeof maker !== 'function' || maker.prototype !== Object.getPrototypeOf(object)) return undefined
  return maker.name === '' ? undefined : shorten(maker.name)
}

/** An identifier JavaScript accepts after a dot (ASCII only, which is enough for a message). */
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/** True when `name` can follow a dot in a path (`user.roles`); other keys go in brackets. */
export function isIdentifierName (name: string): boolean {
  return IDENTIFIER.test(name)
}

/** `root` followed by the segments of frames 1 to `end - 1`, then `last` if given. */
function pathOf (root: string, frames: readonly Frame[], end: number, last?: string | number): string {
  let path = root
  for (let index = 1; index < end; index++) path += segmentText((frames[index] as Frame).segment)
  return last === undefined ? path : path + segmentText(last)
}

function segmentText (segment: string | number): string {
  if (typeof segment === 'number') return `[${segment}]`
  const shown = shorten(segment)
  return isIdentifierName(shown) ? '.' + shown : '[' + JSON.stringify(shown) + ']'
}

/** Keeps messages readable when a key is a whole document. */
export function shorten (text: string): string {
  return text.length > 40 ? text.slice(0, 40) + '…' : text
}

/**
 * Stands in the types where a value would not survive JSON; its name says why, so the
 * compiler's message points at the cause:
 * `Argument of type 'Date' is not assignable to parameter of type 'NotJson<"Date is not JSON: store a string or number">'`.
 */
export type NotJson<Reason extends string> = { readonly [K in Reason]: never }

/**
 * `T` itself when every part of it survives JSON (strings, numbers, booleans, null,
 * arrays and plain objects of those, interfaces included; `undefined` as a property);
 * otherwise `T` with each part that would not replaced by a `NotJson` naming the
 * reason. `unknown` and `any` stay as they are: only a run-time check can tell.
 */
export type JsonSafe<T> = unknown extends T ? T : T extends JsonShape<T> ? T : JsonShape<T>

/** `T` with every part that would not survive JSON replaced by a `NotJson`. Structural (lazy), so recursive types work. */
type JsonShape<T> =
  unknown extends T ? T
    : T extends string | number | boolean | null | undefined ? T
      : T extends bigint ? NotJson<'bigint is not JSON: store a string'>
        : T extends symbol ? NotJson<'symbol is not JSON: store a string'>
          : T extends (...parameters: never[]) => unknown ? NotJson<'a function is not JSON: store data'>
            : T extends Date ? NotJson<'Date is not JSON: store a string or number'>
              : T extends ReadonlyMap<unknown, unknown> ? NotJson<'Map is not JSON: store an object (Object.fromEntries)'>
                : T extends ReadonlySet<unknown> ? NotJson<'Set is not JSON: store an array'>
                  : T extends readonly unknown[] ? { [Index in keyof T]: JsonElement<T[Index]> }
                    : { [Key in keyof T]: JsonShape<T[Key]> }

/** An array element: `undefined` there becomes null. */
type JsonElement<T> = T extends undefined ? NotJson<'undefined in an array is not JSON: store null'> : JsonShape<T>
