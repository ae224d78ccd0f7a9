// SPDX-License-Identifier: ISC
// chat.completions through the SDK: plain, streamed with the stream helper
// (the accumulated final message must equal the deltas), raw streams with
// and without stream_options.include_usage, a long stream, keep-alive
// comments through a silence, a stream the client abandons, and a model
// that cannot stream upstream (o1) answered as a stream by the gateway.
import assert from 'node:assert/strict';
import test from 'node:test';
import { CHAT_MODEL, client, uniq } from './helpers.mjs';

test('chat.completions.create: non-streaming answer', async () => {
  const text = uniq('hello sdk');
  const c = await client().chat.completions.create({
    model: CHAT_MODEL,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: text },
    ],
  });
  assert.equal(c.object, 'chat.completion');
  assert.equal(typeof c.id, 'string');
  assert.equal(typeof c.created, 'number');
  assert.match(c.model, /^gpt-4o/);
  assert.equal(c.choices.length, 1);
  assert.equal(c.choices[0].index, 0);
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.equal(c.choices[0].message.content, `echo: ${text}`);
  assert.equal(typeof c.usage.prompt_tokens, 'number');
  assert.equal(typeof c.usage.completion_tokens, 'number');
  assert.equal(c.usage.total_tokens,
    c.usage.prompt_tokens + c.usage.completion_tokens);
  assert.equal(typeof c._request_id, 'string', 'x-request-id as _request_id');
});

test('chat.completions.stream: deltas add up to the final message', async () => {
  const text = uniq('stream me');
  const stream = client().chat.completions.stream({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: text }],
  });
  let deltas = '';
  let chunks = 0;
  stream.on('content', (delta) => { deltas += delta; });
  stream.on('chunk', () => { chunks += 1; });
  const final = await stream.finalChatCompletion();
  assert.ok(chunks >= 3, `several chunks (${chunks})`);
  assert.equal(deltas, `echo: ${text}`);
  assert.equal(final.choices.length, 1);
  assert.equal(final.choices[0].message.role, 'assistant');
  assert.equal(final.choices[0].message.content, `echo: ${text}`);
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.match(final.model, /^gpt-4o/);
  assert.equal(await stream.finalContent(), `echo: ${text}`);
});

test('chat.completions.stream: async iteration of the helper', async () => {
  const text = uniq('iterate');
  const stream = client().chat.completions.stream({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: text }],
  });
  let content = '';
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const ch of chunk.choices) {
      content += ch.delta?.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(content, `echo: ${text}`);
  assert.equal(finish, 'stop');
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].message.content, content);
});

test('chat.completions.create stream: include_usage gives one usage chunk last', async () => {
  const text = uniq('usage please');
  const s = await client().chat.completions.create({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: text }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of s) chunks.push(chunk);
  const withUsage = chunks.filter((c) => c.usage);
  assert.ok(withUsage.length >= 1, 'a chunk carries usage');
  const last = chunks[chunks.length - 1];
  assert.ok(last.usage, 'the last chunk carries usage');
  assert.deepEqual(last.choices, []);
  assert.equal(typeof last.usage.prompt_tokens, 'number');
  assert.equal(typeof last.usage.completion_tokens, 'number');
  const text2 = chunks.flatMap((c) => c.choices)
    .map((ch) => ch.delta?.content ?? '').join('');
  assert.equal(text2, `echo: ${text}`);
});

test('chat.completions.create stream: no usage unless asked for', async () => {
  const s = await client().chat.completions.create({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: uniq('no usage') }],
    stream: true,
  });
  const chunks = [];
  for await (const chunk of s) chunks.push(chunk);
  assert.ok(chunks.length >= 3);
  assert.deepEqual(chunks.filter((c) => c.usage), []);
  for (const c of chunks) assert.ok(c.choices.length > 0, 'no empty chunk');
});

test('chat.completions.stream: a long answer (LONG:2000)', async () => {
  const stream = client().chat.completions.stream({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: uniq('LONG:2000') }],
  });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'x '.repeat(2000));
  assert.equal(final.choices[0].finish_reason, 'stop');
});

test('chat.completions.stream: max_tokens cuts the answer (finish_reason length)', async () => {
  const c = await client().chat.completions.create({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: uniq('LONG:100') }],
    max_tokens: 5,
  });
  assert.equal(c.choices[0].finish_reason, 'length');
  assert.equal(c.choices[0].message.content, 'x '.repeat(10));
});

test('chat.completions.stream: o1 (no upstream streaming) still streams', async () => {
  const text = uniq('think');
  const stream = client().chat.completions.stream({
    model: 'o1',
    messages: [{ role: 'user', content: text }],
    max_tokens: 1000,
    stream_options: { include_usage: true },
  });
  let deltas = '';
  stream.on('content', (d) => { deltas += d; });
  const final = await stream.finalChatCompletion();
  assert.equal(deltas, `echo: ${text}`);
  assert.equal(final.choices[0].message.content, `echo: ${text}`);
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal(typeof final.usage?.total_tokens, 'number', 'usage');
});

test('chat.completions.create: o1 with max_tokens, non-streaming', async () => {
  const text = uniq('o1 plain');
  const c = await client().chat.completions.create({
    model: 'o1',
    messages: [{ role: 'user', content: text }],
    max_tokens: 1000,
  });
  assert.equal(c.choices[0].message.content, `echo: ${text}`);
});

test('chat.completions.stream: a Claude model through the chat API', async () => {
  const text = uniq('claude');
  const stream = client().chat.completions.stream({
    model: 'claude-sonnet-4.5',
    messages: [{ role: 'user', content: text }],
  });
  assert.equal(await stream.finalContent(), `echo: ${text}`);
});

// The integration script sets timeouts.stream_keepalive to 200ms, so one
// second of upstream silence (SILENT:1) puts ": keep-alive" comments in
// the stream; the SDK's SSE decoder must skip them.
test('chat.completions.stream: keep-alive comments during a silence are skipped', async () => {
  const text = uniq('SILENT:1 then talk');
  const raw = await fetch(`${process.env.OPENAI_BASE_URL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: CHAT_MODEL, stream: true, messages: [{ role: 'user', content: text }],
    }),
  }).then((r) => r.text());
  assert.match(raw, /^: keep-alive$/m, 'the gateway sent keep-alive comments');
  const stream = client().chat.completions.stream({
    model: CHAT_MODEL, messages: [{ role: 'user', content: text }],
  });
  assert.equal(await stream.finalContent(), `echo: ${text}`);
});

test('chat.completions.stream: abort mid-stream, then the gateway goes on', async () => {
  const stream = client().chat.completions.stream({
    model: CHAT_MODEL, messages: [{ role: 'user', content: uniq('SLOW LONG:50') }],
  });
  let got = '';
  const t0 = Date.now();
  for await (const chunk of stream) {
    got += chunk.choices[0]?.delta?.content ?? '';
    if (got.length >= 4) break; // break aborts the request
  }
  assert.ok(stream.controller.signal.aborted, 'break aborted the request');
  assert.ok(got.length < 100, `stopped early (${got.length} chars)`);
  assert.ok(Date.now() - t0 < 5000, 'no wait for the rest of a slow stream');
  const text = uniq('after abort');
  const c = await client().chat.completions.create({
    model: CHAT_MODEL, messages: [{ role: 'user', content: text }],
  });
  assert.equal(c.choices[0].message.content, `echo: ${text}`);
});
