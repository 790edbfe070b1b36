//! The clients' side: each connection's conversation, and what it saw.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;
use turmoil::net::TcpStream;
use turmoil::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::plan::{ConnPlan, HostPlan, Plan, Role};
use crate::{PORT, SERVER};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The server's FIN.
    Eof,
    /// A reset (or another read error).
    Reset,
    /// The connection was never made (the SYN was lost or turned away).
    Refused,
    /// The client's own deadline: nothing more came.
    Deadline,
    /// The client hung up itself.
    Left,
}

/// What one client connection saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) name: String,
    pub(crate) lines: Vec<String>,
    pub(crate) end: End,
    /// When it ended, on its host's clock since the run began.
    pub(crate) at: Duration,
}

/// When a client stops waiting: once the server's shutdown has ended (its
/// host says when) and the last held segments are released, what the
/// server sent last has had time to arrive, and a reply to it time to come
/// back.
#[derive(Clone)]
pub(crate) struct Deadline {
    t0: Instant,
    /// When the server's shutdown ended, since the run began.
    done: Rc<Cell<Option<Duration>>>,
    last_release: Duration,
    way: Duration,
}

impl Deadline {
    pub(crate) fn new(plan: &Plan, done: Rc<Cell<Option<Duration>>>) -> Self {
        Deadline {
            t0: Instant::now(),
            done,
            last_release: plan.last_release(),
            way: plan.latency.max(),
        }
    }

    /// Once the server's shutdown has ended. Polled each step: the server
    /// runs on another host's runtime.
    async fn server_done(&self) -> Duration {
        loop {
            if let Some(done) = self.done.get() {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn passed(&self) {
        let done = self.server_done().await;
        let at = done.max(self.last_release) + 2 * self.way + Duration::from_millis(100);
        tokio::time::sleep_until(self.t0 + at).await;
    }

    /// `f`, unless the deadline passes first.
    async fn until<T>(&self, f: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            // Biased: whatever `f` finishes in the step the deadline passes
            // counts, and no random draw enters the run.
            biased;
            out = f => Some(out),
            () = self.passed() => None,
        }
    }
}

async fn client(plan: ConnPlan, deadline: Deadline) -> Seen {
    let mut seen = Seen {
        name: plan.name.clone(),
        lines: Vec::new(),
        end: End::Deadline,
        at: Duration::ZERO,
    };
    seen.end = converse(&plan, &mut seen.lines, &deadline).await;
    seen.at = deadline.t0.elapsed();
    seen
}

/// Runs one connection's side of the conversation; returns how it ended.
async fn converse(plan: &ConnPlan, lines: &mut Vec<String>, deadline: &Deadline) -> End {
    tokio::time::sleep_until(deadline.t0 + plan.start).await;
    let stream = match deadline.until(TcpStream::connect((SERVER, PORT))).await {
        Some(Ok(stream)) => stream,
        Some(Err(_)) => return End::Refused,
        None => return End::Deadline,
    };
    let (r, w) = stream.into_split();
    let mut talk = Talk {
        r: BufReader::new(r),
        w,
        lines,
        deadline,
    };

    let mut text = format!("hello {}\n", plan.name);
    for k in 0..plan.requests.len() {
        text.push_str(&plan.line(k));
    }
    let cut = text.len() - plan.split.min(text.len() - 1);
    talk.write(&text.as_bytes()[..cut]).await;
    tokio::time::sleep(plan.gap).await;
    talk.write(&text.as_bytes()[cut..]).await;

    match plan.role {
        Role::Stall => talk.write(b"echo sta").await,
        Role::Leave => {
            talk.write(b"echo lef").await;
            tokio::time::sleep(plan.gap).await;
            return End::Left;
        }
        Role::HalfClose => {
            let _ = talk.w.shutdown().await;
        }
        Role::NoRead => {
            deadline.server_done().await;
        }
        Role::Behave => {
            let quick = plan.quick();
            while !quick.iter().all(|q| talk.lines.contains(q)) {
                if let Some(end) = talk.read_line().await {
                    return end;
                }
            }
            talk.write(b"quit\n").await;
        }
        Role::Stay | Role::Late => {}
    }
    loop {
        if let Some(end) = talk.read_line().await {
            return end;
        }
    }
}

/// A connection's two halves, and what it read.
struct Talk<'a> {
    r: BufReader<OwnedReadHalf>,
    /// Held to the end: dropping it sends a FIN.
    w: OwnedWriteHalf,
    lines: &'a mut Vec<String>,
    deadline: &'a Deadline,
}

impl Talk<'_> {
    async fn write(&mut self, bytes: &[u8]) {
        // Write errors are not the client's to judge: the reads tell the
        // end.
        let _ = self.w.write_all(bytes).await;
    }

    /// Reads one line; `Some` once the stream ended. Answers the server's
    /// `bye` with its own end (a FIN), as the goodbye protocol asks.
    async fn read_line(&mut self) -> Option<End> {
        let mut line = String::new();
        match self.deadline.until(self.r.read_line(&mut line)).await {
            None => Some(End::Deadline),
            Some(Err(_)) => Some(End::Reset),
            Some(Ok(0)) => Some(End::Eof),
            Some(Ok(_)) => {
                // A line without its newline is kept as it came: the check
                // flags it (the server only writes whole lines).
                let line = line.strip_suffix('\n').unwrap_or(&line).to_owned();
                if line == "bye" {
                    let _ = self.w.shutdown().await;
                }
                self.lines.push(line);
                None
            }
        }
    }
}

pub(crate) async fn client_host(
    host: HostPlan,
    plan: Arc<Plan>,
    server_done: Rc<Cell<Option<Duration>>>,
    out: Rc<RefCell<Vec<Seen>>>,
    left: Rc<Cell<usize>>,
) -> turmoil::Result {
    let deadline = Deadline::new(&plan, server_done);
    let mut conns = tokio::task::JoinSet::new();
    for (i, c) in host.conns.into_iter().enumerate() {
        // Local: the deadline shares the server's `Rc`; turmoil runs every
        // host on a `LocalSet`.
        let deadline = deadline.clone();
        conns.spawn_local(async move { (i, client(c, deadline).await) });
    }
    let mut seen: Vec<(usize, Seen)> = Vec::new();
    while let Some(done) = conns.join_next().await {
        seen.push(done?);
    }
    seen.sort_by_key(|(i, _)| *i);
    out.borrow_mut().extend(seen.into_iter().map(|(_, s)| s));
    left.set(left.get() - 1);
    Ok(())
}
