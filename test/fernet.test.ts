import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Fernet } from '../lib/crypto/fernet.js'
import { fernetDecrypt, fernetEncrypt } from './helpers/reference.js'

const KEY = randomBytes(32)

t.test('consecutive tokens from one Fernet are each standard CBC (the reused cipher stays in step)', async (t) => {
  const fernet = new Fernet([KEY])
  for (let length = 0; length < 100; length++) {
    const plaintext = randomBytes(length)
    const opened = fernetDecrypt(fernet.encrypt(plaintext, 1700000000 + length), KEY)
    if (!opened.plaintext.equals(plaintext) || opened.timestamp !== 1700000000 + length) {
      t.fail(`token ${length} did not decrypt with the reference decoder`)
      return
    }
  }
  t.pass('100 tokens of 0 to 99 bytes decrypt with the reference decoder')
})

t.test('decryption of consecutive tokens with the reused block decipher', async (t) => {
  const fernet = new Fernet([KEY])
  for (let length = 0; length < 100; length++) {
    const plaintext = randomBytes(length)
    const opened = fernet.decrypt(fernetEncrypt(plaintext, KEY, 1700000000, randomBytes(16)), undefined, 1700000000)
    if (typeof opened === 'string' || !opened.plaintext.equals(plaintext)) {
      t.fail(`token ${length}: ${typeof opened === 'string' ? opened : 'wrong plaintext'}`)
      return
    }
  }
  t.pass('100 reference tokens of 0 to 99 bytes decrypt')
})
