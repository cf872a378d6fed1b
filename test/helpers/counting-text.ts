/** What a parser did with a text: characters read, words compared, characters copied out. */
export interface TextWork {
  charactersRead: number
  wordsCompared: number
  charactersCopied: number
}

/**
 * A stand-in for `text` that counts what a parser or scanner reads, so tests can bound
 * the work per character instead of timing it; any use beyond `length`, `charCodeAt`,
 * `startsWith` and `slice` would throw.
 */
export function countingText (text: string): { stand: string, work: TextWork } {
  const work: TextWork = { charactersRead: 0, wordsCompared: 0, charactersCopied: 0 }
  const stand = {
    length: text.length,
    charCodeAt (index: number): number {
      work.charactersRead++
      return text.charCodeAt(index)
    },
    startsWith (word: string, index: number): boolean {
      work.wordsCompared++
      return text.startsWith(word, index)
    },
    slice (start: number, end: number): string {
      const copy = text.slice(start, end)
      work.charactersCopied += copy.length
      return copy
    }
  }
  return { stand: stand as unknown as string, work }
}
