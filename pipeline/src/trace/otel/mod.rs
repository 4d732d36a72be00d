//! Traces over OpenTelemetry (feature `otel`): a span per run, per node and item, and per
//! attempt, exported over OTLP (HTTP, protobuf) to a collector, Jaeger, Tempo or any OTLP
//! backend.
//!
//! - **One trace per run**, across processes. A run's [`RunTrace`](crate::trace::RunTrace) is
//!   stored in its header when it starts (or is submitted to the fleet): each worker puts the
//!   spans of the nodes it runs under the run's span, and the worker that ends the run makes the
//!   run span itself, from the start to the end, with the id its nodes named.
//! - **Under the caller's trace.** A run started inside a span that is in a trace (a request's,
//!   say) hangs under it; a W3C `traceparent` can be handed in instead
//!   ([`RunOptions::traceparent`](crate::RunOptions::traceparent); the CLI reads `TRACEPARENT`).
//! - **The user's spans are children** of the attempt that ran them: a node's body runs inside
//!   its `pipeline.attempt` span.
//! - **Names.** Spans are named `run <pipeline>`, `node <id>` (`node <id>[<item>]` for an item)
//!   and `attempt <n>`, and carry `pipeline.name`, `pipeline.run_id`, `pipeline.node`,
//!   `pipeline.item` and `attempt`; a failed attempt, node or run has the status `ERROR` with
//!   the error. The resource has `service.name` (and whatever `OTEL_RESOURCE_ATTRIBUTES` adds).
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. http://127.0.0.1:4318) says where, unless given here.
//! let otel = pipeline::otel::Otel::new("orders").install()?;
//! let subscriber = tracing_subscriber::registry().with(otel.layer());
//! tracing::subscriber::set_global_default(subscriber)?;
//! // ... run pipelines; dropping `otel` (or `otel.shutdown()`) sends what is left.
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "postgres")]
mod ended;
mod glue;
mod http;
mod ids;

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_http::HttpClient;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

#[cfg(feature = "postgres")]
pub(crate) use ended::run_ended;
pub(crate) use glue::*;
pub use ids::RunIds;

/// The id generator to give a tracer provider you build yourself (one [`Otel::install`] does not
/// build), so that a fleet run's span keeps the id its nodes' spans name as their parent.
pub fn id_generator() -> RunIds {
    RunIds::default()
}

/// What went wrong setting up or shutting down the export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtelError {
    /// The endpoint is not a URL the exporter can send to.
    #[error("OTLP endpoint `{url}`: {reason}")]
    Endpoint {
        /// The endpoint.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    /// Spans could not be sent at shutdown.
    #[error("cannot send the last spans: {0}")]
    Shutdown(String),
}

/// The OTLP export of this process's spans: [`Otel::new`], options, [`Otel::install`].
#[derive(Debug)]
pub struct Otel {
    service: String,
    endpoint: Option<String>,
    headers: HashMap<String, String>,
    attributes: Vec<KeyValue>,
    timeout: Duration,
    client: Option<Box<dyn HttpClient>>,
}

impl Otel {
    /// The export of a service named `service` (`OTEL_SERVICE_NAME`, when set, wins).
    pub fn new(service: impl Into<String>) -> Otel {
        Otel {
            service: service.into(),
            endpoint: None,
            headers: HashMap::new(),
            attributes: Vec::new(),
            timeout: Duration::from_secs(10),
            client: None,
        }
    }

    /// Sends to the OTLP/HTTP endpoint at `url`, e.g. `http://127.0.0.1:4318` (`/v1/traces` is
    /// added unless the path already ends with it). Without it: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// as it is, else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces`, else
    /// `http://localhost:4318/v1/traces`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Otel {
        self.endpoint = Some(url.into());
        self
    }

    /// Adds header `name: value` to every export request (a backend's API key, say).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Otel {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds resource attribute `key = value` to every span (`service.instance.id`, say).
    pub fn attribute(mut self, key: &'static str, value: impl Into<opentelemetry::Value>) -> Otel {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// How long one export may take (10 s unless set).
    pub fn timeout(mut self, timeout: Duration) -> Otel {
        self.timeout = timeout;
        self
    }

    /// Sends with `client` instead of the plain-HTTP client built in: for an `https` endpoint,
    /// give a TLS client (opentelemetry-http's `reqwest` one, say).
    pub fn http_client(mut self, client: impl HttpClient + 'static) -> Otel {
        self.client = Some(Box::new(client));
        self
    }

    /// Builds the exporter and a tracer provider with a batch span processor (its own thread),
    /// makes it the global provider, and returns the guard whose [`layer`](OtelGuard::layer)
    /// makes `tracing` spans OpenTelemetry spans. From then on, runs that start with no
    /// caller's trace start one of their own.
    pub fn install(self) -> Result<OtelGuard, OtelError> {
        let url = self.url();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .with_timeout(self.timeout)
            .with_headers(self.headers);
        let exporter = match self.client {
            Some(client) => exporter.with_http_client(ClientBox(client)),
            None => {
                if !url.starts_with("http://") {
                    return Err(OtelError::Endpoint {
                        url,
                        reason: "the client built in speaks plain http; for https, give a TLS \
                                 client (Otel::http_client)"
                            .into(),
                    });
                }
                exporter.with_http_client(http::Plain {
                    timeout: self.timeout,
                })
            }
        };
        let exporter = exporter
            .build()
            .map_err(|e| OtelError::Exporter(e.to_string()))?;
        let mut resource = Resource::builder().with_attributes(self.attributes);
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(self.service);
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_id_generator(RunIds::default())
            .with_resource(resource.build())
            .build();
        global::set_tracer_provider(provider.clone());
        ids::set_installed(true);
        Ok(OtelGuard {
            provider: Some(provider),
        })
    }

    fn url(&self) -> String {
        const PATH: &str = "/v1/traces";
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let base = match (&self.endpoint, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => return url,
            (None, None) => env("OTEL_EXPORTER_OTLP_ENDPOINT")
                .unwrap_or_else(|| "http://localhost:4318".to_owned()),
        };
        let base = base.trim_end_matches('/');
        match base.ends_with(PATH) {
            true => base.to_owned(),
            false => format!("{base}{PATH}"),
        }
    }
}

/// A boxed client, as the exporter takes a sized one.
#[derive(Debug)]
struct ClientBox(Box<dyn HttpClient>);

#[async_trait::async_trait]
impl HttpClient for ClientBox {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        self.0.send_bytes(request).await
    }
}

/// The installed export: its [`layer`](OtelGuard::layer) for a `tracing` subscriber. Dropping it
/// (or [`shutdown`](OtelGuard::shutdown)) sends the spans not yet sent, waiting for the export.
#[derive(Debug)]
pub struct OtelGuard {
    provider: Option<SdkTracerProvider>,
}

impl OtelGuard {
    /// The `tracing` layer that makes spans (the engine's and the user's) OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let tracer = match &self.provider {
            Some(provider) => provider.tracer("pipeline"),
            None => SdkTracerProvider::builder().build().tracer("pipeline"),
        };
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_location(false)
    }

    /// Sends the spans not yet sent and stops the export.
    pub fn shutdown(mut self) -> Result<(), OtelError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), OtelError> {
        let Some(provider) = self.provider.take() else {
            return Ok(());
        };
        ids::set_installed(false);
        provider
            .shutdown()
            .map_err(|e| OtelError::Shutdown(e.to_string()))
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "traces not sent");
        }
    }
}
