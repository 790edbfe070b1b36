//! The example binary under the signals operators send: SIGTERM (systemd,
//! docker, Kubernetes) drains it, and it prints its report and exits 0; a
//! second signal aborts what is left at once, and the report is still
//! printed. The process under test is the binary itself.

mod common;

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{TEST_BOUND, curl, ok};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct Example {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
    url: String,
}

/// Starts the binary on a free port with `grace` (seconds); returns once it
/// listens (its signal handlers are installed by then).
async fn start(grace: &str) -> Example {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scope-example-axum"))
        .args(["127.0.0.1:0", grace])
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

    /// Reads stdout up to a line containing `needle`, and returns it.
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
    async fn finish(mut self) -> (String, ExitStatus) {
        let mut rest = String::new();
        while let Some(line) = self.out.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        (rest, self.child.wait().await.unwrap())
    }
}

fn line<'a>(report: &'a str, head: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no {head:?} line in:\n{report}"))
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
        line(&report, "shutdown took ");
    })
    .await
    .expect("the test ran past its bound");
}
