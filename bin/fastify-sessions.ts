#!/usr/bin/env node
import { generateKey } from '../lib/crypto/keys.js'

const usage = `Usage: fastify-sessions keygen

  keygen   print a new random key (url-safe base64 of 32 bytes), usable by
           EncryptedCookieStorage, NaClCookieStorage and Python's
           aiohttp-session (Fernet key)
`

const [command, ...rest] = process.argv.slice(2)
if (command === 'keygen' && rest.length === 0) {
  process.stdout.write(generateKey() + '\n')
} else if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write(usage)
} else {
  process.stderr.write(`fastify-sessions: unknown command ${JSON.stringify([command, ...rest].join(' '))}\n\n${usage}`)
  process.exitCode = 2
}
