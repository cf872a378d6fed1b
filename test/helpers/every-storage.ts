/**
 * The five storages, for tests every one of them must pass end to end: the three
 * cookie storages and Redis and Memcached against real servers of their own (started
 * here, stopped in teardown).
 */
import { SimpleCookieStorage, generateKey } from '../../index.js'
import type { AbstractStorage } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../../storages/nacl-cookie.js'
import { storeBackends } from './stores.js'
import type { Teardown } from './teardown.js'

export interface StorageUnderTest {
  name: string
  /**
   * What the cookie holds: the session in plain JSON (`simple`, anyone can forge it),
   * the session sealed under a key (`sealed`: Fernet or NaCl, in base64), or an id.
   */
  cookie: 'simple' | 'sealed' | 'id'
  storage: () => AbstractStorage
}

/**
 * Every storage, its servers started. Call it before declaring the tests (top-level
 * await): tap ends the run once its queue of tests is empty, which a test declared
 * after a slow start could miss.
 */
export async function everyStorage (t: Teardown): Promise<StorageUnderTest[]> {
  const key = generateKey()
  const stores = await Promise.all(storeBackends.map(async (start) => await start(t)))
  return [
    { name: 'SimpleCookieStorage', cookie: 'simple', storage: () => new SimpleCookieStorage() },
    { name: 'EncryptedCookieStorage', cookie: 'sealed', storage: () => new EncryptedCookieStorage(key) },
    { name: 'NaClCookieStorage', cookie: 'sealed', storage: () => new NaClCookieStorage(key) },
    ...stores.map((backend): StorageUnderTest => ({ name: `${backend.name}Storage`, cookie: 'id', storage: () => backend.storage() }))
  ]
}
