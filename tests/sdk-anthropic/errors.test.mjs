// SPDX-License-Identifier: ISC
// Errors through the official Anthropic SDK against copilot-gw and the
// GitHub fake: each must arrive as the APIError subclass for its status,
// with Anthropic's error type: an unknown model (NotFoundError), a bad
// request (BadRequestError), upstream failures (InternalServerError,
// RateLimitError with retry-after), on both paths, for create and for
// stream; and a stream the upstream cuts short (an error event the SDK
// raises as APIError). Run by tests/integration/2003-anthropic-sdk.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';
import Anthropic, {
  APIError, BadRequestError, InternalServerError, NotFoundError,
  RateLimitError,
} from '@anthropic-ai/sdk';

const NATIVE = 'claude-sonnet-4-5-20250929';
const CHAT = 'gpt-4o';
const BOTH = [[NATIVE, 'native'], [CHAT, 'translated']];

function client(opts = {}) {
  return new Anthropic({
    apiKey: 'sk-ant-copilot-gw-test',
    baseURL: process.env.ANTHROPIC_BASE_URL,
    maxRetries: 0,
    timeout: 20000,
    ...opts,
  });
}

function recording() {
  const raws = [];
  const fetchFn = async (url, init) => {
    const res = await fetch(url, init);
    const ct = res.headers.get('content-type') ?? '';
    if (!ct.startsWith('text/event-stream') || res.body == null) return res;
    const [a, b] = res.body.tee();
    const rec = { url: String(url), text: '' };
    rec.done = new Response(b).text().then((t) => { rec.text = t; },
      () => {});
    raws.push(rec);
    return new Response(a, { status: res.status, headers: res.headers });
  };
  return { c: client({ fetch: fetchFn }), raws };
}

async function validated(rec, ...opts) {
  await rec.done;
  const r = spawnSync(process.env.PYTHON3 || 'python3',
    [process.env.ANTHROPIC_VALIDATE, '-', ...opts],
    { input: rec.text, encoding: 'utf8' });
  assert.equal(r.status, 0,
    `the validator refused the stream: ${r.stderr}\n${rec.text.slice(0, 4000)}`);
  return JSON.parse(r.stdout);
}

// Asserts fn() rejects with an instance of cls; returns the error.
async function rejectsWith(fn, cls) {
  let caught;
  await assert.rejects(fn, (e) => { caught = e; return true; });
  assert.ok(caught instanceof cls,
    `expected ${cls.name}, got ${caught?.constructor?.name}: ${caught?.message}`);
  assert.ok(caught instanceof APIError, 'an APIError');
  return caught;
}

// The SDK warns that Claude Code's dated ids are deprecated: not ours.
const warn = console.warn;
console.warn = (...a) => {
  if (!/deprecated and will reach end-of-life/.test(String(a[0]))) warn(...a);
};

let seq = 0;
const uniq = (what) => `${what} #${process.pid}.${++seq}`;

test('an unknown model: NotFoundError listing the models', async () => {
  const e = await rejectsWith(() => client().messages.create({
    model: 'claude-sonnet-4-20250514', max_tokens: 10,
    messages: [{ role: 'user', content: 'hi' }],
  }), NotFoundError);
  assert.equal(e.status, 404);
  assert.equal(e.type, 'not_found_error');
  assert.equal(e.error.type, 'error');
  assert.match(e.error.error.message, /claude-sonnet-4\.5/);
});

test('an unknown model, streaming: NotFoundError', async () => {
  const stream = client().messages.stream({
    model: 'claude-opus-4-5-20251101', max_tokens: 10,
    messages: [{ role: 'user', content: 'hi' }],
  });
  const e = await rejectsWith(() => stream.finalMessage(), NotFoundError);
  assert.equal(e.status, 404);
});

test('no max_tokens: BadRequestError', async () => {
  const e = await rejectsWith(() => client().messages.create({
    model: CHAT, messages: [{ role: 'user', content: 'hi' }],
  }), BadRequestError);
  assert.equal(e.status, 400);
  assert.equal(e.type, 'invalid_request_error');
  assert.match(e.message, /max_tokens/);
});

for (const [model, path] of BOTH) {
  test(`upstream 400 (${path}): BadRequestError with Copilot's message`, async () => {
    const e = await rejectsWith(() => client().messages.create({
      model, max_tokens: 10,
      messages: [{ role: 'user', content: uniq('FAIL_400') }],
    }), BadRequestError);
    assert.equal(e.type, 'invalid_request_error');
    assert.match(e.message, /prompt/);
  });

  test(`upstream 500 (${path}): InternalServerError`, async () => {
    const e = await rejectsWith(() => client().messages.create({
      model, max_tokens: 10,
      messages: [{ role: 'user', content: uniq('FAIL_500') }],
    }), InternalServerError);
    assert.equal(e.status, 500);
    assert.equal(e.type, 'api_error');
  });

  test(`upstream 500 on a stream (${path}): InternalServerError`, async () => {
    const stream = client().messages.stream({
      model, max_tokens: 10,
      messages: [{ role: 'user', content: uniq('FAIL_500') }],
    });
    await rejectsWith(() => stream.finalMessage(), InternalServerError);
  });

  test(`a stream cut short (${path}): APIError from the error event`, async () => {
    const { c, raws } = recording();
    const stream = c.messages.stream({
      model, max_tokens: 200,
      messages: [{ role: 'user', content: uniq('CLOSE_EARLY here') }],
    });
    let deltas = '';
    stream.on('text', (d) => { deltas += d; });
    const e = await rejectsWith(() => stream.finalMessage(), APIError);
    assert.ok(['api_error', 'overloaded_error'].includes(e.type), `type ${e.type}`);
    assert.ok(deltas.length < 'echo: CLOSE_EARLY here'.length + 20);
    const s = await validated(raws[0], '--expect-error');
    assert.equal(s.error.type, e.type);
  });
}

// Last in this file: a 429 with Retry-After: 2 pauses the account.
test('upstream 429: RateLimitError with retry-after, both paths', async () => {
  for (const [model] of BOTH) {
    const e = await rejectsWith(() => client().messages.create({
      model, max_tokens: 10,
      messages: [{ role: 'user', content: uniq('FAIL_429') }],
    }), RateLimitError);
    assert.equal(e.status, 429);
    assert.equal(e.type, 'rate_limit_error');
    assert.equal(e.headers.get('retry-after'), '2');
  }
});
