-- wrk script: the same small chat completion request for the direct and the routed run.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"auto","messages":[{"role":"user","content":"Translate \'good morning\' into French."}]}'
