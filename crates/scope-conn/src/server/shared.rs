//! What a server's owner, its accept loop and its connections share, and the
//! two kinds of server task: the accept loop and one task per connection
//! (the connection's driver, with the session it runs).
//!
//! # Invariants
//!
//! 1. **Counts come from the nurseries.** Each connection's tasks are
//!    counted by its own nursery, nested in the server's; when a connection
//!    ends, its final report's counts are added to `totals`, exactly once:
//!    by its task, or, when the task was aborted before it could (the end of
//!    a shutdown's grace), by the shutdown once every nursery has drained
//!    (`unfolded`). Likewise `on_closed` sees a connection's report at
//!    most once: its task calls it once the driver has returned the
//!    report, and the shutdown, if the task never got there, calls it with
//!    a report that is not final and counts the tasks as they ended. Once
//!    the server is dropped there is no shutdown to come: its drop reports
//!    the connections waiting in `unfolded` (a shutdown that was dropped
//!    before it finished left them there), and a connection's task dropped
//!    after that reports itself, with its tasks as they stand (the ones
//!    being aborted still live). Which of the two reports a connection is
//!    decided under `unfolded`'s lock, so none is reported twice or
//!    missed, unless the server or its runtime is leaked.
//! 2. **Closing is the server nursery's.** The accept loop and every
//!    connection watch the server nursery's `closing`: the loop stops
//!    accepting (dropping the listener, so the backlog is refused), and each
//!    connection closes in the server's shutdown mode. A connection accepted
//!    as the close begins is refused (reset), not served an empty reply.
//! 3. **The server's nursery supervises**: one connection's failure is
//!    recorded there and never cancels the others.
//! 4. A connection holds its slot (the connection cap, the per-peer cap)
//!    until its transport is closed, not until its detached tasks end.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::Mutex;
use scope_core::{Nursery, Report, Spawner, Stats};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::addr::Addr;
use crate::builder::{ConnBuilder, ConnConfig, assemble};
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::conn::Conn;
use crate::conn::driver::{Session, Shutdown, body, drive};
use crate::conn::shared::ConnShared;
use crate::io::Io;
use crate::listener::{Accepted, Listener};
use crate::report::ConnReport;
use crate::server_report::ServerReport;

pub(crate) type OnClosed<E> = Arc<dyn Fn(&ConnReport<E>) + Send + Sync>;

#[derive(Default)]
struct Totals {
    tasks: Stats,
    failed_conns: u64,
}

/// Connections per peer IP, for the per-peer cap.
struct PerPeer {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

pub(crate) struct ServerShared<E: Send + 'static> {
    template: ConnBuilder<E>,
    config: Arc<ConnConfig>,
    pub(crate) mode: CloseMode,
    limit: Option<Arc<Semaphore>>,
    refuse: bool,
    per_peer: Option<PerPeer>,
    on_closed: Option<OnClosed<E>>,
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) open: AtomicUsize,
    totals: Mutex<Totals>,
    /// Connections whose task was dropped before it folded their counts,
    /// and whether `on_closed` has seen them; and whether the server was
    /// dropped (invariant 1).
    unfolded: Mutex<Unfolded<E>>,
    pub(crate) shutdown: Arc<Shutdown<E>>,
}

/// A connection's place under the caps, given back when its transport
/// closes.
struct Slot<E: Send + 'static> {
    server: Arc<ServerShared<E>>,
    ip: Option<IpAddr>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<E: Send + 'static> Drop for Slot<E> {
    fn drop(&mut self) {
        self.server.open.fetch_sub(1, Ordering::Relaxed);
        if let (Some(ip), Some(per_peer)) = (self.ip, &self.server.per_peer) {
            let mut open = per_peer.open.lock();
            if let Some(n) = open.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&ip);
                }
            }
        }
    }
}

/// Connections whose task was dropped before it folded their counts, each
/// with whether `on_closed` has seen it.
struct Unfolded<E: Send + 'static> {
    conns: Vec<(Arc<ConnShared<E>>, bool)>,
    /// The server was dropped: no shutdown will fold what is left here.
    server_dropped: bool,
}

/// Folds a connection into the totals if its task ends before it could
/// (see invariant 1).
struct FoldOnDrop<E: Send + 'static> {
    server: Arc<ServerShared<E>>,
    conn: Option<Arc<ConnShared<E>>>,
    /// `on_closed` has seen the connection's report.
    seen: bool,
}

impl<E: Send + 'static> FoldOnDrop<E> {
    /// The connection's nursery drained: its tasks go into the totals here,
    /// not at the shutdown.
    fn fold_now(&mut self, tasks: Stats) {
        self.conn = None;
        self.server.fold(tasks);
    }
}

impl<E: Send + 'static> Drop for FoldOnDrop<E> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut unfolded = self.server.unfolded.lock();
            if !unfolded.server_dropped {
                unfolded.conns.push((conn, self.seen));
                return;
            }
            drop(unfolded);
            // No shutdown will come for it: report it now.
            self.server.fold_these(vec![(conn, self.seen)]);
        }
    }
}

pub(crate) struct Limits {
    pub(crate) max_connections: Option<usize>,
    pub(crate) refuse: bool,
    pub(crate) per_peer: Option<usize>,
}

impl<E: Send + 'static> ServerShared<E> {
    pub(crate) fn new(
        template: ConnBuilder<E>,
        config: ConnConfig,
        mode: CloseMode,
        limits: Limits,
        on_closed: Option<OnClosed<E>>,
        server: Spawner<(), E>,
    ) -> Self {
        ServerShared {
            template,
            config: Arc::new(config),
            mode,
            limit: limits.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            refuse: limits.refuse,
            per_peer: limits.per_peer.map(|cap| PerPeer {
                cap,
                open: Mutex::new(HashMap::new()),
            }),
            on_closed,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            totals: Mutex::new(Totals::default()),
            unfolded: Mutex::new(Unfolded {
                conns: Vec::new(),
                server_dropped: false,
            }),
            shutdown: Arc::new(Shutdown::new(server)),
        }
    }

    /// Adds a connection's tasks to the totals, once its nursery drained.
    fn fold(&self, stats: Stats) {
        let mut totals = self.totals.lock();
        totals.tasks += stats;
        if stats.failed > 0 {
            totals.failed_conns += 1;
        }
    }

    /// Folds the connections whose tasks were aborted before they could;
    /// their nurseries have drained by now.
    pub(crate) fn fold_unfolded(&self) {
        let conns = std::mem::take(&mut self.unfolded.lock().conns);
        self.fold_these(conns);
    }

    /// The server is being dropped: reports the connections left unfolded,
    /// and has every connection's task dropped from now on report itself.
    pub(crate) fn server_dropped(&self) {
        let conns = {
            let mut unfolded = self.unfolded.lock();
            unfolded.server_dropped = true;
            std::mem::take(&mut unfolded.conns)
        };
        self.fold_these(conns);
    }

    /// Folds `conns` (each with whether `on_closed` has seen it) into the
    /// totals and reports those it has not seen.
    fn fold_these(&self, conns: Vec<(Arc<ConnShared<E>>, bool)>) {
        // Every count first: a shutdown running beside this one then sees
        // the totals whole, whatever the hooks below take.
        let mut unseen = Vec::new();
        for (conn, seen) in conns {
            let tasks = conn.spawner.report();
            self.fold(tasks.stats());
            if !seen {
                unseen.push((conn, tasks));
            }
        }
        let Some(on_closed) = &self.on_closed else {
            return;
        };
        for (conn, tasks) in unseen {
            // The shutdown is why it closed, unless its close had recorded
            // a reason first (the first wins).
            conn.request(self.mode, CloseReason::Shutdown);
            // The tasks' counts as they ended (the report the driver
            // published as it was dropped has them as they stood then), in
            // a report that is not final: the close never ran its course. A
            // hook that panics here, in the shutdown's caller, must not cost
            // the other connections their report.
            let report = conn.report_now(tasks, false);
            let _ = catch_unwind(AssertUnwindSafe(|| on_closed(&report)));
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

    fn refuse(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes a per-peer place for `peer`, if the cap allows.
    fn admit_peer(&self, peer: &Addr) -> Result<Option<IpAddr>, ()> {
        let (Some(per_peer), Some(ip)) = (&self.per_peer, peer.ip()) else {
            return Ok(None);
        };
        let mut open = per_peer.open.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= per_peer.cap {
            return Err(());
        }
        *n += 1;
        Ok(Some(ip))
    }

    /// Starts serving one accepted connection as a task of the server's
    /// nursery.
    fn start<L, H, Fut>(
        self: &Arc<Self>,
        accepted: Accepted<L::Io>,
        permit: Option<OwnedSemaphorePermit>,
        ip: Option<IpAddr>,
        spawner: &Spawner<(), E>,
        handler: &H,
    ) where
        L: Listener,
        H: Fn(Conn<E>, Io<L::Io>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let slot = Slot {
            server: Arc::clone(self),
            ip,
            _permit: permit,
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        // Refused only when the server's nursery is closed or cancelled.
        let Ok(nursery) = self.template.configure(spawner.child_builder()).build() else {
            self.refuse();
            L::refuse(accepted.io);
            return;
        };
        let Accepted { io, peer, local } = accepted;
        let (conn, io, shared) = assemble(
            nursery.spawner(),
            Arc::clone(&self.config),
            Some(peer),
            Some(local),
            io,
        );
        self.accepted.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        let span = tracing::info_span!("conn", id = shared.id, peer = %peer_of(&shared));
        // Boxed here, once: the connection's task then holds a pointer.
        let session = body(&nursery, || handler(conn, io));
        let task = serve_one(Arc::clone(self), shared, nursery, session, slot);
        #[cfg(feature = "tracing")]
        let task = tracing::Instrument::instrument(task, span);
        // The accept loop is a child of the server's nursery, so this spawn
        // is accepted while the server closes; it is refused only once the
        // server is cancelled, and then dropping it drops the connection.
        drop(spawner.spawn(task));
    }
}

#[cfg(feature = "tracing")]
fn peer_of<E: Send + 'static>(shared: &ConnShared<E>) -> &dyn std::fmt::Display {
    match &shared.peer {
        Some(peer) => peer,
        None => &"?",
    }
}

/// One connection, as a task of the server's nursery.
///
/// Combinators, not an `async fn`: a generator would keep its arguments
/// after handing them to `drive` and reserve room for the report during the
/// whole connection; this future is `drive`'s plus what the end needs.
fn serve_one<E: Send + 'static>(
    server: Arc<ServerShared<E>>,
    shared: Arc<ConnShared<E>>,
    nursery: Nursery<(), E>,
    session: Session,
    slot: Slot<E>,
) -> impl Future<Output = ()> + Send + 'static {
    let fold = FoldOnDrop {
        conn: Some(Arc::clone(&shared)),
        server,
        seen: false,
    };
    let shutdown = Some(Arc::clone(&fold.server.shutdown));
    let mode = fold.server.mode;
    drive(shared, nursery, session, shutdown, mode).then(move |(report, panic)| {
        // The transport is closed: the slot is free.
        drop(slot);
        let mut fold = fold;
        // Seen even if it panics: it is not called twice.
        fold.seen = true;
        if let Some(on_closed) = &fold.server.on_closed {
            if panic.is_some() {
                // The session's panic is the failure to record: a hook that
                // panics over it must not replace it.
                let hook = catch_unwind(AssertUnwindSafe(|| on_closed(&report)));
                if hook.is_err() {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(
                        "`on_closed` panicked for a connection whose session had panicked; \
                         the session's panic is recorded"
                    );
                }
            } else {
                on_closed(&report);
            }
        }
        let (tasks, detached) = (report.tasks().stats(), !report.tasks().is_final());
        drop(report);
        if let Some(panic) = panic {
            // The server's nursery records the session's panic as this
            // task's failure, now. Tasks that run on (detached, or blocking
            // work the close could not stop) are left for the shutdown to
            // count (invariant 1); the others are counted first.
            if !detached {
                fold.fold_now(tasks);
            }
            std::panic::resume_unwind(panic);
        }
        async move {
            let tasks = match (&fold.conn, detached) {
                // Detached tasks run on under the server: count them when
                // they end (the shutdown waits for them too).
                (Some(conn), true) => conn.spawner.closed().await.stats(),
                _ => tasks,
            };
            fold.fold_now(tasks);
        }
    })
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
    handler: H,
) where
    L: Listener,
    E: Send + 'static,
    H: Fn(Conn<E>, Io<L::Io>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut closing = pin!(spawner.closing());
    loop {
        // In wait mode a full server stops accepting: peers queue in the
        // listener's backlog until a connection's transport closes.
        let permit = match (&server.limit, server.refuse) {
            (Some(limit), false) => tokio::select! {
                biased;
                () = &mut closing => return,
                permit = Arc::clone(limit).acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    Err(_) => return,
                },
            },
            _ => None,
        };
        let accepted = tokio::select! {
            biased;
            () = &mut closing => return,
            accepted = listener.accept() => accepted,
        };
        let accepted = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(_e) => {
                // Out of file descriptors, say: accepting again at once would
                // spin. Back off, still ready to stop.
                #[cfg(feature = "tracing")]
                tracing::warn!(error = %_e, "accept failed; retrying in 100 ms");
                tokio::select! {
                    biased;
                    () = &mut closing => return,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        if spawner.is_closing() {
            L::refuse(accepted.io);
            return;
        }
        let permit = match (permit, &server.limit) {
            (Some(permit), _) => Some(permit),
            (None, Some(limit)) => match Arc::clone(limit).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    server.refuse();
                    L::refuse(accepted.io);
                    continue;
                }
            },
            (None, None) => None,
        };
        let Ok(ip) = server.admit_peer(&accepted.peer) else {
            server.refuse();
            L::refuse(accepted.io);
            continue;
        };
        server.start::<L, H, Fut>(accepted, permit, ip, &spawner, &handler);
    }
}
