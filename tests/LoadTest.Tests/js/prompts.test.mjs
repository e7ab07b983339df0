import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { seededOrder, pickRequest, validatePromptFile } from '../../../loadtest/lib/prompts.js';

const file = JSON.parse(readFileSync(new URL('../../../loadtest/prompts.json', import.meta.url), 'utf8'));

test('validatePromptFile_CommittedFile_IsValidAndHasEveryLengthClass', () => {
  assert.deepEqual(validatePromptFile(file), []);
  for (const c of ['short', 'medium', 'long']) assert.ok(file.prompts.some((p) => p.length === c), c);
  const words = (p) => p.text.split(/\s+/).length;
  const mean = (c) => file.prompts.filter((p) => p.length === c).reduce((s, p) => s + words(p), 0) / file.prompts.filter((p) => p.length === c).length;
  assert.ok(mean('short') < mean('medium') && mean('medium') < mean('long'));
});

test('validatePromptFile_DuplicateIdsAndEmptyText_ListsEachProblem', () => {
  const problems = validatePromptFile({ prompts: [{ id: 'a', length: 'short', text: 'x' }, { id: 'a', length: 'huge', text: ' ' }] });
  assert.equal(problems.length, 3);
});

test('seededOrder_SameSeed_SamePermutation_OtherSeed_Differs', () => {
  const a = seededOrder(48, 1234);
  assert.deepEqual(a, seededOrder(48, 1234));
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 48 }, (_, i) => i));
  assert.notDeepEqual(a, seededOrder(48, 1235));
});

test('pickRequest_IterationsBeyondTheFile_WrapAroundWithDistinctSeeds', () => {
  const order = seededOrder(file.prompts.length, 7);
  const first = pickRequest(file.prompts, order, 0, 7);
  const wrapped = pickRequest(file.prompts, order, file.prompts.length, 7);
  assert.equal(first.prompt.id, wrapped.prompt.id);
  assert.notEqual(first.requestSeed, wrapped.requestSeed);
  assert.equal(pickRequest(file.prompts, order, 5, 7).requestSeed, 12);
});
