//! The example binary under the signals operators send: SIGTERM (systemd,
//! docker, Kubernetes) and SIGINT (Ctrl-C) drain it and it prints its
//! report and exits 0; a second signal aborts what is left at once, and the
//! report is still printed. The process under test is the binary itself.

use std::time::{Duration, Instant};

use scope_example_testing::{Example, TEST_BOUND, curl, curl_spawn, line};

/// Starts the binary on a free port with `grace_ms`; returns once it listens.
async fn start(grace_ms: u64) -> Example {
    Example::start(
        env!("CARGO_BIN_EXE_scope-example-http"),
        &["127.0.0.1:0", &grace_ms.to_string()],
    )
    .await
}

/// Polls `/stats` until a job has started.
async fn a_job_started(url: &str) {
    loop {
        let out = curl(&[&format!("{url}/stats")]).await;
        if !String::from_utf8_lossy(&out.stdout).contains("started: 0") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_request_in_flight_and_its_job_then_exits_0() {
    tokio::time::timeout(TEST_BOUND, async {
        let mut example = start(4_000).await;
        let client = curl_spawn(&[&format!("{}/slow?ms=600&work=800", example.url)]);
        a_job_started(&example.url).await;
        example.signal("TERM");
        example.wait_for("SIGTERM: shutting down within 4s").await;
        let out = client.wait_with_output().await.unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("slow reply after 600 ms"));
        let (report, status) = example.finish().await;
        assert!(status.success(), "exit status {status}");
        assert!(
            line(&report, "  of which jobs")
                .contains("1 started = 1 completed + 0 cancelled + 0 aborted + 0 running"),
            "{report}"
        );
        assert!(line(&report, "lost").ends_with(" 0"), "{report}");
    })
    .await
    .expect("the test ran past its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_aborts_what_is_left_and_still_prints_the_report() {
    tokio::time::timeout(TEST_BOUND, async {
        let mut example = start(30_000).await;
        let out = curl(&[&format!("{}/work?ms=60000&stubborn=1", example.url)]).await;
        assert!(out.status.success());
        a_job_started(&example.url).await;
        let began = Instant::now();
        example.signal("TERM");
        example.wait_for("SIGTERM: shutting down within 30s").await;
        example.signal("INT");
        example.wait_for("SIGINT: aborting what is left").await;
        let (report, status) = example.finish().await;
        assert!(status.success(), "exit status {status}");
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the abort did not wait for the grace"
        );
        assert!(
            line(&report, "  of which jobs")
                .contains("1 started = 0 completed + 0 cancelled + 1 aborted + 0 running"),
            "{report}"
        );
        assert!(line(&report, "lost").ends_with(" 0"), "{report}");
    })
    .await
    .expect("the test ran past its bound");
}
