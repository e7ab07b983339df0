// Reference tokenization for tests/Text.Tests: transformers.js's tokenizer (@huggingface/tokenizers).
// Usage: node encode.mjs TOKENIZER_JSON [TOKENIZER_CONFIG_JSON] < strings.json
// stdin: a JSON array of strings. stdout: a JSON array, per string {"ids": [...], "plain": [...]}:
// "ids" with the post-processor's special tokens (add_special_tokens: true, the default), "plain" without.
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [tokenizerPath, configPath] = process.argv.slice(2);
if (!tokenizerPath) {
  console.error("usage: node encode.mjs TOKENIZER_JSON [TOKENIZER_CONFIG_JSON] < strings.json");
  process.exit(2);
}
const tokenizerJson = JSON.parse(readFileSync(tokenizerPath, "utf8"));
const config = configPath ? JSON.parse(readFileSync(configPath, "utf8")) : {};
const tokenizer = new Tokenizer(tokenizerJson, config);
const strings = JSON.parse(readFileSync(0, "utf8"));
const out = strings.map((s) => ({
  ids: tokenizer.encode(s).ids,
  plain: tokenizer.encode(s, { add_special_tokens: false }).ids,
}));
process.stdout.write(JSON.stringify(out));
