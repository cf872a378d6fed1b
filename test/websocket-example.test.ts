/**
 * examples/websocket.ts, run as written (with tsx, as a process of its own, against a
 * real redis-server): a login over HTTP, a real ws client on its @fastify/websocket
 * route whose messages are saved at once, and its bare ws server reading the same
 * session from the Cookie header.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import WebSocket from 'ws'
import { freePort, startRedis, terminate } from './helpers/servers.js'
import type { Teardown } from './helpers/teardown.js'
import { sendHttp } from './interop/service.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Opens a websocket with `cookie` and collects what the server sends until it closes the socket. */
async function converse (t: Teardown, url: string, cookie: string | undefined, messages: string[] = []): Promise<{ received: unknown[], code: number }> {
  const socket = new WebSocket(url, cookie === undefined ? {} : { headers: { cookie } })
  t.teardown(() => { socket.terminate() })
  const received: unknown[] = []
  const closed = once(socket, 'close') as Promise<[number, Buffer]>
  await once(socket, 'open')
  for (const message of messages) {
    const answer = once(socket, 'message') as Promise<[Buffer]>
    socket.send(message)
    received.push(JSON.parse((await answer)[0].toString('utf8')))
  }
  if (messages.length > 0) {
    socket.close()
  } else {
    socket.on('message', (data: Buffer) => received.push(JSON.parse(data.toString('utf8'))))
  }
  const [code] = await closed
  return { received, code }
}

t.test('the websocket example', async (t) => {
  const redis = await startRedis(t)
  const [port, barePort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/websocket.ts'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: String(port), BARE_PORT: String(barePort), REDIS_URL: `redis://127.0.0.1:${redis.port}/0` },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text })
  t.teardown(() => terminate(child))
  // The example does not announce readiness in a fixed format, so poll (tsx compiles first).
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the example exited: ${stderr}`)
    try {
      if ((await sendHttp(port, 'GET', '/whoami', undefined)).status === 200) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`the example did not answer within 30 s: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  const login = await sendHttp(port, 'POST', '/login', undefined, { body: { user: 'ann' } })
  const cookie = (login.setCookies[0] ?? '').split(';')[0] as string
  t.match(cookie, /^AIOHTTP_SESSION=[0-9a-f]{32}$/, 'logged in over HTTP')

  const chat = await converse(t, `ws://127.0.0.1:${port}/socket`, cookie, ['hello', 'again'])
  t.same(chat.received, [{ user: 'ann', messages: 1, text: 'hello' }, { user: 'ann', messages: 2, text: 'again' }], 'the socket knows the user')
  t.same((await sendHttp(port, 'GET', '/whoami', cookie)).body, { user: 'ann', messages: 2 }, 'HTTP sees what the socket saved')

  t.same(await converse(t, `ws://127.0.0.1:${port}/socket`, undefined), { received: [], code: 4401 }, 'a socket without a session is turned away')

  t.same(await converse(t, `ws://127.0.0.1:${barePort}/`, cookie), { received: [{ user: 'ann' }], code: 1005 }, 'the bare ws server reads the session')
  t.same(await converse(t, `ws://127.0.0.1:${barePort}/`, 'AIOHTTP_SESSION=garbage'), { received: [{ user: null }], code: 1005 },
    'and a cookie it cannot use as no user')

  const open = new WebSocket(`ws://127.0.0.1:${port}/socket`, { headers: { cookie } })
  t.teardown(() => { open.terminate() })
  const received: unknown[] = []
  open.on('message', (data: Buffer) => received.push(JSON.parse(data.toString('utf8'))))
  const closed = once(open, 'close') as Promise<[number, Buffer]>
  await once(open, 'open')
  await sendHttp(port, 'POST', '/logout', cookie)
  open.send('after the logout')
  t.same({ received, code: (await closed)[0] }, { received: [], code: 4401 }, 'a socket opened before a logout over HTTP is closed at its next save')
  t.same(await converse(t, `ws://127.0.0.1:${barePort}/`, cookie), { received: [{ user: null }], code: 1005 }, 'logged out everywhere')
})
