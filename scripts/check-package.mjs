// Checks the package as users get it: publint and attw (are the types wrong?) on the
// packed tarball, then installs that tarball into an empty project and uses it from
// ES modules, CommonJS and the command line. Run after `npm run build`.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const run = (command, args, options = {}) => execFileSync(command, args, { stdio: 'inherit', cwd: root, ...options })
const bin = (name) => join(root, 'node_modules', '.bin', name)

run(bin('publint'), ['--strict'])
run(bin('attw'), ['--pack', '.', '--profile', 'node16'])
checkRootReachesNoPeer()

/**
 * The rule written in index.ts: the root, code and types, in both builds, reaches no
 * optional peer and no storage but SimpleCookieStorage (the others live at their subpaths).
 */
function checkRootReachesNoPeer () {
  const peers = new Set(['ioredis', 'memjs', 'sodium-native'])
  const specifiers = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\(\s*)['"]([^'"]+)['"]/g
  for (const start of ['dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts']) {
    const seen = new Set()
    const pending = [join(root, start)]
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (seen.has(file)) continue
      seen.add(file)
      const shown = relative(root, file)
      if (/\/storages\/(?!simple-cookie\.)/.test(shown)) throw new Error(`${start} reaches ${shown}: concrete storages belong to their subpaths`)
      for (const [, specifier = ''] of readFileSync(file, 'utf8').matchAll(specifiers)) {
        if (peers.has(specifier)) throw new Error(`${start} reaches the optional peer ${specifier} (through ${shown})`)
        if (specifier.startsWith('.')) pending.push(resolve(dirname(file), file.endsWith('.d.ts') ? specifier.replace(/\.js$/, '.d.ts') : specifier))
      }
    }
  }
  console.log('the root reaches no optional peer and no storage but SimpleCookieStorage: ok')
}

const work = mkdtempSync(join(tmpdir(), 'fastify-sessions-package-'))
try {
  const tarball = String(execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1))
  const { devDependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
  // Only the required peer (fastify): the optional peers must stay optional.
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(work, tarball), `fastify@${devDependencies.fastify}`], { cwd: work })

  writeFileSync(join(work, 'esm.mjs'), `
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
console.log('ESM import: ok')
`)
  writeFileSync(join(work, 'cjs.cjs'), `
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
  console.log('CommonJS require: ok')
}
main().catch((error) => { console.error(error); process.exit(1) })
`)
  run(process.execPath, ['esm.mjs'], { cwd: work })
  run(process.execPath, ['cjs.cjs'], { cwd: work })
  const key = execFileSync('npx', ['--no-install', 'fastify-sessions', 'keygen'], { cwd: work, encoding: 'utf8' })
  if (!/^[A-Za-z0-9_-]{43}=\n$/.test(key)) throw new Error(`keygen printed ${JSON.stringify(key)}`)
  console.log('npx fastify-sessions keygen: ok')
} finally {
  rmSync(work, { recursive: true, force: true })
}
