//! Distributed traces: a span per chat request (`chat`), a child for the decision (`route`)
//! and one per upstream attempt (`upstream`, with model, attempt, retry, fallback and status),
//! continuing the caller's W3C `traceparent` and passing one on to the upstream.
//!
//! The spans are `tracing` spans at target [`TARGET`]; `routewise-telemetry` exports them over
//! OTLP when `[telemetry]` is on. Off, no layer wants that target, so the spans are never
//! built: a disabled span costs one cached check. The caller's `traceparent` still reaches the
//! upstream then (unchanged), and its trace id still goes into the request's log line, so logs
//! and upstream traces line up with the caller's trace either way.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of routewise's trace spans (log layers leave it out).
pub const TARGET: &str = "routewise::trace";

/// The W3C header that carries a trace.
pub const TRACEPARENT: &str = "traceparent";

/// The caller's trace, as its headers gave it.
#[derive(Debug, Clone, Default)]
pub struct CallerTrace {
    /// Its `traceparent`, when well-formed.
    pub traceparent: Option<String>,
}

impl CallerTrace {
    pub fn of(headers: &HeaderMap) -> Self {
        let traceparent = headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| parse_traceparent(v).is_some())
            .map(str::to_owned);
        Self { traceparent }
    }
}

/// The trace id and parent span id of a W3C `traceparent` (`00-TRACE-SPAN-FLAGS`), lower-case
/// hex, not all zeros; `None` when it is not one.
pub fn parse_traceparent(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && nonzero(trace)
        && hex(span, 16)
        && nonzero(span)
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    valid.then_some((trace, span))
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct Traceparent(Option<String>);

impl Injector for Traceparent {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

/// The span of one chat request, a child of the caller's trace when it sent one.
pub fn request_span(headers: &HeaderMap, request_id: &str) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "chat",
        otel.kind = "server",
        http.request.method = "POST",
        url.path = "/v1/chat/completions",
        routewise.request_id = request_id,
        routewise.route = tracing::field::Empty,
        routewise.model = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(headers))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// The span of the decision, inside the request's.
pub fn decision_span() -> Span {
    tracing::info_span!(
        target: TARGET,
        "route",
        routewise.policy = tracing::field::Empty,
        routewise.reason = tracing::field::Empty,
        routewise.model = tracing::field::Empty,
        routewise.propensity = tracing::field::Empty,
    )
}

/// The span of one upstream call: `attempt` on this model (a retry from 2 on), after a
/// fallback from an earlier model when `fallback`.
pub fn attempt_span(model: &str, upstream_model: &str, attempt: u32, fallback: bool) -> Span {
    tracing::info_span!(
        target: TARGET,
        "upstream",
        otel.kind = "client",
        routewise.model = model,
        gen_ai.request.model = upstream_model,
        routewise.attempt = attempt,
        routewise.retry = attempt > 1,
        routewise.fallback = fallback,
        routewise.outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    )
}

/// The `traceparent` to send upstream from within `span`: the span's own context when traces
/// are on, else the caller's header as it came.
pub fn traceparent_for(span: &Span, caller: &CallerTrace) -> Option<String> {
    if !span.is_disabled() {
        let context = span.context();
        if context.span().span_context().is_valid() {
            let mut header = Traceparent(None);
            opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.inject_context(&context, &mut header);
            });
            if header.0.is_some() {
                return header.0;
            }
        }
    }
    caller.traceparent.clone()
}

/// The trace id for the log line: the request span's, else the caller's.
pub fn trace_id(span: &Span, caller: &CallerTrace) -> Option<String> {
    if !span.is_disabled() {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        if span_context.is_valid() {
            return Some(span_context.trace_id().to_string());
        }
    }
    caller
        .traceparent
        .as_deref()
        .and_then(parse_traceparent)
        .map(|(trace, _)| trace.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn well_formed_traceparents_parse_and_others_do_not() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(good),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn without_telemetry_the_callers_trace_passes_through() {
        let mut headers = HeaderMap::new();
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert(TRACEPARENT, value.parse().unwrap());
        let caller = CallerTrace::of(&headers);
        let span = request_span(&headers, "r1");
        assert_eq!(traceparent_for(&span, &caller).as_deref(), Some(value));
        assert_eq!(
            trace_id(&span, &caller).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        headers.insert(TRACEPARENT, "garbage".parse().unwrap());
        let caller = CallerTrace::of(&headers);
        assert_eq!(traceparent_for(&span, &caller), None);
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepts_only_what_it_can_rebuild(value in ".{0,80}") {
            if let Some((trace, span)) = parse_traceparent(&value) {
                prop_assert_eq!(trace.len(), 32);
                prop_assert_eq!(span.len(), 16);
                prop_assert!(value.contains(trace) && value.contains(span));
            }
        }
    }
}
