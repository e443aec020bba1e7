//! routewise-telemetry: exports the gateway's trace spans (`routewise_gateway::trace`) to an
//! OpenTelemetry collector over OTLP/HTTP (protobuf), when `[telemetry] otlp_endpoint` is set.
//!
//! [`layer`] returns a `tracing` layer that turns the spans at the gateway's trace target into
//! OpenTelemetry spans, batched and sent from the SDK's own thread (the blocking HTTP client:
//! the SDK's async client needs a reactor in its export thread and exports nothing), and
//! installs the W3C trace-context propagator so callers' `traceparent` is continued. The
//! [`Tracing`] it returns flushes what is batched when dropped (at shutdown).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use routewise_config::telemetry::TelemetryConfig;
use std::time::Duration;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to {url} ([telemetry] otlp_endpoint): {source}")]
pub struct TelemetryError {
    url: String,
    #[source]
    source: opentelemetry_otlp::ExporterBuildError,
}

/// The tracer provider behind the layer; dropping it flushes and stops the exporter.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Sends every finished span now (tests; shutdown does it by itself).
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// The layer that exports routewise's trace spans as `config` says, and its provider.
pub fn layer<S>(
    config: &TelemetryConfig,
) -> Result<(impl Layer<S> + Send + Sync + 'static, Tracing), TelemetryError>
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.traces_url.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|source| TelemetryError {
            url: config.traces_url.clone(),
            source,
        })?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer("routewise");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter_fn(|meta| {
            meta.target() == routewise_gateway::trace::TARGET
        }));
    Ok((layer, Tracing { provider }))
}
