import { createHash } from 'node:crypto'

/**
 * Compare-and-set of one Redis record, in one round trip, on a single server and on a
 * Cluster alike.
 *
 * Why a script: ioredis multiplexes every caller over one connection, so `WATCH` would
 * be released by another request's `EXEC`, and Cluster does not support it at all. A Lua
 * script that touches only the key it is given runs atomically on whichever node owns
 * that key. The script compares bytes and nothing else: the merge happens in TypeScript,
 * because Lua's cjson would rewrite the JSON (14-digit numbers, `[]` turned into `{}`).
 *
 * On a mismatch the script returns what the record holds now, so a retry needs no
 * extra read.
 */
const SCRIPT = `local current = redis.call('GET', KEYS[1])
if not current then return {0} end
if current ~= ARGV[1] then return {0, current} end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return {1}`

const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex')

/** What the compare-and-set found: done, the record changed meanwhile (here is what it holds now), or gone. */
export type CompareAndSetOutcome =
  | { readonly outcome: 'stored' }
  | { readonly outcome: 'changed', readonly current: Buffer }
  | { readonly outcome: 'missing' }

/** The part of an ioredis client (`Redis` or `Cluster`) this module needs. */
export interface ScriptClient {
  callBuffer (command: string, ...args: Array<string | Buffer | number>): Promise<unknown>
}

/**
 * The compare-and-set script, for one client. Runs it by its hash once the server has
 * it: the first call sends it in full (`EVAL`, which also makes the server cache it), so
 * even the first save is one command. When the server no longer knows it (`SCRIPT
 * FLUSH`, a restart, another Cluster node, or eviction, which Redis ≥ 7.4 may do to
 * scripts loaded by `EVAL`), `EVALSHA` fails with NOSCRIPT and the script is sent in full
 * again. Nothing is registered on the client: it belongs to the application.
 */
export class CompareAndSetScript {
  readonly #client: ScriptClient
  /** True once the server took the script: from then on, send its hash only. */
  #cached = false

  constructor (client: ScriptClient) {
    this.#client = client
  }

  /**
   * Replaces the record under `key` by `value` only if it still holds exactly
   * `expected`; `ttl` in seconds, none when undefined.
   */
  async run (key: string, expected: Buffer, value: string, ttl: number | undefined): Promise<CompareAndSetOutcome> {
    const args = [1, key, expected, value, ttl === undefined ? '' : ttl]
    if (this.#cached) {
      try {
        return readReply(await this.#client.callBuffer('EVALSHA', SCRIPT_SHA, ...args))
      } catch (error) {
        if (!isNoScript(error)) throw error
      }
    }
    const reply = await this.#client.callBuffer('EVAL', SCRIPT, ...args)
    this.#cached = true
    return readReply(reply)
  }
}

function isNoScript (error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}

function readReply (reply: unknown): CompareAndSetOutcome {
  if (Array.isArray(reply)) {
    const [status, current] = reply as unknown[]
    if (status === 1) return { outcome: 'stored' }
    if (status === 0 && current === undefined) return { outcome: 'missing' }
    if (status === 0 && Buffer.isBuffer(current)) return { outcome: 'changed', current }
  }
  throw new Error('unexpected reply from the session compare-and-set script')
}
