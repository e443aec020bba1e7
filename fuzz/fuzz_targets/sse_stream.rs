//! An upstream's event stream: the first byte picks the API (OpenAI-compatible or Anthropic),
//! the rest is the body, decoded as a live stream is (SSE parsing, chunk parsing, Anthropic's
//! event translation, the unfinished-stream check), then re-serialised as the relay does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewise_providers::{ProviderKind, decode_stream};
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = if selector % 2 == 0 {
        ProviderKind::OpenAi
    } else {
        ProviderKind::Anthropic
    };
    let body = bytes::Bytes::copy_from_slice(body);
    for chunk in runtime().block_on(decode_stream(kind, body)).into_iter().flatten() {
        let _ = serde_json::to_string(&chunk);
    }
});
