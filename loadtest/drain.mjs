#!/usr/bin/env node
// Shutdown under load, measured: starts the server, puts N requests in flight (half streaming),
// sends SIGTERM, and classifies every client's ending: finished, cut with a 503 JSON error, cut with a
// final SSE error event + [DONE], refused with 429 before the signal, or reset (the connection broke:
// what must never happen). Polls /health/ready through the drain to show what a load balancer sees.
//   node loadtest/drain.mjs [--requests 250] [--drain 5] [--grace 5] [--max-tokens 200] [--port 18123]
//                           [-- extra server arguments, e.g. --max-waiting 250]
// Needs a Release build of the server (dotnet build src/Server -c Release); serves models/default.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: drain.mjs [--requests N] [--drain S] [--grace S] [--max-tokens N] [--port P] [-- server args]';

function parseArgs(argv) {
  const a = { requests: 250, drain: 5, grace: 5, maxTokens: 200, port: 18123, server: [] };
  const numeric = { '--requests': 'requests', '--drain': 'drain', '--grace': 'grace', '--max-tokens': 'maxTokens', '--port': 'port' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') { a.server = argv.slice(i + 1); break; }
    const key = numeric[argv[i]];
    const value = Number(argv[i + 1]);
    if (!key) { console.error(`drain.mjs: unknown flag '${argv[i]}'\n${USAGE}`); process.exit(2); }
    if (!Number.isFinite(value) || value < 0) { console.error(`drain.mjs: ${argv[i]} needs a non-negative number\n${USAGE}`); process.exit(2); }
    a[key] = value;
    i++;
  }
  return a;
}

function request(port, method, urlPath, body) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text, headers: res.headers }));
      res.on('error', (e) => resolve({ status: res.statusCode, error: e.code || e.message, text }));
      res.on('aborted', () => resolve({ status: res.statusCode, error: 'aborted', text }));
    });
    req.on('error', (e) => resolve({ error: e.code || e.message }));
    if (body) req.write(body);
    req.end();
  });
}

function classify(r, stream) {
  if (r.error) return r.status ? `reset after headers (${r.error})` : `reset without headers (${r.error})`;
  if (r.status === 429) return 'refused 429';
  if (r.status === 503) return JSON.parse(r.text).error?.code === 'service_unavailable' ? 'cut: 503' : 'bad 503';
  if (r.status !== 200) return `status ${r.status}`;
  if (!stream) return JSON.parse(r.text).choices?.[0]?.finish_reason ? 'finished' : 'bad 200';
  const events = r.text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  if (events.at(-1) !== '[DONE]') return 'stream without [DONE]';
  const last = JSON.parse(events.at(-2));
  return last.error ? 'cut: error event' : 'finished';
}

async function waitReady(port, child) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    const r = await request(port, 'GET', '/health/ready');
    if (r.status === 200) return;
    await new Promise((s) => setTimeout(s, 100));
  }
  throw new Error('the server never became ready');
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const dll = path.join(root, 'src/Server/bin/Release/net10.0/linux-x64/MoeServe.Server.dll');
  if (!existsSync(dll)) { console.error(`drain.mjs: ${dll} is missing; run: dotnet build src/Server -c Release`); process.exit(2); }
  const args = [dll, '--port', String(a.port), '--drain-timeout', String(a.drain), '--shutdown-grace', String(a.grace), ...a.server];
  const child = spawn('dotnet', args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (c) => { log += c; });
  child.stderr.on('data', (c) => { log += c; });
  await waitReady(a.port, child);

  const started = Date.now();
  const clients = Array.from({ length: a.requests }, (_, i) => {
    const stream = i % 2 === 0;
    const body = JSON.stringify({ prompt: `And it came to pass ${i}`, max_tokens: a.maxTokens, temperature: 0.8, seed: i, stream });
    return request(a.port, 'POST', '/v1/completions', body).then((r) => classify(r, stream));
  });
  await new Promise((s) => setTimeout(s, 1000)); // every request is sent and admitted or refused
  const signalled = Date.now();
  child.kill('SIGTERM');

  const readiness = {};
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await request(a.port, 'GET', '/health/ready');
      const key = r.status ? String(r.status) : `refused (${r.error})`;
      readiness[key] = (readiness[key] || 0) + 1;
      await new Promise((s) => setTimeout(s, 100));
    }
  })();
  const outcomes = await Promise.all(clients);
  const answered = Date.now();
  const exit = await new Promise((s) => (child.exitCode !== null ? s(child.exitCode) : child.on('exit', (code) => s(code))));
  polling = false;
  await poller;

  const histogram = {};
  for (const o of outcomes) histogram[o] = (histogram[o] || 0) + 1;
  const resets = outcomes.filter((o) => o.startsWith('reset')).length;
  console.log(JSON.stringify({
    requests: a.requests, drainSeconds: a.drain, graceSeconds: a.grace, serverArgs: a.server,
    outcomes: histogram, resets, readinessDuringShutdown: readiness,
    lastAnswerSecondsAfterSignal: (answered - signalled) / 1000, exitCode: exit,
    drainLog: log.split('\n').filter((l) => /Draining|Drained|Shutting down|did not settle/.test(l)).map((l) => l.trim()),
    sentSecondsBeforeSignal: (signalled - started) / 1000,
  }, null, 2));
  process.exit(resets === 0 ? 0 : 1);
}

main().catch((e) => { console.error('drain.mjs: ' + e.message); process.exit(1); });
