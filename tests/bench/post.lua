-- SPDX-License-Identifier: ISC
-- post.lua: wrk script for tests/bench/run.sh. Every request is the same
-- non-streaming chat completion; BENCH_AUTH (if set) is sent as the
-- Authorization header (the gateway's client key). The path comes from the
-- URL given to wrk.
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
	wrk.headers["Authorization"] = auth
end
