// SPDX-License-Identifier: ISC
// Tool calls through the SDK: tools -> tool_calls -> a role "tool" result
// -> the final answer "tool said: ...", by hand (plain and streamed), with
// the SDK's runTools helper, with parallel calls whose argument fragments
// interleave, and with two choices in one stream.
import assert from 'node:assert/strict';
import test from 'node:test';
import { CHAT_MODEL, client, uniq } from './helpers.mjs';

const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: {
      type: 'object',
      properties: { echo: { type: 'string' } },
      required: ['echo'],
    },
  },
};
const clock = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'The time in a city.',
    parameters: { type: 'object', properties: {} },
  },
};

test('tool round trip, non-streaming', async () => {
  const oa = client();
  const text = uniq('weather in Paris');
  const messages = [{ role: 'user', content: text }];
  const first = await oa.chat.completions.create({
    model: CHAT_MODEL, messages, tools: [weather],
  });
  const ch = first.choices[0];
  assert.equal(ch.finish_reason, 'tool_calls');
  assert.equal(ch.message.content, null);
  assert.equal(ch.message.tool_calls.length, 1);
  const call = ch.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { echo: text });

  messages.push(ch.message);
  messages.push({ role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' });
  const second = await oa.chat.completions.create({
    model: CHAT_MODEL, messages, tools: [weather],
  });
  assert.equal(second.choices[0].finish_reason, 'stop');
  assert.equal(second.choices[0].message.content, 'tool said: sunny, 21C');
  assert.equal(second.choices[0].message.tool_calls ?? undefined, undefined);
});

test('tool round trip, streamed with the stream helper', async () => {
  const oa = client();
  const text = uniq('weather in Oslo');
  const messages = [{ role: 'user', content: text }];
  const s1 = oa.chat.completions.stream({
    model: CHAT_MODEL, messages, tools: [weather],
  });
  const argsDone = [];
  s1.on('tool_calls.function.arguments.done',
    (ev) => argsDone.push(ev));
  const first = await s1.finalChatCompletion();
  const ch = first.choices[0];
  assert.equal(ch.finish_reason, 'tool_calls');
  assert.equal(ch.message.tool_calls.length, 1);
  const call = ch.message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { echo: text });
  assert.equal(argsDone.length, 1, 'one arguments.done event');
  assert.equal(argsDone[0].name, 'get_weather');
  assert.equal(argsDone[0].arguments, call.function.arguments);

  messages.push(ch.message);
  messages.push({ role: 'tool', tool_call_id: call.id, content: 'snow' });
  const s2 = oa.chat.completions.stream({
    model: CHAT_MODEL, messages, tools: [weather],
  });
  assert.equal(await s2.finalContent(), 'tool said: snow');
  const second = await s2.finalChatCompletion();
  assert.equal(second.choices[0].finish_reason, 'stop');
});

for (const stream of [false, true]) {
  test(`runTools helper runs the tool and returns the final answer (stream: ${stream})`, async () => {
    const text = uniq('what time is it');
    const seen = [];
    const runner = client().chat.completions.runTools({
      model: CHAT_MODEL,
      stream,
      messages: [{ role: 'user', content: text }],
      tools: [{
        type: 'function',
        function: {
          name: 'lookup',
          parameters: { type: 'object', properties: { echo: { type: 'string' } } },
          parse: JSON.parse,
          function: (args) => {
            seen.push(args);
            return `found ${args.echo}`;
          },
        },
      }],
    });
    assert.equal(await runner.finalContent(), `tool said: found ${text}`);
    assert.deepEqual(seen, [{ echo: text }]);
    const msgs = runner.messages;
    assert.deepEqual(msgs.map((m) => m.role),
      ['user', 'assistant', 'tool', 'assistant']);
  });
}

test('parallel tool calls with interleaved argument fragments (INTERLEAVE)', async () => {
  const text = uniq('INTERLEAVE both');
  const s = client().chat.completions.stream({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: text }],
    tools: [weather, clock],
  });
  const final = await s.finalChatCompletion();
  const calls = final.choices[0].message.tool_calls;
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.equal(calls.length, 2);
  assert.equal(calls[0].function.name, 'get_weather');
  assert.equal(calls[1].function.name, 'get_time');
  assert.notEqual(calls[0].id, calls[1].id);
  assert.deepEqual(JSON.parse(calls[0].function.arguments), { n: 0, echo: text });
  assert.deepEqual(JSON.parse(calls[1].function.arguments), { n: 1, echo: text });
});

test('two choices in one stream (TWO_CHOICES)', async () => {
  const text = uniq('TWO_CHOICES here');
  const s = client().chat.completions.stream({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: text }],
    tools: [weather],
  });
  const final = await s.finalChatCompletion();
  assert.equal(final.choices.length, 2);
  assert.equal(final.choices[0].message.content, `echo: ${text}`);
  assert.equal(final.choices[1].message.content, null);
  assert.equal(final.choices[1].message.tool_calls[0].function.name,
    'get_weather');
  assert.deepEqual(
    JSON.parse(final.choices[1].message.tool_calls[0].function.arguments),
    { echo: text });
});

test('tool_choice "none" answers in text', async () => {
  const text = uniq('no tools now');
  const c = await client().chat.completions.create({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: text }],
    tools: [weather],
    tool_choice: 'none',
  });
  assert.equal(c.choices[0].message.content, `echo: ${text}`);
});
