#!/usr/bin/env node
// A quick check that a running server answers the request shapes the k6 scripts send, using the
// same modules (lib/shapes.js, lib/sse.js) that k6 runs, plus a /metrics scrape parsed by the
// scrape script's reader. Node 20, no dependencies, a handful of requests: run it before a load
// test, or without k6 at all.
//   node loadtest/smoke.mjs [--url http://localhost:8080] [--model default] [--max-tokens 8] [--wait 120]
import { readFileSync } from 'node:fs';
import { expertBalance } from './lib/prometheus.js';
import { buildBody, readCompletion, readStream } from './lib/shapes.js';
import { parseSse } from './lib/sse.js';

const shapes = JSON.parse(readFileSync(new URL('./requests.json', import.meta.url), 'utf8'));
const prompts = JSON.parse(readFileSync(new URL('./prompts.json', import.meta.url), 'utf8')).prompts;

function parseArgs(argv) {
  const args = { url: process.env.BASE_URL || 'http://localhost:8080', model: process.env.MODEL || 'default', maxTokens: 8, wait: 120 };
  const errors = [];
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) errors.push(`${flag} needs a value`);
    else if (flag === '--url') args.url = value.replace(/\/+$/, '');
    else if (flag === '--model') args.model = value;
    else if (flag === '--max-tokens') args.maxTokens = Number(value);
    else if (flag === '--wait') args.wait = Number(value);
    else errors.push(`unknown flag ${flag}`);
  }
  if (!/^https?:\/\//.test(args.url)) errors.push('--url must start with http:// or https://');
  if (!Number.isInteger(args.maxTokens) || args.maxTokens < 1) errors.push('--max-tokens must be a positive integer');
  if (!(args.wait >= 0)) errors.push('--wait must be a number of seconds >= 0');
  if (errors.length > 0) {
    console.error(`smoke: ${errors.join('; ')}`);
    process.exit(2);
  }
  return args;
}

async function waitForReady(url, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const res = await fetch(`${url}${shapes.health.ready}`, { signal: AbortSignal.timeout(5000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}${shapes.health.ready} not ready after ${seconds} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const problems = [];
  const report = (what, list) => {
    console.log(`${list.length === 0 ? 'ok  ' : 'FAIL'} ${what}${list.length ? `: ${list.join('; ')}` : ''}`);
    problems.push(...list.map((p) => `${what}: ${p}`));
  };

  await waitForReady(args.url, args.wait);
  report(shapes.health.ready, []);
  const live = await fetch(`${args.url}${shapes.health.live}`);
  report(shapes.health.live, live.status === 200 ? [] : [`status ${live.status}`]);

  const models = await (await fetch(`${args.url}${shapes.health.models}`)).json();
  const modelProblems = shapes.modelsResponse.fields.filter((f) => !(f in models)).map((f) => `lacks "${f}"`);
  const ids = Array.isArray(models.data) ? models.data.map((m) => m.id) : [];
  if (!ids.includes(args.model)) modelProblems.push(`does not list ${args.model} (lists ${ids.join(', ')})`);
  for (const m of models.data ?? []) modelProblems.push(...shapes.modelsResponse.modelFields.filter((f) => !(f in m)).map((f) => `model lacks "${f}"`));
  report(shapes.health.models, modelProblems);

  const before = await (await fetch(`${args.url}${shapes.health.metrics}`)).text();
  // One prompt of each length class that a small context surely holds: the shortest of each.
  const picked = ['short', 'medium'].map((c) => prompts.filter((p) => p.length === c).sort((a, b) => a.text.length - b.text.length)[0]);
  for (const [name, api] of Object.entries(shapes.apis)) {
    for (const stream of [false, true]) {
      for (const [i, prompt] of picked.entries()) {
        const body = buildBody(api, { model: args.model, prompt: prompt.text, maxTokens: args.maxTokens, temperature: 0.8, seed: 1234 + i, stream });
        const res = await fetch(`${args.url}${api.path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
        const text = await res.text();
        const what = `${api.path}${stream ? ' stream' : ''} (${prompt.id})`;
        if (res.status !== 200) {
          report(what, [`status ${res.status}: ${text.slice(0, 200)}`]);
          continue;
        }
        const type = res.headers.get('content-type') || '';
        const read = stream ? readStream(shapes, api, parseSse(text)) : readCompletion(shapes, api, JSON.parse(text));
        const list = [...read.problems];
        if (stream && !type.startsWith('text/event-stream')) list.push(`content-type ${type}`);
        if (read.usage && read.usage.completion_tokens > args.maxTokens) list.push(`completion_tokens ${read.usage.completion_tokens} > max_tokens ${args.maxTokens}`);
        report(`${what} finish=${read.finishReason} tokens=${read.usage?.completion_tokens}`, list);
      }
    }
  }

  const after = await (await fetch(`${args.url}${shapes.health.metrics}`)).text();
  const balance = expertBalance(before, after);
  const routed = balance.layers.reduce((sum, l) => sum + l.total, 0);
  report(`${shapes.health.metrics} expert tokens moved (${balance.layers.length} layers, ${routed} routed)`, balance.layers.length > 0 && routed > 0 ? [] : ['no expert tokens counted during the smoke requests']);

  console.log(problems.length === 0 ? 'smoke: all request shapes answered as the k6 scripts expect' : `smoke: ${problems.length} problem(s)`);
  process.exit(problems.length === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`smoke: ${e.message}`);
  process.exit(1);
});
