//! The providers' HTTP client: hyper's pooled client over rustls (the platform's root
//! certificates, HTTP/2 where the upstream offers it by ALPN), through the proxy the
//! environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, read as curl reads
//! them), with `TCP_NODELAY` (without it, Nagle's algorithm meets delayed ACKs and every small
//! request waits ~40 ms), TCP keep-alive, and the provider's connect timeout over the whole of
//! connecting (DNS, TCP, a proxy's tunnel, the TLS handshake).
//!
//! Why not `reqwest`, which this was before: its client stack always runs a redirect follower
//! (which parses every request's URL back from a string) and a retry layer, and copies the
//! headers twice; on the gateway's hot path that was about 26,000 instructions a request, a
//! sixth of all it did (callgrind, `bench/instructions.sh`). routewise needs neither: an
//! upstream API does not redirect a `POST` (a 3xx is reported with its `Location`, so that
//! `base_url` can be fixed), and the gateway retries and falls back itself (reqwest's one
//! retry of an HTTP/2 stream the server refused unprocessed is now one of the gateway's
//! retries). What reqwest added that routewise does need is here: TLS with the same verifier,
//! pooling, HTTP/2, keep-alive, credentials in the URL, and environment proxies (`http://`
//! proxies: forwarding for `http` upstreams, a `CONNECT` tunnel for `https` ones).

use crate::ProviderError;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_platform_verifier::BuilderVerifierExt;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tower_service::Service;

/// An idle pooled connection is closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keep-alive, as reqwest had it: a pooled connection that a NAT or load balancer dropped
/// silently fails within a minute instead of swallowing the next request until its deadline.
const KEEPALIVE: Duration = Duration::from_secs(15);
const KEEPALIVE_RETRIES: u32 = 3;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// TLS verified against the platform's root certificates, built once per process: loading and
/// parsing the system's certificates took about 18 million instructions, which every provider
/// and every model with its own pool paid again at start-up. A clone shares the verifier.
static PLATFORM_TLS: LazyLock<Result<rustls::ClientConfig, String>> = LazyLock::new(|| {
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|builder| builder.with_platform_verifier())
    .map(|builder| builder.with_no_client_auth())
    .map_err(|err| err.to_string())
});

/// One provider's client: its own connection pool.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<ConnectTimeout<HttpsConnector<ProxyConnector>>, Full<Bytes>>,
    proxies: Arc<Matcher>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for `endpoint` that goes through the proxies the environment names; a proxy of
    /// a kind routewise cannot use is refused here, at start-up, rather than on every request.
    pub(crate) fn new(
        provider: &str,
        endpoint: &Endpoint,
        connect_timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let proxies = Matcher::from_env();
        if let Some(proxy) = proxies.intercept(&endpoint.uri)
            && proxy.uri().scheme() != Some(&Scheme::HTTP)
        {
            return Err(ProviderError::Request {
                provider: provider.to_owned(),
                detail: unsupported_proxy(proxy.uri()),
            });
        }
        Self::with_proxies(provider, connect_timeout, proxies)
    }

    /// A client that reaches upstreams through `proxies` (tests pass their own; the
    /// environment is the process's, shared by every test).
    pub(crate) fn with_proxies(
        provider: &str,
        connect_timeout: Duration,
        proxies: Matcher,
    ) -> Result<Self, ProviderError> {
        let tls = PLATFORM_TLS
            .as_ref()
            .map_err(|why| ProviderError::Request {
                provider: provider.to_owned(),
                detail: format!("cannot set up TLS with the platform's certificates: {why}"),
            })?
            .clone();
        Ok(Self::with_tls(connect_timeout, proxies, tls))
    }

    /// A client that verifies upstreams' certificates as `tls` says (the platform's roots in
    /// service; a test's own root in the tests).
    fn with_tls(connect_timeout: Duration, proxies: Matcher, tls: rustls::ClientConfig) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(KEEPALIVE));
        tcp.set_keepalive_interval(Some(KEEPALIVE));
        tcp.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
        // The TLS layer hands `https` destinations to this connector for the TCP part.
        tcp.enforce_http(false);
        let proxies = Arc::new(proxies);
        let connector = ProxyConnector {
            tcp,
            proxies: Arc::clone(&proxies),
        };
        let tls = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let connector = ConnectTimeout {
            inner: tls,
            limit: connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { client, proxies }
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
                .insert(PROXY_AUTHORIZATION, auth.clone());
        }
        self.client.request(request)
    }
}

/// An upstream URL, checked once at construction: the URL without credentials, and the
/// credentials (`https://user:pass@host/v1`, as a server behind basic auth wants them) as the
/// `Authorization` header they stand for.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) uri: Uri,
    pub(crate) basic_auth: Option<HeaderValue>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credentials = if self.basic_auth.is_some() {
            "<credentials> "
        } else {
            ""
        };
        write!(f, "Endpoint({credentials}{})", self.uri)
    }
}

/// Parses and checks an upstream URL.
pub(crate) fn parse_url(provider: &str, text: &str) -> Result<Endpoint, ProviderError> {
    let invalid = |why: &str| ProviderError::Request {
        provider: provider.to_owned(),
        detail: format!(
            "`{}` is not a valid upstream URL: {why}",
            without_credentials(text)
        ),
    };
    let uri = Uri::try_from(text).map_err(|err| invalid(&err.to_string()))?;
    if uri.scheme() != Some(&Scheme::HTTP) && uri.scheme() != Some(&Scheme::HTTPS) {
        return Err(invalid("it must start with http:// or https://"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    let Some((credentials, host)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@'))
    else {
        return Ok(Endpoint {
            uri,
            basic_auth: None,
        });
    };
    let basic_auth = basic_auth(credentials)
        .ok_or_else(|| invalid("its user name or password is not valid percent-encoded text"))?;
    let host = Authority::try_from(host).map_err(|err| invalid(&err.to_string()))?;
    let mut parts = uri.into_parts();
    parts.authority = Some(host);
    let uri = Uri::from_parts(parts).map_err(|err| invalid(&err.to_string()))?;
    Ok(Endpoint {
        uri,
        basic_auth: Some(basic_auth),
    })
}

/// `Basic base64(user:password)` from a URL's percent-encoded `user:password`.
fn basic_auth(credentials: &str) -> Option<HeaderValue> {
    use base64::Engine;
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    };
    let pair = format!("{}:{}", decode(user)?, decode(password)?);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut header = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// `text` with any `user:password@` masked, for error messages.
fn without_credentials(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://<credentials>@{host}{}", &rest[authority_end..]),
        None => text.to_owned(),
    }
}

/// The `Authorization` header of a provider's requests: its API key as a bearer token, else the
/// credentials in its URL. Built once, so that a key no header can carry (a trailing newline
/// from a mounted secret, say) stops routewise at start-up with this message rather than
/// failing every request.
pub(crate) fn authorization(
    provider: &str,
    bearer: Option<&str>,
    endpoint: &Endpoint,
) -> Result<Option<HeaderValue>, ProviderError> {
    match bearer {
        Some(key) => Ok(Some(secret_header(
            provider,
            AUTHORIZATION.as_str(),
            &format!("Bearer {key}"),
        )?)),
        None => Ok(endpoint.basic_auth.clone()),
    }
}

/// A header carrying a secret, checked and marked sensitive (hyper then keeps it out of its own
/// logs and out of HTTP/2's header compression).
pub(crate) fn secret_header(
    provider: &str,
    name: &str,
    value: &str,
) -> Result<HeaderValue, ProviderError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| ProviderError::Request {
        provider: provider.to_owned(),
        detail: format!(
            "the API key for the `{name}` header holds characters an HTTP header cannot carry \
             (a trailing newline or a control character in the environment variable?)"
        ),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

fn unsupported_proxy(proxy: &Uri) -> String {
    format!(
        "the proxy `{proxy}` is not an http:// proxy, the only kind routewise connects through \
         (set NO_PROXY to reach this upstream directly)"
    )
}

/// Bounds the whole of opening a connection (DNS, TCP, a proxy's tunnel, TLS) by the
/// provider's connect timeout; the client reports running out as a connect error.
#[derive(Clone)]
struct ConnectTimeout<C> {
    inner: C,
    limit: Duration,
}

impl<C> Service<Uri> for ConnectTimeout<C>
where
    C: Service<Uri, Error = BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<C::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let limit = self.limit;
        let connecting = self.inner.call(destination);
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(format!(
                    "connecting took longer than the connect timeout of {} ms \
                     (connect_timeout_ms)",
                    limit.as_millis()
                )
                .into()),
            }
        })
    }
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
        let host = destination
            .authority()
            .map_or_else(String::new, |a| a.to_string());
        let Some(proxy) = self.proxies.intercept(&destination) else {
            return Box::pin(async move {
                let io = tcp
                    .call(destination)
                    .await
                    .map_err(|err| format!("cannot connect to {host}: {err}"))?;
                Ok(ProxyStream::direct(io))
            });
        };
        let proxy_uri = proxy.uri().clone();
        if proxy_uri.scheme() != Some(&Scheme::HTTP) {
            return Box::pin(async move { Err(unsupported_proxy(&proxy_uri).into()) });
        }
        let via = format!("{host} through the proxy {proxy_uri}");
        if destination.scheme() == Some(&Scheme::HTTPS) {
            let mut tunnel = Tunnel::new(proxy_uri, tcp);
            if let Some(auth) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            return Box::pin(async move {
                let tunnelled = async {
                    std::future::poll_fn(|cx| tunnel.poll_ready(cx)).await?;
                    tunnel.call(destination).await
                };
                let io = tunnelled
                    .await
                    .map_err(|err| format!("cannot connect to {via}: {err}"))?;
                Ok(ProxyStream::direct(io))
            });
        }
        Box::pin(async move {
            let io = tcp
                .call(proxy_uri)
                .await
                .map_err(|err| format!("cannot connect to {via}: {err}"))?;
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
    use crate::transport;
    use crate::{Deadlines, ProviderKind, ProviderSettings};
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A server that records the head of the first request it gets and answers it with
    /// `reply`: a proxy, or an upstream.
    async fn recording_server(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
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

    /// The head the server recorded, or a failure if no request reached it.
    async fn head_seen(task: tokio::task::JoinHandle<String>) -> String {
        tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("the request reached the server")
            .unwrap()
    }

    fn post(url: &str) -> Request<Full<Bytes>> {
        transport::json_post(&Uri::try_from(url).unwrap(), b"{}".to_vec(), &[], None)
    }

    #[tokio::test]
    async fn a_plain_http_upstream_is_reached_through_the_proxy_with_the_whole_url() {
        let (proxy, seen) =
            recording_server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let proxy = proxy.replace("http://", "http://alice:secret@");
        let client =
            HttpClient::with_proxies("p", TIMEOUT, Matcher::builder().http(proxy).build()).unwrap();
        let response = client
            .send(post("http://upstream.invalid/v1/chat/completions"))
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
        let head = head_seen(seen).await;
        assert!(
            head.starts_with("post http://upstream.invalid/v1/chat/completions http/1.1\r\n"),
            "{head}"
        );
        // base64("alice:secret")
        assert!(
            head.contains("proxy-authorization: basic ywxpy2u6c2vjcmv0\r\n"),
            "{head}"
        );
        assert!(head.contains("host: upstream.invalid\r\n"), "{head}");
        assert!(
            head.contains("content-type: application/json\r\n"),
            "{head}"
        );
        assert!(head.contains("accept: */*\r\n"), "{head}");
    }

    #[tokio::test]
    async fn an_https_upstream_is_tunnelled_and_a_refused_tunnel_is_a_connect_error() {
        let (proxy, seen) = recording_server("HTTP/1.1 403 Forbidden\r\n\r\n").await;
        let proxy = proxy.replace("http://", "http://alice:secret@");
        let client =
            HttpClient::with_proxies("p", TIMEOUT, Matcher::builder().https(proxy).build())
                .unwrap();
        let err = client
            .send(post("https://upstream.invalid/v1/chat/completions"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let chain = transport::error_chain(&err);
        assert!(
            chain
                .contains("cannot connect to upstream.invalid through the proxy http://127.0.0.1:"),
            "{chain}"
        );
        assert!(!chain.contains("secret"), "{chain}");
        let head = head_seen(seen).await;
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
            recording_server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
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
        let head = head_seen(seen).await;
        assert!(
            head.starts_with("post /v1/chat/completions http/1.1\r\n"),
            "origin form when direct: {head}"
        );
        assert!(!head.contains("proxy-authorization"), "{head}");
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
        let chain = transport::error_chain(&err);
        assert!(
            chain.contains("not an http:// proxy") && chain.contains("NO_PROXY"),
            "{chain}"
        );
    }

    #[tokio::test]
    async fn the_connect_timeout_covers_a_tls_handshake_that_never_ends() {
        // Accepts the TCP connection and never answers the TLS client hello.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
        let _silent = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(TIMEOUT).await;
            drop(socket);
        });
        let limit = Duration::from_millis(300);
        let client = HttpClient::with_proxies("p", limit, Matcher::builder().build()).unwrap();
        let err = tokio::time::timeout(TIMEOUT, client.send(post(&url)))
            .await
            .expect("the connect timeout ends the wait")
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let chain = transport::error_chain(&err);
        assert!(
            chain.contains("longer than the connect timeout of 300 ms"),
            "{chain}"
        );
    }

    #[tokio::test]
    async fn a_redirect_is_reported_with_where_it_points() {
        let (upstream, seen) = recording_server(
            "HTTP/1.1 308 Permanent Redirect\r\nlocation: https://api.example.com/v1/chat/completions\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let client = HttpClient::with_proxies("p", TIMEOUT, Matcher::builder().build()).unwrap();
        let deadlines = Deadlines {
            first_byte: TIMEOUT,
            total: TIMEOUT,
        };
        let request = post(&format!("{upstream}/v1/chat/completions"));
        let started = tokio::time::Instant::now();
        let err = transport::send("p", &client, request, deadlines, started)
            .await
            .unwrap_err();
        let _ = head_seen(seen).await;
        match err {
            ProviderError::Status {
                status, message, ..
            } => {
                assert_eq!(status, 308);
                assert!(
                    message.contains("`https://api.example.com/v1/chat/completions`")
                        && message.contains("base_url"),
                    "{message}"
                );
            }
            other => panic!("expected a status error, got {other:?}"),
        }
    }

    /// A TLS upstream on 127.0.0.1 with a certificate no platform trusts (`testdata/`, made by
    /// `openssl req -x509` for `localhost` and `127.0.0.1`), offering HTTP/2 and HTTP/1.1 by
    /// ALPN; it answers each request with the HTTP version it arrived in. Returns its URL and
    /// the certificate.
    async fn tls_upstream() -> (String, rustls::pki_types::CertificateDer<'static>) {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let cert = CertificateDer::from(include_bytes!("testdata/localhost.cert.der").to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            include_bytes!("testdata/localhost.key.der").to_vec(),
        ));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let answer =
                        hyper::service::service_fn(|request: Request<Incoming>| async move {
                            let version = format!("{:?}", request.version());
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from(version),
                            )))
                        });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), answer)
                        .await;
                });
            }
        });
        (url, cert)
    }

    #[tokio::test]
    async fn a_tls_upstream_is_verified_and_spoken_to_in_http2() {
        let (url, cert) = tls_upstream().await;
        let client = trusting(cert, Matcher::builder().build());
        for _ in 0..2 {
            let response = tokio::time::timeout(TIMEOUT, client.send(post(&url)))
                .await
                .expect("the upstream answers")
                .unwrap();
            assert_eq!(response.version(), http::Version::HTTP_2);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"HTTP/2.0", "the upstream saw HTTP/2");
        }
    }

    /// A client that trusts the test upstream's certificate, through `proxies`.
    fn trusting(cert: rustls::pki_types::CertificateDer<'static>, proxies: Matcher) -> HttpClient {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        HttpClient::with_tls(TIMEOUT, proxies, tls)
    }

    /// A proxy that opens `CONNECT` tunnels and relays bytes both ways; returns its URL and
    /// the targets it was asked for.
    async fn tunnelling_proxy() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (asked, targets) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let asked = asked.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n")
                        && client.read(&mut byte).await.ok() == Some(1)
                    {
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let Some(target) = head
                        .strip_prefix("CONNECT ")
                        .and_then(|rest| rest.split(' ').next())
                    else {
                        return;
                    };
                    let _ = asked.send(target.to_owned());
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    if client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .is_ok()
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        (url, targets)
    }

    #[tokio::test]
    async fn tls_runs_inside_a_proxy_tunnel_end_to_end() {
        let (url, cert) = tls_upstream().await;
        let (proxy, mut targets) = tunnelling_proxy().await;
        let client = trusting(cert, Matcher::builder().https(proxy).build());
        let response = tokio::time::timeout(TIMEOUT, client.send(post(&url)))
            .await
            .expect("the upstream answers through the tunnel")
            .unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"HTTP/2.0");
        // Sent before the tunnel opened, so before any answer could come back.
        let target = targets
            .try_recv()
            .expect("the proxy was asked for a tunnel");
        assert!(
            url.contains(&format!("//{target}/")),
            "the tunnel went to the upstream: {target} for {url}"
        );
    }

    #[tokio::test]
    async fn an_upstream_certificate_the_platform_does_not_trust_is_refused() {
        let (url, _) = tls_upstream().await;
        let client = HttpClient::with_proxies("p", TIMEOUT, Matcher::builder().build()).unwrap();
        let err = tokio::time::timeout(TIMEOUT, client.send(post(&url)))
            .await
            .expect("the handshake ends")
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let chain = transport::error_chain(&err);
        assert!(chain.contains("certificate"), "{chain}");
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
            ("https://bob:%ff@host/v1", "percent-encoded"),
        ] {
            let err = parse_url("p", url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
        let err = parse_url("p", "https://bob:hunter2@/v1")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("hunter2"),
            "credentials stay out of errors: {err}"
        );
    }

    #[test]
    fn credentials_in_the_url_become_basic_auth_and_leave_the_url() {
        let endpoint = parse_url("p", "https://al%40ice:s%3Acret@models.internal:8443/v1").unwrap();
        assert_eq!(endpoint.uri, "https://models.internal:8443/v1");
        let auth = endpoint.basic_auth.clone().unwrap();
        // base64("al@ice:s:cret")
        assert_eq!(auth, "Basic YWxAaWNlOnM6Y3JldA==");
        assert!(auth.is_sensitive());
        assert!(!format!("{endpoint:?}").contains("YWx"), "{endpoint:?}");
        assert_eq!(
            authorization("p", None, &endpoint).unwrap(),
            Some(auth),
            "without a key, the URL's credentials"
        );
        assert_eq!(
            authorization("p", Some("sk-1"), &endpoint).unwrap(),
            Some(HeaderValue::from_static("Bearer sk-1")),
            "a key wins, as it did"
        );
        let plain = parse_url("p", "http://127.0.0.1:8000/v1").unwrap();
        assert_eq!(authorization("p", None, &plain).unwrap(), None);
    }

    #[test]
    fn a_key_no_header_can_carry_stops_the_provider_at_start_up() {
        for kind in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
            let settings = ProviderSettings {
                name: "p".into(),
                kind,
                base_url: "https://api.example.com/v1".into(),
                api_key: Some(crate::ApiKey::new("sk-abc\n")),
                connect_timeout: TIMEOUT,
            };
            let err = crate::build(settings).unwrap_err().to_string();
            assert!(err.contains("trailing newline"), "{kind:?}: {err}");
            assert!(!err.contains("sk-abc"), "the secret stays out: {err}");
        }
    }
}
