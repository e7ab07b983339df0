#!/usr/bin/env node
// Scrapes MoeServe's /metrics before and after a load test and prints, per MoE layer, the share
// of tokens each expert received and MaxVio over the run (plus the per-step MaxVio histogram's
// mean and quantiles), so a load test shows balance as well as speed; also the server's own
// latency histograms over the run (exact time to first token). Node 20, no dependencies.
//
//   node loadtest/scrape-metrics.mjs run [--url http://localhost:8080] [--json] -- k6 run loadtest/completions.js
//   node loadtest/scrape-metrics.mjs snapshot [--url URL] --out before.prom
//   node loadtest/scrape-metrics.mjs report before.prom after.prom [--json] [--experts N]
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { counterIncreases, expertBalance, latencyOverRun } from './lib/prometheus.js';

const USAGE = `usage:
  scrape-metrics.mjs run [--url URL] [--json] [--experts N] -- COMMAND [ARGS...]
  scrape-metrics.mjs snapshot [--url URL] --out FILE
  scrape-metrics.mjs report BEFORE_FILE AFTER_FILE [--json] [--experts N]
URL defaults to $BASE_URL or http://localhost:8080; /metrics is appended.`;

function fail(message, code = 2) {
  console.error(`scrape-metrics: ${message}`);
  process.exit(code);
}

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const args = { mode, url: process.env.BASE_URL || 'http://localhost:8080', json: false, experts: 0, out: '', files: [], command: [] };
  const errors = [];
  if (!['run', 'snapshot', 'report'].includes(mode)) errors.push(`unknown mode ${JSON.stringify(mode ?? '')}`);
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--') { args.command = rest.slice(i + 1); break; }
    if (a === '--json') args.json = true;
    else if (a === '--url' || a === '--out' || a === '--experts') {
      const v = rest[++i];
      if (v === undefined) { errors.push(`${a} needs a value`); continue; }
      if (a === '--url') args.url = v;
      else if (a === '--out') args.out = v;
      else args.experts = Number(v);
    } else if (a.startsWith('--')) errors.push(`unknown flag ${a}`);
    else args.files.push(a);
  }
  if (!Number.isInteger(args.experts) || args.experts < 0) errors.push('--experts must be a non-negative integer');
  if (!/^https?:\/\//.test(args.url)) errors.push(`--url ${JSON.stringify(args.url)} must start with http:// or https://`);
  if (mode === 'run' && args.command.length === 0) errors.push('run needs a command after --');
  if (mode === 'snapshot' && !args.out) errors.push('snapshot needs --out FILE');
  if (mode === 'report' && args.files.length !== 2) errors.push('report needs BEFORE_FILE and AFTER_FILE');
  if (errors.length > 0) fail(`${errors.join('; ')}\n${USAGE}`);
  return args;
}

async function scrape(url) {
  const target = `${url.replace(/\/+$/, '')}/metrics`;
  let res;
  try {
    res = await fetch(target, { signal: AbortSignal.timeout(15000) });
  } catch (e) {
    fail(`could not scrape ${target}: ${e.message}`, 1);
  }
  if (!res.ok) fail(`${target} answered ${res.status}`, 1);
  return res.text();
}

const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const num = (x, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/** The human-readable report: one block per layer, the averages, server-side latency, other counters. */
export function formatReport(balance, latency, counters) {
  const lines = [];
  if (balance.layers.length === 0) {
    lines.push('No moeserve_expert_tokens_total series found: is this a MoeServe /metrics endpoint?');
    return lines.join('\n');
  }
  lines.push('Expert load over the run (tokens routed between the two scrapes)');
  lines.push('layer   tokens  MaxVio(run)  steps  MaxVio/step mean  p50    p95    shares by expert');
  for (const l of balance.layers) {
    const shares = l.shares.map((s, j) => `${l.experts[j]}:${pct(s)}`).join(' ');
    lines.push(
      `${String(l.layer).padStart(5)} ${String(l.total).padStart(8)}  ${num(l.maxVio).padStart(11)}  ${String(l.steps).padStart(5)}  ${num(l.meanStepMaxVio).padStart(16)}  ${num(l.stepMaxVioP50, 2).padStart(5)}  ${num(l.stepMaxVioP95, 2).padStart(5)}  ${shares}`,
    );
  }
  lines.push(`average over layers: MaxVio(run) ${num(balance.averageMaxVio)}, mean per-step MaxVio ${num(balance.averageMeanStepMaxVio)}`);
  lines.push('MaxVio = (max expert load - mean load) / mean load; 0 is perfectly even. Per-step values come from the moeserve_batch_max_violation histogram (quantiles interpolated within buckets).');
  const moved = Object.values(latency).filter((h) => h.count > 0);
  if (moved.length > 0) {
    lines.push('', 'Server-side latency over the run (seconds, from the server\'s histograms; quantiles interpolated within buckets)');
    lines.push('histogram                                   count      mean     p50     p95     p99');
    for (const h of moved) {
      lines.push(`${h.name.padEnd(42)} ${String(h.count).padStart(6)}  ${num(h.mean, 4).padStart(8)} ${num(h.p50, 3).padStart(7)} ${num(h.p95, 3).padStart(7)} ${num(h.p99, 3).padStart(7)}`);
    }
  }
  if (counters.length > 0) {
    lines.push('', 'Other moeserve_ counters that moved:');
    for (const c of counters) lines.push(`  ${c.series} +${c.increase}`);
  }
  return lines.join('\n');
}

function print(beforeText, afterText, args) {
  const balance = expertBalance(beforeText, afterText, { experts: args.experts });
  const counters = counterIncreases(beforeText, afterText);
  const latency = latencyOverRun(beforeText, afterText);
  if (args.json) console.log(JSON.stringify({ ...balance, latency, counters }, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
  else console.log(formatReport(balance, latency, counters));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.mode === 'snapshot') {
    writeFileSync(args.out, await scrape(args.url));
    console.log(`saved ${args.url}/metrics to ${args.out}`);
  } else if (args.mode === 'report') {
    print(readFileSync(args.files[0], 'utf8'), readFileSync(args.files[1], 'utf8'), args);
  } else {
    const before = await scrape(args.url);
    const child = spawnSync(args.command[0], args.command.slice(1), { stdio: 'inherit' });
    if (child.error) fail(`could not start ${args.command[0]}: ${child.error.message}`, 1);
    const after = await scrape(args.url);
    print(before, after, args);
    // The load test's verdict (k6 exits 99 when a threshold fails) is the run's verdict.
    process.exit(child.status ?? 1);
  }
}

await main();
