/**
 * Sessions over websockets, with Redis:
 *
 * - `GET /socket` is a `@fastify/websocket` route. Its upgrade request carries the
 *   session cookie, so `request.session` works as in any route. There is no reply to
 *   save the session with, so each message is saved at once with
 *   `await request.saveSession()`: plain HTTP requests see it straight away.
 * - A bare `ws` server on another port knows nothing of Fastify: it reads the same
 *   sessions from the upgrade's Cookie header with `storage.loadSessionFromCookieHeader()`.
 *   (Cookies are not tied to ports: a browser sends the cookie to both.)
 *
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/websocket.ts
 *   # Fastify on 127.0.0.1:8080 (PORT), the bare ws server on 127.0.0.1:8081 (BARE_PORT)
 *
 *   curl -s -c jar -H 'content-type: application/json' -d '{"user":"ann"}' http://127.0.0.1:8080/login
 *   # then open ws://127.0.0.1:8080/socket and ws://127.0.0.1:8081/ with that cookie,
 *   # and curl -s -b jar http://127.0.0.1:8080/whoami
 *
 * Log in and out over HTTP, where the reply carries the cookie: a session that needs a
 * new id cannot be saved over a websocket. With a cookie storage, the websocket can read
 * the session but not save it.
 *
 * This file imports the library from this repository's source; in an application
 * import from 'fastify-sessions' and 'fastify-sessions/storages/…' instead.
 */
import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { WebSocketServer } from 'ws'
import sessionPlugin from '../index.js'
import { RedisStorage } from '../storages/redis.js'

declare module '../index.js' {
  interface SessionData {
    user: string
    messages: number
  }
}

const port = Number(process.env['PORT'] ?? 8080)
const barePort = Number(process.env['BARE_PORT'] ?? port + 1)

const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379')
const storage = new RedisStorage(redis, { maxAge: 3600 })

const app = Fastify({ logger: true })
redis.on('error', (error) => app.log.warn({ err: error }, 'redis'))
await app.register(sessionPlugin, storage)
await app.register(websocket)

app.post<{ Body: { user: string } }>('/login', async (request) => {
  request.newSession().set('user', request.body.user) // a new id: the reply's Set-Cookie gives it to the client
  return { user: request.body.user }
})
app.post('/logout', async (request) => {
  request.session.invalidate()
  return { user: null }
})
app.get('/whoami', async (request) => ({ user: request.session.get('user') ?? null, messages: request.session.get('messages') ?? 0 }))

app.get('/socket', { websocket: true }, (socket, request) => {
  const user = request.session.get('user')
  if (user === undefined) {
    socket.close(4401, 'log in first')
    return
  }
  socket.on('message', (data: Buffer) => {
    const messages = (request.session.get('messages') ?? 0) + 1
    request.session.set('messages', messages)
    // No reply will carry this session: save it now. Redis writes the record; the
    // client's cookie already names it.
    request.saveSession().then(() => {
      // Logged out over HTTP meanwhile: the save was dropped and the session is new.
      if (request.session.isNew) {
        socket.close(4401, 'logged out')
        return
      }
      socket.send(JSON.stringify({ user, messages, text: data.toString('utf8') }))
    }, (error: unknown) => {
      request.log.error({ err: error }, 'the session could not be saved')
      socket.close(1011, 'try again later')
    })
  })
})

// A websocket server outside Fastify (socket.io, a worker… would do the same).
const bare = new WebSocketServer({ host: '127.0.0.1', port: barePort })
bare.on('connection', (socket, upgrade) => {
  // Same rules as a request: a bad or expired cookie gives a new, empty session and a
  // log line, never an error. Only Redis being unreachable rejects.
  storage.loadSessionFromCookieHeader(upgrade.headers.cookie, { logger: app.log }).then((session) => {
    socket.send(JSON.stringify({ user: session.get('user') ?? null }))
    socket.close()
  }, (error: unknown) => {
    app.log.error({ err: error }, 'the session could not be read')
    socket.close(1011, 'try again later')
  })
})

app.addHook('onClose', async () => {
  await new Promise((resolve) => bare.close(resolve))
  redis.disconnect()
})
await app.listen({ host: '127.0.0.1', port })
