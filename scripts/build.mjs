// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with its own .d.ts,
// so `import` and `require` both get native code and matching types.
// npm runs it as `prepack` (npm pack / npm publish, and yarn's pack, which prepares git
// dependencies) and as `prepare` (npm's git dependencies, `npm install` / `npm ci` in a clone):
// dist/ is not committed, so without these a tarball or a git install has no code.
import { execFileSync } from 'node:child_process'
import { chmodSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

// `npm pack` and `npm publish` run prepack and then prepare in the same command: prepack
// has just built dist/, so prepare would only build the same files a second time.
// This also leaves prepack the only builder when npm packs, so the package check sees a
// missing prepack. Every other prepare (git dependency, npm install, npm ci) builds.
if (process.env.npm_lifecycle_event === 'prepare' && ['pack', 'publish'].includes(process.env.npm_command ?? '')) {
  process.exit(0)
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const run = (project) => execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' })

rmSync('dist', { recursive: true, force: true })
run('tsconfig.build.json')
run('tsconfig.cjs.json')
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n')
// lib/storage/peer-require.ts uses import.meta, which CommonJS lacks; there `require` itself serves.
writeFileSync('dist/cjs/lib/storage/peer-require.js', [
  '"use strict";',
  'Object.defineProperty(exports, "__esModule", { value: true });',
  'exports.peerRequire = require;',
  ''
].join('\n'))
// The map tsc wrote describes the replaced code, and the new file does not point to it.
rmSync('dist/cjs/lib/storage/peer-require.js.map')
chmodSync('dist/esm/bin/fastify-sessions.js', 0o755)
