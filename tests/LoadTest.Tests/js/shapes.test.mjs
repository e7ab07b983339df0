import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildBody, readCompletion, readStream, getPath } from '../../../loadtest/lib/shapes.js';
import { parseSse } from '../../../loadtest/lib/sse.js';

const shapes = JSON.parse(readFileSync(new URL('../../../loadtest/requests.json', import.meta.url), 'utf8'));
const request = { model: 'm1', prompt: 'In the beginning', maxTokens: 7, temperature: 0.5, seed: 42, stream: false };

function completionFor(name, { text = 'Hello', finish = 'length', usage = { prompt_tokens: 3, completion_tokens: 7, total_tokens: 10 } } = {}) {
  const api = shapes.apis[name];
  const choice = { index: 0, finish_reason: finish };
  if (name === 'chat') choice.message = { role: 'assistant', content: text };
  else choice.text = text;
  return { id: 'x', object: api.response.object, created: 1, model: 'm1', choices: [choice], usage };
}

function streamFor(name, pieces, finish = 'stop') {
  const api = shapes.apis[name];
  const events = pieces.map((p, i) => {
    const choice = { index: 0, finish_reason: i === pieces.length - 1 ? finish : null };
    if (name === 'chat') choice.delta = { content: p };
    else choice.text = p;
    return { id: 'x', object: api.chunk.object, created: 1, model: 'm1', choices: [choice] };
  });
  events.push({ id: 'x', object: api.chunk.object, created: 1, model: 'm1', choices: [], usage: { prompt_tokens: 2, completion_tokens: pieces.length, total_tokens: 2 + pieces.length } });
  return `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}data: [DONE]\n\n`;
}

for (const name of Object.keys(shapes.apis)) {
  test(`buildBody_${name}_PutsPromptModelAndSamplingWhereTheApiExpects`, () => {
    const api = shapes.apis[name];
    const body = buildBody(api, request);
    assert.equal(getPath(body, api.promptPath), 'In the beginning');
    assert.equal(body.model, 'm1');
    assert.equal(body.max_tokens, 7);
    assert.equal(body.seed, 42);
    assert.equal(body.stream, undefined);
    assert.equal(body.ignore_eos, undefined);
    assert.equal(buildBody(api, { ...request, ignoreEos: true }).ignore_eos, true);
    const streamed = buildBody(api, { ...request, stream: true });
    assert.equal(streamed.stream, true);
    assert.equal(streamed.stream_options.include_usage, true);
    // The template in requests.json is not modified by building a body.
    assert.notEqual(getPath(api.body, api.promptPath), 'In the beginning');
  });

  test(`readCompletion_${name}WellFormed_HasNoProblemsAndReadsUsage`, () => {
    const r = readCompletion(shapes, shapes.apis[name], completionFor(name));
    assert.deepEqual(r.problems, []);
    assert.equal(r.text, 'Hello');
    assert.equal(r.finishReason, 'length');
    assert.equal(r.usage.completion_tokens, 7);
  });

  test(`readCompletion_${name}MissingUsageAndBadFinish_ReportsBoth`, () => {
    const json = completionFor(name, { finish: 'eos' });
    delete json.usage;
    const r = readCompletion(shapes, shapes.apis[name], json);
    assert.ok(r.problems.some((p) => p.includes('usage')));
    assert.ok(r.problems.some((p) => p.includes('finish_reason')));
  });

  test(`readStream_${name}WellFormed_JoinsTextAndFindsUsage`, () => {
    const r = readStream(shapes, shapes.apis[name], parseSse(streamFor(name, ['And ', 'God ', 'said'])));
    assert.deepEqual(r.problems, []);
    assert.equal(r.text, 'And God said');
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.contentChunks, 3);
    assert.equal(r.usage.completion_tokens, 3);
  });

  test(`readStream_${name}WithoutDone_ReportsTheMissingTerminator`, () => {
    const body = streamFor(name, ['a']).replace('data: [DONE]\n\n', '');
    const r = readStream(shapes, shapes.apis[name], parseSse(body));
    assert.ok(r.problems.some((p) => p.includes('[DONE]')));
  });
}

test('parseSse_CrlfCommentsAndGarbage_CountsMalformedAndIgnoresComments', () => {
  const body = ': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\ndata: not json\r\n\r\ndata: [DONE]\r\n\r\ndata: {"late":true}\r\n\r\n';
  const r = parseSse(body);
  assert.equal(r.chunks.length, 1);
  assert.equal(r.malformed, 1);
  assert.equal(r.done, true);
  assert.equal(r.afterDone, 1);
});
