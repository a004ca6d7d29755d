//! The HTTP stack under both clients: kube's own layers (base URL, credentials, extra headers)
//! and its TLS and time limits from the kubeconfig, over TCP connections with `TCP_NODELAY`.
//!
//! kube's `ClientBuilder::try_from` leaves Nagle's algorithm on (kube-rs/kube#2056). On a new
//! connection the TLS handshake ends with a small client message the API server acknowledges
//! late (Linux delays an ACK up to 40 ms when it has nothing to send), and Nagle holds the first
//! request until that ACK: every new connection's first request took 40 ms more. That was most
//! of a one-shot call, and it fell again on every call that opened a connection: the first of
//! each context, concurrent requests (the evidence LISTs), and any call after the connection
//! pool's idle timeout. kubectl, like every Go client, sets `TCP_NODELAY` on its connections.
//!
//! A `proxy-url` (or `HTTPS_PROXY`, as kubectl reads it, unless `NO_PROXY` covers the server)
//! puts hyper's proxy connector between TLS and that same TCP connector: HTTP CONNECT through
//! an `http://` or `https://` proxy (user info in the URL becomes Basic proxy authentication),
//! or SOCKS5 through a `socks5://` one, the server's name resolved by the proxy. The
//! credential on each request is the context's own ([`super::credentials`]), not kube's.

use std::sync::Arc;

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ClientBuilder, ConfigExt, DynBody};
use tower::util::BoxService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

use super::credentials::{AuthorizeLayer, Credentials};

/// The service a client is built on (kube's `GenericService`).
pub type Stack = BoxService<http::Request<Body>, http::Response<Box<DynBody>>, BoxError>;

/// Why no client could be built from a context's connection settings.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(
        "the cluster's proxy-url {url} has the scheme {scheme:?}; use http://, https:// or socks5://"
    )]
    ProxyScheme { url: String, scheme: String },
}

/// A client builder for `config`, its connections without Nagle's delay (through its proxy, if
/// any), every request carrying `credentials`.
pub fn client_builder(
    config: kube::Config,
    credentials: Arc<Credentials>,
) -> Result<ClientBuilder<Stack>, ConnectError> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let Some(proxy) = config.proxy_url.clone() else {
        return stack(config, credentials, tcp);
    };
    let (user, password) = proxy_user(&proxy);
    match proxy.scheme_str() {
        Some("socks5") => {
            let mut socks = SocksV5::new(proxy.clone(), tcp);
            if let Some(user) = user {
                socks = socks.with_auth(user, password.unwrap_or_default());
            }
            stack(config, credentials, socks)
        }
        Some("http") => {
            let tunnel = with_basic(Tunnel::new(proxy.clone(), tcp), user, password);
            stack(config, credentials, tunnel)
        }
        Some("https") => {
            let tls = config.rustls_https_connector_with_connector(tcp)?;
            let tunnel = with_basic(Tunnel::new(proxy.clone(), tls), user, password);
            stack(config, credentials, tunnel)
        }
        scheme => Err(ConnectError::ProxyScheme {
            url: hide_user(&proxy),
            scheme: scheme.unwrap_or_default().to_string(),
        }),
    }
}

/// The proxy URL's user and password, percent-decoded.
fn proxy_user(proxy: &http::Uri) -> (Option<String>, Option<String>) {
    let Some((user_info, _)) = proxy.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return (None, None);
    };
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    match user_info.split_once(':') {
        Some((user, password)) => (Some(decode(user)), Some(decode(password))),
        None => (Some(decode(user_info)), None),
    }
}

/// The proxy URL as errors show it: without its user info.
fn hide_user(proxy: &http::Uri) -> String {
    let host = proxy
        .authority()
        .map(|a| {
            a.as_str()
                .rsplit_once('@')
                .map_or(a.as_str(), |(_, host)| host)
        })
        .unwrap_or_default();
    format!("{}://{host}", proxy.scheme_str().unwrap_or_default())
}

/// Basic proxy authentication for an HTTP CONNECT tunnel, when the URL has a user.
fn with_basic<C>(tunnel: Tunnel<C>, user: Option<String>, password: Option<String>) -> Tunnel<C> {
    use base64::Engine;
    let Some(user) = user else {
        return tunnel;
    };
    let pair = format!("{user}:{}", password.unwrap_or_default());
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    match http::HeaderValue::try_from(format!("Basic {encoded}")) {
        Ok(value) => tunnel.with_auth(value),
        Err(_) => tunnel,
    }
}

/// kube's layers and TLS over `connector`, with the context's credential.
fn stack<C>(
    config: kube::Config,
    credentials: Arc<Credentials>,
    connector: C,
) -> Result<ClientBuilder<Stack>, ConnectError>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Send + Unpin + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    let mut connector =
        TimeoutConnector::new(config.rustls_https_connector_with_connector(connector)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let http: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    let stack = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .layer(AuthorizeLayer(credentials))
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http)
        .map_response(|response| {
            response.map(|body| {
                Box::new(http_body_util::BodyExt::map_err(body, BoxError::from)) as Box<DynBody>
            })
        })
        .boxed();
    Ok(ClientBuilder::new(stack, config.default_namespace))
}

// Linux only: the tests find the client's socket in /proc/self/fd and read it with libc.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Whether the connection a client built by `build` opens to a local server has
    /// `TCP_NODELAY`, read from the client's own socket after one request.
    async fn nodelay_of(build: fn(kube::Config) -> kube::Client) -> bool {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client = build(kube::Config::new(url.parse().unwrap()));
        let server = tokio::spawn(async move {
            let (mut stream, peer) = listener.accept().await.unwrap();
            let mut request = [0; 4096];
            let _ = stream.read(&mut request).await.unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            // The connection stays open (kept alive in the client's pool) while we look.
            (stream, peer.port())
        });
        let answer = client
            .request_text(http::Request::get("/version").body(Vec::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(answer, "ok");
        let (_open, client_port) = server.await.unwrap();
        let socket = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|&fd| local_port(fd) == Some(client_port))
            .expect("the client's socket");
        let mut value: libc::c_int = 0;
        let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `socket` is an open socket of this process; both pointers are to live locals
        // of the sizes given.
        let read = unsafe {
            libc::getsockopt(
                socket,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&mut value as *mut libc::c_int).cast(),
                &mut length,
            )
        };
        assert_eq!(read, 0);
        value != 0
    }

    /// The local port of socket `fd`, if it is an IPv4 socket.
    fn local_port(fd: i32) -> Option<u16> {
        // SAFETY: an all-zero sockaddr_in is a valid value; getsockname fills in at most
        // `length` bytes of it, and fails harmlessly on descriptors that are not sockets.
        let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let named = unsafe {
            libc::getsockname(
                fd,
                (&mut address as *mut libc::sockaddr_in).cast(),
                &mut length,
            )
        };
        (named == 0 && i32::from(address.sin_family) == libc::AF_INET)
            .then(|| u16::from_be(address.sin_port))
    }

    #[tokio::test]
    async fn connections_are_opened_with_tcp_nodelay() {
        assert!(
            nodelay_of(|config| {
                let none = Credentials::new("test", &Default::default(), Duration::from_secs(1));
                client_builder(config, Arc::new(none.unwrap()))
                    .unwrap()
                    .build()
            })
            .await
        );
    }

    /// Why this module exists: if kube's own stack sets it one day (kube-rs/kube#2056), this
    /// fails and `client_builder` can go back to `ClientBuilder::try_from`.
    #[tokio::test]
    async fn kubes_own_stack_leaves_nagle_on() {
        assert!(!nodelay_of(|config| kube::Client::try_from(config).unwrap()).await);
    }
}
