import { randomUUID } from 'node:crypto'

/**
 * `JSON.parse`, also accepting the bare tokens `NaN`, `Infinity` and `-Infinity` that
 * Python's `json.dumps` writes for non-finite floats (its default, `allow_nan=True`),
 * so a session written by aiohttp with such a value is not thrown away. The extra
 * work happens only when `JSON.parse` fails, so ordinary envelopes pay nothing.
 * (Written back, those values become `null`, as `JSON.stringify` does.)
 */
export function parsePythonJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    // A random tag, so no string in the data can be mistaken for a placeholder.
    const tag = `\u0000${randomUUID()}:`
    const rewritten = replaceNonFiniteTokens(text, tag)
    if (rewritten === text) throw error
    return JSON.parse(rewritten, (key, value: unknown) => {
      // A token where a key belongs (`{NaN: 1}`) is not JSON, in Python either.
      if (key.startsWith(tag)) throw error
      if (typeof value !== 'string' || !value.startsWith(tag)) return value
      return Number(value.slice(tag.length))
    })
  }
}

const TOKENS = ['-Infinity', 'Infinity', 'NaN']

/** Replaces each non-finite token outside string literals by the string `"<tag><token>"`. */
function replaceNonFiniteTokens (text: string, tag: string): string {
  let result = ''
  let copiedUpTo = 0
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (inString) {
      if (char === '\\') index++
      else if (char === '"') inString = false
      continue
    }
    if (char === '"') {
      inString = true
      continue
    }
    const token = TOKENS.find((candidate) => text.startsWith(candidate, index))
    if (token === undefined) continue
    result += text.slice(copiedUpTo, index) + JSON.stringify(tag + token)
    index += token.length - 1
    copiedUpTo = index + 1
  }
  return result + text.slice(copiedUpTo)
}
