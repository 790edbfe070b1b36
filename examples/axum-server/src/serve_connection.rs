//! [`serve_connection`]: an axum `Router` as a connection's session.

use axum::Router;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use scope_conn::{Conn, Io, serve_http};
use tokio::io::{AsyncRead, AsyncWrite};
use tower_service::Service;

/// Serves `router` on one connection until the client leaves or the
/// connection closes: the handler a [`scope_conn::Server`] calls for every
/// connection it accepts (`|conn, io| serve_connection(conn, io, router.clone())`).
///
/// - HTTP/1.1 and HTTP/2 (h2c, prior knowledge) on one port
///   ([`scope_conn::serve_http`]: hyper-util's auto builder on the
///   connection's transport).
/// - Every request carries the connection's [`Conn`] in its extensions: a
///   handler takes `Extension<Conn>` and spawns its background work through
///   `conn.spawner()`.
/// - HTTP/2 streams are tasks of the connection
///   ([`HyperExecutor`](scope_conn::HyperExecutor)).
/// - When the connection begins to close (the client left, or a server
///   shutdown), hyper's graceful shutdown answers the requests in flight
///   (HTTP/1.1 with `connection: close`, HTTP/2 after a GOAWAY) and ends an
///   idle keep-alive connection at once; the connection's close then waits
///   for its tasks.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::{Extension, Router, routing::get};
/// use scope_conn::{Conn, Server};
/// use scope_example_axum::serve_connection;
///
/// let router = Router::new().route(
///     "/",
///     get(|Extension(conn): Extension<Conn>| async move { format!("connection {}", conn.id()) }),
/// );
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let server: Server = Server::builder()
///     .serve(listener, move |conn, io| serve_connection(conn, io, router.clone()))
///     .unwrap();
/// server.shutdown(std::time::Duration::from_secs(1)).await;
/// # }
/// ```
pub async fn serve_connection<S>(conn: Conn, io: Io<S>, router: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let conn = conn.clone();
        service_fn(move |mut req: Request<Incoming>| {
            // Per request, not `router.layer(Extension(conn))` per
            // connection: a layer rebuilds every route.
            req.extensions_mut().insert(conn.clone());
            // A `Router` is always ready (its `poll_ready` is a constant),
            // and a clone is a reference count.
            router.clone().call(req)
        })
    };
    // A protocol error, or a peer that left mid-request: the connection ends
    // either way, and its close drains the jobs.
    let _ = serve_http(conn, io, service).await;
}
