#!/usr/bin/env node
// Writes loadtest/prompts.json: prompts of three length classes cut from text the model did not
// train on. By default the held-out sample the corpus helper committed (tests/data/sample.txt:
// documents separated by <|endoftext|>, a Bible chapter's verses one per line, fortunes); with
// --ref, Bible books printed by Debian's bible-kjv (`apt-get install bible-kjv`).
//   node loadtest/make-prompts.mjs [--sample tests/data/sample.txt | --ref ruth1:1-4:22 ...] [--per-class 16] [--max-words 90] [--seed 1234] [--out FILE]
// The same arguments give the same file byte for byte.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './lib/prompts.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..');
const DEFAULT_SAMPLE = 'tests/data/sample.txt';

function parseArgs(argv) {
  const args = { refs: [], sample: '', perClass: 16, maxWords: 90, seed: 1234, out: join(HERE, 'prompts.json') };
  const errors = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) { errors.push(`${flag} needs a value`); break; }
    i++;
    if (flag === '--ref') args.refs.push(value);
    else if (flag === '--sample') args.sample = value;
    else if (flag === '--per-class') args.perClass = Number(value);
    else if (flag === '--max-words') args.maxWords = Number(value);
    else if (flag === '--seed') args.seed = Number(value);
    else if (flag === '--out') args.out = value;
    else errors.push(`unknown flag ${flag}`);
  }
  if (!Number.isInteger(args.perClass) || args.perClass < 1) errors.push('--per-class must be a positive integer');
  if (!Number.isInteger(args.maxWords) || args.maxWords < 40) errors.push('--max-words must be an integer >= 40');
  if (!Number.isInteger(args.seed) || args.seed < 0) errors.push('--seed must be a non-negative integer');
  if (args.refs.length > 0 && args.sample) errors.push('give --sample or --ref, not both');
  if (errors.length > 0) {
    console.error(`make-prompts: ${errors.join('; ')}`);
    process.exit(2);
  }
  if (args.refs.length === 0 && !args.sample) args.sample = DEFAULT_SAMPLE;
  return args;
}

/** Verses of one reference as [{ ref: "Ruth 1:1", group, text }], from bible's plain output. */
function readVerses(ref) {
  const out = execFileSync('bible', ['-p', '/usr/lib', ref], { encoding: 'utf8' });
  const verses = [];
  let chapter = '';
  for (const line of out.split('\n')) {
    const heading = /^(\S.*\S) (\d+)$/.exec(line);
    const verse = /^\s+(\d+) (.*)$/.exec(line);
    if (heading) chapter = `${heading[1]} ${heading[2]}`;
    else if (verse) verses.push({ ref: `${chapter}:${verse[1]}`, group: chapter, text: verse[2].trim() });
    else if (line.trim() !== '' && verses.length > 0) verses[verses.length - 1].text += ` ${line.trim()}`;
  }
  if (verses.length === 0) throw new Error(`bible printed no verses for ${ref}`);
  return verses;
}

/**
 * Units of the committed sample: a document that opens with a chapter heading ("Proverbs 1")
 * gives one unit per verse line, any other document (a fortune) is one unit.
 */
function readSample(path) {
  const units = [];
  const documents = readFileSync(join(REPO, path), 'utf8').split('<|endoftext|>');
  documents.forEach((document, d) => {
    const lines = document.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.length === 0) return;
    if (/^\S.* \d+$/.test(lines[0]) && lines.length > 1) {
      lines.slice(1).forEach((text, i) => units.push({ ref: `${lines[0]}:${i + 1}`, group: lines[0], text }));
    } else {
      units.push({ ref: `${path} document ${d}`, group: `document ${d}`, text: lines.join(' ') });
    }
  });
  if (units.length === 0) throw new Error(`${path} holds no text`);
  return units;
}

function words(text) {
  return text.split(/\s+/).filter(Boolean);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const verses = args.sample ? readSample(args.sample) : args.refs.flatMap(readVerses);
  const random = mulberry32(args.seed);
  const pick = (n) => Math.floor(random() * n);
  const prompts = [];
  // short: the opening 3-8 words of a verse; medium: one whole verse of 12-60 words;
  // long: 4-8 consecutive verses, cut at --max-words (default 90 words: with MAX_TOKENS=64 that
  // fits a 256-token context under the committed tokenizer, which PromptLengthTests checks).
  for (let i = 0; i < args.perClass; i++) {
    const v = verses[pick(verses.length)];
    prompts.push({ id: `short-${i}`, length: 'short', source: v.ref, text: words(v.text).slice(0, 3 + pick(6)).join(' ') });
  }
  const mediumPool = verses.filter((v) => words(v.text).length >= 12 && words(v.text).length <= 60);
  for (let i = 0; i < args.perClass; i++) {
    const v = mediumPool[pick(mediumPool.length)];
    prompts.push({ id: `medium-${i}`, length: 'medium', source: v.ref, text: v.text });
  }
  // Runs of 4-8 consecutive units of one group (verses of a chapter), or one unit of 40+ words.
  const longPool = [];
  for (let start = 0; start < verses.length; start++) {
    for (let count = 4; count <= 8 && start + count <= verses.length; count++) {
      const span = verses.slice(start, start + count);
      if (span.every((v) => v.group === span[0].group)) longPool.push(span);
    }
    if (words(verses[start].text).length >= 40) longPool.push([verses[start]]);
  }
  for (let i = 0; i < args.perClass; i++) {
    const span = longPool[pick(longPool.length)];
    const text = words(span.map((v) => v.text).join(' ')).slice(0, args.maxWords).join(' ');
    const source = span.length === 1 ? span[0].ref : `${span[0].ref}-${span[span.length - 1].ref}`;
    prompts.push({ id: `long-${i}`, length: 'long', source, text });
  }
  const file = {
    description: args.sample
      ? `Load-test prompts in three length classes from the held-out corpus sample ${args.sample}. Regenerate with the command below.`
      : 'Load-test prompts in three length classes from King James Bible books (Debian bible-kjv). Regenerate with the command below.',
    command: `node loadtest/make-prompts.mjs ${args.sample ? `--sample ${args.sample}` : args.refs.map((r) => `--ref ${r}`).join(' ')} --per-class ${args.perClass} --max-words ${args.maxWords} --seed ${args.seed}`,
    source: args.sample || args.refs,
    seed: args.seed,
    prompts,
  };
  writeFileSync(args.out, `${JSON.stringify(file, null, 2)}\n`);
  const counts = ['short', 'medium', 'long'].map((c) => `${c} ${prompts.filter((p) => p.length === c).length}`);
  console.log(`wrote ${args.out}: ${prompts.length} prompts (${counts.join(', ')}) from ${verses.length} passages of ${args.sample || args.refs.join(', ')}`);
}

main();
