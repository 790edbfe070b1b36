//! [`Conn`]: a handle on one connection and the nursery that owns its tasks.

pub(crate) mod driver;
pub(crate) mod shared;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use scope_core::{BoxError, Spawner};

use self::shared::{ConnShared, DRAINED};
use crate::addr::Addr;
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::report::ConnReport;

/// A handle on one connection: the nursery that owns the tasks started on
/// the connection's behalf, and its close. Cheap to clone; give a clone to
/// every task that may spawn follow-up work, wait for the close, or close
/// the connection.
///
/// A connection is served by a handler that gets the `Conn` and the
/// transport ([`Io`](crate::Io)) and returns the *session*: the protocol's
/// future, which owns the transport. A [`Server`](crate::Server) serves
/// every connection it accepts that way; [`ConnBuilder::serve`](crate::ConnBuilder::serve)
/// serves one. The connection ends when the session returns or a close is
/// asked for, and its close runs in phases, each bounded (the AsyncSSH
/// behaviour made explicit):
///
/// 1. **Stop new work**: spawns from outside the connection are refused and
///    [`closing`](Self::closing) fires, so the protocol takes no new requests
///    (hyper's `graceful_shutdown`, refusing new SSH channels; see
///    [`run`](Self::run)). The transport keeps reading and writing, and the
///    requests already in flight may still start their follow-up work.
/// 2. **Drain**, by the [`CloseMode`]: the tasks finish and what they write
///    reaches the peer. A write that makes no progress for the send timeout
///    fails, so a peer that stops reading cannot hold this phase.
/// 3. **Goodbye**: [`drained`](Self::drained) fires and the session gets the
///    goodbye timeout to finish its own ending (last response, exit status,
///    disconnect).
/// 4. **Flush and shut down** the queued [`Writer`](crate::Writer), if the
///    session made one.
/// 5. **Report** ([`ConnReport`]), the same for every caller.
///
/// # Guarantees
///
/// - The first close request decides the mode and the reason; closing again,
///   or concurrently, joins the same close and gets the same report.
/// - A close asked for from inside the connection (one of its tasks, or the
///   session), which the close would wait for, begins the close and resolves
///   at once with a report that is not final; the connection's final report
///   is the served future's output, and what [`closed`](Self::closed)
///   returns outside.
/// - Under `FailFast` (the default policy) a failing task closes the
///   connection with [`CloseReason::Failed`], the failure in the report.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::ConnBuilder;
/// use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
///
/// let (io, mut peer) = tokio::io::duplex(1024);
/// let served = ConnBuilder::new().serve(io, |conn, io| async move {
///     let (reader, writer) = io.split();
///     let mut lines = BufReader::new(reader).lines();
///     while let Ok(Some(line)) = lines.next_line().await {
///         let writer = writer.clone();
///         // Each request's work is a task of the connection.
///         conn.spawner().spawn(async move {
///             writer.send(format!("done: {line}\n")).await.unwrap();
///         }).unwrap();
///     }
///     // The peer finished sending: the session returns, and the close
///     // drains the work, flushes the answers and shuts the transport.
/// }).unwrap();
/// let served = tokio::spawn(served);
/// peer.write_all(b"a\nb\n").await.unwrap();
/// peer.shutdown().await.unwrap();
/// let mut answers = String::new();
/// peer.read_to_string(&mut answers).await.unwrap();
/// assert_eq!(answers.lines().count(), 2);
/// assert_eq!(served.await.unwrap().tasks().stats().completed, 2);
/// # }
/// ```
pub struct Conn<E = BoxError>
where
    E: Send + 'static,
{
    shared: Arc<ConnShared<E>>,
}

impl<E: Send + 'static> Conn<E> {
    pub(crate) fn from_shared(shared: Arc<ConnShared<E>>) -> Self {
        Conn { shared }
    }

    /// The spawner of the connection's nursery: spawn the connection's
    /// tasks through it (`conn.spawner().spawn(..)`), clone it into tasks,
    /// read its token (which fires when the connection's tasks are
    /// cancelled) and its counters.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     let token = conn.spawner().token().clone();
    ///     conn.spawner().spawn(async move { token.cancelled().await }).unwrap();
    ///     conn.spawner().token().cancel();
    /// }).unwrap().await;
    /// assert_eq!(report.tasks().stats().cancelled, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn spawner(&self) -> &Spawner<(), E> {
        &self.shared.spawner
    }

    /// Closes the connection in its default mode (see [`close_with`](Self::close_with)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// let served = scope_conn::ConnBuilder::new().serve(io, |conn, _io| {
    ///     tx.send(conn.clone()).unwrap();
    ///     async move { conn.closing().await } // a session that waits to be told
    /// }).unwrap();
    /// let served = tokio::spawn(served);
    /// let conn = rx.await.unwrap();
    /// let report = conn.close().await; // from outside: waits for the whole close
    /// assert!(report.is_final());
    /// assert_eq!(report.reason(), scope_conn::CloseReason::Requested);
    /// # served.await.unwrap();
    /// # }
    /// ```
    pub fn close(&self) -> impl Future<Output = ConnReport<E>> + Send + 'static + use<E> {
        self.close_with(self.shared.config.mode)
    }

    /// Closes the connection in `mode` (unless a close was already asked
    /// for, whose mode stands) and waits for its report. The close begins
    /// when this is called, not when the future is first polled. From inside
    /// the connection (a task, or the session) the future resolves at once
    /// with a report that is not final.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the close goes on; calling `closed` waits again.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use scope_conn::{CloseMode, ConnBuilder};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// let served = ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     tx.send(conn.clone()).unwrap();
    ///     conn.spawner().spawn(std::future::pending::<()>()).unwrap();
    ///     std::future::pending::<()>().await; // a session that never ends by itself
    /// }).unwrap();
    /// let served = tokio::spawn(served);
    /// let conn = rx.await.unwrap();
    /// let report = conn.close_with(CloseMode::Deadline(Duration::from_secs(1))).await;
    /// assert!(report.is_final());
    /// assert_eq!(report.tasks().stats().aborted, 1);
    /// assert_eq!(served.await.unwrap().tasks().stats(), report.tasks().stats());
    /// # }
    /// ```
    pub fn close_with(
        &self,
        mode: CloseMode,
    ) -> impl Future<Output = ConnReport<E>> + Send + 'static + use<E> {
        let shared = Arc::clone(&self.shared);
        shared.request(mode, CloseReason::Requested);
        async move { shared.wait_report().await }
    }

    /// Resolves once the connection has begun to close: the protocol should
    /// take no new requests. At once if it already has.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tokio::io::AsyncBufReadExt;
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, io| async move {
    ///     conn.close().await; // from the session: begins the close, returns at once
    ///     let mut lines = tokio::io::BufReader::new(io).lines();
    ///     loop {
    ///         tokio::select! {
    ///             line = lines.next_line() => match line {
    ///                 Ok(Some(_request)) => { /* serve it */ }
    ///                 _ => break,
    ///             },
    ///             // A request cut short stays unread in the buffer.
    ///             () = conn.closing() => break,
    ///         }
    ///     }
    /// }).unwrap().await;
    /// assert_eq!(report.reason(), scope_conn::CloseReason::Requested);
    /// # }
    /// ```
    pub async fn closing(&self) {
        self.shared.spawner.closing().await;
    }

    /// [`closing`](Self::closing), owning what it needs.
    fn closing_owned(&self) -> impl Future<Output = ()> + Send + 'static + use<E> {
        let spawner = self.shared.spawner.clone();
        async move { spawner.closing().await }
    }

    /// Why the connection is closing, once its close was asked for (by a
    /// handle, or by the connection itself: its session ended, a failure, a
    /// timeout, its server's shutdown); `None` while it is open. A session
    /// can say it in its goodbye ("server shutting down" against "idle").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use scope_conn::{CloseReason, ConnBuilder};
    /// use std::time::Duration;
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// ConnBuilder::new()
    ///     .idle_timeout(Duration::from_secs(30))
    ///     .serve(io, |conn, _io| async move {
    ///         assert_eq!(conn.close_reason(), None);
    ///         conn.closing().await;
    ///         assert_eq!(conn.close_reason(), Some(CloseReason::IdleTimeout));
    ///     })
    ///     .unwrap()
    ///     .await;
    /// # }
    /// ```
    #[must_use]
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.requested().map(|(_, reason)| reason)
    }

    /// Resolves once the connection's tasks have drained (or were detached):
    /// the moment for the protocol's goodbye (an SSH disconnect, say).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     conn.spawner().spawn(tokio::task::yield_now()).unwrap();
    ///     conn.close().await;
    ///     conn.drained().await;
    ///     assert_eq!(conn.spawner().stats().live, 0);
    ///     // ... say goodbye on the transport, then return.
    /// }).unwrap().await;
    /// assert_eq!(report.tasks().stats().completed, 1);
    /// # }
    /// ```
    pub async fn drained(&self) {
        self.shared.reached(DRAINED).await;
    }

    /// Waits for the connection's report without starting the close. From
    /// inside the connection it resolves at once, not final.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, peer) = tokio::io::duplex(64);
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// let served = scope_conn::ConnBuilder::new().serve(io, |conn, io| async move {
    ///     tx.send(conn).unwrap();
    ///     let mut buf = Vec::new();
    ///     let _ = tokio::io::AsyncReadExt::read_to_end(&mut { io }, &mut buf).await;
    /// }).unwrap();
    /// let served = tokio::spawn(served);
    /// let conn = rx.await.unwrap();
    /// drop(peer); // the peer leaves: the session ends
    /// let report = conn.closed().await;
    /// assert_eq!(report.reason(), scope_conn::CloseReason::SessionEnded);
    /// # served.await.unwrap();
    /// # }
    /// ```
    pub async fn closed(&self) -> ConnReport<E> {
        self.shared.wait_report().await
    }

    /// Runs a protocol's connection future (`session`), calling `on_closing`
    /// on it once when the connection begins to close: the graceful hook.
    /// For hyper, `|conn| conn.graceful_shutdown()`: in-flight requests are
    /// answered, HTTP/2 sends GOAWAY, idle keep-alive connections end at
    /// once. Equivalent to selecting on `session` and
    /// [`closing`](Self::closing), then awaiting `session`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let told = std::sync::Arc::new(AtomicBool::new(false));
    /// let told2 = told.clone();
    /// scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     conn.close().await;
    ///     // A protocol whose future ends after its graceful hook was called.
    ///     let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    ///     let mut tx = Some(tx);
    ///     conn.run(async move { let _ = rx.await; }, move |_session| {
    ///         told2.store(true, Ordering::Relaxed);
    ///         drop(tx.take());
    ///     }).await;
    /// }).unwrap().await;
    /// assert!(told.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn run<F, G>(&self, session: F, on_closing: G) -> Run<F, G, E>
    where
        F: Future,
        G: FnOnce(Pin<&mut F>),
    {
        Run {
            session: Box::pin(session),
            closing: ClosingSignal {
                closing: Box::pin(self.closing_owned()),
                spawner: self.shared.spawner.clone(),
                registered: false,
            },
            on_closing: Some(on_closing),
        }
    }

    /// The connection's id (unique in the process).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _) = tokio::io::duplex(64);
    /// let (b, _) = tokio::io::duplex(64);
    /// let one = scope_conn::ConnBuilder::new().serve(a, |_c, _io| async {}).unwrap().await;
    /// let two = scope_conn::ConnBuilder::new().serve(b, |_c, _io| async {}).unwrap().await;
    /// assert_ne!(one.id(), two.id());
    /// # }
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The other end: known for every connection a [`Server`](crate::Server)
    /// made, and for one served with [`ConnBuilder::addrs`](crate::ConnBuilder::addrs).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::Addr;
    /// let (io, _) = tokio::io::duplex(64);
    /// let peer = Addr::from("10.0.0.7:51000".parse::<std::net::SocketAddr>().unwrap());
    /// let local = Addr::from("10.0.0.1:443".parse::<std::net::SocketAddr>().unwrap());
    /// scope_conn::ConnBuilder::new().addrs(peer.clone(), local).serve(io, move |conn, _io| async move {
    ///     assert_eq!(conn.peer(), Some(&peer));
    /// }).unwrap().await;
    /// # }
    /// ```
    #[must_use]
    pub fn peer(&self) -> Option<&Addr> {
        self.shared.peer.as_ref()
    }

    /// This end; see [`peer`](Self::peer).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _) = tokio::io::duplex(64);
    /// scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     assert!(conn.local().is_none()); // a duplex pipe has no address
    /// }).unwrap().await;
    /// # }
    /// ```
    #[must_use]
    pub fn local(&self) -> Option<&Addr> {
        self.shared.local.as_ref()
    }
}

impl<E: Send + 'static> Clone for Conn<E> {
    fn clone(&self) -> Self {
        Conn {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E: Send + 'static> fmt::Debug for Conn<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.shared.id)
            .field("peer", &self.shared.peer)
            .field("stats", &self.shared.spawner.stats())
            .field("closing", &self.shared.spawner.is_closing())
            .finish_non_exhaustive()
    }
}

/// The future [`Conn::run`] returns: the session, with its graceful hook
/// called once when the connection begins to close.
///
/// A plain struct rather than an `async` block: it is `Send` exactly when
/// the session and the hook are, which the compiler can always prove (for
/// a protocol future such as hyper's, an `async` block holding it in a
/// generic function can defeat that proof).
#[must_use = "futures do nothing unless polled"]
pub struct Run<F, G, E: Send + 'static = BoxError> {
    session: Pin<Box<F>>,
    closing: ClosingSignal<E>,
    /// `None` once called.
    on_closing: Option<G>,
}

/// Says that the connection began to close, cheaply: its future is polled
/// once to register, then one atomic load per wake-up of the session
/// answers.
struct ClosingSignal<E: Send + 'static> {
    closing: Pin<Box<dyn Future<Output = ()> + Send>>,
    spawner: Spawner<(), E>,
    /// `closing` was polled once: it wakes this task when the close begins.
    registered: bool,
}

impl<E: Send + 'static> ClosingSignal<E> {
    /// Has the close begun?
    fn poll_began(&mut self, cx: &mut Context<'_>) -> bool {
        if self.registered {
            self.spawner.is_closing()
        } else {
            self.registered = true;
            self.closing.as_mut().poll(cx).is_ready()
        }
    }
}

impl<F, G, E> Future for Run<F, G, E>
where
    F: Future,
    G: FnOnce(Pin<&mut F>) + Unpin,
    E: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if let Poll::Ready(out) = this.session.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if this.on_closing.is_some() && this.closing.poll_began(cx) {
            if let Some(hook) = this.on_closing.take() {
                hook(this.session.as_mut());
            }
            // The hook may have made the session ready (or woken it).
            return this.session.as_mut().poll(cx);
        }
        Poll::Pending
    }
}

impl<F, G, E: Send + 'static> fmt::Debug for Run<F, G, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("told", &self.on_closing.is_none())
            .finish_non_exhaustive()
    }
}
