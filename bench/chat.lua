-- wrk script: the same small chat completion request for the direct and the routed run.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- Routes with client keys (bench/load.sh's keyed and redis variants) need one; others ignore it.
wrk.headers["Authorization"] = "Bearer bench-key"
wrk.body = '{"model":"auto","messages":[{"role":"user","content":"Translate \'good morning\' into French."}]}'
