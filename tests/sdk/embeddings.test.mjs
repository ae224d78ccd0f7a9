// SPDX-License-Identifier: ISC
// embeddings through the SDK: a string and an array; the SDK asks for
// base64 by default and decodes it, which must match the float answer.
import assert from 'node:assert/strict';
import test from 'node:test';
import { EMBEDDING_MODEL, OpenAI, client, rejectsWith, uniq } from './helpers.mjs';

function isVector(v, dims) {
  assert.ok(Array.isArray(v), `an array, got ${typeof v}`);
  assert.equal(v.length, dims);
  for (const x of v) {
    assert.equal(typeof x, 'number');
    assert.ok(x >= -1 && x <= 1, `${x} in [-1, 1]`);
  }
}

test('embeddings.create: a string (SDK default base64, decoded)', async () => {
  const text = uniq('embed me');
  const r = await client().embeddings.create({ model: EMBEDDING_MODEL, input: text });
  assert.equal(r.object, 'list');
  assert.equal(r.data.length, 1);
  assert.equal(r.data[0].object, 'embedding');
  assert.equal(r.data[0].index, 0);
  isVector(r.data[0].embedding, 8);
  assert.equal(typeof r.usage.prompt_tokens, 'number');
  assert.equal(typeof r.usage.total_tokens, 'number');
  assert.match(r.model, /text-embedding-3-small/);

  const f = await client().embeddings.create({
    model: EMBEDDING_MODEL, input: text, encoding_format: 'float',
  });
  isVector(f.data[0].embedding, 8);
  f.data[0].embedding.forEach((x, i) => {
    assert.ok(Math.abs(x - r.data[0].embedding[i]) < 1e-6,
      `float and base64 agree at ${i}: ${x} vs ${r.data[0].embedding[i]}`);
  });
});

test('embeddings.create: an array of strings, in order', async () => {
  const a = uniq('first');
  const b = uniq('second');
  const r = await client().embeddings.create({
    model: EMBEDDING_MODEL, input: [a, b, a],
  });
  assert.equal(r.data.length, 3);
  r.data.forEach((d, i) => {
    assert.equal(d.index, i);
    isVector(d.embedding, 8);
  });
  assert.deepEqual(r.data[0].embedding, r.data[2].embedding, 'same text, same vector');
  assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
  const one = await client().embeddings.create({ model: EMBEDDING_MODEL, input: b });
  assert.deepEqual(one.data[0].embedding, r.data[1].embedding);
});

test('embeddings.create: dimensions', async () => {
  const r = await client().embeddings.create({
    model: EMBEDDING_MODEL, input: uniq('wide'), dimensions: 32,
  });
  isVector(r.data[0].embedding, 32);
});

test('embeddings.create: a chat model is a BadRequestError', async () => {
  await rejectsWith(() => client().embeddings.create({ model: 'gpt-4o', input: 'x' }),
    OpenAI.BadRequestError, (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /gpt-4o/);
    });
});
