// Deterministic prompt order: a seeded shuffle of the prompt file, then request i takes entry
// i mod n. The same SEED gives the same prompts in the same order on every run, whatever the
// number of VUs, because k6's iterationInTest numbers requests across the whole scenario.

/** mulberry32: a tiny seeded PRNG (32-bit state), good enough to shuffle a prompt list. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A permutation of 0..n-1 fixed by the seed (Fisher-Yates). */
export function seededOrder(n, seed) {
  const order = Array.from({ length: n }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * The prompt and request seed for the iteration-th request of the test.
 * @param {{id: string, length: string, text: string}[]} prompts
 * @param {number[]} order from seededOrder(prompts.length, seed)
 * @param {number} iteration k6's exec.scenario.iterationInTest
 * @param {number} seed the run's SEED
 */
export function pickRequest(prompts, order, iteration, seed) {
  const prompt = prompts[order[iteration % order.length]];
  // A distinct but reproducible sampling seed per request, kept within int32 for any server.
  const requestSeed = (seed + iteration) % 2147483647;
  return { prompt, requestSeed };
}

/** Checks the prompt file's shape; returns every problem found (empty when valid). */
export function validatePromptFile(file) {
  const problems = [];
  if (!file || !Array.isArray(file.prompts) || file.prompts.length === 0) return ['prompts must be a non-empty array'];
  const ids = new Set();
  file.prompts.forEach((p, i) => {
    if (typeof p.id !== 'string' || p.id === '') problems.push(`prompts[${i}].id must be a non-empty string`);
    else if (ids.has(p.id)) problems.push(`prompts[${i}].id ${p.id} is duplicated`);
    else ids.add(p.id);
    if (!['short', 'medium', 'long'].includes(p.length)) problems.push(`prompts[${i}].length must be short, medium or long`);
    if (typeof p.text !== 'string' || p.text.trim() === '') problems.push(`prompts[${i}].text must be non-empty text`);
  });
  return problems;
}
