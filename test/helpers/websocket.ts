/**
 * A real `@fastify/websocket` route that drives the session over the socket, and a real
 * `ws` client for it: each message is one command, answered by one message.
 */
import type { AddressInfo } from 'node:net'
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import WebSocket from 'ws'
import { saveSession } from '../../index.js'
import { isSessionLine, logLinesOfRequest } from './app.js'
import { storeRoutes } from './store-routes.js'
import type { Teardown } from './teardown.js'

/** What the client can ask of the session on the socket's request. */
export type SocketCommand =
  | { op: 'read' }
  | { op: 'set', key: string, value: unknown }
  /** Pushes `value` onto the array under `key`, in place, then calls `changed()`. */
  | { op: 'push', key: string, value: unknown }
  | { op: 'save' }
  | { op: 'save-function' }
  | { op: 'new-session' }
  | { op: 'regenerate' }
  | { op: 'invalidate' }
  /** The lines fastify-sessions logged for the socket's request so far. */
  | { op: 'log' }

/** The answer: the command's result, or the error it threw (as the client may see it in a test). */
export type SocketAnswer =
  | { result: unknown }
  | { error: { name: string, code: unknown, message: string } }

async function run (request: FastifyRequest, command: SocketCommand): Promise<unknown> {
  switch (command.op) {
    case 'read':
      return { data: request.session.toJSON(), isNew: request.session.isNew, identity: request.session.identity }
    case 'set':
      request.session.set(command.key, command.value as string)
      return null
    case 'push':
      (request.session.get(command.key) as unknown[]).push(command.value)
      request.session.changed()
      return null
    case 'save':
      await request.saveSession()
      return null
    case 'save-function':
      await saveSession(request)
      return null
    case 'new-session':
      request.newSession()
      return null
    case 'regenerate':
      request.session.regenerate()
      return null
    case 'invalidate':
      request.session.invalidate()
      return null
    case 'log':
      return logLinesOfRequest(request.raw).filter(isSessionLine).map(({ level, msg, reason }) => ({ level, msg, reason }))
  }
}

/**
 * storeRoutes over HTTP, and `GET /socket`, a websocket route that runs each message
 * as a SocketCommand on its upgrade request's session.
 */
export function websocketRoutes (app: FastifyInstance): void {
  storeRoutes(app)
  app.register(websocket)
  // In a plugin of its own, so that @fastify/websocket is loaded when the route is added.
  app.register(async (scoped) => {
    scoped.get('/socket', { websocket: true }, (socket, request) => {
      // Messages are handled as they come, concurrently: a command can run while an
      // earlier one still waits for the store. Each answer names its message.
      socket.on('message', (data: Buffer) => {
        const { id, command } = JSON.parse(data.toString('utf8')) as { id: number, command: SocketCommand }
        run(request, command).then(
          (result) => { socket.send(JSON.stringify({ id, result })) },
          (error: Error & { code?: unknown }) => { socket.send(JSON.stringify({ id, error: { name: error.name, code: error.code, message: error.message } })) }
        )
      })
    })
  })
}

/** Starts the app on a free loopback port (it is closed in teardown by whoever built it). */
export async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

/** A `ws` client on `/socket`, sending `cookie` (a `name=value` pair) with its upgrade request, as a browser would. */
export class SocketClient {
  readonly #socket: WebSocket
  /** Who waits for the answer to each message sent, by message id. */
  readonly #waiting = new Map<number, (answer: SocketAnswer) => void>()
  #sent = 0

  private constructor (socket: WebSocket) {
    this.#socket = socket
    socket.on('message', (data: Buffer) => {
      const { id, ...answer } = JSON.parse(data.toString('utf8')) as SocketAnswer & { id: number }
      this.#waiting.get(id)?.(answer)
      this.#waiting.delete(id)
    })
  }

  static async connect (t: Teardown, port: number, cookie?: string): Promise<SocketClient> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/socket`, cookie === undefined ? {} : { headers: { cookie } })
    t.teardown(() => { socket.terminate() })
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return new SocketClient(socket)
  }

  /** Sends one command and waits for its answer (other commands may be sent meanwhile). */
  async send (command: SocketCommand): Promise<SocketAnswer> {
    const id = ++this.#sent
    const answer = new Promise<SocketAnswer>((resolve) => { this.#waiting.set(id, resolve) })
    this.#socket.send(JSON.stringify({ id, command }))
    return await answer
  }
}
