//! The example's server, in process, driven by `curl` over HTTP/1.1 and
//! HTTP/2 (h2c, prior knowledge): the jobs handlers start are tasks of the
//! request's connection, counted in that connection's report; a client
//! leaving loses none; a shutdown drains them, closes idle keep-alive
//! connections at once, and cancels what outlives its grace.

use std::time::{Duration, Instant};

use scope_conn::{CloseReason, ConnReport};
use scope_core::BoxError;
use scope_example_axum::{AxumServer, ShutdownReport};
use scope_example_testing::{TEST_BOUND, curl, ok};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("the test ran past its bound");
}

/// A server on a free port, its URL, and the reports of its connections as
/// they close.
async fn start() -> (
    AxumServer,
    String,
    mpsc::UnboundedReceiver<ConnReport<BoxError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (closed, reports) = mpsc::unbounded_channel();
    let server = AxumServer::start(listener, move |report| {
        let _ = closed.send(report.clone());
    })
    .unwrap();
    let url = format!("http://{}", server.local_addr());
    (server, url, reports)
}

/// Nothing is left and nothing is lost.
fn assert_all_accounted(report: &ShutdownReport) {
    assert!(report.server().is_final(), "{report}");
    assert_eq!(report.lost(), 0, "{report}");
    assert_eq!(report.server().tasks().live, 0, "{report}");
    assert_eq!(report.jobs().running(), 0, "{report}");
}

/// The connection id in a 202's body (`owned by connection N (...)`).
fn owner_id(body: &str) -> u64 {
    let rest = body
        .split("owned by connection ")
        .nth(1)
        .unwrap_or_else(|| panic!("no owner in {body:?}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_and_http2_jobs_are_tasks_of_their_connection_and_counted_in_its_report() {
    bounded(async {
        let (server, url, mut closed) = start().await;
        let jobs = format!("{url}/jobs?ms=200");
        let one = ok(&curl(&["-i", "-X", "POST", &jobs]).await);
        let two = ok(&curl(&["-i", "--http2-prior-knowledge", "-X", "POST", &jobs]).await);
        assert!(one.starts_with("HTTP/1.1 202"), "{one}");
        assert!(one.contains("(HTTP/1.1)"), "{one}");
        assert!(two.starts_with("HTTP/2 202"), "{two}");
        assert!(two.contains("(HTTP/2.0)"), "{two}");

        // Each connection closes when its job is done, and its report has
        // the job: the HTTP/1.1 one only the job, the HTTP/2 one the job and
        // the request's stream.
        let mut reports = [closed.recv().await.unwrap(), closed.recv().await.unwrap()];
        reports.sort_by_key(ConnReport::id);
        assert_eq!(reports[0].id(), owner_id(&one));
        assert_eq!(reports[1].id(), owner_id(&two));
        let completed = reports.each_ref().map(|r| r.tasks().stats().completed);
        assert_eq!(completed, [1, 2]);
        assert_eq!(server.jobs().counts().completed, 2);

        let report = server.shutdown(Duration::from_secs(2)).await;
        assert_all_accounted(&report);
        assert_eq!(report.server().connections(), 2);
        assert_eq!(report.server().tasks().completed, 3, "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_loses_no_job_its_connection_closes_after_the_job() {
    bounded(async {
        let (server, url, mut closed) = start().await;
        let out = ok(&curl(&["-X", "POST", &format!("{url}/jobs?ms=500")]).await);
        assert!(out.starts_with("job accepted: 500 ms"), "{out}");
        // curl has gone; its connection waits for the job.
        assert_eq!(server.jobs().counts().running(), 1);

        let report = closed.recv().await.unwrap();
        assert_eq!(report.reason(), CloseReason::SessionEnded);
        assert_eq!(report.tasks().stats().completed, 1, "{report:?}");
        assert_eq!(
            server.jobs().counts().completed,
            1,
            "the connection closed before its job was done"
        );
        assert_all_accounted(&server.shutdown(Duration::from_secs(1)).await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_closes_an_idle_keep_alive_connection_at_once_and_drains_its_job() {
    bounded(async {
        let (server, url, _closed) = start().await;
        let addr = url.trim_start_matches("http://").to_owned();
        // One request on a keep-alive connection that then stays open and
        // idle, while its job works 1.5 s.
        let mut idle = TcpStream::connect(&addr).await.unwrap();
        idle.write_all(b"POST /jobs?ms=1500 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let mut response = vec![0; 4096];
        let n = idle.read(&mut response).await.unwrap();
        assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 202"));

        let shutdown = tokio::spawn(async move { server.shutdown(Duration::from_secs(4)).await });
        // hyper's graceful shutdown ends the idle connection long before
        // the job is done.
        let mut rest = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_millis(1000), idle.read_to_end(&mut rest)).await;
        assert!(
            matches!(ended, Ok(Ok(0))),
            "the idle connection was not closed at once: {ended:?}"
        );
        assert!(!shutdown.is_finished(), "the shutdown waits for the job");
        let report = shutdown.await.unwrap();
        assert_all_accounted(&report);
        assert_eq!(report.jobs().completed, 1, "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_outlives_the_grace_is_cancelled_and_the_shutdown_keeps_its_time() {
    bounded(async {
        let (server, url, _closed) = start().await;
        ok(&curl(&["-X", "POST", &format!("{url}/jobs?ms=60000")]).await);
        let began = Instant::now();
        let report = server.shutdown(Duration::from_secs(1)).await;
        assert!(
            began.elapsed() < Duration::from_secs(3),
            "{:?}",
            began.elapsed()
        );
        assert_all_accounted(&report);
        let (j, t) = (report.jobs(), report.server().tasks());
        assert_eq!((j.completed, j.cancelled, j.aborted), (0, 1, 0), "{report}");
        assert_eq!((t.completed, t.cancelled, t.aborted), (0, 1, 0), "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_shows_a_job_in_progress_as_running() {
    bounded(async {
        let (server, url, _closed) = start().await;
        ok(&curl(&["-X", "POST", &format!("{url}/jobs?ms=60000")]).await);
        let stats = ok(&curl(&[&format!("{url}/stats")]).await);
        assert_eq!(
            stats,
            "jobs: 1 started = 0 completed + 0 cancelled + 0 aborted + 1 running\n"
        );
        assert_all_accounted(&server.shutdown(Duration::from_secs(1)).await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_job_request_is_answered_400_and_starts_nothing() {
    bounded(async {
        let (server, url, _closed) = start().await;
        let out = curl(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            &format!("{url}/jobs?ms=soon"),
        ])
        .await;
        assert_eq!(ok(&out), "400");
        let report = server.shutdown(Duration::from_secs(1)).await;
        assert_eq!(report.jobs().started, 0, "{report}");
        assert_eq!(report.server().tasks().spawned, 0, "{report}");
    })
    .await;
}
