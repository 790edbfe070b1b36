//! A multiplexed protocol (two interleaved streams on one socket, as SSH
//! channels or HTTP/2 streams): while the close drains, the transport keeps
//! reading, so an in-flight stream that needs the peer's answer to finish
//! still finishes, and its output reaches the peer after the close began.
//!
//! The toy protocol: lines `<stream> <word>`. A new stream id with `open`
//! starts a task; the task writes `<id> need-ack`, waits for the peer's
//! `<id> ack` (routed to it by the session), then writes `<id> done`. Once
//! the connection is closing, new streams are refused (`<id> refused`); once
//! its tasks have drained, the session says `bye` and returns.

mod common;

use std::collections::HashMap;

use scope_conn::{CloseReason, Conn, ConnBuilder, Io};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, oneshot};

async fn session<S>(conn: Conn, io: Io<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (reader, writer) = io.split();
    let mut lines = BufReader::new(reader).lines();
    let mut streams: HashMap<String, mpsc::UnboundedSender<String>> = HashMap::new();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Some((id, word)) = line.split_once(' ') else { continue };
                if let Some(stream) = streams.get(id) {
                    let _ = stream.send(word.to_owned());
                    continue;
                }
                if word != "open" {
                    continue;
                }
                let (tx, mut rx) = mpsc::unbounded_channel();
                let id = id.to_owned();
                // The session stops taking new streams once closing.
                let task = {
                    let (id, writer) = (id.clone(), writer.clone());
                    async move {
                        writer.send(format!("{id} need-ack\n")).await.unwrap();
                        while rx.recv().await.as_deref() != Some("ack") {}
                        writer.send(format!("{id} done\n")).await.unwrap();
                    }
                };
                if conn.spawner().is_closing() || conn.spawner().spawn(task).is_err() {
                    writer.send(format!("{id} refused\n")).await.unwrap();
                } else {
                    streams.insert(id, tx);
                }
            }
            () = conn.drained() => {
                writer.send("bye\n").await.unwrap();
                break;
            }
        }
    }
}

async fn expect(
    lines: &mut tokio::io::Lines<BufReader<impl tokio::io::AsyncRead + Unpin>>,
    want: &str,
) {
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some(want));
}

async fn in_flight_stream_finishes_after_the_close_began<C>(io_server: C, client: C)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (conn_tx, conn_rx) = oneshot::channel::<Conn>();
    let served = ConnBuilder::new()
        .serve(io_server, move |conn, io| {
            conn_tx.send(conn.clone()).unwrap();
            session(conn, io)
        })
        .unwrap();
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    let (read, mut write) = tokio::io::split(client);
    let mut lines = BufReader::new(read).lines();

    // Two interleaved streams; stream 2 finishes before the close.
    write.write_all(b"1 open\n2 open\n").await.unwrap();
    expect(&mut lines, "1 need-ack").await;
    expect(&mut lines, "2 need-ack").await;
    write.write_all(b"2 ack\n").await.unwrap();
    expect(&mut lines, "2 done").await;

    // The close begins with stream 1 in flight, waiting for the peer.
    let closing = tokio::spawn(conn.close());
    conn.closing().await;
    write.write_all(b"3 open\n").await.unwrap();
    expect(&mut lines, "3 refused").await;
    // The transport still reads: the ack reaches stream 1, whose answer
    // arrives after the close began.
    write.write_all(b"1 ack\n").await.unwrap();
    expect(&mut lines, "1 done").await;
    expect(&mut lines, "bye").await;
    assert_eq!(
        lines.next_line().await.unwrap(),
        None,
        "then the transport shuts"
    );

    let report = closing.await.unwrap();
    assert!(report.is_final());
    assert_eq!(report.reason(), CloseReason::Requested);
    assert_eq!(report.tasks().stats().completed, 2);
    assert_eq!(report.tasks().stats().live, 0);
    assert_eq!(
        served.await.unwrap().tasks().stats(),
        report.tasks().stats()
    );
}

#[tokio::test]
async fn over_tcp_an_in_flight_stream_finishes_after_the_close_began() {
    let (server, client): (TcpStream, TcpStream) = common::tcp_pair().await;
    in_flight_stream_finishes_after_the_close_began(server, client).await;
}

#[tokio::test]
async fn over_a_unix_socket_an_in_flight_stream_finishes_after_the_close_began() {
    let (server, client) = UnixStream::pair().unwrap();
    in_flight_stream_finishes_after_the_close_began(server, client).await;
}
