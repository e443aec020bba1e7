//! The providers' HTTP client: hyper's pooled client over rustls (the platform's root
//! certificates, HTTP/2 where the upstream offers it by ALPN), through the proxy the
//! environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, read as curl reads
//! them), with `TCP_NODELAY` (without it, Nagle's algorithm meets delayed ACKs and every small
//! request waits ~40 ms) and the provider's connect timeout.
//!
//! Why not `reqwest`, which this was before: its client stack always runs a redirect follower
//! (which parses every request's URL back from a string) and a retry layer, and copies the
//! headers twice; on the gateway's hot path that was about 26,000 instructions a request, a
//! sixth of all it did (callgrind, `bench/instructions.sh`). routewise needs none of it: an
//! upstream API does not redirect a `POST`, and the gateway retries and falls back itself. What
//! reqwest added that routewise does need is here: TLS with the same verifier, pooling, HTTP/2,
//! and environment proxies (plain `http://` proxies; a tunnel through `CONNECT` for `https`).

use crate::ProviderError;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::uri::Scheme;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tower_service::Service;

/// An idle pooled connection is closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One provider's client: its own connection pool.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<ProxyConnector>, Full<Bytes>>,
    proxies: Arc<Matcher>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client that reaches upstreams through the proxies the environment names.
    pub(crate) fn new(provider: &str, connect_timeout: Duration) -> Result<Self, ProviderError> {
        Self::with_proxies(provider, connect_timeout, Matcher::from_env())
    }

    /// A client that reaches upstreams through `proxies` (tests pass their own; the
    /// environment is the process's, shared by every test).
    pub(crate) fn with_proxies(
        provider: &str,
        connect_timeout: Duration,
        proxies: Matcher,
    ) -> Result<Self, ProviderError> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        // The TLS layer hands `https` destinations to this connector for the TCP part.
        tcp.enforce_http(false);
        let proxies = Arc::new(proxies);
        let connector = ProxyConnector {
            tcp,
            proxies: Arc::clone(&proxies),
        };
        let tls = HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|err| ProviderError::Request {
                provider: provider.to_owned(),
                detail: format!("cannot set up TLS with the platform's certificates: {err}"),
            })?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(tls);
        Ok(Self { client, proxies })
    }

    /// Sends `request`; a request to a plain `http` upstream through a proxy carries the
    /// proxy's credentials (an `https` one gives them to the tunnel instead).
    pub(crate) fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> impl Future<Output = Result<Response<Incoming>, hyper_util::client::legacy::Error>>
    + Send
    + 'static {
        if request.uri().scheme() == Some(&Scheme::HTTP)
            && let Some(proxy) = self.proxies.intercept(request.uri())
            && let Some(auth) = proxy.basic_auth()
        {
            request
                .headers_mut()
                .insert(http::header::PROXY_AUTHORIZATION, auth.clone());
        }
        self.client.request(request)
    }
}

/// Parses and checks an upstream URL once, at construction.
pub(crate) fn parse_url(provider: &str, text: &str) -> Result<Uri, ProviderError> {
    let invalid = |why: String| ProviderError::Request {
        provider: provider.to_owned(),
        detail: format!("`{text}` is not a valid upstream URL: {why}"),
    };
    let uri = Uri::try_from(text).map_err(|err| invalid(err.to_string()))?;
    if uri.scheme() != Some(&Scheme::HTTP) && uri.scheme() != Some(&Scheme::HTTPS) {
        return Err(invalid("it must start with http:// or https://".to_owned()));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".to_owned()));
    }
    Ok(uri)
}

/// A header value from text routewise was configured with, marked sensitive when it is a secret
/// (hyper then keeps it out of its own logs and HTTP/2's header compression).
pub(crate) fn header_value(
    provider: &str,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<HeaderValue, ProviderError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| ProviderError::Request {
        provider: provider.to_owned(),
        detail: format!(
            "the `{name}` header's value holds characters an HTTP header cannot carry (a line \
             break or a control character?)"
        ),
    })?;
    header.set_sensitive(sensitive);
    Ok(header)
}

/// Opens TCP connections: to the upstream, or to the proxy that serves it (a `CONNECT` tunnel for
/// an `https` upstream, whose TLS then runs inside it).
#[derive(Clone)]
struct ProxyConnector {
    tcp: HttpConnector,
    proxies: Arc<Matcher>,
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ProxyStream, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let Some(proxy) = self.proxies.intercept(&destination) else {
            return Box::pin(async move {
                let io = tcp.call(destination).await?;
                Ok(ProxyStream::direct(io))
            });
        };
        let proxy_uri = proxy.uri().clone();
        if proxy_uri.scheme() != Some(&Scheme::HTTP) {
            return Box::pin(async move {
                Err(format!(
                    "the proxy `{proxy_uri}` is not an http:// proxy, the only kind routewise \
                     connects through (set NO_PROXY to reach this upstream directly)"
                )
                .into())
            });
        }
        if destination.scheme() == Some(&Scheme::HTTPS) {
            let mut tunnel = Tunnel::new(proxy_uri, tcp);
            if let Some(auth) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            return Box::pin(async move {
                std::future::poll_fn(|cx| tunnel.poll_ready(cx)).await?;
                let io = tunnel.call(destination).await?;
                Ok(ProxyStream::direct(io))
            });
        }
        Box::pin(async move {
            let io = tcp.call(proxy_uri).await?;
            Ok(ProxyStream {
                io,
                absolute_form: true,
            })
        })
    }
}

/// A connection, and whether requests on it go to a forwarding proxy (which wants the whole URL,
/// `POST http://host/path`, rather than only its path).
struct ProxyStream {
    io: TokioIo<TcpStream>,
    absolute_form: bool,
}

impl ProxyStream {
    fn direct(io: TokioIo<TcpStream>) -> Self {
        Self {
            io,
            absolute_form: false,
        }
    }
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.absolute_form)
    }
}

impl hyper::rt::Read for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A proxy that records the head of the first request it gets and answers it with `reply`.
    async fn recording_proxy(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap() == 1 {
                head.push(byte[0]);
            }
            socket.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8(head).unwrap().to_ascii_lowercase()
        });
        (url, task)
    }

    fn post(url: &str) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::from_static(b"{}")));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = Uri::try_from(url).unwrap();
        request
    }

    #[tokio::test]
    async fn a_plain_http_upstream_is_reached_through_the_proxy_with_the_whole_url() {
        let (proxy, seen) = recording_proxy("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let proxy = proxy.replace("http://", "http://alice:secret@");
        let client =
            HttpClient::with_proxies("p", TIMEOUT, Matcher::builder().http(proxy).build()).unwrap();
        let response = client
            .send(post("http://upstream.invalid/v1/chat/completions"))
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
        let head = seen.await.unwrap();
        assert!(
            head.starts_with("post http://upstream.invalid/v1/chat/completions http/1.1\r\n"),
            "{head}"
        );
        // base64("alice:secret")
        assert!(
            head.contains("proxy-authorization: basic ywxpy2u6c2vjcmv0\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn an_https_upstream_is_tunnelled_and_a_refused_tunnel_is_a_connect_error() {
        let (proxy, seen) = recording_proxy("HTTP/1.1 403 Forbidden\r\n\r\n").await;
        let proxy = proxy.replace("http://", "http://alice:secret@");
        let client =
            HttpClient::with_proxies("p", TIMEOUT, Matcher::builder().https(proxy).build())
                .unwrap();
        let err = client
            .send(post("https://upstream.invalid/v1/chat/completions"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let head = seen.await.unwrap();
        assert!(
            head.starts_with("connect upstream.invalid:443 http/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.contains("proxy-authorization: basic ywxpy2u6c2vjcmv0\r\n"),
            "{head}"
        );
        assert!(
            !head.contains("/v1/chat"),
            "the proxy sees only the host: {head}"
        );
    }

    #[tokio::test]
    async fn no_proxy_hosts_are_reached_directly() {
        let (upstream, seen) =
            recording_proxy("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let matcher = Matcher::builder()
            .http("http://127.0.0.1:9")
            .no("127.0.0.1")
            .build();
        let client = HttpClient::with_proxies("p", TIMEOUT, matcher).unwrap();
        let response = client
            .send(post(&format!("{upstream}/v1/chat/completions")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let head = seen.await.unwrap();
        assert!(
            head.starts_with("post /v1/chat/completions http/1.1\r\n"),
            "origin form when direct: {head}"
        );
    }

    #[tokio::test]
    async fn a_proxy_of_another_kind_is_refused_with_a_way_out() {
        let matcher = Matcher::builder().https("socks5://127.0.0.1:9").build();
        let client = HttpClient::with_proxies("p", TIMEOUT, matcher).unwrap();
        let err = client
            .send(post("https://upstream.invalid/v1/chat/completions"))
            .await
            .unwrap_err();
        assert!(err.is_connect());
        let chain = crate::transport::error_chain(&err);
        assert!(
            chain.contains("not an http:// proxy") && chain.contains("NO_PROXY"),
            "{chain}"
        );
    }

    #[test]
    fn upstream_urls_are_checked_once() {
        assert!(parse_url("p", "https://api.openai.com/v1/chat/completions").is_ok());
        for (url, why) in [
            ("ftp://host/v1", "http:// or https://"),
            ("api.openai.com/v1", "not a valid upstream URL"),
            ("mailto:someone@example.com", "not a valid upstream URL"),
            ("http://", "not a valid upstream URL"),
            ("http://exa mple.com/v1", "not a valid upstream URL"),
        ] {
            let err = parse_url("p", url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn header_values_with_line_breaks_are_refused_not_sent() {
        let err = header_value("p", "x-api-key", "sk-abc\r\nx-evil: 1", true).unwrap_err();
        assert!(err.to_string().contains("`x-api-key`"), "{err}");
        assert!(
            !err.to_string().contains("sk-abc"),
            "the secret stays out: {err}"
        );
        assert!(
            header_value("p", "x-api-key", "sk-abc", true)
                .unwrap()
                .is_sensitive()
        );
    }
}
