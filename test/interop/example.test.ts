/**
 * The README's "Sharing sessions with aiohttp" example, run as written: the aiohttp
 * app (examples/aiohttp-shared/app.py, with /usr/bin/python3) and the Fastify app
 * (examples/aiohttp-shared/server.ts, with tsx) as real processes on free ports,
 * sharing a user through the encrypted cookie and through Redis.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { generateKey } from '../../index.js'
import { freePort, startRedis, terminate } from '../helpers/servers.js'
import { Browser } from './browser.js'
import { HttpService, sendHttp } from './service.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SHIM = fileURLToPath(new URL('./python/shim', import.meta.url))

/** Starts one process of the example and waits until it answers GET /whoami. */
async function startExample (t: Test, name: string, command: string, args: string[], env: Record<string, string>): Promise<HttpService> {
  const port = await freePort()
  const child: ChildProcess = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (text: string) => { stderr += text })
  t.teardown(() => terminate(child))
  // Neither app announces readiness in a fixed format, so poll (tsx compiles first).
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`)
    try {
      if ((await sendHttp(port, 'GET', '/whoami', undefined)).status === 200) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`${name} did not answer within 30 s: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return new HttpService(name, port)
}

async function startBoth (t: Test, env: Record<string, string>): Promise<[HttpService, HttpService]> {
  return await Promise.all([
    // Debian's aiohttp-session 2.11 imports aioredis; the shim maps it to redis.asyncio
    // (aiohttp-session 2.12, the version the example is written for, needs no shim).
    startExample(t, 'aiohttp', '/usr/bin/python3', ['examples/aiohttp-shared/app.py'], { PYTHONPATH: SHIM, ...env }),
    startExample(t, 'fastify', process.execPath, ['--import', 'tsx', 'examples/aiohttp-shared/server.ts'], env)
  ])
}

async function sharedUserFlow (t: Test, aiohttp: HttpService, fastify: HttpService): Promise<Browser> {
  const browser = new Browser()
  t.same((await browser.post(aiohttp, '/login', { user: 'ann' })).body, { service: 'aiohttp', user: 'ann', visits: 0 })
  t.same((await browser.post(fastify, '/visit')).body, { service: 'fastify', user: 'ann', visits: 1 })
  t.same((await browser.post(aiohttp, '/visit')).body, { service: 'aiohttp', user: 'ann', visits: 2 })
  t.same((await browser.get(fastify, '/whoami')).body, { service: 'fastify', user: 'ann', visits: 2 })
  return browser
}

t.test('the example shares a user through the encrypted cookie', async (t) => {
  const [aiohttp, fastify] = await startBoth(t, { SESSION_KEY: generateKey() })
  const browser = await sharedUserFlow(t, aiohttp, fastify)
  t.same((await browser.post(fastify, '/logout')).body, { service: 'fastify', user: null, visits: 0 })
  t.same((await browser.get(aiohttp, '/whoami')).body, { service: 'aiohttp', user: null, visits: 0 }, 'logged out on both')
})

t.test('the example shares a user through Redis', async (t) => {
  const redis = await startRedis(t)
  const [aiohttp, fastify] = await startBoth(t, { REDIS_URL: `redis://127.0.0.1:${redis.port}/0` })
  const browser = await sharedUserFlow(t, aiohttp, fastify)
  t.match(browser.value(), /^[0-9a-f]{32}$/, 'the cookie holds the session id')
  t.same((await browser.post(aiohttp, '/logout')).body, { service: 'aiohttp', user: null, visits: 0 })
  t.same((await browser.get(fastify, '/whoami')).body, { service: 'fastify', user: null, visits: 0 }, 'logged out on both')
})
