/**
 * The Fastify half of a two-service deployment that shares users' sessions with an
 * aiohttp service (app.py beside this file): same cookie, same key, same settings.
 *
 *   export SESSION_KEY=...          # the same value for both services
 *   npx tsx server.ts               # listens on 127.0.0.1:8080 (PORT to change it)
 *
 * This file imports the library from this repository's source; in an application
 * import from 'fastify-sessions' and 'fastify-sessions/storages/…' instead.
 */
import Fastify from 'fastify'
import sessionPlugin from '../../index.js'
import type { AbstractStorage, Session, StorageOptions } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { RedisStorage } from '../../storages/redis.js'

// The settings aiohttp-session must have too (see app.py).
const settings: StorageOptions = {
  cookieName: 'AIOHTTP_SESSION',
  maxAge: 3600,
  path: '/',
  sameSite: 'Lax'
  // domain: 'example.com',
}

async function makeStorage (): Promise<AbstractStorage> {
  const redisUrl = process.env['REDIS_URL']
  if (redisUrl !== undefined && redisUrl !== '') {
    const { Redis } = await import('ioredis')
    return new RedisStorage(new Redis(redisUrl), settings)
  }
  const key = process.env['SESSION_KEY']
  if (key === undefined) throw new Error('set SESSION_KEY to the key the aiohttp service uses')
  return new EncryptedCookieStorage(key, settings)
}

// (An application would type its keys with `declare module 'fastify-sessions' { interface SessionData … }`.)
function visits (session: Session): number {
  return (session.get('visits') as number | undefined) ?? 0
}

function state (session: Session): object {
  return { service: 'fastify', user: session.get('user') ?? null, visits: visits(session) }
}

const app = Fastify({ logger: true })
await app.register(sessionPlugin, await makeStorage())

app.get('/whoami', async (request) => state(request.session))
app.post('/visit', async (request) => {
  request.session.set('visits', visits(request.session) + 1)
  return state(request.session)
})
app.post<{ Body: { user: string } }>('/login', async (request) => {
  const session = request.newSession() // a fresh session on login, against fixation
  session.set('user', request.body.user)
  return state(session)
})
app.post('/logout', async (request) => {
  request.session.invalidate()
  return state(request.session)
})

await app.listen({ host: '127.0.0.1', port: Number(process.env['PORT'] ?? 8080) })
