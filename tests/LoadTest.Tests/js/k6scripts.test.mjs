// Runs the real k6 entry scripts under Node with stand-ins for k6's modules (./k6shim) and a
// fake server: init code, options, setup() and the default function, end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { seededOrder } from '../../../loadtest/lib/prompts.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const shim = fileURLToPath(new URL('./k6shim/', import.meta.url));
const prompts = JSON.parse(readFileSync(`${root}loadtest/prompts.json`, 'utf8')).prompts;

function runScript(script, env = {}, iterations = 4) {
  const r = spawnSync(process.execPath, ['--import', `${shim}register.mjs`, `${shim}run.mjs`, `${root}loadtest/${script}`, String(iterations)], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
  });
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? JSON.parse(r.stdout) : null };
}

const posts = (out) => out.requests.filter((r) => r.method === 'POST');

test('completionsScript_FakeServer_SendsSeededPromptsAndRecordsUsageMetrics', () => {
  const { status, stderr, out } = runScript('completions.js', { SEED: '7', MAX_TOKENS: '5', MODEL: 'default' });
  assert.equal(status, 0, stderr);
  assert.ok(out.checks.length > 0 && out.checks.every((c) => c.ok), JSON.stringify(out.checks));
  const order = seededOrder(prompts.length, 7);
  posts(out).forEach((r, i) => {
    assert.equal(r.url, 'http://localhost:8080/v1/completions');
    assert.equal(r.body.prompt, prompts[order[i]].text);
    assert.equal(r.body.seed, 7 + i);
    assert.equal(r.body.max_tokens, 5);
    assert.equal(r.body.model, 'default');
    assert.equal(r.body.stream, undefined);
    assert.equal(r.tags.prompt_length, prompts[order[i]].length);
  });
  assert.equal(out.metrics.completion_tokens.sum, 4 * 5);
  assert.equal(out.metrics.truncated_completions.count, 4);
  assert.equal(out.metrics.tokens_per_second.count, 4);
  assert.equal(out.options.thresholds.http_req_failed[0], 'rate==0');
});

test('streamingScript_ChatApi_ParsesStreamsAndRecordsTimeToFirstByte', () => {
  const { status, stderr, out } = runScript('streaming.js', { API: 'chat', MAX_TOKENS: '3', SCENARIO: 'ramping-arrival-rate', RATE: '2' });
  assert.equal(status, 0, stderr);
  assert.ok(out.checks.every((c) => c.ok), JSON.stringify(out.checks));
  for (const r of posts(out)) {
    assert.equal(r.url, 'http://localhost:8080/v1/chat/completions');
    assert.equal(r.body.stream, true);
    assert.equal(r.body.stream_options.include_usage, true);
    assert.equal(typeof r.body.messages[0].content, 'string');
  }
  assert.equal(out.metrics.stream_time_to_first_byte.count, 4);
  assert.equal(out.metrics.stream_done.sum, 4);
  assert.equal(out.metrics.stream_content_events.sum, 4 * 3);
  assert.equal(out.metrics.completion_tokens.sum, 4 * 3);
  const scenario = Object.values(out.options.scenarios)[0];
  assert.equal(scenario.executor, 'ramping-arrival-rate');
  assert.deepEqual(out.options.thresholds.dropped_iterations, ['count==0']);
});

test('bothScripts_BrokenResponses_FailTheirChecksAndSayWhy', () => {
  for (const script of ['completions.js', 'streaming.js']) {
    const { status, stderr, out } = runScript(script, { FAKE: 'bad' }, 2);
    assert.equal(status, 0, stderr);
    assert.ok(out.checks.some((c) => !c.ok), `${script}: a broken body must fail a check`);
    assert.ok(out.warnings.length > 0, `${script}: the problem is logged`);
    assert.ok(!('completion_tokens' in out.metrics) || out.metrics.completion_tokens.count === 0, `${script}: failed responses must not count as throughput`);
  }
  const { out } = runScript('streaming.js', { FAKE: 'bad' }, 1);
  assert.match(out.warnings.join('\n'), /\[DONE\]/);
});

test('scripts_BadSettings_StopBeforeAnyRequestListingEveryProblem', () => {
  const { status, stderr } = runScript('completions.js', { SCENARIO: 'soak', MAX_TOKENS: '-1' });
  assert.notEqual(status, 0);
  assert.match(stderr, /SCENARIO/);
  assert.match(stderr, /MAX_TOKENS/);
});
