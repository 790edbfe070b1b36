//! The example binary under the signals operators send: SIGTERM (systemd,
//! docker, Kubernetes) and SIGINT (Ctrl-C) drain it and it prints its
//! report and exits 0; a second signal aborts what is left at once, and the
//! report is still printed. The process under test is the binary itself.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const TEST_BOUND: Duration = Duration::from_secs(60);

struct Example {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
    url: String,
}

/// Starts the binary on a free port with `grace_ms`; returns once it listens.
async fn start(grace_ms: u64) -> Example {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scope-example-http"))
        .args(["127.0.0.1:0", &grace_ms.to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = out
            .next_line()
            .await
            .unwrap()
            .expect("the example printed its address");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    Example { child, out, url }
}

impl Example {
    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-s", name, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Reads stdout until a line containing `needle`.
    async fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .out
                .next_line()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no {needle:?} line"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The rest of stdout, then the exit status.
    async fn finish(mut self) -> (String, std::process::ExitStatus) {
        let mut rest = String::new();
        while let Some(line) = self.out.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        (rest, self.child.wait().await.unwrap())
    }
}

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

/// Polls `/stats` until a job has started.
async fn a_job_started(url: &str) {
    loop {
        let out = curl(&[&format!("{url}/stats")])
            .wait_with_output()
            .await
            .unwrap();
        if !String::from_utf8_lossy(&out.stdout).contains("started: 0") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn line<'a>(report: &'a str, head: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no {head:?} line in:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_request_in_flight_and_its_job_then_exits_0() {
    tokio::time::timeout(TEST_BOUND, async {
        let mut example = start(4_000).await;
        let client = curl(&[&format!("{}/slow?ms=600&work=800", example.url)]);
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
        let out = curl(&[&format!("{}/work?ms=60000&stubborn=1", example.url)])
            .wait_with_output()
            .await
            .unwrap();
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
