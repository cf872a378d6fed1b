/**
 * The documentation cannot drift from the code: every fenced block in README.md,
 * CONTRIBUTING.md and docs/*.md is checked, and so is every relative link.
 *
 * - ```ts / ```js blocks are type-checked against the package's source, all in one
 *   TypeScript program with the project's strict options (but for one of style, below). Each block is a module of its
 *   own that imports 'fastify-sessions' as a user does (the import is pointed at the
 *   source). A block may use `app` (a FastifyInstance) without declaring it: fragments
 *   such as "register this storage" need no boilerplate. Because every block is in one
 *   program, the blocks' `SessionData` augmentations merge: they must agree.
 * - A block after `<!-- check: run -->` is also run, after the type check, in this
 *   process; it must finish by itself (close its app) and throws when it is wrong.
 * - A block after `<!-- check: excerpt examples/x.ts -->` must appear verbatim in that
 *   file (with the file's relative imports written as the package's), which the
 *   typecheck compiles and a test runs.
 * - A block after `<!-- check: skip <why> -->` is not checked; the reason is required.
 * - ```sh blocks: every `npm run <script>` exists, and every file they name exists.
 *   ```python blocks are parsed by python3; ```json blocks by JSON.parse. A block without
 *   a language fails: say what it is (```text for output).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import ts from 'typescript'
import { asPackageImports, codeBlocks, headingAnchors, relativeLinks, rewritePackageImports } from './helpers/doc-blocks.js'
import type { CodeBlock } from './helpers/doc-blocks.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DOCUMENTS = ['README.md', 'CONTRIBUTING.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]
const TYPESCRIPT = new Set(['ts', 'typescript', 'js', 'javascript'])
const SHELL = new Set(['sh', 'bash', 'shell', 'console'])
const PLAIN = new Set(['text', 'http'])

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>, exports: Record<string, unknown> }
const subpaths = new Set(Object.keys(packageJson.exports))
const texts = new Map(DOCUMENTS.map((file) => [file, readFileSync(join(ROOT, file), 'utf8')]))
const blocks = DOCUMENTS.flatMap((file) => codeBlocks(file, texts.get(file) ?? ''))
const where = (block: CodeBlock): string => `${block.file}:${block.line}`

t.test('every block has a language and a valid marker', async (t) => {
  const known = new Set([...TYPESCRIPT, ...SHELL, ...PLAIN, 'python', 'json'])
  for (const block of blocks) {
    if (!known.has(block.language)) t.fail(`${where(block)}: a block in \`${block.language || '(no language)'}\`; name one of ${[...known].join(', ')}`)
    if (block.marker.kind === 'invalid') t.fail(`${where(block)}: unreadable marker "check: ${block.marker.text}" (run, excerpt <file>, or skip <reason of 10+ characters>)`)
    if (block.marker.kind === 'run' && !TYPESCRIPT.has(block.language)) t.fail(`${where(block)}: only TypeScript/JavaScript blocks can be run`)
  }
  t.ok(blocks.length > 0, 'found blocks')
})

t.test('TypeScript and JavaScript blocks type-check against the package, and marked ones run', async (t) => {
  const checked = blocks.filter((block) => TYPESCRIPT.has(block.language) && block.marker.kind !== 'skip' && block.marker.kind !== 'excerpt')
  const directory = mkdtempSync(join(ROOT, '.docs-check-'))
  t.teardown(() => rmSync(directory, { recursive: true, force: true }))

  // One module per block; the name says where it came from, for the messages below.
  const modules = new Map<string, CodeBlock>()
  for (const block of checked) {
    const { code, unknown } = rewritePackageImports(block.code, subpaths)
    for (const specifier of unknown) t.fail(`${where(block)}: ${specifier} is not an export of the package`)
    const extension = block.language.startsWith('j') ? 'js' : 'ts'
    const path = join(directory, `${block.file.replace(/[/.]/g, '-')}-${block.line}.${extension}`)
    // `export {}` makes every block a module (top-level await, its own scope).
    writeFileSync(path, `${code}\nexport {}\n`)
    modules.set(path, block)
  }
  const prelude = join(directory, 'prelude.d.ts')
  writeFileSync(prelude, "import type { FastifyInstance } from 'fastify'\ndeclare global { const app: FastifyInstance }\nexport {}\n")

  const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.json'), {}, {
    ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => { throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')) }
  })
  if (config === undefined) throw new Error('tsconfig.json could not be read')
  // The project's strict options, less one of style: noPropertyAccessFromIndexSignature
  // would make every `process.env.X` of the docs read `process.env['X']`.
  const options = { ...config.options, noPropertyAccessFromIndexSignature: false, noEmit: true, allowJs: true, checkJs: true }
  const program = ts.createProgram([prelude, ...modules.keys()], options)
  const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    const file = diagnostic.file
    if (file === undefined || diagnostic.start === undefined) return message
    const { line, character } = file.getLineAndCharacterOfPosition(diagnostic.start)
    const block = modules.get(resolve(file.fileName))
    // The block's first line is the line after its fence.
    if (block !== undefined) return `${block.file}:${block.line + 1 + line}:${character + 1}: ${message}`
    return `${relative(ROOT, file.fileName)}:${line + 1}: ${message}`
  })
  t.same(problems, [], `${checked.length} blocks type-check`)
  t.ok(checked.length >= 10, 'the blocks were found')

  for (const [path, block] of modules) {
    if (block.marker.kind !== 'run' || problems.length > 0) continue
    await t.test(`${where(block)} runs`, async () => {
      await import(pathToFileURL(path).href)
    })
  }
})

t.test('excerpts are verbatim parts of their example files', async (t) => {
  for (const block of blocks) {
    if (block.marker.kind !== 'excerpt') continue
    const path = join(ROOT, block.marker.path)
    if (!existsSync(path)) { t.fail(`${where(block)}: ${block.marker.path} does not exist`); continue }
    t.ok(asPackageImports(readFileSync(path, 'utf8')).includes(block.code), `${where(block)} is in ${block.marker.path}`)
  }
})

t.test('shell blocks name scripts and files that exist', async (t) => {
  for (const block of blocks) {
    if (!SHELL.has(block.language) || block.marker.kind === 'skip') continue
    for (const match of block.code.matchAll(/npm run (?:-s )?([\w:-]+)/g)) {
      t.ok(match[1] !== undefined && match[1] in packageJson.scripts, `${where(block)}: npm run ${match[1] ?? ''} exists`)
    }
    for (const match of block.code.matchAll(/(?<![\w/.-])((?:examples|test|bench|scripts|docs)\/[\w./-]*\w)/g)) {
      t.ok(existsSync(join(ROOT, match[1] ?? '')), `${where(block)}: ${match[1] ?? ''} exists`)
    }
  }
})

t.test('python blocks parse, json blocks parse', async (t) => {
  for (const block of blocks) {
    if (block.marker.kind === 'skip') continue
    if (block.language === 'json') {
      t.doesNotThrow(() => JSON.parse(block.code), `${where(block)} is JSON`)
    } else if (block.language === 'python') {
      const result = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: block.code, encoding: 'utf8' })
      t.equal(result.status, 0, `${where(block)} is Python${result.stderr === '' ? '' : `: ${result.stderr}`}`)
    }
  }
})

t.test('relative links point to files and headings that exist', async (t) => {
  for (const [file, text] of texts) {
    for (const link of relativeLinks(file, text)) {
      const [path = '', anchor] = link.target.split('#')
      const target = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), decodeURIComponent(path))
      const name = `${link.file}:${link.line}: ${link.target}`
      if (!existsSync(target)) { t.fail(`${name}: no such file`); continue }
      if (anchor === undefined) continue
      if (!target.endsWith('.md')) { t.fail(`${name}: an anchor into a file that is not Markdown`); continue }
      t.ok(headingAnchors(readFileSync(target, 'utf8')).has(anchor), `${name}: the heading exists`)
    }
  }
})
