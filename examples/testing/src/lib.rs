//! Test support shared by the HTTP and axum examples: an example's binary
//! run as its operator would run it (started, signalled, its report read),
//! and `curl`. The examples' tests use it as a dev-dependency; nothing here
//! is part of the examples themselves.

#![forbid(unsafe_code)]

use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// No test may run longer than this, whatever goes wrong.
pub const TEST_BOUND: Duration = Duration::from_secs(60);

/// An example's binary, running.
#[derive(Debug)]
pub struct Example {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
    /// Where it serves (`http://127.0.0.1:PORT`), from its `listening on`
    /// line.
    pub url: String,
}

impl Example {
    /// Starts the binary at `path` with `args`; returns once it printed
    /// `listening on URL` (its signal handlers are installed by then).
    ///
    /// # Panics
    ///
    /// If it cannot start, or ends before that line.
    pub async fn start(path: &str, args: &[&str]) -> Example {
        let mut child = Command::new(path)
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the example starts");
        let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
        let url = loop {
            let line = out
                .next_line()
                .await
                .expect("the example's output")
                .expect("the example printed its address");
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
        };
        Example { child, out, url }
    }

    /// Sends it a signal by name (`TERM`, `INT`), as `kill -s` does.
    ///
    /// # Panics
    ///
    /// If it has ended or `kill` fails.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-s", name, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {name} {pid}");
    }

    /// Reads its output up to a line containing `needle`, and returns it.
    ///
    /// # Panics
    ///
    /// If its output ends first.
    pub async fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .out
                .next_line()
                .await
                .expect("the example's output")
                .unwrap_or_else(|| panic!("no {needle:?} line"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The rest of its output, then its exit status.
    ///
    /// # Panics
    ///
    /// If its output cannot be read.
    pub async fn finish(mut self) -> (String, ExitStatus) {
        let mut rest = String::new();
        while let Some(line) = self.out.next_line().await.expect("the example's output") {
            rest.push_str(&line);
            rest.push('\n');
        }
        let status = self.child.wait().await.expect("the example ends");
        (rest, status)
    }
}

/// `curl -sS --max-time 20 ARGS...`, started: its output captured, killed
/// if dropped.
///
/// # Panics
///
/// If curl cannot start.
#[must_use]
pub fn curl_spawn(args: &[&str]) -> Child {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl runs")
}

/// `curl -sS --max-time 20 ARGS...`, run to its end.
///
/// # Panics
///
/// If curl cannot run.
pub async fn curl(args: &[&str]) -> Output {
    curl_spawn(args)
        .wait_with_output()
        .await
        .expect("curl ends")
}

/// What curl printed, asserting it exited 0.
///
/// # Panics
///
/// If it did not.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "curl exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line of `report` that starts with `head`.
///
/// # Panics
///
/// If there is none.
#[must_use]
pub fn line<'a>(report: &'a str, head: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no {head:?} line in:\n{report}"))
}
