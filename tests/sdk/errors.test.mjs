// SPDX-License-Identifier: ISC
// Errors surface as the SDK's error classes: upstream 400/429/500 (magic
// phrases FAIL_400, FAIL_429, FAIL_500), the gateway's own 400s, 502 for
// an upstream that refuses its token or cuts a plain answer short, and a
// stream cut short upstream (CLOSE_EARLY), which must throw, not end as
// if the answer were complete. SDK retries are off (maxRetries: 0).
import assert from 'node:assert/strict';
import test from 'node:test';
import {
  CHAT_MODEL, EMBEDDING_MODEL, OpenAI, RESPONSES_MODEL, client, rejectsWith, uniq,
} from './helpers.mjs';

const chat = (content, extra = {}) => client().chat.completions.create({
  model: CHAT_MODEL, messages: [{ role: 'user', content }], ...extra,
});

test('FAIL_400: BadRequestError with the upstream message and code', async () => {
  await rejectsWith(() => chat(uniq('FAIL_400')), OpenAI.BadRequestError, (e) => {
    assert.equal(e.status, 400);
    assert.match(e.message, /^400 prompt token count of \d+ exceeds the limit of \d+/);
    assert.equal(e.code, 'model_max_prompt_tokens_exceeded');
    assert.equal(e.type, 'invalid_request_error');
    assert.ok(e.requestID, 'x-request-id on the error');
  });
});

test('FAIL_400 on a stream: the stream helper rejects with BadRequestError', async () => {
  const s = client().chat.completions.stream({
    model: CHAT_MODEL, messages: [{ role: 'user', content: uniq('FAIL_400') }],
  });
  await rejectsWith(() => s.finalChatCompletion(), OpenAI.BadRequestError,
    (e) => assert.match(e.message, /exceeds the limit/));
});

test('FAIL_429: RateLimitError', async () => {
  await rejectsWith(() => chat(uniq('FAIL_429')), OpenAI.RateLimitError, (e) => {
    assert.equal(e.status, 429);
    assert.match(e.message, /rate-limited/);
    assert.equal(e.type, 'rate_limit_error');
    assert.equal(e.code, 'rate_limited');
  });
});

test('FAIL_429 on responses and on a responses stream: RateLimitError', async () => {
  await rejectsWith(() => client().responses.create({
    model: RESPONSES_MODEL, input: uniq('FAIL_429'),
  }), OpenAI.RateLimitError);
  await rejectsWith(() => client().responses.stream({
    model: RESPONSES_MODEL, input: uniq('FAIL_429'),
  }).finalResponse(), OpenAI.RateLimitError);
});

test('FAIL_500: InternalServerError', async () => {
  await rejectsWith(() => chat(uniq('FAIL_500')), OpenAI.InternalServerError, (e) => {
    assert.equal(e.status, 500);
    assert.match(e.message, /Internal server error/);
  });
});

test('FAIL_401 upstream: a 502 InternalServerError, not AuthenticationError', async () => {
  await rejectsWith(() => chat(uniq('FAIL_401')), OpenAI.InternalServerError, (e) => {
    assert.equal(e.status, 502);
    assert.match(e.message, /refused the token/);
  });
});

test("the gateway's own checks: BadRequestError", async () => {
  await rejectsWith(() => client().chat.completions.create({
    model: CHAT_MODEL, messages: [],
  }), OpenAI.BadRequestError, (e) => assert.match(e.message, /messages/));
  await rejectsWith(() => client().embeddings.create({
    model: EMBEDDING_MODEL, input: [],
  }), OpenAI.BadRequestError, (e) => assert.match(e.message, /input/));
});

test('an unknown model: BadRequestError model_not_supported', async () => {
  await rejectsWith(() => client().chat.completions.create({
    model: 'no-such-model', messages: [{ role: 'user', content: 'x' }],
  }), OpenAI.BadRequestError, (e) => {
    assert.equal(e.code, 'model_not_supported');
  });
});

test('CLOSE_EARLY on a plain answer: InternalServerError (502)', async () => {
  await rejectsWith(() => chat(uniq('CLOSE_EARLY plain')), OpenAI.InternalServerError,
    (e) => assert.equal(e.status, 502));
});

test('CLOSE_EARLY on a chat stream: the stream helper throws an APIError', async () => {
  const text = uniq('CLOSE_EARLY stream');
  const s = client().chat.completions.stream({
    model: CHAT_MODEL, messages: [{ role: 'user', content: text }],
  });
  let deltas = '';
  s.on('content', (d) => { deltas += d; });
  const e = await rejectsWith(() => s.finalChatCompletion(), OpenAI.APIError);
  assert.match(e.message, /stream failed/);
  assert.ok(`echo: ${text}`.startsWith(deltas), 'deltas before the failure are a prefix');
  assert.notEqual(deltas, `echo: ${text}`, 'the answer was not complete');
});

test('CLOSE_EARLY on a raw chat stream: iteration throws', async () => {
  const s = await chat(uniq('CLOSE_EARLY raw'), { stream: true });
  let n = 0;
  await rejectsWith(async () => {
    for await (const chunk of s) {
      assert.ok(chunk.choices);
      n += 1;
    }
  }, OpenAI.APIError, (e) => assert.match(e.message, /stream failed/));
  assert.ok(n >= 1, 'some chunks arrived first');
});

test('CLOSE_EARLY on a responses stream: finalResponse rejects', async () => {
  const s = client().responses.stream({
    model: RESPONSES_MODEL, input: uniq('CLOSE_EARLY responses'),
  });
  let caught;
  await assert.rejects(() => s.finalResponse(), (e) => {
    caught = e;
    return true;
  });
  // The SDK rejects with the "error" event itself (type, code, message)
  // for a Responses stream, as it does for api.openai.com.
  assert.match(caught.message, /stream failed/);
});

// The raw events of a Responses stream are typed by the SDK: an "error"
// event is a ResponseErrorEvent {type, code, message, param,
// sequence_number}, sequence_number following the previous event's.
test('CLOSE_EARLY on a raw responses stream: a well-formed ResponseErrorEvent last', async () => {
  const s = await client().responses.create({
    model: RESPONSES_MODEL, input: uniq('CLOSE_EARLY raw responses'), stream: true,
  });
  const events = [];
  for await (const ev of s) events.push(ev);
  assert.ok(events.length >= 2);
  const err = events[events.length - 1];
  const prev = events[events.length - 2];
  assert.equal(err.type, 'error');
  assert.equal(typeof err.message, 'string');
  assert.match(err.message, /stream failed/);
  assert.ok(err.code === null || typeof err.code === 'string', 'code');
  assert.ok(err.param === null || typeof err.param === 'string', 'param');
  assert.ok(!events.some((e) => e.type === 'response.completed'));
  assert.equal(err.sequence_number, prev.sequence_number + 1,
    `sequence_number of the error event: ${JSON.stringify(err)}`);
});

test('STALL: the SDK timeout fires (APIConnectionTimeoutError); the gateway goes on', async () => {
  await rejectsWith(() => client({ timeout: 1000 }).chat.completions.create({
    model: CHAT_MODEL, messages: [{ role: 'user', content: uniq('STALL') }],
  }), OpenAI.APIConnectionTimeoutError);
  const c = await chat(uniq('after the stall'));
  assert.match(c.choices[0].message.content, /^echo: after the stall/);
});
