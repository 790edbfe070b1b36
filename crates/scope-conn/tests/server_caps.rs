//! Hostile peers cannot exhaust the server: the connection cap (waiting or
//! refusing), the per-peer cap, and slow-trickling peers that cannot starve
//! well-behaved ones.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scope_conn::{ConnBuilder, Server};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Answers each line with `ok`, reading each line within `per_request`
/// (the deadline the protocol arms per request, as nginx's
/// `client_header_timeout`).
fn echo_ok(
    per_request: Duration,
) -> impl Fn(
    scope_conn::Conn,
    scope_conn::Io<TcpStream>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
+ Send
+ Sync
+ 'static {
    move |conn, io| {
        Box::pin(async move {
            let (reader, mut writer) = tokio::io::split(io);
            let mut lines = BufReader::new(reader).lines();
            loop {
                let line = tokio::select! {
                    line = tokio::time::timeout(per_request, lines.next_line()) => line,
                    () = conn.closing() => return,
                };
                match line {
                    Ok(Ok(Some(_))) => {
                        if writer.write_all(b"ok\n").await.is_err() {
                            return;
                        }
                    }
                    // End of stream, an error, or too slow: hang up.
                    _ => return,
                }
            }
        })
    }
}

#[tokio::test]
async fn accept_waits_at_the_connection_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .max_connections(2)
        .serve(listener, echo_ok(Duration::from_secs(60)))
        .unwrap();
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    for c in [&mut first, &mut second] {
        c.write_all(b"hi\n").await.unwrap();
        let mut ok = [0; 3];
        c.read_exact(&mut ok).await.unwrap();
    }
    // The third connects (the backlog) but is not served while two are open.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(b"hi\n").await.unwrap();
    let mut ok = [0; 3];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), third.read_exact(&mut ok))
            .await
            .is_err(),
        "served past the cap"
    );
    assert_eq!(server.open_connections(), 2);
    drop(first);
    third.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"ok\n");
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn refuse_mode_resets_connections_past_the_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .max_connections(1)
        .refuse_over_limit(true)
        .serve(listener, echo_ok(Duration::from_secs(60)))
        .unwrap();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(b"hi\n").await.unwrap();
    let mut ok = [0; 3];
    first.read_exact(&mut ok).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0; 1];
    let err = second.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(server.refused(), 1);
    let report = server.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.refused_connections(), 1);
    assert_eq!(report.connections(), 1);
}

#[tokio::test]
async fn the_per_peer_cap_resets_one_peers_extra_connections_and_serves_the_others() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .max_connections_per_peer(3)
        .serve(listener, echo_ok(Duration::from_secs(60)))
        .unwrap();
    let mut greedy = Vec::new();
    for _ in 0..3 {
        let mut c = common::small_buffer_client(addr, "127.0.0.2").await;
        c.write_all(b"hi\n").await.unwrap();
        let mut ok = [0; 3];
        c.read_exact(&mut ok).await.unwrap();
        greedy.push(c);
    }
    let mut fourth = common::small_buffer_client(addr, "127.0.0.2").await;
    let mut buf = [0; 1];
    assert_eq!(
        fourth.read(&mut buf).await.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    let mut other = common::small_buffer_client(addr, "127.0.0.3").await;
    other.write_all(b"hi\n").await.unwrap();
    let mut ok = [0; 3];
    other.read_exact(&mut ok).await.unwrap();
    // A slot is given back when the connection closes.
    drop(greedy.pop());
    let mut again = loop {
        let mut c = common::small_buffer_client(addr, "127.0.0.2").await;
        c.write_all(b"hi\n").await.unwrap();
        if c.read_exact(&mut ok).await.is_ok() {
            break c;
        }
    };
    again.shutdown().await.unwrap();
    assert_eq!(server.refused(), server.refused().max(1));
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_trickling_peers_cannot_starve_twenty_ordinary_clients() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .max_connections(1_000)
        .max_connections_per_peer(50)
        .conn(ConnBuilder::new())
        .serve(listener, echo_ok(Duration::from_secs(5)))
        .unwrap();

    // 1,000 peers from one address, each sending one byte a second and
    // never a whole line.
    let (trickling_tx, mut trickling) = mpsc::unbounded_channel::<()>();
    let connected = Arc::new(AtomicUsize::new(0));
    let mut tricklers = Vec::new();
    for _ in 0..1_000 {
        let (trickling_tx, connected) = (trickling_tx.clone(), connected.clone());
        tricklers.push(tokio::spawn(async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let connecting = socket.connect(addr).await;
            let _ = trickling_tx.send(());
            let Ok(mut c) = connecting else { return };
            connected.fetch_add(1, Ordering::Relaxed);
            while c.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    for _ in 0..1_000 {
        trickling.recv().await.unwrap();
    }

    // Twenty ordinary clients from another address are served within 2 s.
    let start = Instant::now();
    let ordinary: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
                let mut c = socket.connect(addr).await.unwrap();
                c.write_all(b"hello\n").await.unwrap();
                let mut ok = [0; 3];
                c.read_exact(&mut ok).await.unwrap();
                assert_eq!(&ok, b"ok\n");
            })
        })
        .collect();
    for client in ordinary {
        client.await.unwrap();
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "ordinary clients waited {took:?}"
    );
    // The tricklers hold at most their peer's share; the rest were reset.
    assert!(server.refused() > 0);
    assert!(
        server.open_connections() <= 50 + 20,
        "open {}",
        server.open_connections()
    );

    let report = server.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_final());
    for t in tricklers {
        t.abort();
    }
}
