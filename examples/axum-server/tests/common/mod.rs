//! What every test file here needs: `curl`, run and read.

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

/// No test may run longer than this, whatever goes wrong.
pub(crate) const TEST_BOUND: Duration = Duration::from_secs(60);

/// `curl -sS --max-time 20 ARGS...`: its exit status, stdout and stderr.
pub(crate) async fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .expect("curl runs")
}

/// What curl printed, asserting it exited 0.
pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "curl exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
