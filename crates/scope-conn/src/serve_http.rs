//! [`serve_http`]: a hyper service as a connection's session.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto::{self, HttpServerConnExec};
use scope_core::BoxError;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::conn::{Conn, Run};
use crate::hyper_executor::HyperExecutor;
use crate::io::Io;

/// How long a client may take to send a request's headers: a slow peer
/// holds its own connection that long, no longer.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves HTTP on one connection with `service`: the session for a
/// [`Server`](crate::Server) (`|conn, io| serve_http(conn, io, service.clone())`)
/// or [`ConnBuilder::serve`](crate::ConnBuilder::serve). With the `hyper`
/// feature.
///
/// - HTTP/1.1 and HTTP/2 (h2c, prior knowledge) on one port: hyper-util's
///   auto builder on the connection's transport, with a 10 s bound on a
///   request's headers.
/// - A handler that starts follow-up work spawns it through the
///   connection's [`Conn`] (capture it in the service, or insert it into
///   each request's extensions: axum's `Extension<Conn>`), so the work is
///   the connection's.
/// - HTTP/2 streams are tasks of the connection ([`HyperExecutor`]).
///   HTTP/1.1 requests are served one at a time inside the session, not as
///   tasks: a report's task counts do not include them. A request still
///   running when a shutdown's grace ends is cut off with the session (the
///   client sees the connection close without an answer); the connection's
///   report is then not final.
/// - A request whose headers are still arriving when the close begins keeps
///   the connection open until they arrive, the header bound (10 s) passes,
///   or the shutdown's grace ends: a grace shorter than 10 s bounds it.
/// - When the connection begins to close (the client left, a server
///   shutdown, a failure), hyper's graceful shutdown answers the requests in
///   flight (HTTP/1.1 with `connection: close`, HTTP/2 after a GOAWAY) and
///   ends an idle keep-alive connection at once; the connection's close then
///   drains its tasks.
///
/// Equivalent to building hyper-util's `auto::Builder` with a
/// [`HyperExecutor`] and running its connection through [`Conn::run`] with
/// `graceful_shutdown` as the hook: write that out to choose other
/// settings. Resolves to hyper's result (a graceful shutdown before any
/// request counts as `Ok`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// use scope_conn::{Conn, Server, serve_http};
/// use std::convert::Infallible;
///
/// async fn handle(conn: Conn, _req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
///     // Work the request starts is the connection's: drained at shutdown.
///     let _ = conn.spawner().spawn(async { /* send the email */ });
///     Ok(Response::new(Full::new(Bytes::from("queued\n"))))
/// }
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let server = Server::builder()
///     .serve(listener, |conn: Conn, io| {
///         let c = conn.clone();
///         let service = hyper::service::service_fn(move |req| handle(c.clone(), req));
///         async move { let _ = serve_http(conn, io, service).await; }
///     })
///     .unwrap();
/// server.shutdown(std::time::Duration::from_secs(1)).await;
/// # }
/// ```
pub fn serve_http<E, T, S, B>(conn: Conn<E>, io: Io<T>, service: S) -> ServeHttp<E, T, S, B>
where
    E: Send + 'static,
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    HyperExecutor<E>: HttpServerConnExec<S::Future, B>,
{
    let mut http = auto::Builder::new(HyperExecutor::new(conn.spawner()));
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    http.http2().timer(TokioTimer::new());
    let served = http
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    let graceful: Graceful<E, T, S> = Served::graceful_shutdown;
    ServeHttp {
        run: conn.run(served, graceful),
        _body: PhantomData,
    }
}

type Served<E, T, S> = auto::Connection<'static, TokioIo<Io<T>>, S, HyperExecutor<E>>;

/// hyper's `graceful_shutdown`, as [`Conn::run`]'s hook.
type Graceful<E, T, S> = fn(Pin<&mut Served<E, T, S>>);

/// The future [`serve_http`] returns: hyper's connection, told to shut down
/// gracefully once the connection begins to close. A plain future rather
/// than an `async` block, so it is `Send` whenever the service is (see
/// [`Run`](crate::Run)).
#[must_use = "futures do nothing unless polled"]
pub struct ServeHttp<E, T, S, B>
where
    E: Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    /// hyper's connection under [`Conn::run`], its graceful shutdown the
    /// hook.
    run: Run<Served<E, T, S>, Graceful<E, T, S>, E>,
    /// `B` is the service's, named so the bounds can be.
    _body: PhantomData<fn() -> B>,
}

impl<E, T, S, B> std::fmt::Debug for ServeHttp<E, T, S, B>
where
    E: Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeHttp").finish_non_exhaustive()
    }
}

impl<E, T, S, B> Future for ServeHttp<E, T, S, B>
where
    E: Send + 'static,
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    HyperExecutor<E>: HttpServerConnExec<S::Future, B>,
{
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = Pin::new(&mut self.run).poll(cx);
        // A graceful shutdown before the client's first bytes (hyper-util
        // cancels its version detection: `Interrupted`) is the clean end it
        // is.
        Poll::Ready(match ready!(polled) {
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::Interrupted) =>
            {
                Ok(())
            }
            other => other,
        })
    }
}
