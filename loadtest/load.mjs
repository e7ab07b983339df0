#!/usr/bin/env node
// A Node stand-in for the k6 constant-VUs and constant-arrival-rate scenarios, for machines where
// k6 cannot be installed: N clients each send their next request when the last one finished
// (--vus), or requests start at a fixed rate whether or not earlier ones finished (--rate, open
// loop; a start is dropped, as k6 drops iterations, when --max-vus requests are already in flight),
// for a fixed time, with the same prompts, seeds, request shapes and checks as the k6 scripts (lib/). It also measures what
// core k6 cannot: the time to the first streamed token. Around each level it scrapes /metrics,
// so every row carries the server's expert balance (MaxVio) and time to first token as well.
//   node loadtest/load.mjs --vus 1,8,32 --duration 60s [--stream] [--api chat] [--ignore-eos] [--json]
//   node loadtest/load.mjs --rate 2,4,8 --duration 60s [--max-vus 64]
// Bounded: at most --max-requests per level (default 5000) and --duration per level (at most
// 30m); only loopback addresses unless --any-host is given.
import { expertBalance, latencyOverRun } from './lib/prometheus.js';
import { parseDurationSeconds } from './lib/config.js';
import { seededOrder, pickRequest } from './lib/prompts.js';
import { buildBody, readCompletion, readStream } from './lib/shapes.js';
import { parseSse } from './lib/sse.js';
import { mean, quantile } from './lib/stats.js';
import { readFileSync } from 'node:fs';

const shapes = JSON.parse(readFileSync(new URL('./requests.json', import.meta.url), 'utf8'));

const USAGE = `usage: load.mjs [--url URL] [--model NAME] [--api completions|chat] [--stream] [--vus 1,8,32 | --rate 2,4,8 [--max-vus 64]]
                [--duration 60s] [--max-tokens 64] [--ignore-eos] [--temperature 0.8] [--seed 1234]
                [--prompts FILE] [--max-requests 5000] [--any-host] [--json]`;

function parseArgs(argv) {
  const a = {
    url: process.env.BASE_URL || 'http://localhost:8080', model: process.env.MODEL || 'default', api: 'completions', stream: false,
    vus: [1, 8], rates: null, maxVus: 64, duration: '30s', maxTokens: 64, temperature: 0.8, seed: 1234, prompts: new URL('./prompts.json', import.meta.url),
    maxRequests: 5000, anyHost: false, json: false, ignoreEos: false,
  };
  const errors = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--stream') { a.stream = true; continue; }
    if (flag === '--json') { a.json = true; continue; }
    if (flag === '--ignore-eos') { a.ignoreEos = true; continue; }
    if (flag === '--any-host') { a.anyHost = true; continue; }
    const v = argv[++i];
    if (v === undefined) { errors.push(`${flag} needs a value`); break; }
    if (flag === '--url') a.url = v.replace(/\/+$/, '');
    else if (flag === '--model') a.model = v;
    else if (flag === '--api') a.api = v;
    else if (flag === '--vus') a.vus = v.split(',').map(Number);
    else if (flag === '--rate') a.rates = v.split(',').map(Number);
    else if (flag === '--max-vus') a.maxVus = Number(v);
    else if (flag === '--duration') a.duration = v;
    else if (flag === '--max-tokens') a.maxTokens = Number(v);
    else if (flag === '--temperature') a.temperature = Number(v);
    else if (flag === '--seed') a.seed = Number(v);
    else if (flag === '--prompts') a.prompts = v;
    else if (flag === '--max-requests') a.maxRequests = Number(v);
    else errors.push(`unknown flag ${flag}`);
  }
  let host = '';
  try { host = new URL(a.url).hostname; } catch { errors.push(`--url ${a.url} is not a URL`); }
  if (host && !a.anyHost && !/^(localhost|127(\.\d+){3}|\[::1\]|::1)$/.test(host)) errors.push(`--url ${a.url} is not a loopback address (give --any-host for your own remote server)`);
  if (!shapes.apis[a.api]) errors.push(`--api must be one of ${Object.keys(shapes.apis).join(', ')}`);
  if (a.rates && !(a.rates.length > 0 && a.rates.every((r) => Number.isFinite(r) && r > 0 && r <= 1000))) errors.push('--rate must be request rates per second in (0, 1000], comma-separated');
  if (!Number.isInteger(a.maxVus) || a.maxVus < 1 || a.maxVus > 1024) errors.push('--max-vus must be an integer in [1, 1024]');
  if (a.vus.length === 0 || !a.vus.every((n) => Number.isInteger(n) && n >= 1 && n <= 1024)) errors.push('--vus must be integers in [1, 1024], comma-separated');
  const seconds = parseDurationSeconds(a.duration);
  if (!(seconds > 0 && seconds <= 1800)) errors.push('--duration must be a duration up to 30m, such as 30s or 2m');
  a.seconds = seconds;
  if (!Number.isInteger(a.maxTokens) || a.maxTokens < 1) errors.push('--max-tokens must be a positive integer');
  if (!(a.temperature >= 0 && a.temperature <= 2)) errors.push('--temperature must be in [0, 2]');
  if (!Number.isInteger(a.seed) || a.seed < 0) errors.push('--seed must be a non-negative integer');
  if (!Number.isInteger(a.maxRequests) || a.maxRequests < 1) errors.push('--max-requests must be a positive integer');
  if (errors.length > 0) {
    console.error(`load: ${errors.join('; ')}\n${USAGE}`);
    process.exit(2);
  }
  return a;
}

/** One request: status, latency, time to first byte and to first content token (streams), usage. */
async function oneRequest(args, api, body) {
  const started = performance.now();
  let res;
  try {
    res = await fetch(`${args.url}${api.path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(300_000) });
  } catch (e) {
    return { ok: false, status: 0, error: e.message, latencyMs: performance.now() - started };
  }
  const headersMs = performance.now() - started;
  let text = '';
  let firstTokenMs = Number.NaN;
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true });
    // The first event that carries text is the first token the client sees.
    if (args.stream && Number.isNaN(firstTokenMs) && /"(text|content)":"[^"]/.test(text)) firstTokenMs = performance.now() - started;
  }
  const latencyMs = performance.now() - started;
  if (res.status !== 200) return { ok: false, status: res.status, error: text.slice(0, 200), latencyMs };
  let read;
  try {
    read = args.stream ? readStream(shapes, api, parseSse(text)) : readCompletion(shapes, api, JSON.parse(text));
  } catch (e) {
    read = { problems: [`body is not JSON: ${e.message}`] };
  }
  return { ok: read.problems.length === 0, status: 200, problems: read.problems, latencyMs, headersMs, firstTokenMs, usage: read.usage, finishReason: read.finishReason };
}

async function scrape(url) {
  try {
    const res = await fetch(`${url}${shapes.health.metrics}`, { signal: AbortSignal.timeout(15000) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}

// A level is either closed loop ({ vus }) or open loop ({ rate }).
async function runLevel(args, level, prompts, order) {
  const api = shapes.apis[args.api];
  const results = [];
  let next = 0;
  let dropped = 0;
  const before = await scrape(args.url);
  const started = performance.now();
  const deadline = started + args.seconds * 1000;
  const send = async (iteration) => {
    const { prompt, requestSeed } = pickRequest(prompts, order, iteration, args.seed);
    const body = buildBody(api, { model: args.model, prompt: prompt.text, maxTokens: args.maxTokens, temperature: args.temperature, seed: requestSeed, stream: args.stream, ignoreEos: args.ignoreEos });
    results.push({ ...(await oneRequest(args, api, body)), promptLength: prompt.length });
  };
  if (level.rate) {
    // Start i at started + i / rate; never wait for responses, only cap how many are in flight.
    const inFlight = new Set();
    for (let i = 0; next < args.maxRequests; i++) {
      const due = started + (i * 1000) / level.rate;
      if (due >= deadline) break;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (inFlight.size >= args.maxVus) { dropped++; continue; }
      const p = send(next++).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  } else {
    const client = async () => {
      while (performance.now() < deadline && next < args.maxRequests) await send(next++);
    };
    await Promise.all(Array.from({ length: level.vus }, client));
  }
  const elapsed = (performance.now() - started) / 1000;
  const after = await scrape(args.url);
  const ok = results.filter((r) => r.ok);
  const tokens = ok.reduce((s, r) => s + (r.usage?.completion_tokens ?? 0), 0);
  const balance = before && after ? expertBalance(before, after) : null;
  const latency = before && after ? latencyOverRun(before, after) : null;
  return {
    vus: level.vus ?? null,
    rate: level.rate ?? null,
    seconds: elapsed,
    requests: results.length,
    dropped,
    failed: results.length - ok.length,
    failures: [...new Set(results.filter((r) => !r.ok).map((r) => (r.status === 200 ? r.problems.join('; ') : `status ${r.status}: ${r.error}`)))].slice(0, 5),
    requestsPerSecond: ok.length / elapsed,
    generatedTokensPerSecond: tokens / elapsed,
    latencyMs: { p50: quantile(ok.map((r) => r.latencyMs), 0.5), p95: quantile(ok.map((r) => r.latencyMs), 0.95), mean: mean(ok.map((r) => r.latencyMs)), max: Math.max(...ok.map((r) => r.latencyMs)) },
    firstTokenMs: args.stream ? { p50: quantile(ok.map((r) => r.firstTokenMs).filter(Number.isFinite), 0.5), p95: quantile(ok.map((r) => r.firstTokenMs).filter(Number.isFinite), 0.95) } : null,
    truncatedRate: ok.length > 0 ? ok.filter((r) => r.finishReason === shapes.truncatedFinishReason).length / ok.length : Number.NaN,
    server: balance && latency ? {
      averageMaxVio: balance.averageMaxVio,
      averageMeanStepMaxVio: balance.averageMeanStepMaxVio,
      timeToFirstTokenP95Seconds: latency.timeToFirstToken.p95,
      endToEndP95Seconds: latency.endToEnd.p95,
    } : null,
  };
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const prompts = JSON.parse(readFileSync(args.prompts, 'utf8')).prompts;
  const order = seededOrder(prompts.length, args.seed);
  const ready = await fetch(`${args.url}${shapes.health.ready}`).then((r) => r.status, () => 0);
  if (ready !== 200) {
    console.error(`load: ${args.url}${shapes.health.ready} answered ${ready || 'nothing'}; start the server first`);
    process.exit(1);
  }
  const levels = [];
  const plan = args.rates ? args.rates.map((rate) => ({ rate })) : args.vus.map((vus) => ({ vus }));
  for (const level of plan) levels.push(await runLevel(args, level, prompts, order));
  if (args.json) {
    console.log(JSON.stringify({ api: args.api, stream: args.stream, maxTokens: args.maxTokens, duration: args.duration, levels }, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
  } else {
    console.log(`${args.api}${args.stream ? ' (stream)' : ''}, max_tokens ${args.maxTokens}${args.ignoreEos ? ' (ignore_eos)' : ''}, ${args.duration} per level, ${args.url}`);
    console.log(`| ${args.rates ? 'offered req/s | dropped' : 'clients'} | requests | failed | req/s | generated tok/s | latency p50 / p95 (ms) | first token p95 (ms, client) | TTFT p95 (s, server) | MaxVio(run) avg | truncated |`);
    console.log(`|---|${args.rates ? '---|' : ''}---|---|---|---|---|---|---|---|---|`);
    for (const l of levels) {
      console.log(`| ${l.rate ? `${l.rate} | ${l.dropped}` : l.vus} | ${l.requests} | ${l.failed} | ${f(l.requestsPerSecond, 2)} | ${f(l.generatedTokensPerSecond)} | ${f(l.latencyMs.p50, 0)} / ${f(l.latencyMs.p95, 0)} | ${l.firstTokenMs ? f(l.firstTokenMs.p95, 0) : 'n/a'} | ${l.server ? f(l.server.timeToFirstTokenP95Seconds, 3) : 'n/a'} | ${l.server ? f(l.server.averageMaxVio, 3) : 'n/a'} | ${f(100 * l.truncatedRate, 0)}% |`);
      for (const failure of l.failures) console.log(`  failure at ${l.rate ? `${l.rate} req/s` : `${l.vus} clients`}: ${failure}`);
    }
  }
  process.exit(levels.some((l) => l.failed > 0 || l.dropped > 0) ? 1 : 0);
}

await main();
