//! The HTTP/1.1 server loop. Each connection is served by hyper on its own task, raced against a
//! per-connection kill switch so an injected fault can drop the connection without a response,
//! which is what a client sees when an API server or load balancer dies mid-request.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::api;
use crate::sim::Shared;

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let switch = kill.clone();
            let service = service_fn(move |request| {
                let shared = shared.clone();
                let kill = switch.clone();
                async move { Ok::<_, Infallible>(api::handle(shared, request, kill).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(%err, "connection ended with an error");
                    }
                }
                _ = kill.notified() => tracing::debug!("connection dropped by an injected fault"),
            }
        });
    }
}
