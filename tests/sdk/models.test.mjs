// SPDX-License-Identifier: ISC
// models.list through the SDK: the auto-paginating iterator and the page.
import assert from 'node:assert/strict';
import test from 'node:test';
import { client } from './helpers.mjs';

test('models.list: iterates the account models as OpenAI Model objects', async () => {
  const ids = [];
  for await (const m of client().models.list()) {
    assert.equal(typeof m.id, 'string');
    assert.equal(m.object, 'model');
    assert.equal(typeof m.owned_by, 'string', `owned_by of ${m.id}`);
    assert.equal(typeof m.created, 'number', `created of ${m.id}`);
    ids.push(m.id);
  }
  for (const want of ['gpt-4o', 'gpt-4.1', 'o1', 'claude-sonnet-4.5',
    'text-embedding-3-small']) {
    assert.ok(ids.includes(want), `${want} in ${ids.join(', ')}`);
  }
  assert.equal(new Set(ids).size, ids.length, 'no duplicate ids');
});

test('models.list: one page, no next page, request id exposed', async () => {
  const page = await client().models.list();
  assert.ok(Array.isArray(page.data) && page.data.length >= 5);
  assert.equal(page.hasNextPage(), false);
  const { response } = await client().models.list().withResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  assert.ok(response.headers.get('x-request-id'), 'x-request-id header');
});

// GET /v1/models/{id} is not routed by copilot-gw (404 "no route for GET
// /v1/models/gpt-4o"): the SDK's models.retrieve throws NotFoundError.
// Outside the list (models.list), so kept as a TODO, not a failure.
test('models.retrieve: one model by id', {
  todo: 'copilot-gw has no GET /v1/models/{id} route yet',
}, async () => {
  const m = await client().models.retrieve('gpt-4o');
  assert.equal(m.id, 'gpt-4o');
  assert.equal(m.object, 'model');
});
