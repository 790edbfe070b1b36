//! The example binary under the signals operators send: SIGTERM (systemd,
//! docker, Kubernetes) drains it, and it prints its report and exits 0; a
//! second signal aborts what is left at once, and the report is still
//! printed. The process under test is the binary itself.

use std::time::{Duration, Instant};

use scope_example_testing::{Example, TEST_BOUND, curl, line, ok};

/// Starts the binary on a free port with `grace` (seconds); returns once it
/// listens (its signal handlers are installed by then).
async fn start(grace: &str) -> Example {
    Example::start(
        env!("CARGO_BIN_EXE_scope-example-axum"),
        &["127.0.0.1:0", grace],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_running_job_prints_the_report_and_exits_0() {
    tokio::time::timeout(TEST_BOUND, async {
        let mut example = start("4").await;
        let accepted = ok(&curl(&["-X", "POST", &format!("{}/jobs?ms=800", example.url)]).await);
        assert!(accepted.starts_with("job accepted: 800 ms of work, owned by connection"));
        example.signal("TERM");
        example.wait_for("SIGTERM: shutting down within 4s").await;
        let (report, status) = example.finish().await;
        assert!(status.success(), "exit status {status}\n{report}");
        // The connection's own line: it closed once its job was done.
        assert!(
            line(&report, "conn ").ends_with(
                "closed: the client left; tasks 1 = 1 completed + 0 failed + 0 cancelled + 0 aborted + 0 running"
            ),
            "{report}"
        );
        assert!(
            line(&report, "  of which jobs")
                .ends_with("1 started = 1 completed + 0 cancelled + 0 aborted + 0 running"),
            "{report}"
        );
        assert!(
            line(&report, "tasks").contains("1 started = 1 completed"),
            "{report}"
        );
        assert!(line(&report, "lost").contains(" 0 started and never"), "{report}");
    })
    .await
    .expect("the test ran past its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_aborts_at_once_and_still_prints_the_report() {
    tokio::time::timeout(TEST_BOUND, async {
        let mut example = start("30").await;
        ok(&curl(&["-X", "POST", &format!("{}/jobs?ms=60000", example.url)]).await);
        let began = Instant::now();
        example.signal("TERM");
        example.wait_for("SIGTERM: shutting down within 30s").await;
        example.signal("INT");
        example.wait_for("SIGINT: aborting what is left").await;
        let (report, status) = example.finish().await;
        assert!(status.success(), "exit status {status}\n{report}");
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the abort waited for the grace: {:?}",
            began.elapsed()
        );
        // Cut short: cancelled (the job saw its connection's token) or
        // aborted, whichever came first; never completed, never lost.
        let jobs = line(&report, "  of which jobs");
        assert!(
            jobs.ends_with("1 started = 0 completed + 1 cancelled + 0 aborted + 0 running")
                || jobs.ends_with("1 started = 0 completed + 0 cancelled + 1 aborted + 0 running"),
            "{report}"
        );
        assert!(
            line(&report, "lost").contains(" 0 started and never"),
            "{report}"
        );
        let _took = line(&report, "shutdown took ");
    })
    .await
    .expect("the test ran past its bound");
}
