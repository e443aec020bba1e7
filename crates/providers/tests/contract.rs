//! The provider contract: every provider, whatever its upstream speaks, must pass these checks
//! against the testkit mock. Add a provider by adding it to `PROVIDERS`.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns: a panic there is a failed assertion"
)]

use futures::StreamExt;
use routewise_openai::{ChatCompletionRequest, ChatMessage, Extra, Role};
use routewise_providers::{
    ApiKey, CallOptions, Deadlines, Provider, ProviderError, ProviderKind, ProviderReply,
    ProviderSettings, TimeoutPhase,
};
use routewise_testkit::{MockUpstream, Reply};
use std::sync::Arc;
use std::time::Duration;

const PROVIDERS: [ProviderKind; 2] = [ProviderKind::OpenAi, ProviderKind::Anthropic];
const MODEL: &str = "upstream-model";

fn provider(kind: ProviderKind, mock: &MockUpstream) -> Arc<dyn Provider> {
    routewise_providers::build(ProviderSettings {
        name: format!("{kind:?}"),
        kind,
        base_url: mock.base_url(),
        api_key: Some(ApiKey::new("sk-contract")),
        connect_timeout: Duration::from_secs(1),
    })
    .unwrap()
}

fn request(stream: bool) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model: MODEL.to_owned(),
        messages: vec![
            ChatMessage::text(Role::System, "answer briefly"),
            ChatMessage::text(Role::User, "say hello to the world"),
        ],
        stream: Some(stream),
        stream_options: None,
        max_tokens: Some(32),
        max_completion_tokens: None,
        extra: Extra::new(),
    }
}

const DEADLINES: Deadlines = Deadlines {
    first_byte: Duration::from_secs(5),
    total: Duration::from_secs(30),
};

async fn error_of(provider: &dyn Provider, stream: bool) -> ProviderError {
    match provider.chat(request(stream), DEADLINES.into()).await {
        Err(err) => err,
        Ok(ProviderReply::Complete(c)) => panic!("expected an error, got {c:?}"),
        Ok(ProviderReply::Stream(mut chunks)) => loop {
            match chunks.next().await {
                Some(Err(err)) => break err,
                Some(Ok(_)) => continue,
                None => panic!("expected the stream to fail"),
            }
        },
    }
}

#[tokio::test]
async fn a_traceparent_is_sent_upstream_and_none_is_made_up() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        let traced = CallOptions {
            deadlines: DEADLINES,
            traceparent: Some(traceparent.to_owned()),
        };
        provider(kind, &mock)
            .chat(request(false), traced)
            .await
            .unwrap();
        provider(kind, &mock)
            .chat(request(false), DEADLINES.into())
            .await
            .unwrap();
        let calls = mock.calls();
        assert_eq!(
            calls[0].header("traceparent"),
            Some(traceparent),
            "{kind:?}"
        );
        assert_eq!(calls[1].header("traceparent"), None, "{kind:?}");
    }
}

#[tokio::test]
async fn complete_returns_text_and_usage() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(MODEL, [Reply::text("hello world").with_usage(12, 2)]);
        let reply = provider(kind, &mock)
            .chat(request(false), DEADLINES.into())
            .await
            .unwrap();
        let ProviderReply::Complete(completion) = reply else {
            panic!("{kind:?}: expected a complete reply")
        };
        let message = &completion.choices[0].message;
        assert_eq!(
            message.content.as_ref().unwrap().joined_text(),
            "hello world",
            "{kind:?}"
        );
        assert_eq!(
            completion.choices[0].finish_reason.as_deref(),
            Some("stop"),
            "{kind:?}"
        );
        let usage = completion.usage.unwrap();
        assert_eq!(
            (usage.prompt_tokens, usage.completion_tokens),
            (12, 2),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn stream_yields_text_then_usage() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(MODEL, [Reply::text("one two three").with_usage(5, 3)]);
        let reply = provider(kind, &mock)
            .chat(request(true), DEADLINES.into())
            .await
            .unwrap();
        let ProviderReply::Stream(chunks) = reply else {
            panic!("{kind:?}: expected a stream")
        };
        let chunks: Vec<_> = chunks.collect().await;
        let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
        let text: String = chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .filter_map(|c| c.delta.content.clone())
            .collect();
        assert_eq!(text, "one two three", "{kind:?}");
        let usage = chunks.last().and_then(|c| c.usage.clone()).unwrap();
        assert_eq!(
            (usage.prompt_tokens, usage.completion_tokens),
            (5, 3),
            "{kind:?}"
        );
        assert!(
            chunks
                .iter()
                .any(|c| c.choices.iter().any(|ch| ch.finish_reason.is_some())),
            "{kind:?}: a finish_reason is reported"
        );
    }
}

#[tokio::test]
async fn sends_the_api_key_in_the_upstreams_header() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        provider(kind, &mock)
            .chat(request(false), DEADLINES.into())
            .await
            .unwrap();
        let call = &mock.calls()[0];
        let sent = match kind {
            ProviderKind::OpenAi => call.header("authorization"),
            ProviderKind::Anthropic => call.header("x-api-key"),
        };
        let expected = match kind {
            ProviderKind::OpenAi => "Bearer sk-contract",
            ProviderKind::Anthropic => "sk-contract",
        };
        assert_eq!(sent, Some(expected), "{kind:?}");
        assert_eq!(call.model, MODEL);
    }
}

#[tokio::test]
async fn rate_limit_is_retryable_with_retry_after() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(MODEL, [Reply::status(429).with_retry_after(7)]);
        let err = error_of(provider(kind, &mock).as_ref(), false).await;
        assert!(err.is_retryable(), "{kind:?}: {err}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{kind:?}");
        assert_eq!(err.kind(), "status_429");
    }
}

#[tokio::test]
async fn server_errors_are_retryable_and_bad_requests_are_not() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(MODEL, [Reply::status(503), Reply::status(400)]);
        let provider = provider(kind, &mock);
        let err = error_of(provider.as_ref(), false).await;
        assert!(err.is_retryable(), "{kind:?}: {err}");
        assert!(
            err.to_string().contains("mock upstream failure 503"),
            "{kind:?}: {err}"
        );
        let err = error_of(provider.as_ref(), false).await;
        assert!(
            !err.is_retryable() && err.is_client_error(),
            "{kind:?}: {err}"
        );
    }
}

#[tokio::test]
async fn garbage_is_an_invalid_response() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(MODEL, [Reply::garbage("<html>oops</html>")]);
        let err = error_of(provider(kind, &mock).as_ref(), false).await;
        assert_eq!(err.kind(), "invalid_response", "{kind:?}: {err}");
    }
}

#[tokio::test]
async fn dropped_connections_are_reported_for_bodies_and_streams() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(
            MODEL,
            [Reply::drop_connection(0), Reply::drop_connection(2)],
        );
        let provider = provider(kind, &mock);
        let err = error_of(provider.as_ref(), false).await;
        assert_eq!(err.kind(), "dropped", "{kind:?}: {err}");
        let err = error_of(provider.as_ref(), true).await;
        assert_eq!(err.kind(), "dropped", "{kind:?}: {err}");
    }
}

#[tokio::test]
async fn unreachable_upstream_is_a_connect_error() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        let provider = provider(kind, &mock);
        drop(mock);
        tokio::task::yield_now().await;
        let err = error_of(provider.as_ref(), false).await;
        assert!(err.is_retryable(), "{kind:?}: {err}");
        assert!(
            matches!(err.kind(), "connect" | "dropped"),
            "{kind:?}: {err}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn slow_headers_hit_the_first_byte_timeout() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(MODEL, [Reply::text("late").after(Duration::from_secs(60))]);
        let err = error_of(provider(kind, &mock).as_ref(), false).await;
        assert!(
            matches!(
                err,
                ProviderError::Timeout {
                    phase: TimeoutPhase::FirstByte,
                    ..
                }
            ),
            "{kind:?}: {err}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn slow_streams_hit_the_total_timeout() {
    for kind in PROVIDERS {
        let mock = MockUpstream::start().await.unwrap();
        mock.script(
            MODEL,
            [Reply::text("a b c d e f").chunk_every(Duration::from_secs(10))],
        );
        let err = error_of(provider(kind, &mock).as_ref(), true).await;
        assert!(
            matches!(
                err,
                ProviderError::Timeout {
                    phase: TimeoutPhase::Total,
                    ..
                }
            ),
            "{kind:?}: {err}"
        );
    }
}
