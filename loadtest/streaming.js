// Streaming completions (server-sent events) under load (k6 v1 API).
//   k6 run loadtest/streaming.js
//   SCENARIO=ramping-arrival-rate RATE=1 DURATION=2m k6 run loadtest/streaming.js
// Core k6 returns the body when the stream ends, so the script measures time to first byte
// (res.timings.waiting: headers and the first bytes arrive when the server flushes its first
// event) and parses the whole stream afterwards. For time to each token use the xk6-sse
// extension; see loadtest/README.md.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import { Rate, Trend } from 'k6/metrics';
import { buildOptions } from './lib/config.js';
import { seededOrder, pickRequest } from './lib/prompts.js';
import { buildBody, readStream } from './lib/shapes.js';
import { parseSse } from './lib/sse.js';
import { config, loadPrompts, iterationInTest, requestParams, recordUsage, waitForServer } from './lib/k6common.js';

const shapes = JSON.parse(open('./requests.json'));
const api = shapes.apis[config.api];
const prompts = new SharedArray('prompts', () => loadPrompts(open(__ENV.PROMPTS_FILE || './prompts.json')));
const order = seededOrder(prompts.length, config.seed);

/** Time from sending the request to the first byte of the event stream. */
const timeToFirstByte = new Trend('stream_time_to_first_byte', true);
/** Share of streams that ended with data: [DONE]. */
const streamDone = new Rate('stream_done');
/** Content-bearing events per stream (about one per generated token). */
const streamEvents = new Trend('stream_content_events');

export const options = buildOptions(config, { streaming: true });

export function setup() {
  return waitForServer(shapes);
}

export default function () {
  const { prompt, requestSeed } = pickRequest(prompts, order, iterationInTest(), config.seed);
  const body = buildBody(api, {
    model: config.model,
    prompt: prompt.text,
    maxTokens: config.maxTokens,
    temperature: config.temperature,
    seed: requestSeed,
    ignoreEos: config.ignoreEos,
    stream: true,
  });
  const res = http.post(`${config.baseUrl}${api.path}`, JSON.stringify(body), requestParams(api, prompt, true));

  const contentType = String(res.headers['Content-Type'] || '');
  const parsed = res.status === 200 ? parseSse(res.body) : undefined;
  const read = parsed ? readStream(shapes, api, parsed) : { problems: [`status ${res.status}`] };
  const ok = check(res, {
    'status is 200': (r) => r.status === 200,
    'content type is text/event-stream': () => contentType.startsWith('text/event-stream'),
    'stream has the expected events': () => read.problems.length === 0,
  });
  if (res.status === 200) {
    timeToFirstByte.add(res.timings.waiting, { prompt_length: prompt.length });
    streamDone.add(parsed.done, { prompt_length: prompt.length });
  }
  if (!ok && res.status === 200) console.warn(`${api.path} stream: ${read.problems.join('; ')}`);
  if (ok) {
    streamEvents.add(read.contentChunks);
    recordUsage(shapes, read.usage, read.finishReason, res.timings.duration, prompt);
  }
}
