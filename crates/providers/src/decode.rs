//! Decoding a whole streamed response body the way a live stream is decoded: for replaying
//! captured streams, for tests, and for the fuzzers (`fuzz/`), so that they exercise the code
//! that serves traffic rather than a copy of it.

use crate::{ProviderError, ProviderKind, Redactor, anthropic, openai};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use routewise_openai::ChatCompletionChunk;
use sse_stream::SseStream;

/// The chunks (and the error that ends them, if any) an upstream of `kind` produces when it
/// sends `body` as its event stream.
pub async fn decode_stream(
    kind: ProviderKind,
    body: Bytes,
) -> Vec<Result<ChatCompletionChunk, ProviderError>> {
    let provider = "decode";
    let bytes = stream::once(async move { Ok::<_, std::io::Error>(body) });
    let events = SseStream::from_bytes_stream(bytes)
        .map(|event| {
            event.map_err(|err| ProviderError::Dropped {
                provider: provider.to_owned(),
                detail: format!("the event stream broke off: {err}"),
            })
        })
        .boxed();
    let redactor = Redactor::default();
    let chunks = match kind {
        ProviderKind::OpenAi => openai::chunks(provider, events, &redactor),
        ProviderKind::Anthropic => anthropic::chunks(provider, events, &redactor, 0),
    };
    chunks.collect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_finished_openai_stream_decodes_and_an_unfinished_one_ends_in_an_error() {
        let chunk = |finish: &str| {
            format!(
                "data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"hi\"}},\"finish_reason\":{finish}}}]}}\n\n"
            )
        };
        let finished = format!("{}{}data: [DONE]\n\n", chunk("null"), chunk("\"stop\""));
        let chunks = decode_stream(ProviderKind::OpenAi, Bytes::from(finished)).await;
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(Result::is_ok));

        let cut = decode_stream(ProviderKind::OpenAi, Bytes::from(chunk("null"))).await;
        assert!(matches!(
            cut.last(),
            Some(Err(ProviderError::Dropped { .. }))
        ));
    }
}
