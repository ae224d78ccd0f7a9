// SPDX-License-Identifier: ISC
// responses through the SDK: plain, streamed with the stream helper (the
// final response must equal the deltas), the raw event stream, a model
// with a reasoning item, and a function-call round trip.
import assert from 'node:assert/strict';
import test from 'node:test';
import { OpenAI, RESPONSES_MODEL, client, rejectsWith, uniq } from './helpers.mjs';

test('responses.create: non-streaming, output_text', async () => {
  const text = uniq('hello responses');
  const r = await client().responses.create({
    model: RESPONSES_MODEL, input: text, instructions: 'Be brief.',
  });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, `echo: ${text}`);
  const msg = r.output.find((o) => o.type === 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.content[0].type, 'output_text');
  assert.equal(typeof r.usage.input_tokens, 'number');
  assert.equal(typeof r.usage.output_tokens, 'number');
  assert.equal(typeof r._request_id, 'string');
});

test('responses.create: input as an array of messages', async () => {
  const text = uniq('second turn');
  const r = await client().responses.create({
    model: RESPONSES_MODEL,
    input: [
      { role: 'user', content: 'first turn' },
      { role: 'assistant', content: 'echo: first turn' },
      { role: 'user', content: [{ type: 'input_text', text }] },
    ],
  });
  assert.equal(r.output_text, `echo: ${text}`);
});

test('responses.stream: deltas add up to the final response', async () => {
  const text = uniq('stream responses');
  const stream = client().responses.stream({ model: RESPONSES_MODEL, input: text });
  let deltas = '';
  const types = [];
  stream.on('response.output_text.delta', (ev) => { deltas += ev.delta; });
  stream.on('event', (ev) => types.push(ev.type));
  const final = await stream.finalResponse();
  assert.equal(deltas, `echo: ${text}`);
  assert.equal(final.status, 'completed');
  assert.equal(final.output_text, `echo: ${text}`);
  assert.equal(types[0], 'response.created');
  assert.equal(types[types.length - 1], 'response.completed');
  assert.ok(types.includes('response.output_text.done'));
  assert.equal(typeof final.usage?.total_tokens, 'number');
});

test('responses.create stream: raw events in order with sequence numbers', async () => {
  const text = uniq('raw events');
  const s = await client().responses.create({
    model: RESPONSES_MODEL, input: text, stream: true,
  });
  const events = [];
  for await (const ev of s) events.push(ev);
  assert.equal(events[0].type, 'response.created');
  const last = events[events.length - 1];
  assert.equal(last.type, 'response.completed');
  assert.equal(last.response.output_text ?? last.response.output[0].content[0].text,
    `echo: ${text}`);
  events.forEach((ev, i) => assert.equal(ev.sequence_number, i));
  const done = events.find((e) => e.type === 'response.output_text.done');
  assert.equal(done.text, `echo: ${text}`);
});

test('responses.stream: a model with a reasoning item (gpt-5.1-codex)', async () => {
  const text = uniq('reason');
  const stream = client().responses.stream({
    model: 'gpt-5.1-codex', input: text, reasoning: { effort: 'low' },
  });
  const final = await stream.finalResponse();
  assert.deepEqual(final.output.map((o) => o.type), ['reasoning', 'message']);
  assert.equal(final.output_text, `echo: ${text}`);
});

for (const streamed of [false, true]) {
  test(`responses: function call round trip (stream: ${streamed})`, async () => {
    const oa = client();
    const text = uniq('look it up');
    const tools = [{
      type: 'function',
      name: 'lookup',
      description: 'Looks things up.',
      parameters: { type: 'object', properties: { echo: { type: 'string' } } },
      strict: false,
    }];
    const input = [{ role: 'user', content: text }];
    const ask = (body) => (streamed
      ? oa.responses.stream(body).finalResponse()
      : oa.responses.create(body));
    const first = await ask({ model: RESPONSES_MODEL, input, tools });
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call, `a function_call in ${JSON.stringify(first.output)}`);
    assert.equal(call.name, 'lookup');
    assert.deepEqual(JSON.parse(call.arguments), { echo: text });
    assert.match(call.call_id, /^call_/);
    const second = await ask({
      model: RESPONSES_MODEL,
      tools,
      input: [...input, ...first.output,
        { type: 'function_call_output', call_id: call.call_id, output: '42' }],
    });
    assert.equal(second.output_text, 'tool said: 42');
  });
}

test('responses.create: a chat-only model is a BadRequestError naming the other API', async () => {
  await rejectsWith(() => client().responses.create({
    model: 'claude-sonnet-4.5', input: 'x',
  }), OpenAI.BadRequestError, (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, 'unsupported_api_for_model');
    assert.match(e.message, /chat\/completions/);
  });
});
