//! K6 and K7 at the server: shutdown waits for the work connections started
//! (TCP and Unix), `Detach` hands work to the server, dropped connections
//! detach, the connection cap, and failures stay in their connection.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use scope_conn::{CloseMode, Conn, Server};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};

/// A handler: each line starts work that waits for a permit of `release`,
/// then answers. `started` hears of each request.
fn line_handler<S>(
    release: Arc<Semaphore>,
    started: mpsc::UnboundedSender<()>,
) -> impl Fn(Conn<S>) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync + 'static
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    move |mut conn: Conn<S>| {
        let (release, started) = (release.clone(), started.clone());
        async move {
            let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let (release, writer) = (release.clone(), conn.writer());
                conn.spawn(async move {
                    let _permit = release.acquire().await.unwrap();
                    let _ = writer.send(format!("done {line}\n")).await;
                })
                .unwrap();
                started.send(()).unwrap();
            }
            conn.close().await;
        }
        .boxed()
    }
}

async fn shutdown_waits_for_every_connections_work<C>(
    server: Server,
    clients: Vec<C>,
    mut started: mpsc::UnboundedReceiver<()>,
    release: Arc<Semaphore>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut clients = clients;
    for client in &mut clients {
        client.write_all(b"x\n").await.unwrap();
    }
    for _ in 0..clients.len() {
        started.recv().await.unwrap();
    }
    let mut shutdown = Box::pin(server.shutdown(Duration::from_secs(3600)));
    assert!(
        (&mut shutdown).now_or_never().is_none(),
        "shutdown must wait for the work in flight"
    );
    release.add_permits(clients.len());
    let report = shutdown.await;

    assert!(report.is_final());
    assert_eq!(report.connections(), clients.len() as u64);
    let tasks = report.tasks();
    assert_eq!(
        tasks.completed,
        clients.len() as u64,
        "every request's work completed, none cancelled"
    );
    assert_eq!(
        (tasks.cancelled, tasks.aborted, tasks.failed, tasks.live),
        (0, 0, 0, 0)
    );
    for client in &mut clients {
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "done x\n", "answered, then closed");
    }
}

#[tokio::test]
async fn tcp_shutdown_waits_for_the_work_every_connection_started() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let release = Arc::new(Semaphore::new(0));
    let (tx, started) = mpsc::unbounded_channel();
    let server = Server::builder()
        .serve(listener, line_handler::<TcpStream>(release.clone(), tx))
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    shutdown_waits_for_every_connections_work(server, clients, started, release).await;
}

#[tokio::test]
async fn unix_shutdown_waits_for_the_work_every_connection_started() {
    let path = std::env::temp_dir().join(format!("scope-conn-test-{}-a.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let release = Arc::new(Semaphore::new(0));
    let (tx, started) = mpsc::unbounded_channel();
    let server = Server::builder()
        .serve(listener, line_handler::<UnixStream>(release.clone(), tx))
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(UnixStream::connect(&path).await.unwrap());
    }
    shutdown_waits_for_every_connections_work(server, clients, started, release).await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn detach_leaves_work_running_that_the_server_shutdown_then_waits_for() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let release = Arc::new(Semaphore::new(0));
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let server = {
        let release = release.clone();
        Server::builder()
            .serve(listener, move |conn: Conn<TcpStream>| {
                let (release, report_tx) = (release.clone(), report_tx.clone());
                async move {
                    conn.spawn(async move {
                        let _permit = release.acquire().await.unwrap();
                    })
                    .unwrap();
                    report_tx
                        .send(conn.close_with(CloseMode::Detach).await)
                        .unwrap();
                }
            })
            .unwrap()
    };
    let mut client = TcpStream::connect(addr).await.unwrap();
    let report = reports.recv().await.unwrap();
    assert!(!report.is_final());
    assert_eq!(report.stats().live, 1, "the detached work still runs");
    let mut rest = Vec::new();
    assert_eq!(
        client.read_to_end(&mut rest).await.unwrap(),
        0,
        "the transport closed at once"
    );

    let mut shutdown = Box::pin(server.shutdown(Duration::from_secs(3600)));
    assert!(
        (&mut shutdown).now_or_never().is_none(),
        "the server waits for the detached work"
    );
    release.add_permits(1);
    let report = shutdown.await;
    assert_eq!(report.tasks().completed, 1);
    assert_eq!((report.tasks().cancelled, report.tasks().aborted), (0, 0));
}

#[tokio::test]
async fn a_dropped_server_conn_detaches_its_tasks_to_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let release = Arc::new(Semaphore::new(0));
    let (tx, mut returned) = mpsc::unbounded_channel();
    let server = {
        let release = release.clone();
        Server::builder()
            .serve(listener, move |conn: Conn<TcpStream>| {
                let (release, tx) = (release.clone(), tx.clone());
                async move {
                    let writer = conn.writer();
                    conn.spawn(async move {
                        let _permit = release.acquire().await.unwrap();
                        writer.send("finished\n").await.unwrap();
                    })
                    .unwrap();
                    tx.send(()).unwrap();
                    // Returns without closing: the Conn is dropped here.
                }
            })
            .unwrap()
    };
    let mut client = TcpStream::connect(addr).await.unwrap();
    returned.recv().await.unwrap();
    release.add_permits(1);
    // The work outlived its handler, kept the transport, and answered.
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "finished\n");
    let report = server.shutdown(Duration::from_secs(3600)).await;
    assert_eq!(report.tasks().completed, 1);
    assert_eq!(report.tasks().aborted, 0);
}

#[tokio::test]
async fn accept_waits_at_the_connection_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, mut started) = mpsc::unbounded_channel();
    let server = {
        let (live, peak) = (live.clone(), peak.clone());
        Server::builder()
            .max_connections(2)
            .serve(listener, move |mut conn: Conn<TcpStream>| {
                let (live, peak, tx) = (live.clone(), peak.clone(), tx.clone());
                async move {
                    let now = live.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tx.send(()).unwrap();
                    let mut reader = conn.take_reader().unwrap();
                    let _ = reader.read_to_end(&mut Vec::new()).await; // until the peer leaves
                    live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    conn.close().await;
                }
            })
            .unwrap()
    };
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    // Served two at a time: each leaving client lets the next one in.
    for client in clients {
        started.recv().await.unwrap();
        drop(client);
    }
    let report = server.shutdown(Duration::from_secs(3600)).await;
    assert_eq!(report.connections(), 6);
    assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn one_failing_connection_does_not_disturb_the_others() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .serve(listener, |mut conn: Conn<TcpStream>| async move {
            let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let writer = conn.writer();
                let _ = conn.spawn(async move {
                    if line == "fail" {
                        return Err("refused".into());
                    }
                    writer.send(format!("ok {line}\n")).await?;
                    Ok(())
                });
            }
            conn.close().await;
        })
        .unwrap();
    let mut bad = TcpStream::connect(addr).await.unwrap();
    let mut good = TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"fail\n").await.unwrap();
    assert_eq!(
        bad.read_to_end(&mut Vec::new()).await.unwrap(),
        0,
        "the failure closed that connection"
    );
    good.write_all(b"1\n").await.unwrap();
    let mut line = [0; 5];
    good.read_exact(&mut line).await.unwrap();
    assert_eq!(&line, b"ok 1\n", "the other connection is unaffected");
    drop(good);
    let report = server.shutdown(Duration::from_secs(3600)).await;
    assert_eq!(report.failed_connections(), 1);
    assert_eq!((report.tasks().failed, report.tasks().completed), (1, 1));
}
