// What a reader needs to reproduce a run: machine, runtimes, tools and library versions.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

function quietly (command, args, cwd = ROOT) {
  try {
    return execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim()
  } catch (error) {
    // wrk -v exits non-zero after printing its version.
    return (/** @type {{ stdout?: Buffer }} */ (error).stdout?.toString() ?? '').trim()
  }
}

export function machineInfo () {
  const cpuList = cpus()
  return {
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    kernel: release(),
    node: process.version,
    wrk: quietly('/usr/bin/wrk', ['-v']).split('\n')[0]?.replace(/ Copyright.*/, '') ?? '',
    redis: /v=(\S+)/.exec(quietly('redis-server', ['--version']))?.[1] ?? 'not found',
    memcached: quietly('memcached', ['-V']).replace('memcached ', '') || 'not found'
  }
}

export function packageVersion (name, ours = ROOT) {
  const file = name === 'fastify-sessions' ? `${ours}package.json` : `${ROOT}node_modules/${name}/package.json`
  try {
    return JSON.parse(readFileSync(file, 'utf8')).version
  } catch {
    return 'not installed'
  }
}

/** The commit the build was made from, marked when the working tree differs. */
export function gitRevision (dir = ROOT) {
  const commit = quietly('git', ['rev-parse', '--short', 'HEAD'], dir)
  if (commit === '' || quietly('git', ['rev-parse', '--show-toplevel'], dir) + '/' !== dir.replace(/\/+$/, '') + '/') {
    return `build in ${dir}`
  }
  const dirty = quietly('git', ['status', '--porcelain', '--', 'index.ts', 'lib', 'storages'], dir) !== ''
  return commit + (dirty ? ' (+ uncommitted changes in index.ts/lib/storages)' : '')
}
