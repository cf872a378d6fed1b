// Reads a V8 .cpuprofile (from `node --cpu-prof` or the inspector) and says where the
// time went: self time per function, time per package, and inclusive time of our own
// functions (their callees included, so native crypto shows up under its caller).

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)'])

/** A location readers recognise: `fastify/lib/route.js`, `fastify-sessions/lib/plugin.js`, `node:internal/…`. */
export function shortUrl (url) {
  if (url === '') return ''
  if (url.startsWith('node:')) return url
  const path = url.replace(/^file:\/\//, '')
  const distAt = path.lastIndexOf('/dist/esm/')
  if (distAt !== -1 && !path.includes('/node_modules/')) return 'fastify-sessions/' + path.slice(distAt + '/dist/esm/'.length)
  const modulesAt = path.lastIndexOf('/node_modules/')
  if (modulesAt !== -1) return path.slice(modulesAt + '/node_modules/'.length)
  const benchAt = path.lastIndexOf('/bench/')
  if (benchAt !== -1) return path.slice(benchAt + 1)
  return path
}

/** Which package or layer a frame belongs to. */
export function category (frame) {
  const { functionName, url } = frame
  if (SPECIAL.has(functionName)) return functionName
  const short = shortUrl(url)
  if (short === '') return 'native (V8 builtins, addons)'
  if (short.startsWith('node:')) return 'node internals'
  if (short.startsWith('fastify-sessions/')) return 'fastify-sessions'
  if (short.startsWith('bench/')) return 'benchmark routes'
  const parts = short.split('/')
  return short.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
}

function frameKey (frame) {
  return `${frame.functionName || '(anonymous)'}\u0000${frame.url}\u0000${frame.lineNumber}`
}

function frameLabel (frame) {
  const where = shortUrl(frame.url)
  return { name: frame.functionName || '(anonymous)', where: where === '' ? '' : `${where}:${frame.lineNumber + 1}` }
}

/** Packages that only wrap native code: their time belongs to their caller. */
const BINDINGS = new Set(['sodium-native', 'require-addon', 'node-gyp-build'])

/** Frames that do work on behalf of whoever called them: natives, bindings, Node internals. */
function isPassThrough (group) {
  return group === 'native (V8 builtins, addons)' || group === 'node internals' || SPECIAL.has(group) || BINDINGS.has(group)
}

/**
 * Self time, per function and per package, and two attributions that survive
 * callback-style hooks. Fastify runs the rest of the request inside a hook's `next()`
 * call, so plain inclusive time of an `onSend` hook would include writing the
 * response. Here a sample belongs to the nearest *package* frame above it (natives and
 * Node internals count for their caller), and a function's "own" time stops at the
 * first frame of another package: the request's remaining life under our `next()` is
 * not ours, the native crypto under our `open()` is.
 */
export function analyze (profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  // Sample i lasts until sample i + 1 (as in Chrome DevTools).
  const { samples, timeDeltas } = profile
  const weights = samples.map((_, index) => (timeDeltas[index + 1] ?? 0) / 1000)
  const total = weights.reduce((sum, weight) => sum + weight, 0)

  const self = new Map()
  const own = new Map()
  const categories = new Map()
  const owners = new Map()
  const labels = new Map()
  let idle = 0
  samples.forEach((id, index) => {
    const weight = weights[index]
    const node = byId.get(id)
    const frame = node.callFrame
    if (frame.functionName === '(idle)') {
      idle += weight
      return
    }
    const key = frameKey(frame)
    labels.set(key, frame)
    self.set(key, (self.get(key) ?? 0) + weight)
    const group = category(frame)
    categories.set(group, (categories.get(group) ?? 0) + weight)
    // Walk up to the first package frame: it owns the sample. Our functions met on
    // the way up, before any other package's frame, get it as their own time.
    let owner
    const seen = new Set()
    for (let current = node; current !== undefined; current = byId.get(parent.get(current.id))) {
      const currentGroup = category(current.callFrame)
      if (owner === undefined && !isPassThrough(currentGroup)) owner = currentGroup
      if (owner !== undefined && owner !== currentGroup && !isPassThrough(currentGroup)) break
      if (owner === 'fastify-sessions' && currentGroup === 'fastify-sessions') {
        const currentKey = frameKey(current.callFrame)
        if (!seen.has(currentKey)) {
          seen.add(currentKey)
          labels.set(currentKey, current.callFrame)
          own.set(currentKey, (own.get(currentKey) ?? 0) + weight)
        }
      }
    }
    const ownerName = owner ?? group
    owners.set(ownerName, (owners.get(ownerName) ?? 0) + weight)
  })
  const busy = total - idle
  const rows = (map) => [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([key, ms]) => ({ ...frameLabel(labels.get(key)), category: category(labels.get(key)), ms, share: ms / busy }))
  const groups = (map) => [...map.entries()].sort((a, b) => b[1] - a[1]).map(([name, ms]) => ({ name, ms, share: ms / busy }))
  return {
    totalMs: total,
    busyMs: busy,
    idleShare: idle / total,
    oursShare: (owners.get('fastify-sessions') ?? 0) / busy,
    self: rows(self),
    own: rows(own),
    categories: groups(categories),
    owners: groups(owners)
  }
}

function pct (share) {
  return `${(share * 100).toFixed(1)}%`
}

/** A Markdown summary of one profile. */
export function profileMarkdown (title, analysis, { top = 20 } = {}) {
  const lines = [`#### ${title}`, '']
  lines.push(`Profiled ${(analysis.totalMs / 1000).toFixed(1)} s; the server was busy ${pct(1 - analysis.idleShare)} of it. ` +
    `fastify-sessions owns **${pct(analysis.oursShare)}** of the busy time (its code and the natives it calls).`, '')
  lines.push('| self time (% of busy) | function | location |', '|--:|---|---|')
  for (const row of analysis.self.slice(0, top)) lines.push(`| ${pct(row.share)} | \`${row.name}\` | ${row.where || row.category} |`)
  lines.push('')
  lines.push('| package | owns (natives and Node internals count for their caller) | self time |', '|---|--:|--:|')
  const selfByGroup = new Map(analysis.categories.map((row) => [row.name, row.share]))
  for (const row of analysis.owners.slice(0, 12)) lines.push(`| ${row.name} | ${pct(row.share)} | ${pct(selfByGroup.get(row.name) ?? 0)} |`)
  lines.push('')
  const oursRows = analysis.own.slice(0, 15)
  if (oursRows.length > 0) {
    lines.push('| our function | own time (with the natives it calls, without the rest of the request under `next()`) | self |', '|---|--:|--:|')
    const selfByLabel = new Map(analysis.self.map((row) => [`${row.name} ${row.where}`, row.share]))
    for (const row of oursRows) lines.push(`| \`${row.name}\` (${row.where}) | ${pct(row.share)} | ${pct(selfByLabel.get(`${row.name} ${row.where}`) ?? 0)} |`)
    lines.push('')
  }
  return lines.join('\n')
}
