// Runs a k6 script's options, setup() and N iterations of its default function against a fake
// OpenAI-compatible server, then prints what the script recorded as JSON.
// FAKE=good (default) answers like the server; FAKE=bad answers 200 with broken bodies.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const [script, iterations = '3'] = process.argv.slice(2);
const mode = process.env.FAKE || 'good';

function completion(req, chat) {
  const choice = chat ? { index: 0, message: { role: 'assistant', content: 'Amen.' }, finish_reason: 'length' } : { index: 0, text: ' Amen.', finish_reason: 'length' };
  const usage = { prompt_tokens: 5, completion_tokens: req.max_tokens, total_tokens: 5 + req.max_tokens };
  if (mode === 'bad') delete choice.finish_reason;
  return { id: 'cmpl-1', object: chat ? 'chat.completion' : 'text_completion', created: 1, model: req.model, choices: [choice], usage };
}

function stream(req, chat) {
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const events = [];
  for (let i = 0; i < req.max_tokens; i++) {
    const last = i === req.max_tokens - 1;
    const choice = chat ? { index: 0, delta: { content: 'a' }, finish_reason: last ? 'length' : null } : { index: 0, text: 'a', finish_reason: last ? 'length' : null };
    events.push({ id: 'c', object, created: 1, model: req.model, choices: [choice] });
  }
  events.push({ id: 'c', object, created: 1, model: req.model, choices: [], usage: { prompt_tokens: 5, completion_tokens: req.max_tokens, total_tokens: 5 + req.max_tokens } });
  const body = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('');
  return mode === 'bad' ? body : `${body}data: [DONE]\n\n`;
}

globalThis.__k6shim.server = (method, url, body) => {
  const path = new URL(url).pathname;
  if (method === 'GET' && path === '/health/ready') return { status: 200, body: 'ready' };
  if (method === 'GET' && path === '/v1/models') return { status: 200, body: JSON.stringify({ object: 'list', data: [{ id: 'default', object: 'model' }] }) };
  if (method === 'POST' && (path === '/v1/completions' || path === '/v1/chat/completions')) {
    const req = JSON.parse(body);
    const chat = path === '/v1/chat/completions';
    if (req.stream) return { status: 200, body: stream(req, chat), headers: { 'Content-Type': 'text/event-stream' }, waiting: 7 };
    return { status: 200, body: JSON.stringify(completion(req, chat)), headers: { 'Content-Type': 'application/json' } };
  }
  return { status: 404, body: '{}' };
};

const module = await import(pathToFileURL(resolve(script)).href);
const data = module.setup ? module.setup() : undefined;
for (let i = 0; i < Number(iterations); i++) {
  globalThis.__k6shim.iteration = i;
  module.default(data);
}
const shim = globalThis.__k6shim;
const summary = Object.fromEntries(Object.entries(shim.metrics).map(([name, m]) => [name, { kind: m.kind, count: m.values.length, sum: m.values.reduce((s, v) => s + v.value, 0) }]));
console.log(JSON.stringify({
  options: module.options,
  setup: data,
  checks: shim.checks,
  metrics: summary,
  requests: shim.requests.map((r) => ({ method: r.method, url: r.url, status: r.status, body: r.body ? JSON.parse(r.body) : null, tags: r.params?.tags })),
  warnings: shim.warnings,
}));
