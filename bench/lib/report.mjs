// Turns raw runs into medians, same-round ratios, target checks and Markdown.
import { WRITE_COMMANDS } from './stores.mjs'

export function median (values) {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

function runsOf (results, server, scenario) {
  return results.runs.filter((run) => run.server === server && run.scenario === scenario && run.error === undefined)
}

/**
 * Median over rounds of rps(a) / rps(b), both measured in the same round; `byCpu`
 * is the same ratio estimated from server CPU time per request (cost(b) / cost(a)),
 * which stays meaningful when other processes kept the server from saturating.
 */
export function pairedRatio (results, a, b, scenario) {
  const other = new Map(runsOf(results, b, scenario).map((run) => [run.round, run]))
  const pairs = runsOf(results, a, scenario).filter((run) => other.has(run.round))
  const ratios = pairs.map((run) => run.rps / other.get(run.round).rps)
  const byCpu = pairs.map((run) => other.get(run.round).cpuUsPerRequest / run.cpuUsPerRequest)
  // Noise from other processes only ever slows a run down, so on a busy machine the
  // best round of each side is another estimate of the undisturbed ratio.
  const best = (runs) => Math.max(...runs.map((run) => run.rps))
  const bestRatio = best(pairs) / best([...other.values()])
  return { ratio: median(ratios), rounds: ratios.length, min: Math.min(...ratios), max: Math.max(...ratios), byCpu: median(byCpu), bestRatio }
}

/** Median store operations per request, per command. */
function medianOps (runs) {
  const names = new Set(runs.flatMap((run) => Object.keys(run.storeOps ?? {})))
  const ops = {}
  for (const name of names) ops[name] = median(runs.map((run) => run.storeOps?.[name] ?? 0))
  return ops
}

export function summarize (results) {
  const rows = []
  for (const server of results.servers.filter((entry) => entry.skipped === undefined)) {
    for (const scenario of results.scenarios) {
      const runs = runsOf(results, server.name, scenario.name)
      if (runs.length === 0) continue
      const rpsList = runs.map((run) => run.rps)
      rows.push({
        server: server.name,
        label: server.label,
        ours: server.ours,
        scenario: scenario.name,
        rounds: runs.length,
        rps: median(rpsList),
        minRps: Math.min(...rpsList),
        maxRps: Math.max(...rpsList),
        p50: median(runs.map((run) => run.latencyMs.p50)),
        p99: median(runs.map((run) => run.latencyMs.p99)),
        cpuUsPerRequest: median(runs.map((run) => run.cpuUsPerRequest)),
        vsBare: server.name === 'bare' ? { ratio: 1, byCpu: 1, rounds: runs.length } : pairedRatio(results, server.name, 'bare', scenario.name),
        concurrent: scenario.name === 'concurrent' ? concurrentTotals(runs) : undefined,
        setCookie: runs.some((run) => run.setCookie),
        storeOps: runs.some((run) => run.storeOps !== undefined) ? medianOps(runs) : undefined,
        wrkCpu: median(runs.map((run) => run.wrkCpu)),
        maxWrkCpu: Math.max(...runs.map((run) => run.wrkCpu)),
        serverCpu: median(runs.map((run) => run.serverCpu)),
        foreignCpu: Math.max(...runs.map((run) => Math.max(run.foreignCpu ?? 0, run.foreignLoadCpu ?? 0))),
        errors: runs.reduce((sum, run) => sum + run.errorCount, 0)
      })
    }
  }
  return rows
}

/**
 * The concurrent scenario's counts summed over rounds (lost updates are rare events
 * for some libraries: a rate over every round is steadier than a median of rates).
 */
function concurrentTotals (runs) {
  const totals = { sessions: 0, writes: 0, acknowledged: 0, lost: 0, sessionsWithLoss: 0 }
  for (const run of runs) {
    for (const name of Object.keys(totals)) totals[name] += run.concurrent?.[name] ?? 0
  }
  const rates = runs.map((run) => (run.concurrent.acknowledged === 0 ? NaN : (1000 * run.concurrent.lost) / run.concurrent.acknowledged))
  return {
    ...totals,
    writers: runs[0]?.concurrent?.writers,
    lostPerThousand: totals.acknowledged === 0 ? NaN : (1000 * totals.lost) / totals.acknowledged,
    minLostPerThousand: Math.min(...rates),
    maxLostPerThousand: Math.max(...rates),
    sessionsWithLossShare: totals.sessions === 0 ? NaN : totals.sessionsWithLoss / totals.sessions
  }
}

const OUR_COOKIE_STORAGES = ['ours-nacl', 'ours-encrypted', 'ours-simple']
const OUR_STORE_STORAGES = ['ours-redis', 'ours-memcached']

/** The targets of issue 5 (performance) and issue 3 (Redis/Memcached), checked on this run. */
export function checkTargets (results, rows) {
  /** @type {Array<{ target: string, source: string, measured: string, met: boolean | undefined, byCpu?: string, best?: string }>} */
  const targets = []
  const has = (server) => rows.some((row) => row.server === server)
  const row = (server, scenario) => rows.find((candidate) => candidate.server === server && candidate.scenario === scenario)
  const vsPeer = (a, b, scenario, minimum, source, text) => {
    if (!has(a) || !has(b) || row(a, scenario) === undefined || row(b, scenario) === undefined) {
      targets.push({ target: `${text}: ≥ ${minimum}×`, source, measured: 'not measured', met: undefined })
      return
    }
    const { ratio, min, max, byCpu, bestRatio } = pairedRatio(results, a, b, scenario)
    targets.push({
      target: `${text}: ≥ ${minimum}×`,
      source,
      measured: `${ratio.toFixed(2)}× (rounds ${min.toFixed(2)}–${max.toFixed(2)})`,
      byCpu: `${byCpu.toFixed(2)}×`,
      best: `${bestRatio.toFixed(2)}×`,
      met: ratio >= minimum
    })
  }
  vsPeer('ours-nacl', 'secure-session', 'read', 1.25, 'issue 5', 'NaCl vs @fastify/secure-session, read-only')
  vsPeer('ours-nacl', 'secure-session', 'write', 1.25, 'issue 5', 'NaCl vs @fastify/secure-session, writing')
  vsPeer('ours-encrypted', 'secure-session', 'read', 1.0, 'issue 5', 'Encrypted (Fernet) vs @fastify/secure-session, read-only')
  vsPeer('ours-encrypted', 'secure-session', 'write', 1.0, 'issue 5', 'Encrypted (Fernet) vs @fastify/secure-session, writing')
  for (const server of [...OUR_COOKIE_STORAGES, ...OUR_STORE_STORAGES].filter(has)) {
    vsPeer(server, 'bare', 'anon', 0.95, 'issue 5', `${server}, anonymous request vs bare`)
    vsPeer(server, 'bare', 'optout', 0.98, 'issue 5', `${server}, opted-out route vs bare`)
  }
  vsPeer('ours-redis', 'fastify-session-redis', 'read', 1.5, 'issue 3', 'RedisStorage vs @fastify/session + connect-redis, read-only')
  vsPeer('ours-redis', 'fastify-session-redis', 'write', 1.5, 'issue 3', 'RedisStorage vs @fastify/session + connect-redis, writing')
  vsPeer('ours-memcached', 'fastify-session-redis', 'write', 1.5, 'issue 9', 'MemcachedStorage vs @fastify/session + connect-redis, writing')

  // Issue 9: concurrent requests changing different keys of one session all keep their change.
  for (const server of OUR_STORE_STORAGES) {
    const totals = row(server, 'concurrent')?.concurrent
    if (totals === undefined) continue
    targets.push({
      target: `${server}, ${totals.writers} concurrent writers on one session: no lost update`,
      source: 'issue 9',
      measured: `${formatNumber(totals.lost)} lost of ${formatNumber(totals.acknowledged)} acknowledged writes`,
      met: totals.lost === 0 && totals.acknowledged > 0
    })
  }

  // "An unchanged session costs no encryption, no serialisation and no store write":
  // observable here as no Set-Cookie and no store write on the read-only route.
  for (const server of [...OUR_COOKIE_STORAGES, ...OUR_STORE_STORAGES].filter(has)) {
    const read = row(server, 'read')
    if (read === undefined) continue
    const writes = Object.entries(read.storeOps ?? {}).filter(([name]) => WRITE_COMMANDS.has(name.toLowerCase()))
    const clean = !read.setCookie && writes.length === 0
    targets.push({
      target: `${server}, unchanged session: no Set-Cookie, no store write`,
      source: 'issue 5',
      measured: `Set-Cookie: ${read.setCookie ? 'yes' : 'no'}` + (read.storeOps === undefined ? '' : `; store writes/request: ${writes.length === 0 ? '0' : writes.map(([name, count]) => `${name} ${count}`).join(', ')}`),
      met: clean
    })
  }
  // Issue 3: one store read per request with a cookie, none without, none when opted out.
  for (const server of OUR_STORE_STORAGES.filter(has)) {
    const reads = (scenario) => {
      const ops = row(server, scenario)?.storeOps
      // Redis counts the commands a script runs too: RedisStorage's compare-and-set script
      // (one EVALSHA, or EVAL after a NOSCRIPT) reads the record once inside, which is not
      // a read the request sent.
      const scriptReads = (ops?.evalsha ?? 0) + (ops?.eval ?? 0)
      return ops === undefined ? NaN : (ops.get ?? 0) + (ops.gat ?? 0) + (ops.getex ?? 0) - scriptReads
    }
    const expected = { read: 1, write: 1, anon: 0, optout: 0 }
    const measured = Object.keys(expected).map((scenario) => `${scenario} ${formatNumber(reads(scenario), 2)}`).join(', ')
    targets.push({
      target: `${server}: store reads/request = 1 with a cookie, 0 anonymous, 0 opted out`,
      source: 'issue 3',
      measured,
      // wrk stops counting at the deadline while the server finishes the requests in
      // flight (≤ connections), hence counts like 1.003: compare with a small tolerance.
      met: Object.keys(expected).some((scenario) => !Number.isFinite(reads(scenario)))
        ? undefined
        : Object.entries(expected).every(([scenario, count]) => Math.abs(reads(scenario) - count) <= 0.02)
    })
  }
  return targets
}

function formatNumber (value, digits = 0) {
  return Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–'
}

function percent (value) {
  return Number.isFinite(value) ? `${Math.round(value * 100)}%` : '–'
}

function formatOps (ops) {
  if (ops === undefined) return ''
  const entries = Object.entries(ops).filter(([, count]) => count > 0)
  return entries.length === 0 ? '0' : entries.map(([name, count]) => `${name} ${formatNumber(count, count % 1 === 0 ? 0 : 2)}`).join(', ')
}

/** The peer the concurrent scenario's CPU ratios are taken against, as for writing. */
const CONCURRENT_PEER = 'fastify-session-redis'

/** The concurrent scenario's own table: lost updates next to throughput, and who sits it out. */
function concurrentTable (results, scenario, scenarioRows, out) {
  const writers = scenarioRows[0]?.concurrent?.writers
  out(`### ${scenario.name}: ${scenario.title}`)
  out()
  out(`Each round of a simulated user: \`GET /login\` (a fresh session), ${writers} \`GET /write-key?key=cN\` at once with that cookie, ` +
    'then `GET /keys`: an acknowledged (200) write whose key is missing is a lost update. ' +
    `${results.meta.options.connections} connections = ${Math.max(1, Math.floor(results.meta.options.connections / writers))} users side by side. ` +
    'req/s counts the concurrent writes; CPU and store operations are per write, the round\'s login and read-back included. ' +
    '"× peer by CPU" is CPU per write of @fastify/session + connect-redis ÷ this server\'s, same round.')
  out()
  out('| server | lost updates per 1,000 acknowledged writes (range over rounds) | sessions with a loss | writes/s (median) | range over rounds | p50 ms | p99 ms | server CPU µs/write | × peer by CPU | store ops/write | non-200 | generator CPU | server CPU |')
  out('|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|')
  const hasPeer = scenarioRows.some((row) => row.server === CONCURRENT_PEER)
  for (const row of scenarioRows.sort((a, b) => a.concurrent.lostPerThousand - b.concurrent.lostPerThousand || b.rps - a.rps)) {
    const name = row.ours ? `**${row.label}**` : row.label
    const totals = row.concurrent
    const vsPeer = hasPeer ? pairedRatio(results, row.server, CONCURRENT_PEER, scenario.name).byCpu : NaN
    out(`| ${name} | ${formatNumber(totals.lostPerThousand, 1)} (${formatNumber(totals.minLostPerThousand, 1)}–${formatNumber(totals.maxLostPerThousand, 1)}) | ` +
      `${percent(totals.sessionsWithLossShare)} of ${formatNumber(totals.sessions)} | ${formatNumber(row.rps)} | ${formatNumber(row.minRps)}–${formatNumber(row.maxRps)} | ` +
      `${formatNumber(row.p50, 2)} | ${formatNumber(row.p99, 2)} | ${formatNumber(row.cpuUsPerRequest, 1)} | ${formatNumber(vsPeer, 2)} | ${formatOps(row.storeOps)} | ` +
      `${formatNumber(row.errors)} | ${percent(row.wrkCpu)} | ${percent(row.serverCpu)} |`)
  }
  for (const server of results.servers.filter((entry) => entry.concurrent !== true && entry.name !== 'bare' && entry.skipped === undefined)) {
    out(`| ${server.ours ? `**${server.label}**` : server.label} | ${server.concurrent} | | | | | | | | | | | |`)
  }
  out()
}

export function markdown (results) {
  const rows = summarize(results)
  const targets = checkTargets(results, rows)
  const { meta } = results
  const lines = []
  const out = (text = '') => lines.push(text)

  out(`Run of ${meta.finishedAt} — ${meta.options.rounds} rounds × ${meta.options.duration} s per scenario ` +
    `(after ${meta.options.warmup} s warm-up), wrk 1 thread × ${meta.options.connections} connections, ` +
    (meta.pinning.pinned ? `server pinned to CPU ${meta.pinning.serverCpus}, wrk and stores to CPU ${meta.pinning.loadCpus}.` : 'no CPU pinning.'))
  out()
  out(`Command: \`${meta.command}\` (${meta.git.startsWith('build in') ? meta.git : `commit ${meta.git}`}). Raw results: \`${meta.resultsFile}\`.`)
  out()
  out('| machine | |')
  out('|---|---|')
  out(`| CPU | ${meta.machine.cpuModel}, ${meta.machine.cores} cores, ${meta.machine.memoryGiB} GiB |`)
  out(`| kernel | ${meta.machine.kernel} |`)
  out(`| Node.js | ${meta.machine.node} |`)
  out(`| load generator | ${meta.machine.wrk} |`)
  out(`| stores | redis-server ${meta.machine.redis}, memcached ${meta.machine.memcached} |`)
  out()

  out('### Targets')
  out()
  const yesNo = (met) => (met === undefined ? '–' : met ? 'yes' : '**no**')
  out('"Measured" is the median over rounds of req/s ratios taken within one round; it decides "met?". ' +
    'On a busy machine two more estimates help: "by CPU" (the ratio of server CPU time per request) and ' +
    '"best rounds" (best req/s of each side: noise only slows runs down).')
  out()
  out('| target | source | measured: req/s ratio (range over rounds) | met? | by CPU/request | best rounds |')
  out('|---|---|---|---|---|---|')
  for (const target of targets) {
    out(`| ${target.target} | ${target.source} | ${target.measured} | ${yesNo(target.met)} | ${target.byCpu ?? ''} | ${target.best ?? ''} |`)
  }
  out()

  const variants = results.servers.filter((server) => server.variant === 'b' && server.skipped === undefined)
  if (variants.length > 0) {
    out('### A/B: build B ÷ build A, same rounds')
    out()
    out(`A = \`${meta.package}\`, B = \`${meta.compare}\`. Medians over rounds of same-round ratios; above 1 means B is faster.`)
    out()
    out(`| server | ${results.scenarios.map((scenario) => `${scenario.name}: req/s (range) · by CPU`).join(' | ')} |`)
    out(`|---|${results.scenarios.map(() => '--:').join('|')}|`)
    for (const variant of variants) {
      const cells = results.scenarios.map((scenario) => {
        const { ratio, min, max, byCpu, rounds } = pairedRatio(results, variant.name, variant.base, scenario.name)
        return rounds === 0 ? '–' : `${ratio.toFixed(3)} (${min.toFixed(2)}–${max.toFixed(2)}) · ${byCpu.toFixed(3)}`
      })
      out(`| ${variant.base} | ${cells.join(' | ')} |`)
    }
    out()
  }

  for (const scenario of results.scenarios) {
    const scenarioRows = rows.filter((row) => row.scenario === scenario.name)
    if (scenarioRows.length === 0) continue
    if (scenario.name === 'concurrent') {
      concurrentTable(results, scenario, scenarioRows, out)
      continue
    }
    out(`### ${scenario.name}: ${scenario.title}`)
    out()
    out('| server | req/s (median) | range over rounds | p50 ms | p99 ms | × bare (same round) | server CPU µs/request | × bare by CPU | Set-Cookie | store ops/request | wrk CPU | server CPU |')
    out('|---|--:|--:|--:|--:|--:|--:|--:|:-:|---|--:|--:|')
    for (const row of scenarioRows.sort((a, b) => b.rps - a.rps)) {
      const name = row.ours ? `**${row.label}**` : row.label
      out(`| ${name} | ${formatNumber(row.rps)} | ${formatNumber(row.minRps)}–${formatNumber(row.maxRps)} | ${formatNumber(row.p50, 2)} | ${formatNumber(row.p99, 2)} | ` +
        `${formatNumber(row.vsBare.ratio, 2)} | ${formatNumber(row.cpuUsPerRequest, 1)} | ${formatNumber(row.vsBare.byCpu, 2)} | ` +
        `${row.setCookie ? 'yes' : 'no'} | ${formatOps(row.storeOps)} | ${percent(row.wrkCpu)} | ${percent(row.serverCpu)} |`)
    }
    out()
  }

  out('### Versions')
  out()
  out('| package | version |')
  out('|---|---|')
  for (const [name, version] of Object.entries(meta.versions)) out(`| ${name} | ${version} |`)
  out()

  const notes = []
  const busyGenerator = rows.filter((row) => row.maxWrkCpu > 0.8)
  if (busyGenerator.length > 0) notes.push(`wrk used more than 80% of its core in: ${busyGenerator.map((row) => `${row.server}/${row.scenario}`).join(', ')} — the load generator may have limited these.`)
  const idleServer = rows.filter((row) => row.serverCpu < 0.9)
  if (idleServer.length > 0) notes.push(`the server used less than 90% of its core in: ${idleServer.map((row) => `${row.server}/${row.scenario} (${percent(row.serverCpu)})`).join(', ')} — something else (store, generator) limited these.`)
  const noisy = rows.filter((row) => row.foreignCpu > 0.05)
  if (noisy.length > 0) notes.push(`other processes used more than 5% of the server's or wrk's core during: ${noisy.map((row) => `${row.server}/${row.scenario} (up to ${percent(row.foreignCpu)})`).join(', ')} — the machine was not quiet; treat these numbers as provisional.`)
  const errors = rows.filter((row) => row.errors > 0)
  if (errors.length > 0) notes.push(`wrk counted errors (socket or non-2xx) in: ${errors.map((row) => `${row.server}/${row.scenario} (${row.errors})`).join(', ')}.`)
  for (const server of results.servers.filter((entry) => entry.skipped !== undefined)) notes.push(`${server.name} skipped: ${server.skipped}.`)
  for (const failure of results.failures) notes.push(`round ${failure.round}, ${failure.server}: ${failure.error.split('\n')[0]}`)
  if (notes.length > 0) {
    out('### Notes on this run')
    out()
    for (const note of notes) out(`- ${note}`)
    out()
  }
  return { text: lines.join('\n'), rows, targets }
}
