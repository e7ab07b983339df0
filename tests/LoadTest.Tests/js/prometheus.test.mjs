import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseExposition, expertBalance, bucketQuantile, counterIncreases } from '../../../loadtest/lib/prometheus.js';

const bounds = [0.1, 0.25, 0.5, 1, 2];

/** Builds a /metrics page like the server's from per-layer expert token counts and per-step MaxVio values. */
function exposition(tokensByLayer, stepMaxVios, extra = '') {
  const lines = ['# HELP moeserve_expert_tokens_total Tokens routed to each expert.', '# TYPE moeserve_expert_tokens_total counter'];
  tokensByLayer.forEach((tokens, layer) => tokens.forEach((t, expert) => lines.push(`moeserve_expert_tokens_total{layer="${layer}",expert="${expert}"} ${t}`)));
  lines.push('# TYPE moeserve_batch_max_violation histogram');
  stepMaxVios.forEach((values, layer) => {
    for (const le of bounds) lines.push(`moeserve_batch_max_violation_bucket{layer="${layer}",le="${le}"} ${values.filter((v) => v <= le).length}`);
    lines.push(`moeserve_batch_max_violation_bucket{layer="${layer}",le="+Inf"} ${values.length}`);
    lines.push(`moeserve_batch_max_violation_sum{layer="${layer}"} ${values.reduce((a, b) => a + b, 0)}`);
    lines.push(`moeserve_batch_max_violation_count{layer="${layer}"} ${values.length}`);
  });
  return `${lines.join('\n')}\n${extra}`;
}

const beforeTokens = [[10, 20, 30, 40], [5, 5, 5, 5]];
const runTokens = [[100, 100, 100, 100], [40, 80, 120, 160]];
const afterTokens = beforeTokens.map((l, i) => l.map((t, j) => t + runTokens[i][j]));
const beforeSteps = [[0.3], [0.9]];
const runSteps = [[0.05, 0.2, 0.2, 0.4], [0.6, 0.7, 1.5, 1.8]];
const before = exposition(beforeTokens, beforeSteps, 'moeserve_requests_total{status="200"} 3\n');
const after = exposition(afterTokens, beforeSteps.map((b, i) => [...b, ...runSteps[i]]), 'moeserve_requests_total{status="200"} 11\n');

test('parseExposition_LabelsWithEscapesAndTimestamps_ParsesEachSample', () => {
  const s = parseExposition('# HELP x y\nx_total{a="q\\"uote",b="2"} 3.5 1700000000\ny +Inf\n');
  assert.equal(s.length, 2);
  assert.deepEqual(s[0].labels, { a: 'q"uote', b: '2' });
  assert.equal(s[0].value, 3.5);
  assert.equal(s[1].value, Infinity);
});

test('expertBalance_TwoScrapes_SharesAndMaxVioComeFromTheIncreaseOnly', () => {
  const b = expertBalance(before, after);
  assert.equal(b.layers.length, 2);
  runTokens.forEach((tokens, layer) => {
    const l = b.layers[layer];
    const total = tokens.reduce((a, c) => a + c, 0);
    const mean = total / tokens.length;
    assert.deepEqual(l.tokens, tokens);
    assert.equal(l.total, total);
    l.shares.forEach((s, j) => assert.ok(Math.abs(s - tokens[j] / total) < 1e-12));
    assert.ok(Math.abs(l.maxVio - (Math.max(...tokens) - mean) / mean) < 1e-12);
    assert.equal(l.steps, runSteps[layer].length);
    const stepMean = runSteps[layer].reduce((a, c) => a + c, 0) / runSteps[layer].length;
    assert.ok(Math.abs(l.meanStepMaxVio - stepMean) < 1e-9);
  });
  assert.ok(b.layers[1].maxVio > b.layers[0].maxVio);
});

test('expertBalance_ExpertWithoutSeries_CountsTowardsTheMeanWhenExpertsGiven', () => {
  const lazyBefore = 'moeserve_expert_tokens_total{layer="0",expert="0"} 0\n';
  const lazyAfter = 'moeserve_expert_tokens_total{layer="0",expert="0"} 30\nmoeserve_expert_tokens_total{layer="0",expert="1"} 10\n';
  const two = expertBalance(lazyBefore, lazyAfter).layers[0];
  const four = expertBalance(lazyBefore, lazyAfter, { experts: 4 }).layers[0];
  assert.equal(two.experts.length, 2);
  assert.equal(four.experts.length, 4);
  assert.ok(Math.abs(four.maxVio - (30 - 10) / 10) < 1e-12);
});

test('bucketQuantile_UniformInOneBucket_InterpolatesLinearly', () => {
  const buckets = [{ le: 1, count: 0 }, { le: 2, count: 10 }, { le: Infinity, count: 10 }];
  assert.ok(Math.abs(bucketQuantile(0.5, buckets) - 1.5) < 1e-12);
  assert.ok(Number.isNaN(bucketQuantile(0.5, [{ le: Infinity, count: 0 }])));
});

test('counterIncreases_OtherCounters_ReportsOnlyWhatMoved', () => {
  const c = counterIncreases(before, after);
  assert.deepEqual(c, [{ series: 'moeserve_requests_total{status=200}', increase: 8 }]);
});

test('scrapeMetricsReport_TwoFiles_PrintsJsonWithTheSameNumbers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scrape-'));
  writeFileSync(join(dir, 'before.prom'), before);
  writeFileSync(join(dir, 'after.prom'), after);
  const script = fileURLToPath(new URL('../../../loadtest/scrape-metrics.mjs', import.meta.url));
  const json = spawnSync(process.execPath, [script, 'report', join(dir, 'before.prom'), join(dir, 'after.prom'), '--json'], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  assert.deepEqual(parsed.layers[1].tokens, runTokens[1]);
  const text = spawnSync(process.execPath, [script, 'report', join(dir, 'before.prom'), join(dir, 'after.prom')], { encoding: 'utf8' });
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /MaxVio\(run\)/);
  assert.match(text.stdout, /0:10\.0%/); // layer 1, expert 0: 40 of 400 tokens
  const bad = spawnSync(process.execPath, [script, 'report', '--experts', 'x'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--experts/);
  assert.match(bad.stderr, /BEFORE_FILE/);
});

test('histogramOverRun_TwoLabelSets_SumsThemAndCountsOnlyTheRun', async () => {
  const { histogramOverRun } = await import('../../../loadtest/lib/prometheus.js');
  const page = (a, b) => [
    `h_bucket{endpoint="x",le="1"} ${a[0]}`, `h_bucket{endpoint="x",le="2"} ${a[1]}`, `h_bucket{endpoint="x",le="+Inf"} ${a[1]}`,
    `h_sum{endpoint="x"} ${a[2]}`, `h_count{endpoint="x"} ${a[1]}`,
    `h_bucket{endpoint="y",le="1"} ${b[0]}`, `h_bucket{endpoint="y",le="2"} ${b[1]}`, `h_bucket{endpoint="y",le="+Inf"} ${b[1]}`,
    `h_sum{endpoint="y"} ${b[2]}`, `h_count{endpoint="y"} ${b[1]}`,
  ].join('\n');
  // Run: x gets 4 observations in (1, 2], y gets 4 in [0, 1]; sums grow by 6 and 2.
  const h = histogramOverRun(page([1, 1, 0.5], [0, 0, 0]), page([1, 5, 6.5], [4, 4, 2]), 'h');
  assert.equal(h.count, 8);
  assert.ok(Math.abs(h.mean - 1) < 1e-12);
  assert.ok(Math.abs(h.p50 - 1) < 1e-12); // rank 4 of 8 is the top of the first bucket
  assert.ok(h.p95 > 1 && h.p95 <= 2);
  const idle = histogramOverRun(page([1, 1, 0.5], [0, 0, 0]), page([1, 1, 0.5], [0, 0, 0]), 'h');
  assert.equal(idle.count, 0);
  assert.ok(Number.isNaN(idle.mean));
});
