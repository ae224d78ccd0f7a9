// SPDX-License-Identifier: ISC
// Tool use through the official Anthropic SDK against copilot-gw and the
// GitHub fake (which calls tools[0] with {"echo": <the user's text>} and
// answers a tool result with "tool said: <result>"): a tool_use round
// trip with messages.create and with messages.stream on both paths, two
// interleaved tool calls, text then a tool call over two upstream choices,
// tool_choice, and count_tokens. Raw streams are checked with
// anthropic_validate.py. Run by tests/integration/2003-anthropic-sdk.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';
import Anthropic from '@anthropic-ai/sdk';

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

// The SDK warns that Claude Code's dated ids are deprecated: not ours.
const warn = console.warn;
console.warn = (...a) => {
  if (!/deprecated and will reach end-of-life/.test(String(a[0]))) warn(...a);
};

let seq = 0;
const uniq = (what) => `${what} #${process.pid}.${++seq}`;

const TOOLS = [
  {
    name: 'get_weather',
    description: 'The weather in a city',
    input_schema: {
      type: 'object',
      properties: { echo: { type: 'string' } },
      required: ['echo'],
    },
  },
  {
    name: 'get_time',
    description: 'The time in a city',
    input_schema: { type: 'object', properties: { n: { type: 'integer' } } },
  },
];

for (const [model, path] of BOTH) {
  test(`tool_use round trip with messages.create (${path})`, async () => {
    const text = uniq('weather in Paris?');
    const messages = [{ role: 'user', content: text }];
    const m1 = await client().messages.create({
      model, max_tokens: 300, tools: TOOLS, messages,
    });
    assert.equal(m1.stop_reason, 'tool_use');
    const tu = m1.content.find((b) => b.type === 'tool_use');
    assert.ok(tu, 'a tool_use block');
    assert.equal(tu.name, 'get_weather');
    assert.deepEqual(tu.input, { echo: text });
    assert.equal(typeof tu.id, 'string');
    messages.push({ role: 'assistant', content: m1.content });
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: tu.id, content: 'sunny, 21C' }],
    });
    const m2 = await client().messages.create({
      model, max_tokens: 300, tools: TOOLS, messages,
    });
    assert.equal(m2.stop_reason, 'end_turn');
    assert.deepEqual(m2.content, [{ type: 'text', text: 'tool said: sunny, 21C' }]);
  });

  test(`tool_use round trip with messages.stream (${path})`, async () => {
    const { c, raws } = recording();
    const text = uniq('time please');
    const stream = c.messages.stream({
      model, max_tokens: 300, tools: TOOLS,
      tool_choice: { type: 'tool', name: 'get_time' },
      messages: [{ role: 'user', content: text }],
    });
    let json = '';
    stream.on('inputJson', (d) => { json += d; });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const tu = final.content.at(-1);
    assert.equal(tu.type, 'tool_use');
    assert.equal(tu.name, 'get_time');
    assert.deepEqual(tu.input, { echo: text });
    assert.deepEqual(JSON.parse(json), tu.input);
    const s = await validated(raws[0]);
    assert.deepEqual(s.content.at(-1).input, tu.input);
    assert.equal(s.content.at(-1).id, tu.id);

    const stream2 = c.messages.stream({
      model, max_tokens: 300, tools: TOOLS,
      messages: [
        { role: 'user', content: text },
        { role: 'assistant', content: final.content },
        {
          role: 'user',
          content: [{
            type: 'tool_result', tool_use_id: tu.id, is_error: false,
            content: [{ type: 'text', text: '12:00' }],
          }],
        },
      ],
    });
    let deltas = '';
    stream2.on('text', (d) => { deltas += d; });
    const final2 = await stream2.finalMessage();
    assert.equal(deltas, 'tool said: 12:00');
    assert.equal(final2.content[0].text, deltas);
    assert.equal(final2.stop_reason, 'end_turn');
    await validated(raws[1]);
  });
}

test('translated: two interleaved tool calls, streamed', async () => {
  const { c, raws } = recording();
  const text = uniq('INTERLEAVE both');
  const final = await c.messages.stream({
    model: CHAT, max_tokens: 300, tools: TOOLS,
    messages: [{ role: 'user', content: text }],
  }).finalMessage();
  assert.deepEqual(final.content.map((b) => [b.type, b.name, b.input]), [
    ['tool_use', 'get_weather', { n: 0, echo: text }],
    ['tool_use', 'get_time', { n: 1, echo: text }],
  ]);
  assert.notEqual(final.content[0].id, final.content[1].id);
  assert.equal(final.stop_reason, 'tool_use');
  await validated(raws[0]);
});

test('translated: text then a tool call over two choices, streamed', async () => {
  const { c, raws } = recording();
  const text = uniq('TWO_CHOICES go');
  const stream = c.messages.stream({
    model: CHAT, max_tokens: 300, tools: TOOLS,
    messages: [{ role: 'user', content: text }],
  });
  let deltas = '';
  stream.on('text', (d) => { deltas += d; });
  const final = await stream.finalMessage();
  assert.deepEqual(final.content.map((b) => b.type), ['text', 'tool_use']);
  assert.equal(final.content[0].text, `echo: ${text}`);
  assert.equal(deltas, final.content[0].text);
  assert.deepEqual(final.content[1].input, { echo: text });
  await validated(raws[0]);
});

test('translated: text then a tool call over two choices, not streamed', async () => {
  const text = uniq('TWO_CHOICES again');
  const m = await client().messages.create({
    model: CHAT, max_tokens: 300, tools: TOOLS,
    messages: [{ role: 'user', content: text }],
  });
  assert.deepEqual(m.content.map((b) => b.type), ['text', 'tool_use']);
  assert.equal(m.stop_reason, 'tool_use');
});

test('messages.countTokens: a positive count that grows with tools', async () => {
  const c = client();
  const base = {
    model: NATIVE,
    messages: [{ role: 'user', content: 'How many tokens is this?' }],
  };
  const a = await c.messages.countTokens(base);
  assert.ok(a.input_tokens > 0);
  const b = await c.messages.countTokens({ ...base, tools: TOOLS });
  assert.ok(b.input_tokens > a.input_tokens,
    `tools add tokens (${b.input_tokens} > ${a.input_tokens})`);
  const s = await c.messages.countTokens({
    ...base, system: [{ type: 'text', text: 'You are a careful assistant. '.repeat(30) }],
  });
  assert.ok(s.input_tokens > a.input_tokens + 50, 'the system prompt counts');
  const beta = await c.beta.messages.countTokens({
    ...base, betas: ['token-counting-2024-11-01'],
  });
  assert.equal(beta.input_tokens, a.input_tokens);
});
