/**
 * Arbitraries (fast-check) of session data that must come back exactly as it was set:
 * values `session.set()` accepts (findNonJsonValue finds nothing in them) and that
 * JSON gives back equal under `assert.deepStrictEqual`. So: strings of any UTF-16
 * code units (lone surrogates included), finite numbers but -0 (JSON writes it as 0),
 * booleans, null, arrays, and objects with `Object.prototype` whose keys may be
 * `__proto__` or `constructor`. Not here, though set() accepts them: `undefined` as a
 * property, null-prototype objects (both read back as something else, equal as data).
 */
import fc from 'fast-check'

/** Any UTF-16 code unit, with the troublesome ones often. */
export const anyUnit = fc.oneof(
  fc.constantFrom('"', '\\', '/', ';', ',', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udfff', 'é', '😀', '{', '['),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 })
)

const text = fc.string({ unit: anyUnit, maxLength: 8 })

/** Keys of any units, with those that touch prototypes or look like indexes often. */
export const dataKey = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '10', ''))

const number = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((value) => !Object.is(value, -0)))

/** An object with these entries, built as JSON.parse builds one (`__proto__` an own property, the last duplicate winning). */
export function objectOf (entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> {
  const object: Record<string, unknown> = {}
  for (const [name, value] of entries) Object.defineProperty(object, name, { value, writable: true, enumerable: true, configurable: true })
  return object
}

const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 3 }, text, number, fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.array(fc.tuple(dataKey, tie('value')), { maxLength: 3 }).map(objectOf)
}))

/** One session value. */
export const jsonData: fc.Arbitrary<unknown> = value

/** A session's data: distinct keys, each with a value. */
export const sessionEntries: fc.Arbitrary<Array<[string, unknown]>> =
  fc.uniqueArray(fc.tuple(dataKey, jsonData), { selector: ([name]) => name, maxLength: 5 })

/**
 * Whether the data leaves room in a 4096-byte cookie, with every cookie storage's
 * expansion: Python's escapes then cookie quoting (Simple, up to 7 characters for one
 * non-ASCII unit) or base64 of the encrypted UTF-8 (Fernet, NaCl: about 4/3).
 */
export function fitsInCookie (entries: ReadonlyArray<readonly [string, unknown]>): boolean {
  const json = JSON.stringify({ created: 1700000000, session: objectOf(entries) })
  let simple = 0
  for (let index = 0; index < json.length; index++) {
    const code = json.charCodeAt(index)
    simple += code > 0x7e ? 7 : code < 0x20 || code === 0x22 || code === 0x5c ? 4 : 1
  }
  return simple <= 3800 && Buffer.byteLength(json) * 4 / 3 + 200 <= 3800
}
