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
//! A kubeconfig with a `proxy-url` keeps kube's own stack, which holds its proxy connectors,
//! and with it that delay.

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ClientBuilder, ConfigExt, DynBody};
use tower::util::BoxService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// The service a client is built on (kube's `GenericService`).
pub type Stack = BoxService<http::Request<Body>, http::Response<Box<DynBody>>, BoxError>;

/// A client builder for `config`, its connections without Nagle's delay.
pub fn client_builder(config: kube::Config) -> Result<ClientBuilder<Stack>, kube::Error> {
    if config.proxy_url.is_some() {
        return ClientBuilder::try_from(config);
    }
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let mut connector = TimeoutConnector::new(config.rustls_https_connector_with_connector(tcp)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let http: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    let stack = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
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

#[cfg(test)]
mod tests {
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
        assert!(nodelay_of(|config| client_builder(config).unwrap().build()).await);
    }

    /// Why this module exists: if kube's own stack sets it one day (kube-rs/kube#2056), this
    /// fails and `client_builder` can go back to `ClientBuilder::try_from`.
    #[tokio::test]
    async fn kubes_own_stack_leaves_nagle_on() {
        assert!(!nodelay_of(|config| kube::Client::try_from(config).unwrap()).await);
    }
}
