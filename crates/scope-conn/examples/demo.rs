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
//! follow-up work ("audit") that may outlive the request. Some clients hang
//! up early; some audits are slow and watch the cancellation token; a few
//! ignore it. At the end the server shuts down with a grace period: work that
//! can finish does, slow work is cancelled, stubborn work is aborted, and the
//! table shows that every task that was started is accounted for.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scope_conn::{Conn, ConnBuilder, Server};
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

/// What the handlers started, counted independently of the nurseries.
#[derive(Default)]
struct Started {
    tasks: AtomicU64,
    requests: AtomicU64,
}

const REQUESTS_PER_CLIENT: usize = 3;
const IN_FLIGHT: usize = 200;
const GRACE: Duration = Duration::from_millis(300);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let clients: usize = std::env::args()
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
                    .max_held(64)
                    .idle_timeout(Duration::from_secs(10)),
            )
            .serve(listener, move |conn| session(conn, started.clone()))?
    };
    println!("scope demo: {clients} clients x {REQUESTS_PER_CLIENT} requests against {addr}");

    // Clients, a bounded number at a time.
    let done = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut handles = Vec::with_capacity(clients);
    for i in 0..clients {
        let permit = gate.clone().acquire_owned().await?;
        let finished = done.clone();
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            let answered = client(addr, i).await.unwrap_or(0);
            finished.fetch_add(1, Ordering::Relaxed);
            answered
        }));
        if i % 100 == 0 {
            progress(&server, done.load(Ordering::Relaxed), clients, &started);
        }
    }
    let mut answered = 0;
    for h in handles {
        answered += h.await?;
    }
    progress(&server, clients, clients, &started);
    println!();

    // Some audit work is still running: shut down with a deadline.
    let in_flight = server.open_connections();
    println!(
        "all clients done; {in_flight} connections still finishing work; shutting down with {GRACE:?} grace"
    );
    let report = server.shutdown(GRACE).await;
    let tasks = report.tasks();
    let started_tasks = started.tasks.load(Ordering::Relaxed);
    let accounted = tasks.completed + tasks.failed + tasks.cancelled + tasks.aborted;

    println!();
    println!("| metric | value |");
    println!("|---|---:|");
    println!("| connections served | {} |", report.connections());
    println!(
        "| requests answered | {answered} of {} |",
        started.requests.load(Ordering::Relaxed)
    );
    println!("| tasks started | {started_tasks} |");
    println!("| drained (completed) | {} |", tasks.completed);
    println!("| failed | {} |", tasks.failed);
    println!("| cancelled | {} |", tasks.cancelled);
    println!("| aborted | {} |", tasks.aborted);
    println!("| still live | {} |", tasks.live);
    println!("| **lost** | **{}** |", started_tasks.abs_diff(accounted));
    println!("| elapsed | {:.2?} |", begin.elapsed());
    println!(
        "| peak heap | {:.1} MiB |",
        PEAK.load(Ordering::Relaxed) as f64 / (1 << 20) as f64
    );
    assert_eq!(
        accounted, started_tasks,
        "every started task is accounted for"
    );
    assert_eq!(tasks.live, 0);
    Ok(())
}

fn progress<E: Send + 'static>(server: &Server<E>, done: usize, clients: usize, started: &Started) {
    print!(
        "\r  clients {done:>6}/{clients}  open connections {:>4}  tasks started {:>7}",
        server.open_connections(),
        started.tasks.load(Ordering::Relaxed)
    );
    let _ = std::io::stdout().flush();
}

/// One connection: each request line starts a reply task and an audit task.
async fn session(mut conn: Conn<TcpStream>, started: Arc<Started>) {
    let mut reader = BufReader::new(conn.take_reader().expect("first take"));
    let mut line = String::new();
    // A line without its newline was cut short (by the peer, or by the close
    // beginning): it is not a request.
    while reader.read_line(&mut line).await.is_ok_and(|n| n > 0) && line.ends_with('\n') {
        let n: u64 = std::mem::take(&mut line).trim().parse().unwrap_or(0);
        started.requests.fetch_add(1, Ordering::Relaxed);
        let writer = conn.writer();
        // A client that hung up is not a failure of the reply.
        if conn
            .spawn(async move { drop(writer.send(format!("ok {n}\n")).await) })
            .is_ok()
        {
            started.tasks.fetch_add(1, Ordering::Relaxed);
        }
        let token = conn.token().clone();
        let audit = async move {
            if n % 97 == 0 {
                // Slow, but listens: cancelled if the deadline comes first.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = token.cancelled() => {}
                }
            } else if n % 331 == 1 {
                // Ignores cancellation: aborted at the end of the grace.
                tokio::time::sleep(Duration::from_secs(60)).await;
            } else if n % 13 == 0 {
                // Fails: counted, reported, and (fail-fast) closes its
                // connection; the other connections never notice.
                return Err("audit rejected the request".into());
            } else {
                // Quick follow-up work: finishes during the drain at the latest.
                tokio::time::sleep(Duration::from_millis(n % 50)).await;
            }
            Ok(())
        };
        if conn.spawn(audit).is_ok() {
            started.tasks.fetch_add(1, Ordering::Relaxed);
        }
    }
    // The peer is gone (or the server is closing): the connection's work
    // finishes under the server, which owns it until then.
    drop(conn);
}

/// A client: sends its requests, reads the answers; every seventh hangs up
/// before reading them.
async fn client(addr: std::net::SocketAddr, i: usize) -> std::io::Result<usize> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    for r in 0..REQUESTS_PER_CLIENT {
        write
            .write_all(format!("{}\n", i * REQUESTS_PER_CLIENT + r).as_bytes())
            .await?;
    }
    write.shutdown().await?;
    if i % 7 == 0 {
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
