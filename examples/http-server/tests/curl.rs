//! The HTTP example driven by `curl`: keep-alive, parallel clients, a client
//! that gives up, and shutdowns with requests and jobs in flight. Each test
//! checks the example's own ledger against the nurseries' report: every job
//! started is completed, cancelled or aborted, none lost.

use std::future::Future;
use std::process::{Output, Stdio};
use std::time::Duration;

use scope_example_http::{HttpServer, ShutdownReport};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// No test may run longer than this, whatever goes wrong.
const TEST_BOUND: Duration = Duration::from_secs(60);

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("the test ran past its bound");
}

/// `curl -sS --max-time 20 ARGS...`, its output captured; killed if dropped.
fn curl(args: &[&str]) -> Child {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl runs")
}

async fn run(args: &[&str]) -> Output {
    curl(args).wait_with_output().await.expect("curl ends")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The connection ids in `job accepted on connection N` lines.
fn conn_ids(body: &str) -> Vec<u64> {
    body.lines()
        .filter_map(|l| l.strip_prefix("job accepted on connection "))
        .map(|rest| rest.split(':').next().unwrap().parse().unwrap())
        .collect()
}

async fn start() -> (HttpServer, String) {
    let server = HttpServer::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr());
    (server, url)
}

/// Both accounts agree and nothing is left: every job the ledger saw start
/// ended one way, every task the nurseries hold (one hyper task per
/// connection, plus the jobs) ended one way.
fn assert_all_accounted(report: &ShutdownReport) {
    let (l, t) = (report.ledger(), report.server().tasks());
    assert!(report.server().is_final(), "{report}");
    assert_eq!(l.jobs_unaccounted(), 0, "a job was lost:\n{report}");
    assert_eq!(l.jobs_started, l.jobs_accepted, "{report}");
    assert_eq!(t.live, 0, "{report}");
    assert_eq!(
        t.spawned,
        t.completed + t.failed + t.cancelled + t.aborted,
        "{report}"
    );
    assert_eq!(
        t.spawned,
        report.server().connections() + l.jobs_accepted,
        "the nurseries hold the hyper tasks and the jobs, nothing else:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_requests_share_one_connection_and_its_nursery() {
    bounded(async {
        let (server, url) = start().await;
        let work = format!("{url}/work?ms=50");
        let out = run(&[
            "-w",
            "[connects %{num_connects}]\n",
            &work,
            &work,
            &work,
            &work,
            &work,
        ])
        .await;
        assert!(out.status.success(), "{out:?}");
        let body = text(&out);
        let ids = conn_ids(&body);
        assert_eq!(ids.len(), 5, "{body}");
        assert!(ids.iter().all(|&id| id == ids[0]), "one connection: {body}");
        assert_eq!(body.matches("[connects 1]").count(), 1, "{body}");
        assert_eq!(body.matches("[connects 0]").count(), 4, "{body}");
        assert_eq!(server.accepted(), 1);

        // curl left: hyper ends, the connection's close lets the five jobs
        // finish, then reports.
        let seen = server.ledger().wait_until(|s| s.conns_closed == 1).await;
        assert_eq!((seen.jobs_completed, seen.conns_drained), (5, 1), "{seen}");

        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_all_accounted(&report);
        assert_eq!(report.server().tasks().completed, 6, "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_clients_get_a_nursery_each_and_shutdown_waits_for_their_jobs() {
    bounded(async {
        let (server, url) = start().await;
        let work = format!("{url}/work?ms=2000");
        let clients: Vec<Child> = (0..8).map(|_| curl(&[&work])).collect();
        let mut ids = Vec::new();
        for client in clients {
            let out = client.wait_with_output().await.unwrap();
            assert!(out.status.success(), "{out:?}");
            ids.extend(conn_ids(&text(&out)));
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 8, "one connection per client: {ids:?}");

        // Every client has its answer; the jobs run after the answers, so
        // hyper alone would call this server idle.
        assert!(server.ledger().stats().jobs_completed < 8);
        let report = server.shutdown(Duration::from_secs(10)).await;
        assert!(report.http_drained(), "{report}");
        let l = report.ledger();
        assert_eq!(
            (l.jobs_completed, l.jobs_cancelled, l.jobs_aborted),
            (8, 0, 0),
            "{report}"
        );
        assert_eq!(report.server().connections(), 8);
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_gives_up_early_leaves_its_work_to_finish() {
    bounded(async {
        let (server, url) = start().await;
        // The request starts 1.5 s of work, then takes 30 s to answer; curl
        // gives up after 0.5 s and closes the socket.
        let out = run(&[
            "--max-time",
            "0.5",
            &format!("{url}/slow?ms=30000&work=1500"),
        ])
        .await;
        assert_eq!(out.status.code(), Some(28), "curl timed out: {out:?}");
        assert_eq!(
            server.ledger().stats().jobs_completed,
            0,
            "the work outlives the client"
        );

        // hyper saw the client leave and dropped the reply; the job went on,
        // and the connection's close waited for it before reporting.
        let seen = server.ledger().wait_until(|s| s.conns_closed == 1).await;
        assert_eq!(seen.replies_abandoned, 1, "{seen}");
        assert_eq!(seen.http_errors, 1, "{seen}");
        assert_eq!(
            (seen.jobs_completed, seen.jobs_cancelled, seen.jobs_aborted),
            (1, 0, 0),
            "{seen}"
        );
        assert_eq!(seen.conns_drained, 1, "{seen}");

        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_the_request_in_flight_then_drains_its_work() {
    bounded(async {
        let (server, url) = start().await;
        let client = curl(&["-i", &format!("{url}/slow?ms=500&work=300")]);
        // Ready when the handler runs and its job has started.
        server
            .ledger()
            .wait_until(|s| s.requests == 1 && s.jobs_started == 1)
            .await;

        let report = server.shutdown(Duration::from_secs(5)).await;
        let out = client.wait_with_output().await.unwrap();
        let reply = text(&out);
        assert!(out.status.success(), "{out:?}");
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(
            reply.contains("connection: close"),
            "hyper's graceful shutdown: {reply}"
        );
        assert!(
            reply.contains("\r\n\r\nslow reply after 500 ms on connection "),
            "{reply}"
        );

        assert!(report.http_drained(), "{report}");
        let l = report.ledger();
        assert_eq!(
            (l.jobs_completed, l.jobs_cancelled, l.jobs_aborted),
            (1, 0, 0),
            "{report}"
        );
        assert_eq!(l.replies_abandoned, 0, "{report}");
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deadline_cancels_then_aborts_overdue_work() {
    bounded(async {
        let (server, url) = start().await;
        let polite = format!("{url}/work?ms=600000");
        let stubborn = format!("{url}/work?ms=600000&stubborn=1");
        let out = run(&[&polite, &stubborn]).await;
        assert!(out.status.success(), "{out:?}");
        server.ledger().wait_until(|s| s.jobs_started == 2).await;

        let grace = Duration::from_millis(200);
        let report = server.shutdown(grace).await;
        // Three phases of `grace` at most, and some room for a busy machine.
        assert!(
            report.elapsed() < grace * 3 + Duration::from_secs(2),
            "{report}"
        );
        let l = report.ledger();
        // The job watching its token was cancelled; the one ignoring it was
        // aborted; neither was lost.
        assert_eq!(
            (l.jobs_completed, l.jobs_cancelled, l.jobs_aborted),
            (0, 1, 1),
            "{report}"
        );
        // The nurseries agree on the abort. (The polite job may be counted
        // completed rather than cancelled there: it can return on its token,
        // cancelled through the server's, before its connection's nursery
        // marks itself cancelled. The ledger's count is the job's own.)
        assert_eq!(report.server().tasks().aborted, 1, "{report}");
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_curl_and_prints_a_lossless_table_on_ctrl_c() {
    bounded(async {
        let mut server = Command::new(env!("CARGO_BIN_EXE_scope-example-http"))
            .args(["127.0.0.1:0", "5000"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        // Ready when it prints its address.
        let url = loop {
            let line = lines.next_line().await.unwrap().expect("the address line");
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
        };
        let out = run(&[&format!("{url}/work?ms=300")]).await;
        assert!(out.status.success(), "{out:?}");

        let pid = server.id().unwrap().to_string();
        let kill = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
            .unwrap();
        assert!(kill.success());
        let mut table = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            table.push_str(&line);
            table.push('\n');
        }
        assert!(server.wait().await.unwrap().success(), "{table}");
        let row = |name: &str| {
            table
                .lines()
                .find(|l| l.trim_start().starts_with(name))
                .and_then(|l| l.split_whitespace().nth(name.split_whitespace().count()))
                .unwrap_or_else(|| panic!("no `{name}` row in:\n{table}"))
                .to_owned()
        };
        assert_eq!(row("jobs started"), "1", "{table}");
        assert_eq!(row("completed"), "1", "{table}");
        assert_eq!(row("lost"), "0", "{table}");
    })
    .await;
}

/// The motivation, measured: the usual hyper-util recipe (the stream handed
/// straight to hyper, `GracefulShutdown`, work after the response handed to
/// `tokio::spawn`) reports the server shut down while that work still runs;
/// nothing owns it, and the runtime's end would cut it off unannounced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_alone_returns_while_spawned_work_runs() {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use hyper_util::server::graceful::GracefulShutdown;

    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (started, finished) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let client = curl(&[&url]);

        let (stream, _) = listener.accept().await.unwrap();
        let graceful = GracefulShutdown::new();
        let service = {
            let (started, finished) = (Arc::clone(&started), Arc::clone(&finished));
            service_fn(move |_req: Request<hyper::body::Incoming>| {
                let finished = Arc::clone(&finished);
                started.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    finished.fetch_add(1, Ordering::Relaxed);
                });
                async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok\n")))) }
            })
        };
        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        tokio::spawn(graceful.watch(conn));

        let out = client.wait_with_output().await.unwrap();
        assert_eq!(text(&out), "ok\n", "{out:?}");
        graceful.shutdown().await;
        assert_eq!(started.load(Ordering::Relaxed), 1);
        assert_eq!(
            finished.load(Ordering::Relaxed),
            0,
            "the shutdown returned with the work still running"
        );
    })
    .await;
}
