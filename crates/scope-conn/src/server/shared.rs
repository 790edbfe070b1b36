//! The state a server's owner, accept loop and connection tasks share, and
//! the two kinds of server task: the accept loop and one task per
//! connection (its handler joined with its driver).
//!
//! # Invariants
//!
//! 1. Every connection is in `registry` from just after its nursery is built
//!    until its tasks are folded into `totals`, exactly once: whoever removes
//!    the entry folds it (the connection's own task once the connection's
//!    nursery has drained, or the shutdown's sweep after the server's nursery
//!    drained, for tasks aborted on the way). Memory follows live
//!    connections.
//! 2. `shutting_down` is set under the registry lock, and a connection is
//!    registered under it: a connection accepted while the shutdown starts is
//!    either in the list the shutdown closes, or sees the flag and closes
//!    itself. Never neither.
//! 3. The server's nursery is `Supervise`: one connection's failure is
//!    recorded there (as one failed child) and never cancels its siblings.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::Mutex;
use scope_core::{Report, Spawner, Stats};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::builder::ConnBuilder;
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::conn::Conn;
use crate::conn::shared::ConnShared;
use crate::listener::Listener;
use crate::server_report::ServerReport;

struct Registry<E: Send + 'static> {
    conns: HashMap<u64, Arc<ConnShared<E>>>,
    shutting_down: Option<CloseMode>,
}

#[derive(Default)]
struct Totals {
    tasks: Stats,
    failed_conns: u64,
}

pub(crate) struct ServerShared<E: Send + 'static> {
    /// Fired by the shutdown: the accept loop stops.
    pub(crate) stop: CancellationToken,
    registry: Mutex<Registry<E>>,
    totals: Mutex<Totals>,
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) open: AtomicUsize,
    conn: ConnBuilder<E>,
    pub(crate) mode: CloseMode,
    limit: Option<Arc<Semaphore>>,
    refuse: bool,
}

/// A connection's place under the cap; given back when its transport closes.
struct OpenSlot<E: Send + 'static> {
    server: Arc<ServerShared<E>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<E: Send + 'static> Drop for OpenSlot<E> {
    fn drop(&mut self) {
        self.server.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<E: Send + 'static> ServerShared<E> {
    pub(crate) fn new(
        conn: ConnBuilder<E>,
        mode: CloseMode,
        max_connections: Option<usize>,
        refuse: bool,
    ) -> Self {
        ServerShared {
            stop: CancellationToken::new(),
            registry: Mutex::new(Registry {
                conns: HashMap::new(),
                shutting_down: None,
            }),
            totals: Mutex::new(Totals::default()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            conn,
            mode,
            limit: max_connections.map(|n| Arc::new(Semaphore::new(n))),
            refuse,
        }
    }

    fn register(&self, conn: &Arc<ConnShared<E>>) {
        let closing = {
            let mut registry = self.registry.lock();
            registry.conns.insert(conn.id, Arc::clone(conn));
            registry.shutting_down
        };
        if let Some(mode) = closing {
            conn.request_close(mode, CloseReason::Shutdown);
        }
    }

    /// Folds a connection's tasks into the totals, once (invariant 1).
    fn fold(&self, id: u64) {
        let conn = self.registry.lock().conns.remove(&id);
        if let Some(conn) = conn {
            let stats = conn.spawner.stats();
            let mut totals = self.totals.lock();
            let t = &mut totals.tasks;
            t.live += stats.live;
            t.spawned += stats.spawned;
            t.completed += stats.completed;
            t.failed += stats.failed;
            t.cancelled += stats.cancelled;
            t.aborted += stats.aborted;
            t.refused += stats.refused;
            if stats.failed > 0 {
                totals.failed_conns += 1;
            }
        }
    }

    pub(crate) fn begin_shutdown(&self) {
        self.stop.cancel();
        let conns: Vec<_> = {
            let mut registry = self.registry.lock();
            registry.shutting_down = Some(self.mode);
            registry.conns.values().cloned().collect()
        };
        for conn in conns {
            conn.request_close(self.mode, CloseReason::Shutdown);
        }
    }

    /// After the server's nursery drained: folds the connections whose task
    /// was aborted before it could.
    pub(crate) fn sweep(&self) {
        let ids: Vec<u64> = self.registry.lock().conns.keys().copied().collect();
        for id in ids {
            self.fold(id);
        }
    }

    pub(crate) fn report(&self, server: Report<E>) -> ServerReport<E> {
        let totals = self.totals.lock();
        ServerReport {
            connections: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            failed_connections: totals.failed_conns,
            tasks: totals.tasks,
            server,
        }
    }

    fn start<L, H, Fut>(
        self: &Arc<Self>,
        io: L::Io,
        permit: Option<OwnedSemaphorePermit>,
        spawner: &Spawner<(), E>,
        handler: &Arc<H>,
    ) where
        L: Listener,
        H: Fn(Conn<L::Io, E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Refused only when the server's nursery no longer takes children:
        // it is shutting down, and the connection is dropped unserved.
        let Ok((conn, driver)) = self.conn.build_nested(io, spawner) else {
            return;
        };
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(conn.shared());
        let id = shared.id;
        self.register(&shared);
        let slot = OpenSlot {
            server: Arc::clone(self),
            _permit: permit,
        };
        let task = serve_conn(
            Arc::clone(self),
            shared,
            conn,
            driver,
            slot,
            Arc::clone(handler),
        );
        // Unnamed: the connection's nursery (`conn-<id>`) is what the server's
        // snapshot lists, and a second name per connection costs a format
        // and a registry entry on every accept.
        if let Err(refused) = spawner.spawn(task) {
            // Dropping the unpolled task drops the `Conn`, which begins its
            // close; with no task in it, its nursery drains at once.
            drop(refused.into_inner());
            self.fold(id);
        }
    }
}

/// One connection's server task: the handler and the driver side by side,
/// then the wait for work the connection detached, then the fold.
async fn serve_conn<S, E, H, Fut>(
    server: Arc<ServerShared<E>>,
    shared: Arc<ConnShared<E>>,
    conn: Conn<S, E>,
    driver: impl Future<Output = ()>,
    slot: OpenSlot<E>,
    handler: Arc<H>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    E: Send + 'static,
    H: Fn(Conn<S, E>) -> Fut,
    Fut: Future<Output = ()>,
{
    // A panicking handler must not skip the fold; the panic is resumed after
    // it, so the server's nursery records it as this task's failure.
    let session = AssertUnwindSafe(handler(conn)).catch_unwind();
    let driver = async move {
        driver.await;
        drop(slot);
    };
    let (outcome, ()) = tokio::join!(session, driver);
    // The transport is shut; tasks a `Detach` handed over may still run.
    shared.spawner.closed().await;
    server.fold(shared.id);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    )
}

pub(crate) async fn accept_loop<L, E, H, Fut>(
    mut listener: L,
    server: Arc<ServerShared<E>>,
    spawner: Spawner<(), E>,
    handler: Arc<H>,
) where
    L: Listener,
    E: Send + 'static,
    H: Fn(Conn<L::Io, E>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        // In wait mode a full server stops accepting: peers queue in the
        // listener's backlog until a connection's transport closes.
        let permit = match (&server.limit, server.refuse) {
            (Some(limit), false) => tokio::select! {
                biased;
                () = server.stop.cancelled() => return,
                permit = Arc::clone(limit).acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    Err(_) => return,
                },
            },
            _ => None,
        };
        let accepted = tokio::select! {
            biased;
            () = server.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let io = match accepted {
            Ok(io) => io,
            Err(e) if is_connection_error(&e) => continue,
            Err(_e) => {
                // Out of file descriptors, say: accepting again at once would
                // spin. Back off, still ready to stop.
                #[cfg(feature = "tracing")]
                tracing::warn!(error = %_e, "accept failed; retrying in 100 ms");
                tokio::select! {
                    biased;
                    () = server.stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let permit = match (permit, &server.limit) {
            (Some(permit), _) => Some(permit),
            (None, Some(limit)) => match Arc::clone(limit).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    // Refuse mode: the peer sees the connection closed.
                    server.refused.fetch_add(1, Ordering::Relaxed);
                    drop(io);
                    continue;
                }
            },
            (None, None) => None,
        };
        server.start::<L, H, Fut>(io, permit, &spawner, &handler);
    }
}
