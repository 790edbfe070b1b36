//! K5: under fail-fast, a failing task closes its connection, and the
//! failure is the close reason.

use scope_conn::{CloseReason, Conn, ConnBuilder};
use scope_core::Policy;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (client, accepted) = tokio::join!(client, listener.accept());
    (accepted.unwrap().0, client.unwrap())
}

#[tokio::test]
async fn a_failing_task_closes_its_connection_with_that_error() {
    let (io, mut client) = tcp_pair().await;
    let mut conn: Conn<_, std::io::Error> = ConnBuilder::new().build(io).unwrap();
    let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
    let spawner = conn.spawner();
    // A sibling that only ends when the connection is cancelled.
    let token = conn.token().clone();
    conn.spawn(async move {
        token.cancelled().await;
        Ok(())
    })
    .unwrap();
    conn.spawn(async move {
        while let Some(line) = lines.next_line().await? {
            spawner
                .spawn(async move {
                    if line == "bad" {
                        return Err(std::io::Error::other("bad request"));
                    }
                    Ok(())
                })
                .unwrap();
        }
        Ok(())
    })
    .unwrap();
    client.write_all(b"good\nbad\n").await.unwrap();

    let report = conn.closed().await; // nobody called close: the failure did
    assert_eq!(report.reason(), CloseReason::Failed);
    assert!(report.is_final());
    assert_eq!(report.stats().failed, 1);
    assert_eq!(
        report
            .take_failure()
            .unwrap()
            .into_error()
            .unwrap()
            .to_string(),
        "bad request"
    );
    let mut rest = Vec::new();
    assert_eq!(
        client.read_to_end(&mut rest).await.unwrap(),
        0,
        "the connection ended"
    );
}

#[tokio::test]
async fn a_panicking_task_closes_its_connection_with_the_panic() {
    let (io, _peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    conn.spawn_named("parser", async {
        if true {
            panic!("malformed frame");
        }
    })
    .unwrap();
    let report = conn.closed().await;
    assert_eq!(report.reason(), CloseReason::Failed);
    let failure = report.failure().unwrap();
    assert!(failure.is_panic());
    assert_eq!(failure.child_name(), Some("parser"));
    let payload = failure.take().unwrap().into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "malformed frame");
}

#[tokio::test]
async fn a_supervised_failure_leaves_the_connection_open() {
    let (io, _peer) = tokio::io::duplex(64);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let conn: Conn<_, &str> = ConnBuilder::new()
        .policy(Policy::Supervise)
        .on_failure(move |_| tx.send(()).unwrap())
        .build(io)
        .unwrap();
    conn.spawn(async move { Err("one bad request") }).unwrap();
    rx.recv().await.unwrap(); // the failure was recorded
    assert!(!conn.token().is_cancelled());
    assert!(!conn.is_closing());
    conn.spawn(async { Ok(()) }).unwrap();
    let report = conn.close().await;
    assert_eq!(report.reason(), CloseReason::Requested);
    assert_eq!((report.stats().failed, report.stats().completed), (1, 1));
}
