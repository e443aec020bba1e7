//! An Anthropic Messages response body, translated into an OpenAI chat completion and
//! serialised for the client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewise_openai::anthropic::MessagesResponse;

fuzz_target!(|body: &[u8]| {
    let Ok(response) = serde_json::from_slice::<MessagesResponse>(body) else {
        return;
    };
    let completion = routewise_providers::anthropic::translate::to_chat_completion(response, 0);
    let _ = serde_json::to_vec(&completion);
});
