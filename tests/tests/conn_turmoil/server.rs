//! The server's side: turmoil's listener under a [`Server`], the protocol's
//! handler, and the tally it keeps.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use scope_conn::{Accepted, Addr, CloseMode, CloseReason, Conn, ConnBuilder, Io, Listener, Server};
use scope_core::{BoxError, Policy, Spawner};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::time::Instant;
use turmoil::net::{TcpListener, TcpStream};

use crate::PORT;
use crate::plan::Plan;

/// turmoil's listener, for the server. A newtype: both the trait and the
/// type are foreign here. turmoil has no `SO_LINGER`, so a connection the
/// shutdown turns away gets the default `refuse` (dropped: a FIN).
struct SimListener(TcpListener);

impl Listener for SimListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> io::Result<Accepted<TcpStream>> {
        let (io, peer) = self.0.accept().await?;
        let local = io.local_addr()?;
        Ok(Accepted::new(io, Addr::from(peer), Addr::from(local)))
    }
}

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

impl Tally {
    fn get(&self) -> [u64; 6] {
        [
            &self.spawned,
            &self.completed,
            &self.failed,
            &self.cancelled,
            &self.aborted,
            &self.refused,
        ]
        .map(|n| n.load(Relaxed))
    }
}

/// What one run's handlers share.
#[derive(Default)]
struct Ctx {
    /// The sessions say goodbye (see `serve`).
    goodbye: bool,
    tally: Tally,
    handlers: AtomicU64,
    /// The close reason each handler saw (from inside, at once), by peer.
    reasons: Mutex<BTreeMap<String, CloseReason>>,
    /// Handlers dropped before their connection's report (the end of the
    /// shutdown's grace).
    unreported: AtomicU64,
    /// Requests cut short by the end of the stream.
    truncated: AtomicU64,
    /// Every connection's report, from `on_closed`, in the order they
    /// closed (those the grace cut short last, from the shutdown).
    closed: Mutex<Vec<Closed>>,
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
            // poll; on a host's current-thread runtime nothing can fire the
            // token in between.
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
    fn reported(mut self, peer: String, reason: CloseReason) {
        let ctx = self.0.take().expect("reported once");
        ctx.reasons.lock().unwrap().insert(peer, reason);
    }
}

impl Drop for HandlerEnd {
    fn drop(&mut self) {
        if let Some(ctx) = self.0.take() {
            ctx.unreported.fetch_add(1, Relaxed);
        }
    }
}

/// `read_line`, but cancel safe: the bytes of an unfinished line stay in
/// `line` across calls (tokio's `read_line` may lose them when dropped in a
/// `select!`). `Ok(false)` at the end of the stream.
async fn next_line<R: AsyncBufRead + Unpin>(r: &mut R, line: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        // The only wait; bytes move into `line` after it, all at once.
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(false);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

/// The session. Two kinds, by the plan:
///
/// - **Request/response** (`end_reads_on_close`): the request loop ends
///   once the close begins.
/// - **Goodbye**: reads on while the connection closes, as a multiplexed
///   protocol does, and once its tasks have drained ([`Conn::drained`])
///   says `bye`, takes no more requests, and waits for the peer to finish
///   (its FIN). A peer that never does is the goodbye timeout's to end.
async fn serve(conn: Conn, mut io: Io<TcpStream>, ctx: Arc<Ctx>) {
    ctx.handlers.fetch_add(1, Relaxed);
    let end = HandlerEnd(Some(Arc::clone(&ctx)));
    if !ctx.goodbye {
        io.end_reads_on_close();
    }
    let (reader, writer) = io.split();
    let mut reader = BufReader::new(reader);
    let spawner = conn.spawner().clone();
    let mut line = Vec::new();
    let mut said_bye = false;
    // Ends on `quit`, on end-of-stream (the peer half-closed, or the close
    // began), or on a read error (the peer reset).
    loop {
        let read = if ctx.goodbye && !said_bye {
            tokio::select! {
                // Drained first: no request is taken once the goodbye is due.
                biased;
                () = conn.drained() => {
                    // Every task's output is queued before it.
                    let _ = writer.send("bye\n").await;
                    said_bye = true;
                    continue;
                }
                read = next_line(&mut reader, &mut line) => read,
            }
        } else {
            next_line(&mut reader, &mut line).await
        };
        match read {
            Ok(true) => {}
            Ok(false) if !line.is_empty() => {
                // The stream ended mid-line: a request cut short, not a
                // request (`lines()` would hand it over as a complete one).
                ctx.truncated.fetch_add(1, Relaxed);
                break;
            }
            Ok(false) | Err(_) => break,
        }
        let request = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
        line.clear();
        if said_bye {
            // Past the goodbye: read to the peer's end, and drop.
            continue;
        }
        let mut words = request.split(' ');
        let verb = words.next().unwrap_or_default();
        let (a0, a1) = (
            words.next().unwrap_or_default().to_owned(),
            words.next().unwrap_or_default().to_owned(),
        );
        let w = writer.clone();
        match verb {
            "hello" => {
                let _ = writer.send(format!("hi {a0}\n")).await;
            }
            "echo" => spawn_tracked(&spawner, &ctx, async move {
                let _ = w.send(format!("{a0}\n")).await;
                Ok(())
            }),
            "fail" => spawn_tracked(&spawner, &ctx, async move {
                let _ = w.send(format!("failed {a0}\n")).await;
                Err(format!("failed on purpose: {a0}").into())
            }),
            "slow" => spawn_tracked(&spawner, &ctx, async move {
                let ms = a0.parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let _ = w.send(format!("slow {a1}\n")).await;
                Ok(())
            }),
            "later" => {
                let (s, c, closing) = (spawner.clone(), Arc::clone(&ctx), conn.clone());
                spawn_tracked(&spawner, &ctx, async move {
                    closing.closing().await;
                    // Follow-up work started while the connection closes:
                    // taken until the connection's tasks are cancelled.
                    spawn_tracked(&s, &c, async move {
                        let _ = w.send(format!("later {a0}\n")).await;
                        Ok(())
                    });
                    Ok(())
                });
            }
            "close" => {
                let handle = conn.clone();
                spawn_tracked(&spawner, &ctx, async move {
                    // From inside: begins the close, returns at once.
                    handle.close().await;
                    let _ = w.send(format!("closing {a0}\n")).await;
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
            "flood" => spawn_tracked(&spawner, &ctx, async move {
                let n: u64 = a0.parse().unwrap_or(0);
                for j in 0..n {
                    // Fails for every writer once the send timeout expired.
                    if w.send(format!("{a1}/{j}\n")).await.is_err() {
                        break;
                    }
                }
                Ok(())
            }),
            "quit" => break,
            _ => {
                let _ = writer.send(format!("unknown {verb}\n")).await;
            }
        }
    }
    // From the session: the close begins (unless it already has) and its
    // reason is known at once; the close runs on after the session returns.
    let report = conn.close().await;
    end.reported(peer_of(&conn), report.reason());
}

fn peer_of(conn: &Conn) -> String {
    conn.peer().map(ToString::to_string).unwrap_or_default()
}

/// One connection's report, as `on_closed` saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) peer: String,
    pub(crate) reason: CloseReason,
    /// spawned, completed, failed, cancelled, aborted.
    pub(crate) tasks: [u64; 5],
    /// The grace's abort ended the connection's driver before its close
    /// ran its course: the shutdown reported it, not final (a detached
    /// close is not final either, but ran its course).
    pub(crate) cut_short: bool,
}

/// What the server saw, from inside its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerSeen {
    /// How long the shutdown took, on the simulated clock.
    pub(crate) took: Duration,
    pub(crate) is_final: bool,
    pub(crate) open_after: usize,
    /// TCP streams the server's host still had after the shutdown.
    pub(crate) sockets_after: usize,
    pub(crate) connections: u64,
    pub(crate) refused_connections: u64,
    /// spawned, completed, failed, cancelled, aborted, refused, live.
    pub(crate) tasks: [u64; 7],
    /// The handler's own: spawned, completed, failed, cancelled, aborted,
    /// refused.
    pub(crate) tally: [u64; 6],
    pub(crate) handlers: u64,
    pub(crate) reasons: BTreeMap<String, CloseReason>,
    pub(crate) unreported: u64,
    pub(crate) truncated: u64,
    pub(crate) closed: Vec<Closed>,
    /// The server's own nursery (the accept loop, and per connection a task
    /// and a nested nursery): spawned, completed, failed, cancelled,
    /// aborted, live.
    pub(crate) nursery: [u64; 6],
    /// Whether the shutdown had to cancel.
    pub(crate) escalated: bool,
}

pub(crate) async fn server_node(
    plan: Arc<Plan>,
    out: Rc<RefCell<Option<ServerSeen>>>,
    done: Rc<Cell<Option<Duration>>>,
    clients_left: Rc<Cell<usize>>,
) -> turmoil::Result {
    let t0 = Instant::now();
    let listener = TcpListener::bind((IpAddr::from(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    let ctx = Arc::new(Ctx {
        goodbye: plan.goodbye,
        ..Ctx::default()
    });
    let policy = if plan.fail_fast {
        Policy::FailFast
    } else {
        Policy::Supervise
    };
    let mut conn = ConnBuilder::new()
        .nursery(move |b| b.policy(policy))
        .send_timeout(plan.send_timeout)
        .goodbye_timeout(plan.goodbye_timeout)
        .write_queue(plan.write_queue);
    if let Some(idle) = plan.idle_timeout {
        conn = conn.idle_timeout(idle);
    }
    let mut builder = Server::builder()
        .name("turmoil")
        .shutdown_mode(plan.shutdown_mode)
        .conn(conn);
    if let Some((max, refuse)) = plan.cap {
        builder = builder.max_connections(max).refuse_over_limit(refuse);
    }
    let server = builder
        .on_closed({
            let ctx = Arc::clone(&ctx);
            move |report| {
                let t = report.tasks().stats();
                ctx.closed.lock().unwrap().push(Closed {
                    peer: report.peer().map(ToString::to_string).unwrap_or_default(),
                    reason: report.reason(),
                    tasks: [t.spawned, t.completed, t.failed, t.cancelled, t.aborted],
                    cut_short: !report.is_final() && report.mode() != CloseMode::Detach,
                });
            }
        })
        .serve(SimListener(listener), {
            let ctx = Arc::clone(&ctx);
            move |conn, io| serve(conn, io, Arc::clone(&ctx))
        })?;

    tokio::time::sleep_until(t0 + plan.shutdown_at).await;
    let began = Instant::now();
    let report = if plan.drain == plan.grace / 4 * 3 {
        server.shutdown(plan.grace).await
    } else {
        server
            .shutdown_phases(plan.drain, plan.grace - plan.drain)
            .await
    };
    let took = began.elapsed();
    done.set(Some(t0.elapsed()));
    let open_after = server.open_connections();
    drop(server);
    // Every transport the server accepted is dropped: the host's TCP keeps
    // no stream for it.
    let sockets_after = turmoil::established_tcp_stream_count();

    let t = report.tasks();
    let n = report.server().stats();
    *out.borrow_mut() = Some(ServerSeen {
        nursery: [
            n.spawned,
            n.completed,
            n.failed,
            n.cancelled,
            n.aborted,
            n.live,
        ],
        escalated: report.server().cancel_reason().is_some(),
        took,
        is_final: report.is_final(),
        open_after,
        sockets_after,
        connections: report.connections(),
        refused_connections: report.refused_connections(),
        tasks: [
            t.spawned,
            t.completed,
            t.failed,
            t.cancelled,
            t.aborted,
            t.refused,
            t.live,
        ],
        tally: ctx.tally.get(),
        handlers: ctx.handlers.load(Relaxed),
        reasons: std::mem::take(&mut *ctx.reasons.lock().unwrap()),
        unreported: ctx.unreported.load(Relaxed),
        truncated: ctx.truncated.load(Relaxed),
        closed: std::mem::take(&mut *ctx.closed.lock().unwrap()),
    });
    // The host stays up until the clients are done, as a machine outlives
    // its server process: turmoil delivers nothing to a host whose software
    // ended, so a late SYN would wait there for ever instead of meeting the
    // closed port. Polled each step: the clients run on other runtimes.
    while clients_left.get() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}
