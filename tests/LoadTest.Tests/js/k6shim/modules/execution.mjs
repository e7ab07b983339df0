export default {
  scenario: {
    get iterationInTest() {
      return globalThis.__k6shim.iteration;
    },
  },
  test: {
    abort(message) {
      throw new Error(`test.abort: ${message}`);
    },
  },
};
