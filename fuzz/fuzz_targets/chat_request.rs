//! A chat completion request body from the network: parsed, converted to what routing reads,
//! translated for Anthropic, and serialised again (what the gateway forwards upstream).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(request) = routewise_openai::parse_chat_request(body) else {
        return;
    };
    let _ = request.to_chat_input();
    let _ = request.needs();
    let _ = routewise_providers::anthropic::translate::to_messages_request(&request);
    let _ = serde_json::to_vec(&request);
});
