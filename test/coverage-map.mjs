// Tests that run our code in child processes through tsx (the CLI, the README's
// two-service example, the websocket example) would add coverage of differently
// transpiled code under the same file names, which garbles the merged report. Their
// code paths are covered in process by the other tests; these only check that the
// programs run. The docs test runs the documentation's examples from temporary files:
// what they reach is covered by the tests of each behaviour, and the temporary files
// are not the project's code.
export default function coverageMap (testFile) {
  return /(keygen-cli|interop\/example|websocket-example|docs)\.test\.ts$/.test(testFile) ? null : []
}
