-- wrk body script: every request is the benchmark's chat completion.
-- BENCH_STREAM=1 asks for a stream; BENCH_MODEL names the model;
-- BENCH_API_KEY, when set, is sent as a bearer token.
local stream = os.getenv("BENCH_STREAM") == "1"
local model = os.getenv("BENCH_MODEL") or "bench/bench-model"
local key = os.getenv("BENCH_API_KEY")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if key and key ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. key
end
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user",'
   .. '"content":"Say twenty words."}],"stream":' .. (stream and "true" or "false") .. '}'
