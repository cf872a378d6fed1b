// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with its own .d.ts,
// so `import` and `require` both get native code and matching types.
import { execFileSync } from 'node:child_process'
import { chmodSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

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
chmodSync('dist/esm/bin/fastify-sessions.js', 0o755)
