#!/usr/bin/env node
// Writes loadtest/prompts.json: prompts of three length classes cut from Bible books that the
// training corpus does not train on, printed by Debian's bible-kjv (`apt-get install bible-kjv`).
//   node loadtest/make-prompts.mjs [--ref ruth1:1-4:22 --ref jude1:1-25] [--per-class 16] [--seed 1234] [--out FILE]
// The same arguments give the same file byte for byte.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './lib/prompts.js';

const DEFAULT_REFS = ['ruth1:1-4:22', 'jude1:1-25'];

function parseArgs(argv) {
  const args = { refs: [], perClass: 16, seed: 1234, out: join(dirname(fileURLToPath(import.meta.url)), 'prompts.json') };
  const errors = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) { errors.push(`${flag} needs a value`); break; }
    i++;
    if (flag === '--ref') args.refs.push(value);
    else if (flag === '--per-class') args.perClass = Number(value);
    else if (flag === '--seed') args.seed = Number(value);
    else if (flag === '--out') args.out = value;
    else errors.push(`unknown flag ${flag}`);
  }
  if (!Number.isInteger(args.perClass) || args.perClass < 1) errors.push('--per-class must be a positive integer');
  if (!Number.isInteger(args.seed) || args.seed < 0) errors.push('--seed must be a non-negative integer');
  if (errors.length > 0) {
    console.error(`make-prompts: ${errors.join('; ')}`);
    process.exit(2);
  }
  if (args.refs.length === 0) args.refs = DEFAULT_REFS;
  return args;
}

/** Verses of one reference as [{ ref: "Ruth 1:1", text }], from bible's plain output. */
function readVerses(ref) {
  const out = execFileSync('bible', ['-p', '/usr/lib', ref], { encoding: 'utf8' });
  const verses = [];
  let chapter = '';
  for (const line of out.split('\n')) {
    const heading = /^(\S.*\S) (\d+)$/.exec(line);
    const verse = /^\s+(\d+) (.*)$/.exec(line);
    if (heading) chapter = `${heading[1]} ${heading[2]}`;
    else if (verse) verses.push({ ref: `${chapter}:${verse[1]}`, text: verse[2].trim() });
    else if (line.trim() !== '' && verses.length > 0) verses[verses.length - 1].text += ` ${line.trim()}`;
  }
  if (verses.length === 0) throw new Error(`bible printed no verses for ${ref}`);
  return verses;
}

function words(text) {
  return text.split(/\s+/).filter(Boolean);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const verses = args.refs.flatMap(readVerses);
  const random = mulberry32(args.seed);
  const pick = (n) => Math.floor(random() * n);
  const prompts = [];
  // short: the opening 3-8 words of a verse; medium: one whole verse of 12-60 words;
  // long: 4-8 consecutive verses, cut at 160 words (the default model's context is small).
  for (let i = 0; i < args.perClass; i++) {
    const v = verses[pick(verses.length)];
    prompts.push({ id: `short-${i}`, length: 'short', source: v.ref, text: words(v.text).slice(0, 3 + pick(6)).join(' ') });
  }
  const mediumPool = verses.filter((v) => words(v.text).length >= 12 && words(v.text).length <= 60);
  for (let i = 0; i < args.perClass; i++) {
    const v = mediumPool[pick(mediumPool.length)];
    prompts.push({ id: `medium-${i}`, length: 'medium', source: v.ref, text: v.text });
  }
  for (let i = 0; i < args.perClass; i++) {
    const count = 4 + pick(5);
    const start = pick(verses.length - count);
    const span = verses.slice(start, start + count);
    const text = words(span.map((v) => v.text).join(' ')).slice(0, 160).join(' ');
    prompts.push({ id: `long-${i}`, length: 'long', source: `${span[0].ref}-${span[span.length - 1].ref}`, text });
  }
  const file = {
    description: 'Load-test prompts: held-out King James Bible text (Debian bible-kjv), three length classes. Regenerate with the command below.',
    command: `node loadtest/make-prompts.mjs ${args.refs.map((r) => `--ref ${r}`).join(' ')} --per-class ${args.perClass} --seed ${args.seed}`,
    refs: args.refs,
    seed: args.seed,
    prompts,
  };
  writeFileSync(args.out, `${JSON.stringify(file, null, 2)}\n`);
  const counts = ['short', 'medium', 'long'].map((c) => `${c} ${prompts.filter((p) => p.length === c).length}`);
  console.log(`wrote ${args.out}: ${prompts.length} prompts (${counts.join(', ')}) from ${verses.length} verses`);
}

main();
