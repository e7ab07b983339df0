// Builds requests from requests.json and checks responses against it. Pure JavaScript: k6 and
// Node both import it, so the shapes the load test sends are the shapes the tests assert.

/** Reads a dotted path ("message.content", "messages.0.content") from an object. */
export function getPath(object, path) {
  return path.split('.').reduce((value, key) => (value == null ? undefined : value[key]), object);
}

/** Writes a dotted path into an object that already has the containers on the way. */
export function setPath(object, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  const parent = keys.reduce((o, key) => o[key], object);
  parent[last] = value;
}

/**
 * The JSON body of one request.
 * @param {object} api one entry of requests.json "apis"
 * @param {{ model: string, prompt: string, maxTokens: number, temperature: number, seed: number, stream: boolean, ignoreEos?: boolean }} request
 */
export function buildBody(api, request) {
  const body = JSON.parse(JSON.stringify(api.body));
  body.model = request.model;
  setPath(body, api.promptPath, request.prompt);
  body.max_tokens = request.maxTokens;
  body.temperature = request.temperature;
  body.seed = request.seed;
  // Every completion runs to max_tokens (the server's ignore_eos, as vLLM's and llama.cpp's).
  if (request.ignoreEos) body.ignore_eos = true;
  if (request.stream) Object.assign(body, JSON.parse(JSON.stringify(api.streamBody)));
  return body;
}

function missingFields(object, fields, where) {
  return fields.filter((f) => object == null || !(f in object)).map((f) => `${where} lacks "${f}"`);
}

function usageProblems(shapes, usage, where) {
  const problems = missingFields(usage, shapes.usageFields, where);
  if (problems.length > 0) return problems;
  for (const f of shapes.usageFields) {
    if (!Number.isInteger(usage[f]) || usage[f] < 0) problems.push(`${where}.${f} is not a non-negative integer`);
  }
  if (usage.total_tokens !== usage.prompt_tokens + usage.completion_tokens) {
    problems.push(`${where}.total_tokens is not prompt_tokens + completion_tokens`);
  }
  return problems;
}

/**
 * Checks a non-streamed response; returns the problems (empty when it matches) and what the
 * load test measures from it.
 * @returns {{ problems: string[], text: string, finishReason: string|undefined, usage: object|undefined }}
 */
export function readCompletion(shapes, api, json) {
  const problems = missingFields(json, api.response.fields, 'response');
  if (json && json.object !== api.response.object) problems.push(`response.object is ${JSON.stringify(json.object)}, expected ${api.response.object}`);
  const choice = json && Array.isArray(json.choices) ? json.choices[0] : undefined;
  if (!choice) problems.push('response.choices is empty');
  else problems.push(...missingFields(choice, api.response.choiceFields, 'choices[0]'));
  const finishReason = choice ? choice.finish_reason : undefined;
  if (choice && !shapes.finishReasons.includes(finishReason)) problems.push(`choices[0].finish_reason is ${JSON.stringify(finishReason)}`);
  const text = choice ? getPath(choice, api.response.textPath) : undefined;
  if (choice && typeof text !== 'string') problems.push(`choices[0].${api.response.textPath} is not a string`);
  const usage = json ? json.usage : undefined;
  problems.push(...usageProblems(shapes, usage, 'usage'));
  return { problems, text: typeof text === 'string' ? text : '', finishReason, usage };
}

/**
 * Checks a parsed stream (lib/sse.js): every chunk has the chunk shape, the stream ends with
 * [DONE], one choice carries a finish reason, and the last chunk carries usage (include_usage).
 * @param {{ chunks: object[], done: boolean, malformed: number, afterDone: number }} stream
 */
export function readStream(shapes, api, stream) {
  const problems = [];
  if (!stream.done) problems.push('stream did not end with data: [DONE]');
  if (stream.malformed > 0) problems.push(`${stream.malformed} stream events were not JSON`);
  if (stream.afterDone > 0) problems.push(`${stream.afterDone} events came after [DONE]`);
  if (stream.chunks.length === 0) problems.push('stream carried no chunks');
  let text = '';
  let finishReason;
  let usage;
  let contentChunks = 0;
  stream.chunks.forEach((chunk, i) => {
    problems.push(...missingFields(chunk, api.chunk.fields, `chunk ${i}`));
    if (chunk.object !== api.chunk.object) problems.push(`chunk ${i}.object is ${JSON.stringify(chunk.object)}, expected ${api.chunk.object}`);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of Array.isArray(chunk.choices) ? chunk.choices : []) {
      problems.push(...missingFields(choice, api.chunk.choiceFields, `chunk ${i} choice`));
      const piece = getPath(choice, api.chunk.textPath);
      if (typeof piece === 'string' && piece.length > 0) {
        text += piece;
        contentChunks++;
      }
      if (choice.finish_reason != null) finishReason = choice.finish_reason;
    }
  });
  if (stream.chunks.length > 0 && !shapes.finishReasons.includes(finishReason)) problems.push(`no chunk carried a finish_reason in ${shapes.finishReasons.join('|')}`);
  problems.push(...usageProblems(shapes, usage, 'stream usage'));
  return { problems, text, finishReason, usage, contentChunks };
}
