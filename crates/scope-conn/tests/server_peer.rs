//! Every connection a server makes knows both of its ends, and every
//! connection's report reaches `on_closed`, once, even when the shutdown
//! aborts the connection's task.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use scope_conn::{Addr, CloseMode, CloseReason, Conn, ConnReport, Server, ServerBuilder};
use scope_core::BoxError;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::mpsc;

/// A server's builder whose `on_closed` records `what` of each report.
fn recording<T: Send + 'static>(
    what: impl Fn(&ConnReport<BoxError>) -> T + Send + Sync + 'static,
) -> (ServerBuilder, Arc<Mutex<Vec<T>>>) {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let record = closed.clone();
    let builder = Server::builder().on_closed(move |report| record.lock().push(what(report)));
    (builder, closed)
}

/// Reads until the server shuts the client's transport. Bounded: a
/// connection that kept its transport would hang the test.
async fn read_until_shut(client: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(client, &mut rest);
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the transport was shut")
        .unwrap();
}

/// A session whose connection holds a task that never ends, so a shutdown
/// ends it only by the abort at the end of its grace; `started` gets the
/// connection's id once the task is spawned.
fn stuck(conn: Conn, started: &mpsc::UnboundedSender<u64>) -> impl Future<Output = ()> + use<> {
    conn.spawner().spawn(std::future::pending::<()>()).unwrap();
    started.send(conn.id()).unwrap();
    async move { conn.closing().await }
}

#[tokio::test]
async fn a_tcp_connection_knows_its_peer_and_local_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let (builder, closed) = recording(|report| (report.peer().cloned(), report.reason()));
    let server: Server = builder
        .serve(listener, move |conn, _io| {
            tx.send((conn.peer().cloned(), conn.local().cloned()))
                .unwrap();
            async {}
        })
        .unwrap();
    let client = TcpStream::connect(addr).await.unwrap();
    let (peer, local) = seen.recv().await.unwrap();
    assert_eq!(peer, Some(Addr::Inet(client.local_addr().unwrap())));
    assert_eq!(local, Some(Addr::Inet(addr)));
    server.shutdown(Duration::from_secs(5)).await;
    let closed = closed.lock().clone();
    assert_eq!(
        closed,
        vec![(
            Some(Addr::Inet(client.local_addr().unwrap())),
            CloseReason::SessionEnded
        )]
    );
}

#[tokio::test]
async fn a_unix_connection_knows_its_peer_and_local_address() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("scope-conn-peer-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let server: Server = Server::builder()
        .serve(listener, move |conn, _io| {
            tx.send((conn.peer().cloned(), conn.local().cloned()))
                .unwrap();
            async {}
        })
        .unwrap();

    // An unnamed client socket: the usual peer of a Unix listener.
    let _anonymous = UnixStream::connect(&path).await.unwrap();
    let (peer, local) = seen.recv().await.unwrap();
    assert_eq!(peer, Some(Addr::Unix(None)));
    assert_eq!(local, Some(Addr::Unix(Some(Arc::from(path.as_path())))));

    server.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_connection_aborted_at_the_end_of_the_grace_still_reaches_on_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (started, mut is_started) = mpsc::unbounded_channel();
    let (builder, closed) = recording(|report| {
        let aborted = report.tasks().stats().aborted;
        (report.id(), report.reason(), report.is_final(), aborted)
    });
    let server: Server = builder
        .serve(listener, move |conn, _io| stuck(conn, &started))
        .unwrap();
    let _client = TcpStream::connect(addr).await.unwrap();
    let id = is_started.recv().await.unwrap();
    let report = server.shutdown(Duration::from_millis(100)).await;
    assert_eq!(report.connections(), 1);
    assert_eq!(report.tasks().aborted, 1, "the task that never ends");
    assert_eq!(
        closed.lock().clone(),
        vec![(id, CloseReason::Shutdown, false, 1)],
        "reported once, by the shutdown, not final, its task counted as it ended"
    );
}

#[tokio::test]
async fn a_panicking_on_closed_costs_the_other_cut_short_connections_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (started, mut is_started) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let (builder, _) = recording({
        let calls = calls.clone();
        move |_| -> () {
            calls.fetch_add(1, Ordering::Relaxed);
            panic!("the hook fails")
        }
    });
    let server: Server = builder
        .serve(listener, move |conn, _io| stuck(conn, &started))
        .unwrap();
    let _clients = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    for _ in 0..2 {
        is_started.recv().await.unwrap();
    }
    // Both are cut short, so the shutdown itself reports them: the first
    // panic must not keep the second from its report, or from the totals.
    let report = server.shutdown(Duration::from_millis(100)).await;
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(report.connections(), 2);
    assert_eq!(report.tasks().aborted, 2);
}

#[tokio::test]
async fn a_panicking_session_is_reported_when_it_closes_and_its_panic_reaches_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = Arc::new(Mutex::new(Vec::new()));
    let reported = Arc::new(tokio::sync::Notify::new());
    let (record, notify) = (closed.clone(), reported.clone());
    let server: Server = Server::builder()
        .on_closed(move |report| {
            let stats = report.tasks().stats();
            record
                .lock()
                .push((report.reason(), report.is_final(), stats.completed));
            notify.notify_one();
        })
        .serve(listener, |conn, _io| async move {
            conn.spawner().spawn(async {}).unwrap();
            panic!("session bug");
        })
        .unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    read_until_shut(&mut client).await;
    // Reported as it closed, not at the shutdown.
    let reported = tokio::time::timeout(Duration::from_secs(30), reported.notified());
    reported.await.expect("reported before the shutdown");
    assert_eq!(
        closed.lock().clone(),
        vec![(CloseReason::SessionPanicked, true, 1)]
    );

    let report = server.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.tasks().completed, 1, "the task, counted once");
    let panic = report.server().take_failure().unwrap().into_panic();
    assert_eq!(*panic.downcast::<&str>().unwrap(), "session bug");
    assert_eq!(closed.lock().len(), 1, "reported once");
}

/// A handler that panics while it makes the session (before returning the
/// future) fails that connection only: it closes as a panicking session
/// does, its panic reaches the server's report, and the accept loop serves
/// the next connection.
#[tokio::test]
async fn a_handler_that_panics_fails_its_connection_only() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reported, mut is_reported) = mpsc::unbounded_channel();
    let first = AtomicUsize::new(0);
    let server: Server = Server::builder()
        .on_closed(move |report| {
            let _ = reported.send(report.reason());
        })
        .serve(listener, move |conn, _io| {
            assert!(first.fetch_add(1, Ordering::Relaxed) > 0, "handler bug");
            async move { drop(conn) }
        })
        .unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    read_until_shut(&mut client).await;
    let reason = tokio::time::timeout(Duration::from_secs(30), is_reported.recv());
    let reason = reason.await.expect("the connection was reported");
    assert_eq!(reason, Some(CloseReason::SessionPanicked));

    // The accept loop lives on.
    let mut second = TcpStream::connect(addr).await.unwrap();
    read_until_shut(&mut second).await;
    let reason = tokio::time::timeout(Duration::from_secs(30), is_reported.recv());
    let reason = reason.await.expect("the second connection was served");
    assert_eq!(reason, Some(CloseReason::SessionEnded));

    let report = server.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.connections(), 2);
    let failure = report.server().take_failure().expect("the handler's panic");
    let panic = failure.into_panic();
    assert_eq!(*panic.downcast::<&str>().unwrap(), "handler bug");
}

#[tokio::test]
async fn a_panicking_on_closed_does_not_replace_the_sessions_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let hook_calls = calls.clone();
    let server: Server = Server::builder()
        .on_closed(move |_| {
            hook_calls.fetch_add(1, Ordering::Relaxed);
            panic!("the hook fails");
        })
        .serve(listener, |_conn, _io| async move {
            panic!("session bug");
        })
        .unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    read_until_shut(&mut client).await;

    let report = server.shutdown(Duration::from_secs(5)).await;
    assert_eq!(calls.load(Ordering::Relaxed), 1, "called once");
    assert_eq!(report.connections(), 1);
    let server_failures = report.server().stats().failed;
    assert_eq!(server_failures, 1, "one failure: the connection's task");
    let panic = report.server().take_failure().unwrap().into_panic();
    assert_eq!(*panic.downcast::<&str>().unwrap(), "session bug");
}

#[tokio::test]
async fn dropping_the_server_still_reports_each_open_connection_to_on_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (started, mut is_started) = mpsc::unbounded_channel();
    let (reported, mut is_reported) = mpsc::unbounded_channel();
    let mode = CloseMode::Deadline(Duration::from_secs(7));
    let server: Server = Server::builder()
        .shutdown_mode(mode)
        .on_closed(move |report| {
            let _ = reported.send((
                report.id(),
                report.reason(),
                report.is_final(),
                report.mode(),
            ));
        })
        .serve(listener, move |conn, _io| stuck(conn, &started))
        .unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    let id = is_started.recv().await.unwrap();

    drop(server);
    // From the connection's task as it is dropped, in a report that is not
    // final, in the server's shutdown mode.
    let report = tokio::time::timeout(Duration::from_secs(30), is_reported.recv());
    let report = report.await.expect("reported after the drop").unwrap();
    assert_eq!(report, (id, CloseReason::Shutdown, false, mode));
    read_until_shut(&mut client).await;
    assert!(is_reported.try_recv().is_err(), "reported once");
}

/// The race a drop used to lose: the connection's task is in the middle of
/// a poll while the server is dropped, so it sees its token fired (by the
/// drop's cancel) before the abort takes it. The reason is still the
/// shutdown, not a cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dropped_while_a_connection_polls_reports_the_shutdown_as_its_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reported, mut is_reported) = mpsc::unbounded_channel();
    let (entered, is_entered) = std::sync::mpsc::channel();
    let (go, wait_go) = std::sync::mpsc::channel::<()>();
    let wait_go = Arc::new(Mutex::new(wait_go));
    let server: Server = Server::builder()
        .on_closed(move |report| {
            let _ = reported.send((report.reason(), report.is_final()));
        })
        .serve(listener, move |_conn, _io| {
            let (entered, wait_go) = (entered.clone(), Arc::clone(&wait_go));
            // Holds its first poll (and so the connection's) until the test
            // has dropped the server, then waits for ever.
            let mut first = true;
            std::future::poll_fn(move |_| {
                if std::mem::take(&mut first) {
                    entered.send(()).unwrap();
                    wait_go.lock().recv().unwrap();
                }
                std::task::Poll::Pending
            })
        })
        .unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    tokio::task::block_in_place(|| is_entered.recv().unwrap());

    drop(server);
    go.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), is_reported.recv());
    let report = report.await.expect("reported after the drop").unwrap();
    assert_eq!(report, (CloseReason::Shutdown, false));
    read_until_shut(&mut client).await;
}

#[test]
fn a_server_dropped_after_its_runtime_reports_the_connections_the_runtime_dropped() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (reported, is_reported) = std::sync::mpsc::channel();
    let (server, _client, id) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (started, mut is_started) = mpsc::unbounded_channel();
        let server: Server = Server::builder()
            .on_closed(move |report| {
                reported
                    .send((report.id(), report.reason(), report.is_final()))
                    .unwrap();
            })
            .serve(listener, move |conn, _io| stuck(conn, &started))
            .unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let id = is_started.recv().await.unwrap();
        (server, client, id)
    });
    // The runtime drops the connection's task while the server lives: the
    // connection waits for a shutdown that never comes.
    drop(rt);
    assert!(is_reported.try_recv().is_err());
    drop(server);
    assert_eq!(
        is_reported.try_recv().unwrap(),
        (id, CloseReason::Shutdown, false)
    );
    assert!(is_reported.try_recv().is_err(), "reported once");
}

#[tokio::test]
async fn a_panicking_session_that_detaches_its_tasks_fails_at_once_and_its_tasks_count_at_the_shutdown()
 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reported, mut is_reported) = mpsc::unbounded_channel();
    let server: Server = Server::builder()
        .conn(scope_conn::ConnBuilder::new().close_mode(scope_conn::CloseMode::Detach))
        .on_closed(move |report| {
            let _ = reported.send((report.reason(), report.tasks().stats().live));
        })
        .serve(listener, |conn, _io| async move {
            // Runs on, detached, after the session's panic, until the
            // shutdown aborts it.
            conn.spawner().spawn(std::future::pending::<()>()).unwrap();
            panic!("session bug");
        })
        .unwrap();
    let _client = TcpStream::connect(addr).await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), is_reported.recv());
    let report = report.await.expect("reported as it closed").unwrap();
    assert_eq!(report, (CloseReason::SessionPanicked, 1));

    let report = server.shutdown(Duration::from_millis(100)).await;
    // The connection's task failed with the panic as the connection closed,
    // not aborted with it at the end of the grace, waiting for its detached
    // task.
    let panic = report.server().take_failure().unwrap().into_panic();
    assert_eq!(*panic.downcast::<&str>().unwrap(), "session bug");
    assert_eq!(report.tasks().aborted, 1, "the detached task, counted once");
    assert_eq!(is_reported.try_recv().ok(), None, "reported once");
}
