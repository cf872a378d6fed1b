import { createRequire } from 'node:module'

/**
 * `require` resolving from this package, for optional peer dependencies that must be
 * loaded synchronously (a storage constructor reports a missing one at once).
 * The CommonJS build replaces this file with `exports.peerRequire = require`
 * (scripts/build.mjs), since `import.meta` does not exist there.
 */
// @ts-ignore TS1343 in the CommonJS build only, where this line is replaced
export const peerRequire: NodeJS.Require = createRequire(import.meta.url)
