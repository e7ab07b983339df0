// Non-streaming completions under load (k6 v1 API).
//   k6 run loadtest/completions.js                                   # 8 VUs for 60 s
//   SCENARIO=constant-arrival-rate RATE=0.5 k6 run loadtest/completions.js
// Settings: see loadtest/README.md (BASE_URL, MODEL, API, SCENARIO, VUS, RATE, MAX_VUS, DURATION,
// MAX_TOKENS, IGNORE_EOS, TEMPERATURE, SEED, P95_MS, MAX_FAILED_RATE, TIMEOUT, PROMPTS_FILE).
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import { buildOptions } from './lib/config.js';
import { seededOrder, pickRequest } from './lib/prompts.js';
import { buildBody, readCompletion } from './lib/shapes.js';
import { config, loadPrompts, iterationInTest, requestParams, recordUsage, waitForServer } from './lib/k6common.js';

const shapes = JSON.parse(open('./requests.json'));
const api = shapes.apis[config.api];
const prompts = new SharedArray('prompts', () => loadPrompts(open(__ENV.PROMPTS_FILE || './prompts.json')));
const order = seededOrder(prompts.length, config.seed);

export const options = buildOptions(config, { streaming: false });

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
    stream: false,
  });
  const res = http.post(`${config.baseUrl}${api.path}`, JSON.stringify(body), requestParams(api, prompt, false));

  let read = { problems: ['no JSON body'] };
  if (res.status === 200) {
    try {
      read = readCompletion(shapes, api, res.json());
    } catch (e) {
      read = { problems: [`body is not JSON: ${e}`] };
    }
  }
  const ok = check(res, {
    'status is 200': (r) => r.status === 200,
    'response has the expected fields': () => read.problems.length === 0,
  });
  if (!ok && read.problems.length > 0 && res.status === 200) console.warn(`${api.path}: ${read.problems.join('; ')}`);
  if (ok) recordUsage(shapes, read.usage, read.finishReason, res.timings.duration, prompt);
}
