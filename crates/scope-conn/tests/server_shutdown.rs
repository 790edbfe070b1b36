//! A server's shutdown: it waits for the work every connection started (TCP
//! and Unix), returns within its grace whatever the peers and tasks do,
//! refuses connections that arrive meanwhile, and keeps failures in their
//! connection.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use scope_conn::{CloseMode, Conn, Io, Server};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};

/// A line session: each line starts work that waits for a permit of
/// `release`, then answers; `started` hears of each request. The session
/// takes no new request once the connection is closing.
async fn lines<S>(
    conn: Conn,
    io: Io<S>,
    release: Arc<Semaphore>,
    started: mpsc::UnboundedSender<()>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (reader, writer) = io.split();
    let mut lines = BufReader::new(reader).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { return };
                let (release, writer) = (release.clone(), writer.clone());
                conn.spawner()
                    .spawn(async move {
                        let _permit = release.acquire().await.unwrap();
                        let _ = writer.send(format!("done {line}\n")).await;
                    })
                    .unwrap();
                started.send(()).unwrap();
            }
            () = conn.closing() => return,
        }
    }
}

async fn shutdown_waits_for_every_connections_work<C>(
    server: Server,
    mut clients: Vec<C>,
    mut started: mpsc::UnboundedReceiver<()>,
    release: Arc<Semaphore>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    for client in &mut clients {
        client.write_all(b"x\n").await.unwrap();
    }
    for _ in 0..clients.len() {
        started.recv().await.unwrap();
    }
    let mut shutdown = Box::pin(server.shutdown(Duration::from_secs(3600)));
    assert!(
        (&mut shutdown).now_or_never().is_none(),
        "the shutdown waits for the work in flight"
    );
    release.add_permits(clients.len());
    let report = shutdown.await;

    assert!(report.is_final());
    assert_eq!(report.connections(), clients.len() as u64);
    let tasks = report.tasks();
    assert_eq!(
        tasks.completed,
        clients.len() as u64,
        "every request's work completed"
    );
    assert_eq!(
        (tasks.cancelled, tasks.aborted, tasks.failed, tasks.live),
        (0, 0, 0, 0)
    );
    assert_eq!(tasks.spawned, tasks.completed);
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
    let server = {
        let release = release.clone();
        Server::builder()
            .serve(listener, move |conn, io| {
                lines(conn, io, release.clone(), tx.clone())
            })
            .unwrap()
    };
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
    let server = {
        let release = release.clone();
        Server::builder()
            .serve(listener, move |conn, io| {
                lines(conn, io, release.clone(), tx.clone())
            })
            .unwrap()
    };
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(UnixStream::connect(&path).await.unwrap());
    }
    shutdown_waits_for_every_connections_work(server, clients, started, release).await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_within_its_grace_whatever_the_connections_do() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut started) = mpsc::unbounded_channel();
    let server: Server = Server::builder()
        .serve(listener, move |conn, _io| {
            let started = tx.clone();
            async move {
                let s = conn.spawner();
                // Ends in the drain, ends on the cancel, ignores everything.
                s.spawn(tokio::time::sleep(Duration::from_secs(1))).unwrap();
                let token = s.token().clone();
                s.spawn(async move { token.cancelled().await }).unwrap();
                s.spawn(std::future::pending::<()>()).unwrap();
                started.send(()).unwrap();
                // A session that ignores the close.
                std::future::pending::<()>().await;
            }
        })
        .unwrap();
    let _clients: Vec<TcpStream> = vec![
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    started.recv().await.unwrap();
    started.recv().await.unwrap();
    let start = tokio::time::Instant::now();
    let report = server.shutdown(Duration::from_secs(20)).await;
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(20),
        "the grace, not twice the grace"
    );
    assert!(report.is_final());
    let t = report.tasks();
    assert_eq!((t.completed, t.cancelled, t.aborted, t.live), (2, 2, 2, 0));
    assert_eq!(t.spawned, 6);
}

#[tokio::test(start_paused = true)]
async fn peers_that_stop_reading_cannot_hold_a_shutdown() {
    let listener = common::small_buffer_listener();
    let addr = listener.local_addr().unwrap();
    let (tx, mut started) = mpsc::unbounded_channel();
    let server: Server = Server::builder()
        .max_connections(10)
        .serve(listener, move |conn, io| {
            let started = tx.clone();
            async move {
                let (_reader, writer) = io.split();
                conn.spawner()
                    .spawn(async move {
                        let chunk = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
                        while writer.send(chunk.clone()).await.is_ok() {}
                    })
                    .unwrap();
                started.send(()).unwrap();
                conn.closing().await;
            }
        })
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(common::small_buffer_client(addr, "127.0.0.1").await);
    }
    for _ in 0..10 {
        started.recv().await.unwrap();
    }
    let start = tokio::time::Instant::now();
    let report = server.shutdown(Duration::from_secs(5)).await;
    assert!(
        start.elapsed() <= Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(report.is_final());
    assert_eq!(report.tasks().live, 0);
    assert_eq!(report.tasks().spawned, 10);
    drop(clients);
}

#[tokio::test]
async fn a_connection_arriving_during_the_shutdown_is_refused_not_answered_empty() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closing_tx, mut closing) = mpsc::unbounded_channel();
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let server = Server::builder()
        .serve(listener, move |conn, _io| {
            let (closing_tx, mut release) = (closing_tx.clone(), release.clone());
            async move {
                // Work that keeps the shutdown busy until released.
                conn.spawner()
                    .spawn(async move { drop(release.wait_for(|go| *go).await) })
                    .unwrap();
                conn.closing().await;
                closing_tx.send(()).unwrap();
            }
        })
        .unwrap();
    let busy = TcpStream::connect(addr).await.unwrap();
    let shutdown = tokio::spawn(async move { server.shutdown(Duration::from_secs(3600)).await });
    // The server is closing from here on.
    closing.recv().await.unwrap();
    // A new peer is refused, or reset once it reached the backlog: never
    // accepted and closed without a word.
    match TcpStream::connect(addr).await {
        Err(e) => {
            use std::io::ErrorKind::{ConnectionRefused, ConnectionReset};
            assert!(
                matches!(e.kind(), ConnectionRefused | ConnectionReset),
                "{e}"
            );
        }
        Ok(mut late) => {
            let mut buf = [0; 1];
            let read = late.read(&mut buf).await;
            assert_eq!(
                read.unwrap_err().kind(),
                std::io::ErrorKind::ConnectionReset
            );
        }
    }
    release_tx.send(true).unwrap();
    let report = shutdown.await.unwrap();
    assert_eq!(report.connections(), 1);
    assert_eq!(report.tasks().completed, 1);
    drop(busy);
}

#[tokio::test]
async fn detach_mode_closes_transports_at_once_and_the_shutdown_waits_for_the_work() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let release = Arc::new(Semaphore::new(0));
    let (tx, mut started) = mpsc::unbounded_channel();
    let server = {
        let release = release.clone();
        Server::builder()
            .shutdown_mode(CloseMode::Detach)
            .serve(listener, move |conn, _io| {
                let (release, started) = (release.clone(), tx.clone());
                async move {
                    conn.spawner()
                        .spawn(async move {
                            let _permit = release.acquire().await.unwrap();
                        })
                        .unwrap();
                    started.send(()).unwrap();
                    std::future::pending::<()>().await;
                }
            })
            .unwrap()
    };
    let mut client = TcpStream::connect(addr).await.unwrap();
    started.recv().await.unwrap();
    let mut shutdown = Box::pin(server.shutdown(Duration::from_secs(3600)));
    // The transport closes now...
    let mut rest = Vec::new();
    let read = tokio::select! {
        read = client.read_to_end(&mut rest) => read,
        _ = &mut shutdown => panic!("the shutdown must wait for the detached work"),
    };
    assert_eq!(read.unwrap(), 0);
    // ...and the work, handed to the server, is still waited for.
    assert!((&mut shutdown).now_or_never().is_none());
    release.add_permits(1);
    let report = shutdown.await;
    assert!(report.is_final());
    assert_eq!(report.tasks().completed, 1);
    assert_eq!(report.tasks().live, 0);
}

#[tokio::test]
async fn one_failing_connection_does_not_disturb_the_others() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .serve(listener, |conn, mut io| async move {
            // A request/response protocol: its loop ends with the connection.
            io.end_reads_on_close();
            let (reader, writer) = io.split();
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let writer = writer.clone();
                let _ = conn.spawner().spawn(async move {
                    if line == "fail" {
                        return Err("failed on purpose".into());
                    }
                    writer
                        .send(format!("ok {line}\n"))
                        .await
                        .map_err(Into::into)
                });
            }
        })
        .unwrap();
    let mut bad = TcpStream::connect(addr).await.unwrap();
    let mut good = TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"fail\n").await.unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        bad.read_to_end(&mut rest).await.unwrap(),
        0,
        "the failing connection closed"
    );
    good.write_all(b"still here\n").await.unwrap();
    good.shutdown().await.unwrap();
    let mut out = String::new();
    good.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "ok still here\n");
    let report = server.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.failed_connections(), 1);
    assert_eq!(report.tasks().failed, 1);
    assert_eq!(report.tasks().completed, 1);
}
