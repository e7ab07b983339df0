export function check(value, checks) {
  let all = true;
  for (const [name, fn] of Object.entries(checks)) {
    const ok = Boolean(fn(value));
    globalThis.__k6shim.checks.push({ name, ok });
    all &&= ok;
  }
  return all;
}
export function sleep() {}
export function randomSeed(seed) {
  globalThis.__k6shim.seed = seed;
}
