// SPDX-License-Identifier: ISC
//
// Shared by the *.test.mjs files: the official OpenAI SDK pointed at
// copilot-gw (OPENAI_BASE_URL=http://127.0.0.1:PORT/v1, OPENAI_API_KEY=any),
// which relays to the GitHub fake (tests/fake/github.py). The fake answers
// "echo: <last user text>", calls tools[0] with {"echo": "<last user text>"}
// when tools are given, answers a tool result with "tool said: <result>",
// and reacts to magic phrases (FAIL_400, FAIL_429, CLOSE_EARLY, ...).
// Run by tests/integration/1201-openai-sdk.sh.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

export { OpenAI };

if (!process.env.OPENAI_BASE_URL) {
  throw new Error('OPENAI_BASE_URL must point at copilot-gw ' +
    '(http://127.0.0.1:PORT/v1); run tests/integration/1201-openai-sdk.sh');
}

export const CHAT_MODEL = 'gpt-4o';
export const RESPONSES_MODEL = 'gpt-4.1';
export const EMBEDDING_MODEL = 'text-embedding-3-small';

// A client with SDK retries off (an error shows at once) and a timeout far
// below the test runner's.
export function client(opts = {}) {
  return new OpenAI({
    apiKey: process.env.OPENAI_API_KEY || 'sk-copilot-gw-test',
    maxRetries: 0,
    timeout: 20000,
    ...opts,
  });
}

// A unique text, so that parallel test files never share a prompt.
let seq = 0;
export function uniq(what) {
  seq += 1;
  return `${what} #${process.pid}.${seq}`;
}

// Asserts that fn() rejects with an instance of cls and returns the error.
export async function rejectsWith(fn, cls, check = () => {}) {
  let caught;
  await assert.rejects(fn, (e) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof cls,
    `expected ${cls.name}, got ${caught?.constructor?.name}: ${caught?.message ?? JSON.stringify(caught)}`);
  check(caught);
  return caught;
}
