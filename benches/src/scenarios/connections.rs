//! Scenario 6: connections.
//!
//! **Churn.** `n` connections over loopback TCP (127.0.0.1), at most
//! `clients` in flight: each client connects, sends one line (its index) and
//! reads until end-of-stream; the server reads the line, starts 2 tasks (one
//! writes the reply, one does trivial follow-up work) and ends the
//! connection. Timed from the server's start until its graceful end
//! returns: accepting, serving, the clients' side (the same for every
//! contender, and part of what a connection costs end to end), and the
//! shutdown. The listener is bound before the timed region.
//!
//! - [`BARE`]: an accept loop that `tokio::spawn`s a task per connection and
//!   per request task, all detached; the reply task owns the stream and
//!   closes it by dropping it. Its graceful end stops the accept loop and
//!   waits until every accepted connection is closed, and for nothing else:
//!   follow-up work still running is not waited for (it is checked after the
//!   timed region).
//! - [`SERVER`]: `scope_conn::Server`, default settings; the session reads
//!   the request from the transport, spawns both tasks into the connection's
//!   nursery (the reply goes through the connection's queued `Writer`) and
//!   returns; the close drains them, flushes and shuts the transport. The
//!   end is `Server::shutdown`, which waits for every task of every
//!   connection.
//! - [`SERVER_IDLE`]: [`SERVER`] with an idle timeout (60 s, never reached),
//!   the setting a public server would turn on: what its timer costs.
//!
//! **Idle bytes.** Heap bytes per idle connection: `n` connections accepted
//! and served by a task that awaits one read that never comes, counted with
//! the counting allocator once every one is waiting, divided by `n`. The
//! clients are blocking `std` sockets, which hold no heap. [`BARE_READ`] is a
//! `tokio::spawn`ed task per accepted `TcpStream`; [`SERVER_READ`] a
//! `scope_conn::Server` whose session awaits the read on its `Io`.
//!
//! Every run checks its work: every client got its own reply, both tasks ran
//! for every connection (counters), and for the `Server` contenders the
//! [`ServerReport`](scope_conn::ServerReport) totals add up.

use std::io::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scope_conn::{ConnBuilder, Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::timed;
use crate::support::{expected_sum, leak};
use crate::{Case, Group, Sizes, Window};

/// A bare `tokio::spawn` per connection and per task, all detached.
pub const BARE: &str = "tokio::spawn server";
/// `scope_conn::Server`, default settings.
pub const SERVER: &str = "scope-conn Server";
/// [`SERVER`] with a 60 s idle timeout.
pub const SERVER_IDLE: &str = "scope-conn Server + idle_timeout";
/// A `tokio::spawn`ed task per accepted stream, awaiting one read.
pub const BARE_READ: &str = "tokio::spawn task awaiting a read";
/// A `scope_conn::Server` session awaiting one read.
pub const SERVER_READ: &str = "scope-conn Server session awaiting a read";

/// The idle timeout of [`SERVER_IDLE`]: long enough never to fire.
const IDLE: Duration = Duration::from_secs(60);
/// The listener's backlog: above any number of clients in flight we use.
const BACKLOG: u32 = 1024;
/// The shutdown's grace: only reached if a connection hangs (a bug).
const GRACE: Duration = Duration::from_secs(10);

/// `sizes.connections` connections, `sizes.clients` in flight; idle bytes
/// over `sizes.idle_connections`.
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    vec![
        group(sizes.connections, sizes.clients),
        idle_bytes(sizes.idle_connections),
    ]
}

/// `n` connections, `clients` in flight; baseline [`BARE`].
///
/// # Panics
///
/// If the runtime cannot be built.
#[must_use]
pub fn group(n: usize, clients: usize) -> Group {
    let rt = Rc::new(runtime());
    Group::new(
        "connections",
        format!(
            "{n} connections over loopback, {clients} in flight, 2 tasks each, \
             multi-thread (2 workers)"
        ),
        BARE,
        vec![
            timed(&rt, BARE, n, move || bare(n, clients)),
            timed(&rt, SERVER, n, move || server(n, clients, false)),
            timed(&rt, SERVER_IDLE, n, move || server(n, clients, true)),
        ],
    )
}

/// The shared 2-worker runtime, with the IO driver (sockets) and the time
/// driver (`scope-conn` bounds its final flush with a timeout) that the
/// other scenarios leave out.
fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .expect("build the runtime")
}

/// What the server's tasks and the clients count, to check every run.
struct Counters {
    /// Request tasks that ended (both kinds): `2 * n` at the end.
    tasks: AtomicU64,
    /// Sum of the requests the follow-up tasks saw.
    follow_ups: AtomicU64,
    /// Sum of the replies the clients received.
    replies: AtomicU64,
    /// The next connection a client makes.
    next: AtomicUsize,
}

impl Counters {
    fn new() -> &'static Counters {
        leak(Counters {
            tasks: AtomicU64::new(0),
            follow_ups: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            next: AtomicUsize::new(0),
        })
    }

    /// The follow-up task's work.
    fn follow_up(&self, i: u64) {
        self.follow_ups.fetch_add(i, Ordering::Relaxed);
        self.tasks.fetch_add(1, Ordering::Relaxed);
    }

    fn replied(&self) {
        self.tasks.fetch_add(1, Ordering::Relaxed);
    }

    /// All `n` clients got their reply, and both tasks ran `n` times.
    fn check(&self, n: usize) {
        let expected = expected_sum(n);
        assert_eq!(
            self.replies.load(Ordering::Acquire),
            expected + n as u64,
            "a client missed its reply"
        );
        assert_eq!(
            self.tasks.load(Ordering::Acquire),
            2 * n as u64,
            "a request task was lost or ran twice"
        );
        assert_eq!(
            self.follow_ups.load(Ordering::Acquire),
            expected,
            "a follow-up task was lost"
        );
    }

    /// Waits (outside the timed region) for detached work the bare server's
    /// end does not wait for.
    async fn settle(&self, n: usize) {
        let deadline = Instant::now() + GRACE;
        while self.tasks.load(Ordering::Acquire) < 2 * n as u64 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
    }
}

/// The reply to request `i`: `i + 1` as a line.
fn reply(i: u64) -> Vec<u8> {
    format!("{}\n", i + 1).into_bytes()
}

/// Reads one `\n`-terminated decimal number; `None` at end-of-stream, on an
/// error, or on anything else.
async fn read_number<R: AsyncRead + Unpin>(r: &mut R) -> Option<u64> {
    let mut buf = [0u8; 24];
    let mut len = 0;
    loop {
        let read = r.read(&mut buf[len..]).await.ok()?;
        if read == 0 {
            return None;
        }
        len += read;
        if let Some(end) = buf[..len].iter().position(|&b| b == b'\n') {
            return std::str::from_utf8(&buf[..end]).ok()?.parse().ok();
        }
        if len == buf.len() {
            return None;
        }
    }
}

/// A fresh listener on 127.0.0.1, each run: a new port keeps one run's
/// connections (and the server side's `TIME_WAIT`s) apart from the next's.
fn bind() -> (TcpListener, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind 127.0.0.1");
    // `TcpListener::bind`'s backlog is 128: below the clients in flight, the
    // overflowing SYNs wait for the 1 s retransmission and every run takes
    // a second. A backlog above them keeps the kernel out of the measurement.
    let listener = socket.listen(BACKLOG).expect("listen");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

/// One client task: takes connection indices until `n` are taken; for each
/// connects, sends the index, reads to end-of-stream, checks the reply.
async fn client(addr: SocketAddr, n: usize, counters: &'static Counters) {
    loop {
        let i = counters.next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            return;
        }
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut line = [0u8; 24];
        let len = {
            let mut cursor = &mut line[..];
            writeln!(cursor, "{i}").expect("format the request");
            24 - cursor.len()
        };
        stream.write_all(&line[..len]).await.expect("send");
        let got = read_number(&mut stream).await.expect("a reply");
        assert_eq!(got, i as u64 + 1, "a reply to another request");
        assert_eq!(
            stream.read(&mut line).await.expect("read the close"),
            0,
            "more than one reply"
        );
        counters.replies.fetch_add(got, Ordering::Relaxed);
    }
}

/// Runs `clients` client tasks until all `n` connections are done.
async fn run_clients(addr: SocketAddr, n: usize, clients: usize, counters: &'static Counters) {
    let handles: Vec<_> = (0..clients.min(n))
        .map(|_| tokio::spawn(client(addr, n, counters)))
        .collect();
    for h in handles {
        h.await.expect("a client failed");
    }
}

/// The bare server's only bookkeeping: connections accepted and closed.
struct Open {
    accepted: AtomicU64,
    closed: AtomicU64,
    all_closed: Notify,
}

/// Counts its connection closed when dropped (with the stream it travels
/// with).
struct OpenGuard(&'static Open);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.closed.fetch_add(1, Ordering::AcqRel);
        self.0.all_closed.notify_one();
    }
}

impl Open {
    fn accept(&'static self) -> OpenGuard {
        self.accepted.fetch_add(1, Ordering::AcqRel);
        OpenGuard(self)
    }

    /// Once accepting has stopped: waits until every accepted connection is
    /// closed.
    async fn wait(&self) {
        loop {
            let notified = self.all_closed.notified();
            if self.closed.load(Ordering::Acquire) == self.accepted.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

async fn bare(n: usize, clients: usize) -> Duration {
    let counters = Counters::new();
    let open = leak(Open {
        accepted: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        all_closed: Notify::new(),
    });
    let (listener, addr) = bind();
    let stop = CancellationToken::new();

    let start = Instant::now();
    let accept = tokio::spawn({
        let stop = stop.clone();
        async move {
            loop {
                let stream = tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                let guard = open.accept();
                tokio::spawn(async move {
                    let mut stream = stream;
                    let Some(i) = read_number(&mut stream).await else {
                        return;
                    };
                    tokio::spawn(async move {
                        let mut stream = stream;
                        if stream.write_all(&reply(i)).await.is_ok() {
                            counters.replied();
                        }
                        // The close: the stream goes, then the guard counts it.
                        drop(stream);
                        drop(guard);
                    });
                    tokio::spawn(async move { counters.follow_up(i) });
                });
            }
        }
    });
    run_clients(addr, n, clients, counters).await;
    stop.cancel();
    accept.await.expect("the accept loop panicked");
    open.wait().await;
    let took = start.elapsed();

    assert_eq!(open.accepted.load(Ordering::Acquire), n as u64);
    counters.settle(n).await;
    counters.check(n);
    took
}

async fn server(n: usize, clients: usize, idle: bool) -> Duration {
    let counters = Counters::new();
    let (listener, addr) = bind();
    let template = if idle {
        ConnBuilder::new().idle_timeout(IDLE)
    } else {
        ConnBuilder::new()
    };

    let start = Instant::now();
    let server = Server::builder()
        .conn(template)
        .serve(listener, move |conn, io| async move {
            let (mut reader, writer) = io.split();
            if let Some(i) = read_number(&mut reader).await {
                let replied = conn.spawner().spawn(async move {
                    if writer.send(reply(i)).await.is_ok() {
                        counters.replied();
                    }
                });
                assert!(replied.is_ok(), "the reply task was refused");
                let followed = conn.spawner().spawn(async move { counters.follow_up(i) });
                assert!(followed.is_ok(), "the follow-up task was refused");
            }
        })
        .expect("start the server");
    run_clients(addr, n, clients, counters).await;
    let report = server.shutdown(GRACE).await;
    let took = start.elapsed();

    assert!(report.is_final(), "the shutdown left work behind");
    assert_eq!(report.connections(), n as u64);
    assert_eq!(
        (report.refused_connections(), report.failed_connections()),
        (0, 0)
    );
    let tasks = report.tasks();
    assert_eq!(
        (tasks.spawned, tasks.completed),
        (2 * n as u64, 2 * n as u64)
    );
    assert_eq!(
        tasks.spawned,
        tasks.completed + tasks.failed + tasks.cancelled + tasks.aborted
    );
    assert_eq!((tasks.live, tasks.refused), (0, 0));
    let own = report.server();
    assert_eq!(
        (
            own.ended_after_cancel(),
            own.stats().aborted,
            own.stats().failed
        ),
        (0, 0, 0),
        "the shutdown had to cancel, or a connection failed"
    );
    counters.check(n);
    took
}

/// Heap bytes per idle connection; baseline [`BARE_READ`].
///
/// # Panics
///
/// If the runtime cannot be built.
#[must_use]
pub fn idle_bytes(n: usize) -> Group {
    let rt = Rc::new(
        Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .expect("build the runtime"),
    );
    Group::new(
        "connections/idle-bytes",
        format!("memory: heap bytes per idle connection ({n} held), current-thread"),
        BARE_READ,
        vec![
            idle_case(&rt, BARE_READ, n, Idle::Bare),
            idle_case(&rt, SERVER_READ, n, Idle::Server),
        ],
    )
}

#[derive(Clone, Copy)]
enum Idle {
    Bare,
    Server,
}

fn idle_case(rt: &Rc<Runtime>, contender: &'static str, n: usize, kind: Idle) -> Case {
    let rt = Rc::clone(rt);
    Case::bytes(contender, n as u64, move || {
        // One unmeasured round grows the runtime's own tables first.
        crate::drive(&rt, idle_round(n, kind, false));
        crate::drive(&rt, idle_round(n, kind, true)) as f64 / n as f64
    })
}

/// Accepts `n` connections whose task awaits one read; returns the heap
/// bytes held once all wait (0 when not measuring).
async fn idle_round(n: usize, kind: Idle, measure: bool) -> i64 {
    let (listener, addr) = bind();
    let waiting: &'static AtomicUsize = leak(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(n);
    let window = measure.then(Window::open);
    let (stop, server) = match kind {
        Idle::Bare => {
            let stop = CancellationToken::new();
            let accept = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut tasks = Vec::new();
                    loop {
                        let stream = tokio::select! {
                            () = stop.cancelled() => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => stream,
                                Err(_) => continue,
                            },
                        };
                        tasks.push(tokio::spawn(async move {
                            let mut stream = stream;
                            waiting.fetch_add(1, Ordering::Relaxed);
                            let mut byte = [0u8; 1];
                            let _ = stream.read(&mut byte).await;
                        }));
                    }
                    for t in &tasks {
                        t.abort();
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                })
            };
            (Some((stop, accept)), None)
        }
        Idle::Server => {
            let server = Server::builder()
                .serve(listener, move |_conn, mut io| async move {
                    waiting.fetch_add(1, Ordering::Relaxed);
                    let mut byte = [0u8; 1];
                    let _ = io.read(&mut byte).await;
                })
                .expect("start the server");
            (None, Some(server))
        }
    };
    for _ in 0..n {
        clients.push(std::net::TcpStream::connect(addr).expect("connect"));
        // Blocking connects on the runtime's own thread: let the server catch
        // up before the listener's backlog fills.
        if clients.len() % 128 == 0 {
            while waiting.load(Ordering::Relaxed) < clients.len() {
                tokio::task::yield_now().await;
            }
        }
    }
    while waiting.load(Ordering::Relaxed) < n {
        tokio::task::yield_now().await;
    }
    // Once more around the run queue: every task is parked on its read.
    tokio::task::yield_now().await;
    let bytes = window.map_or(0, |w| w.net());
    drop(clients);
    if let Some((stop, accept)) = stop {
        stop.cancel();
        accept.await.expect("the accept loop panicked");
    }
    if let Some(server) = server {
        let report = server.shutdown(GRACE).await;
        assert!(report.is_final());
        assert_eq!(report.connections(), n as u64);
    }
    bytes
}
