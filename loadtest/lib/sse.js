// Server-sent events as OpenAI-compatible servers stream them: "data: {json}" events separated
// by a blank line, ended by "data: [DONE]". Core k6 hands over the whole body at the end of the
// stream, so the parse happens once per response.

/**
 * @param {string} body the raw text/event-stream body
 * @returns {{ chunks: object[], done: boolean, malformed: number, afterDone: number }}
 */
export function parseSse(body) {
  const chunks = [];
  let done = false;
  let malformed = 0;
  let afterDone = 0;
  for (const event of String(body ?? '').split(/\r?\n\r?\n/)) {
    // An event may carry several data lines; SSE joins them with newlines. Comments (":") and
    // other fields (event:, id:, retry:) are ignored.
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data === '') continue;
    if (done) {
      afterDone++;
      continue;
    }
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    try {
      chunks.push(JSON.parse(data));
    } catch {
      malformed++;
    }
  }
  return { chunks, done, malformed, afterDone };
}
