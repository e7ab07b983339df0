// The k6 side shared by completions.js and streaming.js: settings, metrics, set-up checks.
// Imports k6 modules, so only k6 runs this file (Node checks its syntax only). Files are opened
// by the entry scripts, where k6 resolves relative paths unambiguously.
import http from 'k6/http';
import exec from 'k6/execution';
import { randomSeed, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { parseConfig } from './config.js';
import { validatePromptFile } from './prompts.js';

/** Settings from the environment (throws one error listing every bad variable). */
export const config = parseConfig(__ENV);

// Math.random is seeded too, although the scripts draw nothing from it: the prompt order and
// request seeds come from lib/prompts.js so that they do not depend on VU scheduling.
randomSeed(config.seed);

/** Parses and validates the prompt file's text; throws with every problem listed. */
export function loadPrompts(text) {
  const file = JSON.parse(text);
  const problems = validatePromptFile(file);
  if (problems.length > 0) throw new Error(`prompt file is invalid:\n  - ${problems.join('\n  - ')}`);
  return file.prompts;
}

/** Completion tokens per second of one request: usage.completion_tokens over its whole duration. */
export const tokensPerSecond = new Trend('tokens_per_second');
/** Completion tokens generated, summed over the run (k6 prints the total and the rate per second). */
export const completionTokens = new Counter('completion_tokens');
/** Prompt tokens sent, summed over the run. */
export const promptTokens = new Counter('prompt_tokens');
/** Share of completions that stopped at max_tokens (finish_reason "length"). */
export const truncated = new Rate('truncated_completions');
/** End-to-end latency of successful completions, tagged by prompt length class. */
export const latency = new Trend('completion_latency', true);

/** The iteration number across the whole scenario, which fixes prompt and seed. */
export function iterationInTest() {
  return exec.scenario.iterationInTest;
}

/** k6 request parameters: JSON body, tags for breaking results down by prompt length. */
export function requestParams(api, prompt, streaming) {
  return {
    headers: { 'Content-Type': 'application/json', Accept: streaming ? 'text/event-stream' : 'application/json' },
    timeout: config.timeout,
    tags: { name: `${api.path}${streaming ? ' stream' : ''}`, prompt_length: prompt.length, api: config.api },
  };
}

/** Records the usage-based measures of one finished completion. */
export function recordUsage(shapes, usage, finishReason, durationMs, prompt) {
  const tags = { prompt_length: prompt.length };
  if (finishReason) truncated.add(finishReason === shapes.truncatedFinishReason, tags);
  latency.add(durationMs, tags);
  if (!usage) return;
  completionTokens.add(usage.completion_tokens, tags);
  promptTokens.add(usage.prompt_tokens, tags);
  if (durationMs > 0) tokensPerSecond.add(usage.completion_tokens / (durationMs / 1000), tags);
}

/**
 * setup(): waits (up to about 280 s) for /health/ready, then checks that /v1/models lists
 * MODEL, so a wrong URL or model name stops the run with a clear message (k6 exits non-zero)
 * instead of a wall of failed requests.
 */
export function waitForServer(shapes) {
  const url = (path) => `${config.baseUrl}${path}`;
  const deadline = Date.now() + 280 * 1000;
  // 503 is the expected answer while the model loads: do not count it as a failed request.
  const params = { timeout: '10s', tags: { name: 'setup' }, responseCallback: http.expectedStatuses(200, 503) };
  let ready = http.get(url(shapes.health.ready), params);
  while (ready.status !== 200 && Date.now() < deadline) {
    sleep(2);
    ready = http.get(url(shapes.health.ready), params);
  }
  if (ready.status !== 200) exec.test.abort(`${url(shapes.health.ready)} answered ${ready.status}: is the server running and ready?`);
  const models = http.get(url(shapes.health.models), { tags: { name: 'setup' } });
  const ids = models.status === 200 ? (models.json('data') || []).map((m) => m.id) : [];
  if (!ids.includes(config.model)) exec.test.abort(`model ${JSON.stringify(config.model)} is not served; ${shapes.health.models} lists ${JSON.stringify(ids)} (set MODEL)`);
  return { startedAt: new Date().toISOString() };
}
