/**
 * The three-way merge behind "no lost writes": what a request changed (ours), applied
 * to what the record holds when the request saves (theirs), judged against what the
 * request loaded (base).
 *
 * Why three-way: a two-way merge (theirs + ours) cannot tell a key this request deleted
 * from a key another request added, so deleted keys come back (redis-rack#51, the Rails
 * flash that never went away). With the base, a key is ours only if this request set,
 * deleted or edited it; every other key is taken from theirs as it stands.
 *
 * Top-level values are opaque: a changed key replaces theirs whole (no deep merge,
 * which lost data in connect-redis#333). Untouched values are carried as the exact JSON
 * text they were read as (`RawJson`), so a Python `1.0` or a 64-bit integer survives.
 */
import type { SessionChanges } from '../session.js'

/** A JSON value kept as the text it was read as, written back byte for byte. */
export class RawJson {
  readonly text: string

  constructor (text: string) {
    this.text = text
  }
}

/** An envelope, member by member: `RawJson` texts, or decoded values (under a custom decoder, or set by the app). */
export interface RecordView {
  readonly created: number
  readonly members: ReadonlyMap<string, unknown>
}

/** The canonical JSON of a member (a `RawJson` or a value), to tell an edited value from an untouched one. */
export type CanonicalJson = (member: unknown) => string | undefined

/**
 * The keys this request changed against `base`: those it set or deleted, and after
 * `changed()` those whose value no longer encodes as it did when loaded. The comparison
 * runs only after `changed()`, so ordinary requests pay nothing for it.
 */
export function changedKeys (changes: SessionChanges, base: RecordView, canonical: CanonicalJson): Set<string> {
  const keys = new Set(changes.touched)
  if (changes.editedInPlace) {
    for (const [key, value] of changes.data) {
      if (!keys.has(key) && (!base.members.has(key) || canonical(base.members.get(key)) !== canonical(value))) keys.add(key)
    }
  }
  return keys
}

/**
 * Theirs with our changed keys applied: a key we set takes our value (keeping its place
 * when theirs has it, else appended), a key we deleted is removed, every other key is
 * theirs untouched. `created` is the later of the two, so a save never makes a session
 * older than a concurrent save made it.
 */
export function mergeRecord (changes: SessionChanges, changed: ReadonlySet<string>, theirs: RecordView): RecordView {
  const members = new Map(theirs.members)
  for (const key of changed) {
    if (changes.data.has(key)) members.set(key, changes.data.get(key))
    else members.delete(key)
  }
  return { created: Math.max(theirs.created, changes.created), members }
}

/**
 * A record made of the session's data alone (a new session, or a new identity after
 * `regenerate()`), in the data's order. Keys the request kept untouched from the
 * record it loaded (`origin`) keep the text they were read as.
 */
export function freshRecord (changes: SessionChanges, origin: RecordView | undefined, canonical: CanonicalJson): RecordView {
  const changed = origin === undefined ? undefined : changedKeys(changes, origin, canonical)
  const members = new Map<string, unknown>()
  for (const [key, value] of changes.data) {
    const untouched = changed !== undefined && !changed.has(key) && origin?.members.has(key) === true
    members.set(key, untouched ? origin?.members.get(key) : value)
  }
  return { created: changes.created, members }
}
