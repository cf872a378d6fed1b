/**
 * A small app with a visit counter, login and logout, on EncryptedCookieStorage: the
 * whole session lives in an encrypted cookie, so no server is needed.
 *
 *   npm run demo            (PORT=8080 npm run demo for another port)
 *
 * The key comes from SESSION_KEY (make one with `npx fastify-sessions keygen`); without
 * it a random key is made at start, so sessions end when the demo stops.
 */
import Fastify from 'fastify'
import sessionPlugin, { generateKey } from '../index.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'

declare module '../index.js' {
  interface SessionData {
    visits: number
    user: string
  }
}

const app = Fastify({ logger: { level: 'info' } })
await app.register(sessionPlugin, new EncryptedCookieStorage(process.env['SESSION_KEY'] ?? generateKey(), {
  maxAge: 3600,
  cookieName: 'DEMO_SESSION'
}))
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
  done(null, Object.fromEntries(new URLSearchParams(body as string)))
})

const escape = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)

app.get('/', async (request, reply) => {
  const visits = (request.session.get('visits') ?? 0) + 1
  request.session.set('visits', visits)
  const user = request.session.get('user')
  const account = user === undefined
    ? '<form method="post" action="/login"><input name="user" placeholder="your name" required> <button>Log in</button></form>'
    : `<p>Logged in as <b>${escape(user)}</b>.</p><form method="post" action="/logout"><button>Log out</button></form>`
  return reply.type('text/html').send(`<!doctype html><title>fastify-sessions demo</title>
<h1>fastify-sessions demo</h1>
<p>You have visited this page <b>${visits}</b> time${visits === 1 ? '' : 's'} in this session.</p>
${account}
<p><small>Session created at ${new Date(request.session.created * 1000).toISOString()}; new: ${request.session.isNew}.</small></p>`)
})

app.post('/login', async (request, reply) => {
  const name = String((request.body as { user?: unknown } | undefined)?.user ?? '').trim().slice(0, 64)
  if (name === '') return reply.redirect('/')
  // A new session on login: whatever identity the visitor had before is discarded.
  const session = request.newSession()
  session.set('user', name)
  return reply.redirect('/')
})

app.post('/logout', async (request, reply) => {
  request.session.invalidate()
  return reply.redirect('/')
})

app.get('/health', { config: { session: false } }, async () => 'ok')

const port = Number(process.env['PORT'] ?? 3000)
try {
  await app.listen({ host: '127.0.0.1', port })
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
  app.log.warn(`port ${port} is in use; taking a free one`)
  await app.listen({ host: '127.0.0.1', port: 0 })
}
const address = app.server.address()
const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}/`
console.log(`\nfastify-sessions demo running: open ${url}\n(Ctrl+C to stop)\n`)
