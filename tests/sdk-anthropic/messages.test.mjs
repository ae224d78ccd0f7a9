// SPDX-License-Identifier: ISC
// The official Anthropic SDK (@anthropic-ai/sdk, pinned in package.json)
// against copilot-gw and the GitHub fake: messages.create and
// messages.stream on both paths (claude-sonnet-4.5 natively, gpt-4o by
// translation), beta.messages (anthropic-beta), thinking,
// long answers, and a stream through an upstream silence (pings). Every
// stream's raw bytes are also checked with
// tests/integration/anthropic_validate.py, and the SDK's accumulated
// finalMessage() must equal both the streamed deltas and what the
// validator rebuilt. Run by tests/integration/2003-anthropic-sdk.sh with
// ANTHROPIC_BASE_URL (the gateway), GH_URL (the fake), PYTHON3 and
// ANTHROPIC_VALIDATE set.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';
import Anthropic from '@anthropic-ai/sdk';

const NATIVE = 'claude-sonnet-4-5-20250929';
const CHAT = 'gpt-4o';
const BOTH = [[NATIVE, 'native'], [CHAT, 'translated']];

for (const v of ['ANTHROPIC_BASE_URL', 'GH_URL', 'ANTHROPIC_VALIDATE']) {
  if (!process.env[v]) {
    throw new Error(`${v} is not set: run tests/integration/2003-anthropic-sdk.sh`);
  }
}

function client(opts = {}) {
  return new Anthropic({
    apiKey: 'sk-ant-copilot-gw-test',
    baseURL: process.env.ANTHROPIC_BASE_URL,
    maxRetries: 0,
    timeout: 20000,
    ...opts,
  });
}

// A client whose streamed answers are also kept raw, for the validator.
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

// Runs the validator over one recorded stream; returns its summary.
async function validated(rec, ...opts) {
  await rec.done;
  const r = spawnSync(process.env.PYTHON3 || 'python3',
    [process.env.ANTHROPIC_VALIDATE, '-', ...opts],
    { input: rec.text, encoding: 'utf8' });
  assert.equal(r.status, 0,
    `the validator refused the stream: ${r.stderr}\n${rec.text.slice(0, 4000)}`);
  return JSON.parse(r.stdout);
}

// The last request the fake got on path.
async function upstream(path) {
  const rs = await (await fetch(`${process.env.GH_URL}/__fake/requests`)).json();
  const mine = rs.filter((r) => r.path === path);
  return mine[mine.length - 1];
}

// The SDK warns that Claude Code's dated ids are deprecated: not ours.
const warn = console.warn;
console.warn = (...a) => {
  if (!/deprecated and will reach end-of-life/.test(String(a[0]))) warn(...a);
};

let seq = 0;
const uniq = (what) => `${what} #${process.pid}.${++seq}`;

for (const [model, path] of BOTH) {
  test(`messages.create (${path}): a complete message`, async () => {
    const text = uniq('hello sdk');
    const m = await client().messages.create({
      model, max_tokens: 200,
      system: 'You are terse.',
      messages: [{ role: 'user', content: text }],
    });
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.match(m.id, /^msg_/);
    assert.deepEqual(m.content, [{ type: 'text', text: `echo: ${text}` }]);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(typeof m.usage.input_tokens, 'number');
    assert.ok(m.usage.output_tokens > 0);
    assert.equal(typeof m.usage.cache_read_input_tokens, 'number');
  });

  test(`messages.stream (${path}): finalMessage equals the text deltas`, async () => {
    const { c, raws } = recording();
    const text = uniq('stream me');
    const stream = c.messages.stream({
      model, max_tokens: 200,
      messages: [{ role: 'user', content: text }],
    });
    let deltas = '';
    let ndeltas = 0;
    stream.on('text', (d) => { deltas += d; ndeltas += 1; });
    const final = await stream.finalMessage();
    assert.ok(ndeltas >= 3, `several text deltas (${ndeltas})`);
    assert.equal(deltas, `echo: ${text}`);
    assert.equal(final.content.length, 1);
    assert.equal(final.content[0].type, 'text');
    assert.equal(final.content[0].text, deltas);
    assert.equal(await stream.finalText(), deltas);
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0);
    assert.ok(final.usage.input_tokens > 0, 'input tokens in the final usage');
    assert.match(final.id, /^msg_/);
    const s = await validated(raws[0]);
    assert.equal(s.content[0].text, deltas);
    assert.equal(s.id, final.id);
  });

  test(`messages.create stream:true (${path}): raw events in order`, async () => {
    const { c, raws } = recording();
    const text = uniq('raw events');
    const s = await c.messages.create({
      model, max_tokens: 200, stream: true,
      messages: [{ role: 'user', content: text }],
    });
    const types = [];
    let acc = '';
    for await (const ev of s) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') {
        acc += ev.delta.text;
      }
    }
    assert.equal(types[0], 'message_start');
    assert.equal(types[types.length - 1], 'message_stop');
    assert.equal(types[types.length - 2], 'message_delta');
    assert.ok(!types.includes('ping'), 'the SDK hides pings');
    assert.equal(acc, `echo: ${text}`);
    await validated(raws[0]);
  });

  test(`messages.stream (${path}): a long answer`, async () => {
    const { c, raws } = recording();
    const stream = c.messages.stream({
      model, max_tokens: 4000,
      messages: [{ role: 'user', content: uniq('LONG:1500') }],
    });
    let deltas = '';
    stream.on('text', (d) => { deltas += d; });
    const final = await stream.finalMessage();
    assert.equal(deltas, 'x '.repeat(1500));
    assert.equal(final.content[0].text, deltas);
    await validated(raws[0]);
  });

  test(`messages.stream (${path}): through an upstream silence (pings)`, async () => {
    const { c, raws } = recording();
    const text = uniq('SILENT:1.2 then talk');
    const stream = c.messages.stream({
      model, max_tokens: 200,
      messages: [{ role: 'user', content: text }],
    });
    let deltas = '';
    stream.on('text', (d) => { deltas += d; });
    const final = await stream.finalMessage();
    assert.equal(deltas, `echo: ${text}`);
    assert.equal(final.content[0].text, deltas);
    const s = await validated(raws[0]);
    assert.ok(s.pings >= 2, `pings during the silence (${s.pings})`);
  });

  test(`beta.messages (${path}): create and stream with betas`, async () => {
    const text = uniq('beta');
    const m = await client().beta.messages.create({
      model, max_tokens: 100,
      betas: ['interleaved-thinking-2025-05-14'],
      messages: [{ role: 'user', content: text }],
    });
    assert.equal(m.content[0].text, `echo: ${text}`);
    const { c, raws } = recording();
    const stream = c.beta.messages.stream({
      model, max_tokens: 100,
      betas: ['interleaved-thinking-2025-05-14'],
      messages: [{ role: 'user', content: text }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.content[0].text, `echo: ${text}`);
    await validated(raws[0]);
  });
}

test('native: the client\'s anthropic-beta and anthropic-version reach Copilot', async () => {
  const text = uniq('which headers');
  let sent;
  const c = client({
    fetch: async (url, init) => {
      sent = new Headers(init.headers);
      return fetch(url, init);
    },
  });
  await c.beta.messages.create({
    model: NATIVE, max_tokens: 100,
    betas: ['interleaved-thinking-2025-05-14', 'context-management-2025-06-27'],
    messages: [{ role: 'user', content: text }],
  });
  assert.equal(sent.get('anthropic-beta'),
    'interleaved-thinking-2025-05-14,context-management-2025-06-27');
  assert.match(sent.get('anthropic-version') ?? '', /^\d{4}-\d\d-\d\d$/);
  const r = await upstream('/cp/v1/messages');
  assert.equal(JSON.parse(r.body).messages[0].content, text);
  assert.equal(r.headers['anthropic-beta'], sent.get('anthropic-beta'));
  assert.equal(r.headers['anthropic-version'], sent.get('anthropic-version'));
});

test('native: thinking streamed, then accepted back with its signature', async () => {
  const { c, raws } = recording();
  const text = uniq('deep thought');
  const stream = c.messages.stream({
    model: NATIVE, max_tokens: 4096,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    messages: [{ role: 'user', content: text }],
  });
  let thinking = '';
  stream.on('thinking', (d) => { thinking += d; });
  const final = await stream.finalMessage();
  assert.deepEqual(final.content.map((b) => b.type), ['thinking', 'text']);
  assert.equal(final.content[0].thinking, thinking);
  assert.equal(thinking, `Thinking about: ${text}`);
  assert.ok(final.content[0].signature.length > 40, 'a signature');
  const s = await validated(raws[0]);
  assert.equal(s.content[0].signature, final.content[0].signature);
  // The next turn carries the signed block back; Copilot checks it.
  const m2 = await client().messages.create({
    model: NATIVE, max_tokens: 4096,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    messages: [
      { role: 'user', content: text },
      { role: 'assistant', content: final.content },
      { role: 'user', content: 'and then?' },
    ],
  });
  assert.equal(m2.content.at(-1).text, 'echo: and then?');
});
