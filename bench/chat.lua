-- wrk body script: every request is the benchmark's chat completion, or with
-- BENCH_FORMAT=messages the same ask as an Anthropic Messages request.
-- BENCH_STREAM=1 asks for a stream; BENCH_MODEL names the model;
-- BENCH_API_KEY, when set, is sent as a bearer token.
local stream = os.getenv("BENCH_STREAM") == "1"
local model = os.getenv("BENCH_MODEL") or "bench/bench-model"
local key = os.getenv("BENCH_API_KEY")
local messages = os.getenv("BENCH_FORMAT") == "messages"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if key and key ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. key
end
local ask = '"messages":[{"role":"user","content":"Say twenty words."}]'
if messages then
   wrk.headers["anthropic-version"] = "2023-06-01"
   wrk.body = '{"model":"' .. model .. '","max_tokens":256,' .. ask
      .. ',"stream":' .. (stream and "true" or "false") .. '}'
else
   wrk.body = '{"model":"' .. model .. '",' .. ask
      .. ',"stream":' .. (stream and "true" or "false") .. '}'
end
