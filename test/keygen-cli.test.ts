import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../bin/fastify-sessions.ts', import.meta.url))

async function cli (...args: string[]): Promise<{ stdout: string, stderr: string, code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', bin, ...args])
    return { stdout, stderr, code: 0 }
  } catch (error) {
    const failed = error as { stdout: string, stderr: string, code: number }
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code }
  }
}

t.test('keygen prints a new key', async (t) => {
  const first = await cli('keygen')
  t.equal(first.code, 0)
  t.match(first.stdout, /^[A-Za-z0-9_-]{43}=\n$/)
  t.not((await cli('keygen')).stdout, first.stdout)
})

t.test('help and mistakes', async (t) => {
  for (const args of [[], ['help'], ['--help'], ['-h']]) {
    const result = await cli(...args)
    t.equal(result.code, 0)
    t.match(result.stdout, /^Usage: fastify-sessions keygen/)
  }
  const wrong = await cli('keygen', 'extra')
  t.equal(wrong.code, 2)
  t.match(wrong.stderr, /unknown command "keygen extra"/)
})
