import t from 'tap'
import { parsePythonJson } from '../lib/wire/python-json.js'

t.test('standard JSON is parsed as JSON.parse does', async (t) => {
  t.same(parsePythonJson('{"a": [1, 2.5, "x", true, null]}'), { a: [1, 2.5, 'x', true, null] })
  t.throws(() => parsePythonJson('not json'), SyntaxError, 'and invalid JSON still fails')
  t.throws(() => parsePythonJson('{"a": NaNa}'), SyntaxError, 'a token glued to garbage still fails')
  t.throws(() => parsePythonJson('{NaN: 1}'), SyntaxError, 'a token where a key belongs fails, as in Python')
  t.throws(() => parsePythonJson('{"a": {Infinity: 1, "b": NaN}}'), SyntaxError, 'at any depth')
})

t.test('Python\'s non-finite floats are read', async (t) => {
  const value = parsePythonJson('{"created": 1, "session": {"n": NaN, "big": Infinity, "small": -Infinity, "list": [NaN, 1]}}') as {
    session: { n: number, big: number, small: number, list: number[] }
  }
  t.ok(Number.isNaN(value.session.n))
  t.equal(value.session.big, Infinity)
  t.equal(value.session.small, -Infinity)
  t.ok(Number.isNaN(value.session.list[0]))
  t.equal(value.session.list[1], 1)
})

t.test('tokens inside strings are text, not numbers', async (t) => {
  t.same(parsePythonJson('{"k": "NaN \\"Infinity\\" \\\\", "n": NaN}'), { k: 'NaN "Infinity" \\', n: NaN })
  t.same(parsePythonJson('{"NaN": -Infinity}'), { NaN: -Infinity })
})
