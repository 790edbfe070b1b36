//! Fault soak over loopback TCP: 2,000 clients at once against one
//! [`Server`], a quarter resetting mid-request, a quarter half-closing, a
//! quarter stalling mid-line, a quarter behaving, with work in flight on
//! every connection when `shutdown(grace)` runs. Afterwards nothing is left:
//! the runtime's task count is back where it started, the heap is back within
//! 1 MiB of it, and every task any connection started is accounted for, once,
//! alike in the server's report and in the handler's own tally.
//!
//! `SCOPE_SOAK_CLIENTS=20000` soaks longer: that many clients in rounds of
//! `SCOPE_SOAK_BATCH` (2,000 by default; every client costs two file
//! descriptors) at once, each round against a fresh server. The leftovers are
//! checked against the start after every round, so a leak grows across rounds
//! instead of hiding inside one.
//!
//! # The protocol
//!
//! One request a line; replies come in no fixed order.
//!
//! - `hello <role>`: the handler answers `hi` itself (the client now knows
//!   it was accepted).
//! - `echo <text>`: a task answers `<text>`.
//! - `fail <text>`: a task answers `failed <text>`, then fails. Connections
//!   supervise, so the failure is counted and the connection stays open.
//! - `wait`: a task waits for the release, sent once the shutdown has begun,
//!   then starts a follow-up task that answers `released`.
//! - `token`: a task waits for the connection's token: only the shutdown's
//!   cancel ends it.
//! - `stuck`: a task that ignores everything: only the shutdown's abort ends
//!   it.
//! - `quit`: the handler stops reading and closes the connection.
//!
//! A line the end of the stream cuts short is no request. The handler reads
//! with `read_line` and checks the newline, not with `lines()`: it opts in to
//! end-of-stream once the close begins, and `lines()` would hand a stalled
//! peer's half line over as a last, complete one.
//!
//! Half the stallers go quiet from the start, and the test waits for the idle
//! timeout to close them; the others connect only then, so the shutdown
//! closes them.
//!
//! Every client sends one of `wait` / `token` / `stuck`, in turn, so every
//! connection has a task in flight when the shutdown begins, and the
//! connections that began closing on their own (quit, half-close, reset,
//! idle) are still waiting for it.
//!
//! # Time
//!
//! Real sockets rule out the paused clock, so two real timers remain, both
//! short and never asserted on: the idle timeout that closes stalled peers,
//! and the shutdown's grace. Everything else waits on events; a watchdog only
//! turns a hang into a failure.
//!
//! # Runtime
//!
//! Current-thread, like the other leftover checks: there a task that has
//! signalled its end has also left the runtime's count by the time the test
//! runs again (on the multi-thread runtime tokio wakes a joiner before it
//! removes the task from its count). It also makes the handler's tally
//! exact: nothing can fire a token between a task's return and the core's
//! judgement of it, in the same poll.

#![deny(unsafe_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use scope_conn::{CloseReason, Conn, ConnBuilder, Io, Server, ServerReport};
use scope_core::{BoxError, Policy, Spawner};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Closes the stalled peers that the shutdown does not reach first. Far above
/// the gaps inside a session (a behaving session has no pause of its own), so
/// only a peer that stalls on purpose meets it.
const IDLE: Duration = Duration::from_millis(500);

/// The shutdown's grace: every connection has a task only the cancel or the
/// abort ends, so the shutdown takes all of it.
const GRACE: Duration = Duration::from_millis(150);

/// Not a timing assertion: turns a hang (a close that never ends, an idle
/// timeout that never fires) into a failure.
const WATCHDOG: Duration = Duration::from_secs(120);

const LEFTOVER_BYTES: usize = 1 << 20;

// ----- the heap ------------------------------------------------------------

/// The bytes this test binary holds on the heap, for the leftover check.
mod heap {
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    // Relaxed: running sums, read after the work that moved them has been
    // joined; no other memory is published through them.
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    /// The system allocator, counting the bytes it holds.
    pub(crate) struct Counting;

    fn grew(by: usize) {
        let now = LIVE.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(now, Relaxed);
    }

    fn shrank(by: usize) {
        LIVE.fetch_sub(by, Relaxed);
    }

    // SAFETY: every method hands its arguments to `System` unchanged and
    // returns its answer unchanged, so each of `GlobalAlloc`'s obligations
    // (a block fit for `layout` or null; `dealloc`/`realloc` only of a block
    // this allocator returned, with its layout) is met by `System` exactly as
    // our callers meet theirs. The counting around it neither allocates nor
    // unwinds (atomic adds only), and it counts only blocks `System` actually
    // handed out or took back, so `LIVE` never goes below zero.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's `layout` obligations, passed on as is.
            let ptr = unsafe { System.alloc(layout) };
            if !ptr.is_null() {
                grew(layout.size());
            }
            ptr
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as `alloc`.
            let ptr = unsafe { System.alloc_zeroed(layout) };
            if !ptr.is_null() {
                grew(layout.size());
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller guarantees `ptr` came from this allocator
            // (that is, from `System`) with `layout`.
            unsafe { System.dealloc(ptr, layout) };
            shrank(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as `dealloc` for `ptr` and `layout`; the caller
            // guarantees `new_size` is valid for `layout`'s alignment.
            let new = unsafe { System.realloc(ptr, layout, new_size) };
            if !new.is_null() {
                // On failure the old block stays, and so does its count.
                if new_size >= layout.size() {
                    grew(new_size - layout.size());
                } else {
                    shrank(layout.size() - new_size);
                }
            }
            new
        }
    }

    /// Bytes held now.
    pub(crate) fn live() -> usize {
        LIVE.load(Relaxed)
    }

    /// The most bytes held since the last [`reset_peak`].
    pub(crate) fn peak() -> usize {
        PEAK.load(Relaxed)
    }

    pub(crate) fn reset_peak() {
        PEAK.store(live(), Relaxed);
    }
}

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

// ----- the server side -----------------------------------------------------

/// What the handler counts itself, to hold the report against.
#[derive(Default)]
struct Tally {
    spawned: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    aborted: AtomicU64,
    refused: AtomicU64,
}

/// What one round's handlers share.
struct Ctx {
    tally: Tally,
    /// Handler calls: one per accepted connection.
    handlers: AtomicU64,
    /// Handlers that saw their connection's report, by its close reason.
    reasons: Mutex<BTreeMap<String, u64>>,
    /// Handlers dropped before their connection's report: the shutdown's
    /// abort phase ended them, with the `stuck` task they were waiting for.
    unreported: AtomicU64,
    /// One message per early staller whose request loop ended before the
    /// shutdown: the idle timeout closed it.
    idle_closed: mpsc::UnboundedSender<()>,
    release: watch::Receiver<bool>,
    /// Requests cut short by the end of the stream (the close began, or the
    /// peer went, mid-line).
    truncated: AtomicU64,
}

type Work = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A connection's task, counting how it ended the way the core judges it:
/// returned `Err`, failed; returned after the connection's token fired,
/// cancelled; returned before, completed; dropped unfinished, aborted.
struct Tracked {
    work: Work,
    spawner: Spawner,
    /// `Some` until the end is counted.
    ctx: Option<Arc<Ctx>>,
}

impl Future for Tracked {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = ready!(self.work.as_mut().poll(cx));
        if let Some(ctx) = self.ctx.take() {
            // The core reads its cancelled flag right after, in this same
            // poll; on this runtime nothing can fire the token in between.
            let tally = &ctx.tally;
            let ended = match (&out, self.spawner.token().is_cancelled()) {
                (Err(_), _) => &tally.failed,
                (Ok(()), true) => &tally.cancelled,
                (Ok(()), false) => &tally.completed,
            };
            ended.fetch_add(1, Relaxed);
        }
        Poll::Ready(out)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            ctx.tally.aborted.fetch_add(1, Relaxed);
        }
    }
}

fn spawn_tracked(
    spawner: &Spawner,
    ctx: &Arc<Ctx>,
    work: impl Future<Output = Result<(), BoxError>> + Send + 'static,
) {
    let task = Tracked {
        work: Box::pin(work),
        spawner: spawner.clone(),
        ctx: Some(Arc::clone(ctx)),
    };
    match spawner.spawn(task) {
        Ok(_) => ctx.tally.spawned.fetch_add(1, Relaxed),
        Err(refused) => {
            // Handed back unpolled: it never was a task, so it did not end.
            let mut task = refused.into_inner();
            task.ctx = None;
            ctx.tally.refused.fetch_add(1, Relaxed)
        }
    };
}

/// Counts the handler's end: with its connection's report, or dropped.
struct HandlerEnd(Option<Arc<Ctx>>);

impl HandlerEnd {
    fn reported(mut self, reason: CloseReason) {
        let ctx = self.0.take().expect("reported once");
        *ctx.reasons
            .lock()
            .unwrap()
            .entry(format!("{reason:?}"))
            .or_default() += 1;
    }
}

impl Drop for HandlerEnd {
    fn drop(&mut self) {
        if let Some(ctx) = self.0.take() {
            ctx.unreported.fetch_add(1, Relaxed);
        }
    }
}

async fn serve(conn: Conn, mut io: Io<TcpStream>, ctx: Arc<Ctx>) {
    ctx.handlers.fetch_add(1, Relaxed);
    let end = HandlerEnd(Some(Arc::clone(&ctx)));
    // A request/response protocol: its loop ends once the close begins.
    io.end_reads_on_close();
    let (reader, writer) = io.split();
    let mut reader = BufReader::new(reader);
    let spawner = conn.spawner().clone();
    let mut early_staller = false;
    let mut line = String::new();
    // Ends on `quit`, on end-of-stream (the peer half-closed, or the close
    // began: idle timeout, shutdown), or on a read error (the peer reset).
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Some(request) = line.strip_suffix('\n') else {
            // The stream ended mid-line (the peer went, or the close began):
            // a request cut short, not a request.
            ctx.truncated.fetch_add(1, Relaxed);
            break;
        };
        let (verb, arg) = request.split_once(' ').unwrap_or((request, ""));
        let arg = arg.to_owned();
        let w = writer.clone();
        match verb {
            "hello" => {
                early_staller = arg == "stall-early";
                let _ = writer.send("hi\n").await;
            }
            "echo" => spawn_tracked(&spawner, &ctx, async move {
                let _ = w.send(format!("{arg}\n")).await;
                Ok(())
            }),
            "fail" => spawn_tracked(&spawner, &ctx, async move {
                let _ = w.send(format!("failed {arg}\n")).await;
                Err(format!("failed on purpose: {arg}").into())
            }),
            "wait" => {
                let (s, c, mut release) = (spawner.clone(), Arc::clone(&ctx), ctx.release.clone());
                spawn_tracked(&spawner, &ctx, async move {
                    let _ = release.wait_for(|go| *go).await;
                    // Follow-up work started while the connection closes:
                    // taken until its last task ends, refused once cancelled.
                    spawn_tracked(&s, &c, async move {
                        let _ = w.send("released\n").await;
                        Ok(())
                    });
                    Ok(())
                });
            }
            "token" => {
                let token = spawner.token().clone();
                spawn_tracked(&spawner, &ctx, async move {
                    token.cancelled().await;
                    Ok(())
                });
            }
            "stuck" => spawn_tracked(&spawner, &ctx, std::future::pending()),
            "quit" => break,
            _ => {
                let _ = writer.send(format!("unknown {verb}\n")).await;
            }
        }
    }
    if early_staller {
        let _ = ctx.idle_closed.send(());
    }
    // From the session: the close begins (unless it already has) and its
    // reason is known at once; the close runs on after the session returns.
    let report = conn.close().await;
    end.reported(report.reason());
}

/// Room in the backlog for every client at once: past it the kernel drops
/// SYNs and a client waits out a 1 s retransmit.
fn listen() -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    socket.listen(4096).unwrap()
}

// ----- the client side -----------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Requests, then half a line, then a reset (zero linger, drop).
    Reset,
    /// Requests, then shuts its write side down and reads to the end.
    HalfClose,
    /// Requests, then half a line and nothing more, from the start: the idle
    /// timeout closes it before the shutdown.
    StallEarly,
    /// As `StallEarly`, but connects once the early ones are idle-closed: the
    /// shutdown closes it.
    StallLate,
    /// Requests, reads the answers, `quit`, reads to the end.
    Behave,
}

impl Role {
    fn of(i: usize) -> Role {
        match i % 4 {
            0 => Role::Reset,
            1 => Role::HalfClose,
            2 if (i / 4) % 2 == 0 => Role::StallEarly,
            2 => Role::StallLate,
            _ => Role::Behave,
        }
    }

    fn hello(self) -> &'static str {
        match self {
            Role::Reset => "reset",
            Role::HalfClose => "half-close",
            Role::StallEarly => "stall-early",
            Role::StallLate => "stall-late",
            Role::Behave => "behave",
        }
    }
}

/// The request whose task is in flight at the shutdown, in turn.
fn long_request(i: usize) -> &'static str {
    ["wait", "token", "stuck"][(i / 4) % 3]
}

/// What one client read.
struct Seen {
    role: Role,
    lines: Vec<String>,
}

struct Session {
    i: usize,
    role: Role,
    io: BufReader<TcpStream>,
    lines: Vec<String>,
}

impl Session {
    async fn send(&mut self, data: &str) {
        self.io
            .write_all(data.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("client {} ({:?}) could not send: {e}", self.i, self.role));
    }

    /// Reads until every line in `want` has come.
    async fn read_until(&mut self, want: &[&str]) {
        while !want.iter().all(|w| self.lines.iter().any(|l| l == w)) {
            let mut line = String::new();
            match self.io.read_line(&mut line).await {
                Ok(n) if n > 0 => self.lines.push(line.trim_end().to_owned()),
                end => panic!(
                    "client {} ({:?}): the connection ended ({end:?}) before {want:?}; read {:?}",
                    self.i, self.role, self.lines
                ),
            }
        }
    }

    /// Reads to the end of the stream; a reset ends it too unless `clean`.
    async fn read_to_end(&mut self, clean: bool) {
        loop {
            let mut line = String::new();
            match self.io.read_line(&mut line).await {
                Ok(0) => return,
                Ok(_) => self.lines.push(line.trim_end().to_owned()),
                Err(e) if !clean => {
                    let _ = e;
                    return;
                }
                Err(e) => panic!(
                    "client {} ({:?}): the server's close was not clean: {e}; read {:?}",
                    self.i, self.role, self.lines
                ),
            }
        }
    }
}

async fn client(
    addr: SocketAddr,
    i: usize,
    ready: mpsc::UnboundedSender<()>,
    mut late: watch::Receiver<bool>,
) -> Seen {
    let role = Role::of(i);
    let long = long_request(i);
    if role == Role::StallLate {
        late.wait_for(|go| *go)
            .await
            .expect("the round outlives its clients");
    }
    let io = TcpStream::connect(addr)
        .await
        .expect("connect over loopback");
    let mut s = Session {
        i,
        role,
        io: BufReader::new(io),
        lines: Vec::new(),
    };
    let me = format!("c{i}");
    let failed = format!("failed c{i}");
    s.send(&format!("hello {}\n{long}\necho {me}\n", role.hello()))
        .await;
    match role {
        Role::Reset => {
            s.read_until(&["hi", &me]).await;
            s.send("echo never-fini").await;
            s.io.get_ref().set_zero_linger().unwrap();
            let lines = std::mem::take(&mut s.lines);
            drop(s); // RST, mid-request
            ready.send(()).unwrap();
            return Seen { role, lines };
        }
        Role::HalfClose => {
            s.send(&format!("fail {me}\n")).await;
            s.io.shutdown().await.unwrap();
            s.read_until(&["hi", &me, &failed]).await;
            ready.send(()).unwrap();
            s.read_to_end(true).await;
        }
        Role::StallEarly | Role::StallLate => {
            s.read_until(&["hi", &me]).await;
            s.send("echo stal").await; // and never the rest
            ready.send(()).unwrap();
            // Unread bytes at the server's close may turn its FIN into a RST.
            s.read_to_end(false).await;
        }
        Role::Behave => {
            s.send(&format!("fail {me}\n")).await;
            s.read_until(&["hi", &me, &failed]).await;
            s.send("quit\n").await;
            ready.send(()).unwrap();
            s.read_to_end(true).await;
        }
    }
    // Every answer once, and nothing else; `released` only if the follow-up
    // task ran, which the shutdown's timing decides.
    let mut got = s.lines.clone();
    got.sort_unstable();
    let mut want = vec!["hi".to_owned(), me];
    if matches!(role, Role::HalfClose | Role::Behave) {
        want.push(failed);
    }
    if long == "wait" && got.iter().any(|l| l == "released") {
        want.push("released".to_owned());
    }
    want.sort_unstable();
    assert_eq!(got, want, "client {i} ({role:?}) read the wrong answers");
    Seen {
        role,
        lines: s.lines,
    }
}

fn joined(res: Result<Seen, tokio::task::JoinError>) -> Seen {
    match res {
        Ok(seen) => seen,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a client task ended badly: {e}"),
    }
}

/// Waits for `count` events, collecting the clients that end meanwhile (and
/// failing at once if one panicked).
async fn events(
    rx: &mut mpsc::UnboundedReceiver<()>,
    count: usize,
    clients: &mut JoinSet<Seen>,
    done: &mut Vec<Seen>,
) {
    let mut got = 0;
    while got < count {
        tokio::select! {
            event = rx.recv() => {
                event.expect("the senders outlive the wait");
                got += 1;
            }
            Some(res) = clients.join_next() => done.push(joined(res)),
        }
    }
}

// ----- one round -----------------------------------------------------------

struct Figures {
    clients: usize,
    roles: BTreeMap<&'static str, usize>,
    report: ServerReport<BoxError>,
    handlers: u64,
    reasons: BTreeMap<String, u64>,
    unreported: u64,
    truncated: u64,
    answers: usize,
    released: usize,
    shutdown: Duration,
}

async fn round(n: usize) -> Figures {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let (idle_tx, mut idle_closed) = mpsc::unbounded_channel();
    let (release, release_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        tally: Tally::default(),
        handlers: AtomicU64::new(0),
        reasons: Mutex::new(BTreeMap::new()),
        unreported: AtomicU64::new(0),
        idle_closed: idle_tx,
        release: release_rx,
        truncated: AtomicU64::new(0),
    });
    let server = Server::builder()
        .name("soak")
        .max_connections(n)
        .conn(
            ConnBuilder::new()
                .nursery(|b| b.policy(Policy::Supervise))
                .idle_timeout(IDLE),
        )
        .serve(listener, {
            let ctx = Arc::clone(&ctx);
            move |conn, io| serve(conn, io, Arc::clone(&ctx))
        })
        .unwrap();

    let roles: Vec<Role> = (0..n).map(Role::of).collect();
    let count = |r: Role| roles.iter().filter(|&&x| x == r).count();
    let (early, late) = (count(Role::StallEarly), count(Role::StallLate));

    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let (go_late, late_rx) = watch::channel(false);
    let mut clients = JoinSet::new();
    for i in 0..n {
        clients.spawn(client(addr, i, ready_tx.clone(), late_rx.clone()));
    }
    let mut done = Vec::with_capacity(n);
    // Every client but the late stallers is mid-session or gone, its long
    // task in flight.
    events(&mut ready, n - late, &mut clients, &mut done).await;
    // The early stallers sat idle long enough: the idle timeout closed them.
    events(&mut idle_closed, early, &mut clients, &mut done).await;
    go_late.send_replace(true);
    events(&mut ready, late, &mut clients, &mut done).await;
    assert_eq!(
        server.accepted(),
        n as u64,
        "every client was answered `hi`"
    );

    let started = Instant::now();
    let (report, ()) = tokio::join!(server.shutdown(GRACE), async {
        // Polled after the shutdown's first poll began it.
        release.send_replace(true);
    });
    let shutdown = started.elapsed();
    while let Some(res) = clients.join_next().await {
        done.push(joined(res));
    }
    assert_eq!(server.open_connections(), 0);
    drop(server);

    // Every task any connection started ended once, and the report and the
    // handler agree on how.
    assert!(report.is_final());
    assert_eq!(report.connections(), n as u64);
    assert_eq!(report.refused_connections(), 0);
    let tasks = report.tasks();
    assert_eq!(tasks.live, 0, "{tasks:?}");
    assert_eq!(
        tasks.spawned,
        tasks.completed + tasks.failed + tasks.cancelled + tasks.aborted,
        "{tasks:?}"
    );
    let t = &ctx.tally;
    assert_eq!(
        [
            tasks.spawned,
            tasks.completed,
            tasks.failed,
            tasks.cancelled,
            tasks.aborted,
            tasks.refused,
        ],
        [
            t.spawned.load(Relaxed),
            t.completed.load(Relaxed),
            t.failed.load(Relaxed),
            t.cancelled.load(Relaxed),
            t.aborted.load(Relaxed),
            t.refused.load(Relaxed),
        ],
        "the report ([spawned, completed, failed, cancelled, aborted, refused]) \
         disagrees with the handler's own tally"
    );
    // Bounds that hold whatever the timers did: each `fail` was answered and
    // so had failed; each `echo` was answered before the shutdown; a `stuck`
    // task only ends by abort, a `token` task by cancel or abort.
    let sessions = count(Role::HalfClose) + count(Role::Behave);
    let stuck = (0..n).filter(|&i| long_request(i) == "stuck").count() as u64;
    let token = (0..n).filter(|&i| long_request(i) == "token").count() as u64;
    assert_eq!(tasks.failed, sessions as u64);
    assert_eq!(report.failed_connections(), sessions as u64);
    assert!(tasks.completed >= n as u64, "{tasks:?}");
    assert!(tasks.aborted >= stuck, "{tasks:?}");
    assert!(
        tasks.cancelled + tasks.aborted >= stuck + token,
        "{tasks:?}"
    );
    // Every handler ended, with its report or aborted by the shutdown.
    let handlers = ctx.handlers.load(Relaxed);
    let reasons = std::mem::take(&mut *ctx.reasons.lock().unwrap());
    let unreported = ctx.unreported.load(Relaxed);
    assert_eq!(handlers, n as u64);
    assert_eq!(reasons.values().sum::<u64>() + unreported, handlers);

    assert_eq!(done.len(), n);
    let answers = done.iter().map(|s| s.lines.len()).sum();
    let released = done
        .iter()
        .filter(|s| s.lines.iter().any(|l| l == "released"))
        .count();
    let mut by_role = BTreeMap::new();
    for seen in &done {
        *by_role.entry(seen.role.hello()).or_default() += 1;
    }
    Figures {
        clients: n,
        roles: by_role,
        report,
        handlers,
        reasons,
        unreported,
        truncated: ctx.truncated.load(Relaxed),
        answers,
        released,
        shutdown,
    }
}

fn env(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a count")),
        Err(_) => default,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn faulty_peers_at_shutdown_leave_no_task_and_no_memory_and_every_task_is_counted() {
    let total = env("SCOPE_SOAK_CLIENTS", 2_000);
    let batch = env("SCOPE_SOAK_BATCH", 2_000).max(1);
    let rounds = total.div_ceil(batch);
    let tasks_before = alive_tasks();
    let bytes_before = heap::live();
    let mut sum = [0_u64; 6];
    for r in 0..rounds {
        let n = batch.min(total - r * batch);
        heap::reset_peak();
        let started = Instant::now();
        let fig = tokio::time::timeout(WATCHDOG, round(n))
            .await
            .unwrap_or_else(|_| panic!("round {} hung (watchdog {WATCHDOG:?})", r + 1));
        let elapsed = started.elapsed();
        let tasks = fig.report.tasks();
        drop(fig.report);

        let tasks_left = alive_tasks() as i64 - tasks_before as i64;
        let bytes_left = heap::live() as i64 - bytes_before as i64;
        let peak = heap::peak() - bytes_before;
        println!(
            "conn_soak round {}/{rounds}: {} clients {:?}, {} accepted, {} answers read \
             ({} `released`), {} requests cut short; tasks {} spawned = {} completed + {} failed + {} cancelled \
             + {} aborted ({} refused, {} live), handler tally equal; closes {:?} + {} \
             handlers aborted; left: {tasks_left} tasks, {bytes_left:+} bytes \
             (peak +{:.1} MiB); round {:.2} s, shutdown {:.2} s",
            r + 1,
            fig.clients,
            fig.roles,
            fig.handlers,
            fig.answers,
            fig.released,
            fig.truncated,
            tasks.spawned,
            tasks.completed,
            tasks.failed,
            tasks.cancelled,
            tasks.aborted,
            tasks.refused,
            tasks.live,
            fig.reasons,
            fig.unreported,
            peak as f64 / (1 << 20) as f64,
            elapsed.as_secs_f64(),
            fig.shutdown.as_secs_f64(),
        );
        assert_eq!(tasks_left, 0, "a task outlived its server");
        assert!(
            bytes_left.unsigned_abs() <= LEFTOVER_BYTES as u64,
            "{bytes_left:+} bytes left after round {}",
            r + 1
        );
        for (s, x) in sum.iter_mut().zip([
            fig.clients as u64,
            tasks.spawned,
            tasks.completed,
            tasks.failed,
            tasks.cancelled,
            tasks.aborted,
        ]) {
            *s += x;
        }
    }
    if rounds > 1 {
        let [clients, spawned, completed, failed, cancelled, aborted] = sum;
        println!(
            "conn_soak total: {clients} clients in {rounds} rounds; tasks {spawned} spawned = \
             {completed} completed + {failed} failed + {cancelled} cancelled + {aborted} \
             aborted; left: {} tasks, {:+} bytes",
            alive_tasks() as i64 - tasks_before as i64,
            heap::live() as i64 - bytes_before as i64,
        );
    }
}
