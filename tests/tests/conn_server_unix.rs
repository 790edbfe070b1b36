//! The server over Unix sockets, with the core underneath: a shutdown that
//! has to escalate reports each phase, the connections' tokens are children
//! of the server's, and nothing is left in the runtime afterwards.

use std::time::Duration;

use scope_conn::{CloseMode, Conn, Io, Server};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

fn socket_path(tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("scope-tests-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[tokio::test(flavor = "current_thread")]
async fn unix_shutdown_escalates_and_leaves_no_task_behind() {
    let before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let path = socket_path("escalate");
    let listener = UnixListener::bind(&path).unwrap();
    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let server = Server::builder()
        .shutdown_mode(CloseMode::Join)
        .serve(listener, move |conn: Conn, mut io: Io<UnixStream>| {
            let ready_tx = ready_tx.clone();
            async move {
                io.end_reads_on_close();
                let (reader, writer) = io.split();
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let s = conn.spawner();
                    let writer = writer.clone();
                    s.spawn(async move { writer.send(format!("echo {line}\n")).await.unwrap() })
                        .unwrap();
                    let token = s.token().clone();
                    s.spawn(async move { token.cancelled().await }).unwrap();
                    ready_tx.send(()).unwrap();
                }
            }
        })
        .unwrap();

    let mut clients = Vec::new();
    for i in 0..10 {
        let mut client = UnixStream::connect(&path).await.unwrap();
        client.write_all(format!("{i}\n").as_bytes()).await.unwrap();
        clients.push(client);
    }
    for _ in 0..10 {
        ready.recv().await.unwrap();
    }

    tokio::time::pause();
    let report = server.shutdown(Duration::from_secs(30)).await;

    let tasks = report.tasks();
    assert_eq!(
        (tasks.completed, tasks.cancelled, tasks.aborted),
        (10, 10, 0)
    );
    // In the server's nursery each connection's nursery is one child that
    // ended after the cancel (its token was a child of the server's).
    assert!(report.server().ended_after_cancel() >= 10);
    for (i, client) in clients.iter_mut().enumerate() {
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, format!("echo {i}\n"));
    }
    drop(server);
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        before
    );
    let _ = std::fs::remove_file(&path);
}
