//! The HTTP example driven by `curl`, over HTTP/1.1 and HTTP/2 (h2c): a
//! shutdown lets the request in flight get its whole response and the job it
//! started finish, sends HTTP/2 clients a GOAWAY, closes idle keep-alive
//! connections at once, and accounts for every task.

use std::process::Output;
use std::time::Duration;

use scope_example_http::{HttpServer, ShutdownReport};
use scope_example_testing::{TEST_BOUND, curl, curl_spawn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("the test ran past its bound");
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn start() -> (HttpServer, String) {
    let server = HttpServer::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr());
    (server, url)
}

/// Nothing is left and nothing is lost: every task of every connection
/// ended one way, and every job among them.
fn assert_all_accounted(report: &ShutdownReport) {
    let (t, j) = (report.server().tasks(), report.jobs());
    assert!(report.server().is_final(), "{report}");
    assert_eq!(report.lost(), 0, "{report}");
    assert_eq!(t.live, 0, "{report}");
    assert_eq!(j.running(), 0, "{report}");
    assert!(j.started <= t.spawned, "jobs are tasks too:\n{report}");
}

/// Waits until `n` jobs have started on `server`.
async fn jobs_started(server: &HttpServer, n: u64) {
    while server.jobs().counts().started < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_and_http2_clients_are_served_on_one_port() {
    bounded(async {
        let (server, url) = start().await;
        let one = curl(&["-i", &format!("{url}/work?ms=10")]).await;
        let two = curl(&[
            "-i",
            "--http2-prior-knowledge",
            &format!("{url}/work?ms=10"),
        ])
        .await;
        assert!(one.status.success() && two.status.success());
        assert!(text(&one).starts_with("HTTP/1.1 200"), "{}", text(&one));
        assert!(text(&two).starts_with("HTTP/2 200"), "{}", text(&two));
        assert!(text(&two).contains("(HTTP/2.0)"));
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_all_accounted(&report);
        assert_eq!(report.jobs().completed, 2);
        // On HTTP/2 the request itself ran as a task of its connection.
        assert_eq!(report.server().tasks().completed, 3, "{report}");
    })
    .await;
}

async fn in_flight_response_completes_and_its_job_finishes(http2: bool) {
    let (server, url) = start().await;
    // Starts 800 ms of work, answers after 600 ms: both in flight when the
    // shutdown begins.
    let mut args = vec![format!("{url}/slow?ms=600&work=800")];
    if http2 {
        args.insert(0, "--http2-prior-knowledge".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let client = curl_spawn(&args);
    jobs_started(&server, 1).await;
    let report = server.shutdown(Duration::from_secs(8)).await;
    let out = client.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text(&out).starts_with("slow reply after 600 ms"),
        "the response in flight arrived whole: {:?}",
        text(&out)
    );
    assert_all_accounted(&report);
    assert_eq!(
        report.jobs().completed,
        1,
        "the job finished within the grace:\n{report}"
    );
    assert_eq!(report.jobs().cancelled + report.jobs().aborted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http1_the_response_in_flight_completes_and_its_job_finishes() {
    bounded(in_flight_response_completes_and_its_job_finishes(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http2_the_response_in_flight_completes_and_its_job_finishes() {
    bounded(in_flight_response_completes_and_its_job_finishes(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_hears_goaway_and_exits_cleanly() {
    bounded(async {
        let (server, url) = start().await;
        let client = curl_spawn(&[
            "-v",
            "--http2-prior-knowledge",
            &format!("{url}/slow?ms=500&work=1"),
        ]);
        // The request is in flight once its job has started.
        jobs_started(&server, 1).await;
        let report = server.shutdown(Duration::from_secs(5)).await;
        let out = client.wait_with_output().await.unwrap();
        let trace = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{trace}");
        assert!(
            trace.to_lowercase().contains("goaway"),
            "no GOAWAY seen:\n{trace}"
        );
        assert!(text(&out).starts_with("slow reply after 500 ms"));
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_at_once_while_jobs_drain() {
    bounded(async {
        let (server, url) = start().await;
        let addr = url.trim_start_matches("http://").to_owned();
        // One request on a keep-alive connection that then stays idle; its
        // job runs 1.5 s, so the shutdown is still draining meanwhile.
        let mut idle = TcpStream::connect(&addr).await.unwrap();
        idle.write_all(b"GET /work?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = vec![0; 4096];
        let n = idle.read(&mut response).await.unwrap();
        assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 200"));
        let shutdown = tokio::spawn(async move { server.shutdown(Duration::from_secs(8)).await });
        // The idle connection hears the end long before the job is done.
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_millis(1000), idle.read_to_end(&mut rest)).await;
        assert!(
            matches!(closed, Ok(Ok(_))),
            "the idle connection was not closed at once"
        );
        assert!(
            !shutdown.is_finished(),
            "the shutdown still waits for the job"
        );
        let report = shutdown.await.unwrap();
        assert_all_accounted(&report);
        assert_eq!(report.jobs().completed, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_cancels_then_aborts_overdue_jobs() {
    bounded(async {
        let (server, url) = start().await;
        let polite = curl(&[&format!("{url}/work?ms=60000")]).await;
        let stubborn = curl(&[&format!("{url}/work?ms=60000&stubborn=1")]).await;
        assert!(polite.status.success() && stubborn.status.success());
        jobs_started(&server, 2).await;
        let began = std::time::Instant::now();
        let report = server.shutdown(Duration::from_millis(800)).await;
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{:?}",
            began.elapsed()
        );
        assert_all_accounted(&report);
        let j = report.jobs();
        assert_eq!((j.completed, j.cancelled, j.aborted), (0, 1, 1), "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_gives_up_leaves_its_job_to_finish() {
    bounded(async {
        let (server, url) = start().await;
        let out = curl(&["--max-time", "0.3", &format!("{url}/slow?ms=1500&work=300")]).await;
        assert!(!out.status.success(), "curl was meant to give up");
        jobs_started(&server, 1).await;
        let report = server.shutdown(Duration::from_secs(8)).await;
        assert_all_accounted(&report);
        assert_eq!(report.jobs().completed, 1, "{report}");
    })
    .await;
}
