// The Node load runner against a fake server listening on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { quantile } from '../../../loadtest/lib/stats.js';

const script = fileURLToPath(new URL('../../../loadtest/load.mjs', import.meta.url));

function fakeServer({ failEvery = 0 } = {}) {
  let posts = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.url === '/health/ready') { res.end('ready'); return; }
      if (req.url === '/metrics') { res.end('moeserve_expert_tokens_total{layer="0",expert="0"} 0\n'); return; }
      const r = JSON.parse(body);
      posts++;
      if (failEvery && posts % failEvery === 0) { res.statusCode = 429; res.end('{"error":{"message":"full"}}'); return; }
      const usage = { prompt_tokens: 3, completion_tokens: r.max_tokens, total_tokens: 3 + r.max_tokens };
      if (r.stream) {
        res.setHeader('Content-Type', 'text/event-stream');
        res.write(`data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: r.model, choices: [{ index: 0, text: 'x', finish_reason: null }] })}\n\n`);
        setTimeout(() => {
          res.write(`data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: r.model, choices: [{ index: 0, text: 'y', finish_reason: 'length' }] })}\n\n`);
          res.end(`data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: r.model, choices: [], usage })}\n\ndata: [DONE]\n\n`);
        }, 20);
        return;
      }
      setTimeout(() => res.end(JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: r.model, choices: [{ index: 0, text: 'xy', finish_reason: 'length' }], usage })), 10);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}`, posts: () => posts })));
}

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { err += c; });
    child.on('close', (status) => resolve({ status, out, err }));
  });
}

test('quantile_KnownLists_InterpolatesBetweenRanks', () => {
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([10, 20], 0.5), 15);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('load_TwoLevelsStreaming_CountsRequestsTokensAndFirstTokenTimes', async () => {
  const fake = await fakeServer();
  try {
    const r = await run(['--url', fake.url, '--vus', '1,3', '--duration', '1s', '--max-tokens', '2', '--stream', '--json']);
    assert.equal(r.status, 0, r.err);
    const report = JSON.parse(r.out);
    assert.deepEqual(report.levels.map((l) => l.vus), [1, 3]);
    for (const l of report.levels) {
      assert.ok(l.requests > 0);
      assert.equal(l.failed, 0);
      assert.ok(Math.abs(l.generatedTokensPerSecond - (2 * l.requests) / l.seconds) < 1e-6);
      // The first token arrives before the 20 ms pause that precedes the rest of the stream.
      assert.ok(l.firstTokenMs.p95 < l.latencyMs.p95);
      assert.equal(l.truncatedRate, 1);
    }
    assert.equal(fake.posts(), report.levels.reduce((s, l) => s + l.requests, 0));
    // Three clients keep more requests in flight than one.
    assert.ok(report.levels[1].requests > report.levels[0].requests);
  } finally {
    fake.server.close();
  }
});

test('load_ServerAnswers429_ExitsNonZeroAndReportsTheFailure', async () => {
  const fake = await fakeServer({ failEvery: 2 });
  try {
    const r = await run(['--url', fake.url, '--vus', '2', '--duration', '1s', '--max-tokens', '1', '--max-requests', '10']);
    assert.equal(r.status, 1);
    assert.match(r.out, /status 429/);
    assert.match(r.out, /\| 2 \| 10 \| 5 \|/); // capped at 10 requests, every second one refused
  } finally {
    fake.server.close();
  }
});
