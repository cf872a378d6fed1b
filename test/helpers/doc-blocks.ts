/**
 * Reading the documentation as the docs test checks it: the fenced code blocks of a
 * Markdown file with the marker that may stand before each, its relative links, and
 * its headings as GitHub turns them into anchors.
 */

/** What a `<!-- check: … -->` comment on the line before a block asks for. */
export type BlockMarker =
  | { kind: 'default' }
  | { kind: 'run' }
  | { kind: 'excerpt', path: string }
  | { kind: 'skip', reason: string }
  | { kind: 'invalid', text: string }

export interface CodeBlock {
  /** The Markdown file, relative to the repository. */
  readonly file: string
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly language: string
  readonly code: string
  readonly marker: BlockMarker
}

export interface MarkdownLink {
  readonly file: string
  readonly line: number
  readonly target: string
}

const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/
const MARKER = /^<!--\s*check:\s*(.*?)\s*-->$/

function readMarker (line: string | undefined): BlockMarker {
  const match = MARKER.exec(line?.trim() ?? '')
  if (match === null) return { kind: 'default' }
  const [word = '', ...rest] = (match[1] ?? '').split(/\s+/)
  const argument = rest.join(' ')
  if (word === 'run' && argument === '') return { kind: 'run' }
  if (word === 'excerpt' && argument !== '') return { kind: 'excerpt', path: argument }
  // A skipped block must say why, so that skipping stays a reasoned exception.
  if (word === 'skip' && argument.length >= 10) return { kind: 'skip', reason: argument }
  return { kind: 'invalid', text: match[1] ?? '' }
}

/** The fenced blocks of one file, with the marker on the nearest non-blank line above each. */
export function codeBlocks (file: string, text: string): CodeBlock[] {
  const lines = text.split('\n')
  const blocks: CodeBlock[] = []
  for (let index = 0; index < lines.length; index++) {
    const open = FENCE.exec(lines[index] ?? '')
    if (open === null) continue
    const fence = open[2] ?? '```'
    let end = index + 1
    while (end < lines.length && !(lines[end] ?? '').trim().startsWith(fence)) end++
    let above = index - 1
    while (above >= 0 && (lines[above] ?? '').trim() === '') above--
    blocks.push({
      file,
      line: index + 1,
      language: (open[3] ?? '').toLowerCase(),
      code: lines.slice(index + 1, end).join('\n'),
      marker: readMarker(lines[above])
    })
    index = end
  }
  return blocks
}

/** Text outside fenced blocks, with each block's lines blanked so line numbers stay true. */
function prose (text: string): string[] {
  const lines = text.split('\n')
  let fence: string | undefined
  return lines.map((line) => {
    const open = FENCE.exec(line)
    if (fence === undefined && open !== null) { fence = open[2]; return '' }
    if (fence !== undefined) {
      if (line.trim().startsWith(fence)) fence = undefined
      return ''
    }
    return line
  })
}

/** Relative links (`[text](path#anchor)`, `[text](#anchor)`); web addresses are not followed. */
export function relativeLinks (file: string, text: string): MarkdownLink[] {
  const links: MarkdownLink[] = []
  prose(text).forEach((line, index) => {
    // Inline code may show link syntax without being a link.
    const withoutCode = line.replace(/`[^`]*`/g, '')
    for (const match of withoutCode.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1] ?? ''
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
      links.push({ file, line: index + 1, target })
    }
  })
  return links
}

/** The anchors GitHub gives a file's headings (`## Foo: bar` → `foo-bar`, repeats get `-1`, `-2`…). */
export function headingAnchors (text: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of prose(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading === null) continue
    const slug = (heading[1] ?? '')
      .toLowerCase()
      .replace(/<[^>]*>/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

/**
 * Rewrites the package's import specifiers in a block for a module written one folder
 * below the repository: `fastify-sessions` → `../index.js`, and each exported subpath
 * `fastify-sessions/storages/<name>` → `../storages/<name>.js`. Returns the specifiers
 * that name no export of the package, which a user could not import either.
 */
export function rewritePackageImports (code: string, subpaths: ReadonlySet<string>): { code: string, unknown: string[] } {
  const unknown: string[] = []
  const rewritten = code.replace(/(['"])fastify-sessions(\/[^'"]*)?\1/g, (whole, quote: string, subpath: string | undefined) => {
    if (subpath === undefined) return `${quote}../index.js${quote}`
    if (!subpaths.has(`.${subpath}`) || !subpath.startsWith('/storages/')) {
      unknown.push(whole)
      return whole
    }
    return `${quote}..${subpath}.js${quote}`
  })
  return { code: rewritten, unknown }
}

/**
 * The opposite, for an example file that imports the package from this repository's
 * source (`../index.js`, `../../storages/redis.js`): the specifiers a user writes.
 */
export function asPackageImports (code: string): string {
  return code
    .replace(/(['"])(?:\.\.\/)+index\.js\1/g, '$1fastify-sessions$1')
    .replace(/(['"])(?:\.\.\/)+storages\/([a-z-]+)\.js\1/g, '$1fastify-sessions/storages/$2$1')
}
