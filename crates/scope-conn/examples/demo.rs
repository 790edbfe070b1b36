//! The whole idea on one screen: a server whose connections each own a
//! nursery, real client traffic over loopback, and a graceful shutdown with a
//! deadline that loses nothing.
//!
//! ```text
//! cargo run --release -p scope-conn --example demo
//! cargo run --release -p scope-conn --example demo -- 5000     # more clients
//! ```
//!
//! Every request starts two tasks on its connection: the reply, and
//! follow-up work (an "audit") that may outlive the request. Some of it
//! misbehaves on purpose (the legend printed with the table says how, and
//! what the table should show). At the end the server shuts down with a
//! deadline: work that can finish does, slow work is cancelled, stubborn
//! work is aborted, and the table shows that every task that was started is
//! accounted for.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scope_conn::{Conn, ConnBuilder, Io, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Counts live heap bytes and their peak, for the table.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only
// adds bookkeeping on atomics, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const REQUESTS_PER_CLIENT: u64 = 3;
const IN_FLIGHT: usize = 200;
const GRACE: Duration = Duration::from_secs(1);

/// The planted misbehaviour, by request number `n`.
fn audit_kind(n: u64) -> Audit {
    if n % 13 == 0 {
        Audit::Fails
    } else if n % 97 == 0 {
        Audit::Slow
    } else if n % 331 == 1 {
        Audit::Stubborn
    } else {
        Audit::Quick
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Audit {
    /// Returns an error: counted as failed, and under fail-fast it closes
    /// its connection (the requests after it there are refused).
    Fails,
    /// Takes 5 s but listens to the token: cancelled by the shutdown.
    Slow,
    /// Takes 60 s and ignores the token: aborted at the end of the grace.
    Stubborn,
    /// A few milliseconds: completes, at the latest while the server drains.
    Quick,
}

/// Every seventh client hangs up without reading its answers.
fn hangs_up(client: u64) -> bool {
    client % 7 == 0
}

/// What the handlers started, counted apart from the nurseries.
#[derive(Default)]
struct Started {
    tasks: AtomicU64,
    requests: AtomicU64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let clients: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let begin = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let started = Arc::new(Started::default());

    let server = {
        let started = started.clone();
        Server::builder()
            .name("demo")
            .max_connections(IN_FLIGHT * 5)
            .conn(
                ConnBuilder::new()
                    .nursery(|b| b.max_held(64))
                    .idle_timeout(Duration::from_secs(10)),
            )
            .serve(listener, move |conn, io| session(conn, io, started.clone()))?
    };
    println!("scope demo: {clients} clients x {REQUESTS_PER_CLIENT} requests against {addr}");

    // Clients, a bounded number at a time.
    let done = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let show = std::io::stdout().is_terminal();
    let mut handles = Vec::new();
    for i in 0..clients {
        let permit = gate.clone().acquire_owned().await?;
        let finished = done.clone();
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            let answered = client(addr, i).await.unwrap_or(0);
            finished.fetch_add(1, Ordering::Relaxed);
            answered
        }));
        if show && i % 100 == 99 {
            progress(&server, done.load(Ordering::Relaxed), clients, &started);
        }
    }
    let mut answered = 0;
    for h in handles {
        answered += h.await?;
    }
    if show {
        progress(&server, clients as usize, clients, &started);
        println!();
    }

    // Some audits are still running: shut down with a deadline.
    println!(
        "all clients done; {} connections still finishing work; shutting down within {GRACE:?}",
        server.open_connections()
    );
    let report = server.shutdown(GRACE).await;
    let tasks = report.tasks();
    let started_tasks = started.tasks.load(Ordering::Relaxed);
    let accounted = tasks.completed + tasks.failed + tasks.cancelled + tasks.aborted + tasks.live;

    let requests = clients * REQUESTS_PER_CLIENT;
    let planted = |kind| (0..requests).filter(|&n| audit_kind(n) == kind).count();
    let hung_up = (0..clients).filter(|&c| hangs_up(c)).count();
    println!();
    println!("| | count | what it should be |");
    println!("|---|---:|---|");
    println!(
        "| connections served | {} | one per client: {clients} |",
        report.connections()
    );
    println!(
        "| requests received | {} | {REQUESTS_PER_CLIENT} per client, except after a failed audit closed the connection |",
        started.requests.load(Ordering::Relaxed)
    );
    println!(
        "| answers clients read | {answered} | at most {}: the {hung_up} clients that hang up without reading (every 7th) read none |",
        (clients - hung_up as u64) * REQUESTS_PER_CLIENT
    );
    println!("| tasks started | {started_tasks} | a reply and an audit per request received |");
    println!(
        "| completed | {} | every reply and quick audit |",
        tasks.completed
    );
    println!(
        "| failed | {} | {} planted: every 13th request's audit returns an error |",
        tasks.failed,
        planted(Audit::Fails)
    );
    println!(
        "| cancelled | {} | the {} planted slow audits (every 97th), which listen to the token, and every task that ended after a failed audit cancelled its connection (fail-fast) |",
        tasks.cancelled,
        planted(Audit::Slow)
    );
    println!(
        "| aborted | {} | {} planted stubborn audits (every 331st) that ignore the token, ended at the end of the grace |",
        tasks.aborted,
        planted(Audit::Stubborn)
    );
    println!(
        "| running | {} | 0: the shutdown waited for, cancelled or aborted everything |",
        tasks.live
    );
    println!(
        "| **lost** | **{}** | **0**: tasks started but not accounted for |",
        started_tasks.abs_diff(accounted)
    );
    println!("| elapsed | {:.2?} | |", begin.elapsed());
    println!(
        "| peak heap | {:.1} MiB | |",
        PEAK.load(Ordering::Relaxed) as f64 / f64::from(1 << 20)
    );
    assert_eq!(
        accounted, started_tasks,
        "every started task is accounted for"
    );
    assert_eq!(tasks.live, 0);
    Ok(())
}

fn progress<E: Send + 'static>(server: &Server<E>, done: usize, clients: u64, started: &Started) {
    print!(
        "\r  clients {done:>6}/{clients}  open connections {:>4}  tasks started {:>7}",
        server.open_connections(),
        started.tasks.load(Ordering::Relaxed)
    );
    let _ = std::io::stdout().flush();
}

/// One connection: each request line starts a reply task and an audit task.
/// The request loop ends when the client stops sending or the connection
/// begins to close; the connection's work finishes under the server.
async fn session(conn: Conn, io: Io<TcpStream>, started: Arc<Started>) {
    let (reader, writer) = io.split();
    let mut lines = BufReader::new(reader).lines();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            () = conn.closing() => return,
        };
        let Ok(Some(line)) = line else { return };
        let n: u64 = line.trim().parse().unwrap_or(0);
        started.requests.fetch_add(1, Ordering::Relaxed);
        let writer = writer.clone();
        // A client that hung up is not a failure of the reply.
        let reply = async move { drop(writer.send(format!("ok {n}\n")).await) };
        if conn.spawner().spawn(reply).is_ok() {
            started.tasks.fetch_add(1, Ordering::Relaxed);
        }
        let token = conn.spawner().token().clone();
        let audit = async move {
            match audit_kind(n) {
                Audit::Fails => return Err("audit rejected the request".into()),
                Audit::Slow => tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = token.cancelled() => {}
                },
                Audit::Stubborn => tokio::time::sleep(Duration::from_secs(60)).await,
                Audit::Quick => tokio::time::sleep(Duration::from_millis(n % 50)).await,
            }
            Ok(())
        };
        if conn.spawner().spawn(audit).is_ok() {
            started.tasks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A client: sends its requests, reads the answers (unless it is one that
/// hangs up).
async fn client(addr: std::net::SocketAddr, i: u64) -> std::io::Result<u64> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    for r in 0..REQUESTS_PER_CLIENT {
        write
            .write_all(format!("{}\n", i * REQUESTS_PER_CLIENT + r).as_bytes())
            .await?;
    }
    write.shutdown().await?;
    if hangs_up(i) {
        return Ok(0);
    }
    let mut lines = BufReader::new(read).lines();
    let mut answers = 0;
    while let Some(line) = lines.next_line().await? {
        if line.starts_with("ok ") {
            answers += 1;
        }
        if answers == REQUESTS_PER_CLIENT {
            break;
        }
    }
    Ok(answers)
}
