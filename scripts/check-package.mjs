// Checks the package as users get it, built from the last commit in a fresh clone, so that
// nothing in this working tree (a dist/ built earlier, uncommitted or untracked files) can
// make a broken package look good:
//   1. a git clone of HEAD, where `npm pack` must build dist/ by itself (prepack);
//   2. the tarball holds exactly the compiled library (ES modules and CommonJS, each with
//      types), README.md, LICENSE and package.json, and every source map carries the
//      committed source it maps (the .ts files are not shipped);
//   3. publint and attw (are the types wrong?) on that tarball;
//   4. the tarball installed into an empty project and used from ES modules, CommonJS and
//      the command line;
//   5. `npm install git+file://<clone>#<commit>`, which installs the way a git dependency
//      does (npm installs the dev dependencies in a clone of its own and runs prepare), used
//      the same way and holding the same files as the tarball. It needs the npm cache or the
//      registry, takes the longest, and runs beside 2-4.
// Uncommitted changes are not in the package checked. Locally that is a warning, repeated at
// the end, so work in progress can still run `npm test`; under CI (the CI variable set), where
// the tree is a fresh clone and must stay clean, it is an error.
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix, relative, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const run = (command, args, options = {}) => execFileSync(command, args, { stdio: 'inherit', cwd: root, ...options })
const output = (command, args, options = {}) => execFileSync(command, args, { cwd: root, encoding: 'utf8', ...options })
const bin = (name) => join(root, 'node_modules', '.bin', name)
const npmInstall = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error']
// A git install downloads or unpacks every dev dependency: 150-190 s measured on a loaded
// 2-core machine (load 10-12). The limit only keeps a hung registry from stalling CI.
const gitInstallLimitMilliseconds = 10 * 60 * 1000

const commit = output('git', ['rev-parse', 'HEAD']).trim()
const uncommitted = output('git', ['status', '--porcelain']).trimEnd()
const insideCi = Boolean(process.env.CI) && process.env.CI !== 'false'
const uncommittedWarning = uncommitted &&
  'the working tree has uncommitted changes, and they are NOT in the package checked ' +
  `(built from a clone of HEAD, ${commit.slice(0, 12)}):\n${uncommitted}\nCommit them to check them.`
if (uncommittedWarning && insideCi) throw new Error(uncommittedWarning)
if (uncommittedWarning) console.warn(`WARNING: ${uncommittedWarning}`)

const work = mkdtempSync(join(tmpdir(), 'fastify-sessions-package-'))
let gitInstall
try {
  const clone = join(work, 'clone')
  run('git', ['clone', '--quiet', '--no-checkout', root, clone])
  run('git', ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit], { cwd: clone })
  const { devDependencies } = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8'))
  const fastify = `fastify@${devDependencies.fastify}`

  // Only the required peer (fastify) beside the package: the optional peers must stay optional.
  const fromGit = makeConsumer(join(work, 'from-git'))
  gitInstall = startInBackground('npm', [...npmInstall, `git+file://${clone}#${commit}`, fastify], fromGit, join(work, 'git-install.log'))

  // The clone borrows this tree's dev dependencies for its build; the git install above
  // installs them from the committed lockfile, as users get them.
  symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir')
  const packed = join(work, 'packed')
  mkdirSync(packed)
  run('npm', ['pack', '--silent', '--pack-destination', packed], { cwd: clone, stdio: ['ignore', 'ignore', 'inherit'] })
  const tarballName = readdirSync(packed).find((name) => name.endsWith('.tgz'))
  if (tarballName === undefined) throw new Error('npm pack wrote no tarball')
  const tarball = join(packed, tarballName)
  const unpacked = join(work, 'unpacked')
  mkdirSync(unpacked)
  run('tar', ['-xzf', tarball, '-C', unpacked])
  const shipped = filesUnder(join(unpacked, 'package'))
  checkContents(shipped, join(unpacked, 'package'), clone)
  console.log(`tarball contents (${shipped.length} files): ok`)
  checkRootReachesNoPeer(join(unpacked, 'package'))

  run(bin('publint'), ['run', tarball, '--strict'])
  run(bin('attw'), [tarball, '--profile', 'node16'])

  const fromTarball = makeConsumer(join(work, 'from-tarball'))
  run('npm', [...npmInstall, tarball, fastify], { cwd: fromTarball })
  useInstalledPackage(fromTarball, 'tarball')

  const gitSeconds = await gitInstall.finished
  const fromGitFiles = filesUnder(join(fromGit, 'node_modules', 'fastify-sessions'))
  if (fromGitFiles.join('\n') !== shipped.join('\n')) {
    throw new Error(`the git install differs from the tarball:\n${difference(fromGitFiles, shipped)}`)
  }
  useInstalledPackage(fromGit, `git install (${gitSeconds} s)`)
} finally {
  gitInstall?.stop()
  rmSync(work, { recursive: true, force: true })
  if (uncommittedWarning) console.warn(`WARNING: ${uncommittedWarning}`)
}

/**
 * The rule written in index.ts: the root, code and types, in both builds, reaches no
 * optional peer and no storage but SimpleCookieStorage (the others live at their subpaths).
 */
function checkRootReachesNoPeer (packageDirectory) {
  const peers = new Set(['ioredis', 'memjs', 'sodium-native'])
  const specifiers = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\(\s*)['"]([^'"]+)['"]/g
  for (const start of ['dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts']) {
    const seen = new Set()
    const pending = [join(packageDirectory, start)]
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (seen.has(file)) continue
      seen.add(file)
      const shown = relative(packageDirectory, file)
      if (/\/storages\/(?!simple-cookie\.)/.test(shown)) throw new Error(`${start} reaches ${shown}: concrete storages belong to their subpaths`)
      for (const [, specifier = ''] of readFileSync(file, 'utf8').matchAll(specifiers)) {
        if (peers.has(specifier)) throw new Error(`${start} reaches the optional peer ${specifier} (through ${shown})`)
        if (specifier.startsWith('.')) pending.push(resolve(dirname(file), file.endsWith('.d.ts') ? specifier.replace(/\.js$/, '.d.ts') : specifier))
      }
    }
  }
  console.log('the root reaches no optional peer and no storage but SimpleCookieStorage: ok')
}

/** Every file below `directory`, as sorted POSIX paths relative to it. */
function filesUnder (directory) {
  return readdirSync(directory, { recursive: true, encoding: 'utf8' })
    .filter((path) => statSync(join(directory, path)).isFile())
    .map((path) => path.split('\\').join('/'))
    .sort()
}

function difference (actual, expected) {
  const expectedSet = new Set(expected)
  const actualSet = new Set(actual)
  return [
    ...expected.filter((path) => !actualSet.has(path)).map((path) => `  missing: ${path}`),
    ...actual.filter((path) => !expectedSet.has(path)).map((path) => `  unexpected: ${path}`)
  ].join('\n')
}

/**
 * The package must hold the build of every committed source and nothing else (no tests,
 * no sources, no leftovers of an earlier build), and its maps must be usable without the
 * .ts files: each is referenced by its compiled file and inlines the committed source.
 */
function checkContents (shipped, packageDirectory, clone) {
  const sources = output('git', ['ls-files', '--', 'index.ts', 'lib/*.ts', 'storages/*.ts', 'bin/*.ts'], { cwd: clone })
    .trim().split('\n')
  const expected = ['package.json', 'README.md', 'LICENSE', 'dist/cjs/package.json']
  for (const source of sources) {
    const stem = source.replace(/\.ts$/, '')
    // The bin runs as an ES module (package.json "bin") and is not imported: no types, no CommonJS.
    if (source.startsWith('bin/')) expected.push(`dist/esm/${stem}.js`)
    else for (const format of ['esm', 'cjs']) expected.push(`dist/${format}/${stem}.js`, `dist/${format}/${stem}.d.ts`)
  }
  const notMaps = shipped.filter((path) => !path.endsWith('.js.map'))
  const problems = notMaps.join('\n') === expected.sort().join('\n') ? [] : [difference(notMaps, expected)]

  const read = (path) => readFileSync(join(packageDirectory, path), 'utf8')
  const shippedSet = new Set(shipped)
  const referencedMaps = new Set()
  for (const file of shipped.filter((path) => path.endsWith('.js'))) {
    const reference = /\n\/\/# sourceMappingURL=(\S+)\s*$/.exec(read(file))?.[1]
    if (reference === undefined) continue
    const map = posix.join(posix.dirname(file), reference)
    if (!shippedSet.has(map)) problems.push(`  ${file} points to ${map}, which is not in the package`)
    referencedMaps.add(map)
  }
  for (const map of shipped.filter((path) => path.endsWith('.js.map'))) {
    if (!referencedMaps.has(map)) problems.push(`  ${map} is not referenced by the file it maps`)
    const { sourceRoot = '', sources: mapped, sourcesContent = [] } = JSON.parse(read(map))
    mapped.forEach((source, index) => {
      const path = posix.normalize(posix.join(posix.dirname(map), sourceRoot, source))
      if (shippedSet.has(path)) return
      const inlined = sourcesContent[index]
      if (typeof inlined !== 'string') problems.push(`  ${map}: ${source} is neither in the package nor inlined (inlineSources)`)
      else if (inlined !== committedText(clone, path)) problems.push(`  ${map}: the inlined ${path} is not the committed one`)
    })
  }

  if (shippedSet.has('LICENSE') && (!read('LICENSE').startsWith('MIT License\n') || JSON.parse(read('package.json')).license !== 'MIT')) {
    problems.push('  LICENSE is not the MIT license that package.json names')
  }
  if (problems.length > 0) throw new Error(`the tarball is not what users need:\n${problems.join('\n')}`)
}

function committedText (clone, path) {
  try {
    return readFileSync(join(clone, path), 'utf8')
  } catch {
    return undefined
  }
}

/** Runs a command without blocking, its output kept in `log` and printed if it fails. */
function startInBackground (command, args, cwd, log) {
  const started = Date.now()
  const logFile = openSync(log, 'w')
  // Its own process group, so stopping it also stops the npm, git and build processes below it.
  const child = spawn(command, args, { cwd, stdio: ['ignore', logFile, logFile], detached: true })
  closeSync(logFile)
  const group = -(child.pid ?? 0)
  let running = true
  let timedOut = false
  const finished = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      timedOut = true
      process.kill(group, 'SIGKILL')
    }, gitInstallLimitMilliseconds)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      running = false
      clearTimeout(timer)
      if (code === 0) return resolve(Math.round((Date.now() - started) / 1000))
      const reason = timedOut ? `did not finish within ${gitInstallLimitMilliseconds / 60000} minutes` : `failed (${signal ?? `exit code ${code}`})`
      reject(new Error(`${command} ${args.join(' ')} ${reason}:\n${readFileSync(log, 'utf8')}`))
    })
  })
  // A failure is reported when awaited; a step before that may fail first.
  finished.catch(() => {})
  return {
    finished,
    stop: () => { if (running && group !== 0) process.kill(group, 'SIGKILL') }
  }
}

function makeConsumer (directory) {
  mkdirSync(directory)
  writeFileSync(join(directory, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
  writeFileSync(join(directory, 'esm.mjs'), `
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import sessionPlugin, { SimpleCookieStorage, generateKey, MissingDependencyError } from 'fastify-sessions'
import { EncryptedCookieStorage } from 'fastify-sessions/storages/encrypted-cookie'
import { NaClCookieStorage } from 'fastify-sessions/storages/nacl-cookie'
import { RedisStorage } from 'fastify-sessions/storages/redis'
import { MemcachedStorage } from 'fastify-sessions/storages/memcached'

const app = Fastify()
await app.register(sessionPlugin, new EncryptedCookieStorage(generateKey(), { maxAge: 60 }))
app.get('/', async (request) => {
  const visits = (request.session.get('visits') ?? 0) + 1
  request.session.set('visits', visits)
  return { visits }
})
const first = await app.inject('/')
const cookie = first.headers['set-cookie'].split(';')[0]
assert.deepEqual((await app.inject({ url: '/', headers: { cookie } })).json(), { visits: 2 })
assert.ok(new SimpleCookieStorage())
assert.throws(() => new NaClCookieStorage(generateKey()), (error) => error instanceof MissingDependencyError &&
  /install it with \`npm install sodium-native\`/.test(error.message))
// ioredis and memjs are not installed: their storages still load (the app brings the client).
assert.throws(() => new RedisStorage({}), /expects an ioredis client/)
assert.throws(() => new MemcachedStorage({}), /expects a memjs client/)
`)
  writeFileSync(join(directory, 'cjs.cjs'), `
const assert = require('node:assert/strict')
const Fastify = require('fastify')
const sessions = require('fastify-sessions')
const { EncryptedCookieStorage } = require('fastify-sessions/storages/encrypted-cookie')
const { RedisStorage } = require('fastify-sessions/storages/redis')
const { MemcachedStorage } = require('fastify-sessions/storages/memcached')

async function main () {
  for (const plugin of [sessions, sessions.default, sessions.sessionPlugin]) {
    const app = Fastify()
    await app.register(plugin, new EncryptedCookieStorage(sessions.generateKey()))
    app.get('/', async (request) => { request.session.set('a', 1); return 'ok' })
    const response = await app.inject('/')
    assert.match(response.headers['set-cookie'], /^AIOHTTP_SESSION=gAAAAA/)
  }
  assert.throws(() => new RedisStorage({}), /expects an ioredis client/)
  assert.throws(() => new MemcachedStorage({}), /expects a memjs client/)
}
main().catch((error) => { console.error(error); process.exit(1) })
`)
  return directory
}

function useInstalledPackage (directory, installedAs) {
  run(process.execPath, ['esm.mjs'], { cwd: directory })
  run(process.execPath, ['cjs.cjs'], { cwd: directory })
  const key = output('npx', ['--no-install', 'fastify-sessions', 'keygen'], { cwd: directory })
  if (!/^[A-Za-z0-9_-]{43}=\n$/.test(key)) throw new Error(`keygen printed ${JSON.stringify(key)}`)
  console.log(`${installedAs}: ES module import, CommonJS require and \`npx fastify-sessions keygen\`: ok`)
}
