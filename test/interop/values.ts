/**
 * Session data that stresses every layer between the two services: JSON escaping
 * (Python's ensure_ascii against JavaScript's raw UTF-8), cookie quoting (`"`, `\`,
 * `,` and `;` are escaped by Python's http.cookies), and JSON's number model.
 */
export const HOSTILE_VALUES: Record<string, unknown> = {
  unicode: 'café ünïcødé — 日本語 ‽',
  quotes: '"double" \'single\' `back`',
  separators: 'a,b;c=d e; f, g;;,,',
  backslashes: 'C:\\temp\\new \\"x\\" \\\\ \\054 \\073 end\\',
  emoji: '😀🎉 👩‍👩‍👧 🏳️‍🌈',
  whitespace: 'tab\there\nnewline\r\ncrlf',
  control: '\u0000\u0001\u001f\u007f\u0080\u00ff',
  separatorsUnicode: '\u2028\u2029\ufeff',
  looksLikeJson: '{"created": 1, "session": {}}',
  cookieSyntax: 'AIOHTTP_SESSION=evil; Path=/; HttpOnly',
  '': 'the empty key',
  'key with "quotes", commas; semicolons \\ and 😀': 'odd keys travel too',
  nested: {
    list: [1, 'two', { three: [3.5, null, true, false] }, []],
    empty: {},
    deeper: { a: { b: { c: { d: ['bottom'] } } } }
  },
  int: 42,
  negative: -7,
  zero: 0,
  maxSafe: 9007199254740991,
  minSafe: -9007199254740991,
  float: 3.25,
  small: 1.5e-7,
  large: 1.25e+300,
  negativeFloat: -0.5,
  yes: true,
  no: false,
  nothing: null
}

/**
 * The Python types of those values once aiohttp_session has loaded our cookie.
 * Written out rather than derived: JavaScript cannot tell `1.25e+300` (a float to
 * Python, because of its exponent) from an integer.
 */
export const PYTHON_TYPES: Record<string, string> = {
  unicode: 'str',
  quotes: 'str',
  separators: 'str',
  backslashes: 'str',
  emoji: 'str',
  whitespace: 'str',
  control: 'str',
  separatorsUnicode: 'str',
  looksLikeJson: 'str',
  cookieSyntax: 'str',
  '': 'str',
  'key with "quotes", commas; semicolons \\ and 😀': 'str',
  nested: 'dict',
  int: 'int',
  negative: 'int',
  zero: 'int',
  maxSafe: 'int',
  minSafe: 'int',
  float: 'float',
  small: 'float',
  large: 'float',
  negativeFloat: 'float',
  yes: 'bool',
  no: 'bool',
  nothing: 'NoneType'
}
