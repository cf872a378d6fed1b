import { MissingDependencyError } from '../errors.js'
import { peerRequire } from './peer-require.js'

/** Loads an optional peer dependency, or explains what to install. */
export function loadPeer<T> (name: string, neededBy: string): T {
  try {
    return peerRequire(name) as T
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((error as Error).message).includes(`'${name}'`)) {
      throw new MissingDependencyError(name, neededBy, { cause: error })
    }
    throw error
  }
}
