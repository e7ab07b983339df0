// Renders chat templates with @huggingface/jinja (transformers.js's Jinja engine), the reference that
// tests/Text.Tests compares MoeServe's renderer against.
// stdin: a JSON array of {"template": "...", "context": {...}}; stdout: a JSON array of {"text": "..."} or {"error": "..."}.
import { Template } from "@huggingface/jinja";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = cases.map(({ template, context }) => {
  try {
    return { text: new Template(template).render(context) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify(results));
