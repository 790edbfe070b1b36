//! The SSH example's binary driven by OpenSSH's `ssh`: each test starts the
//! binary, runs real clients against it, signals it as an operator would,
//! and checks what the clients received (output, exit status) and what the
//! binary printed (its per-connection lines and its closing table).
//!
//! The tests wait on what the processes print (the server's `listening`,
//! `exec`, `closing` and `closed` lines; a ControlMaster's `ready`), never
//! on a sleep.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// No test may run longer than this, whatever goes wrong.
const TEST_BOUND: Duration = Duration::from_secs(60);

/// The grace the shutdown tests give the server: three quarters of it
/// (2.25 s) for the commands to finish, then they are cancelled.
const GRACE_SECS: f64 = 3.0;

/// The message and exit status of a command cut short by a shutdown.
const CANCELLED: &str = "cancelled: the server is shutting down\n";
const EXIT_CANCELLED: i32 = 130;

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("the test ran past its bound");
}

/// A scratch directory with a host key made by `ssh-keygen`; removed on
/// drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    async fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Short: a ControlMaster's socket goes in it.
        let dir = std::env::temp_dir().join(format!("scope-ssh-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join("host_key"))
            .status()
            .await
            .expect("ssh-keygen runs");
        assert!(status.success());
        Scratch { dir }
    }

    fn control_path(&self) -> String {
        self.dir.join("cm").display().to_string()
    }

    /// Starts the example's binary with `grace` seconds and waits until it
    /// listens.
    async fn server(&self, grace: f64) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scope-example-ssh"))
            .arg("127.0.0.1:0")
            .arg(self.dir.join("host_key"))
            .arg(grace.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the example's binary runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut server = Server {
            child,
            lines,
            seen: String::new(),
            port: String::new(),
        };
        let listening = server.line(|l| l.starts_with("listening on ")).await;
        server.port = listening.rsplit(':').next().unwrap().to_owned();
        server
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The example's binary, and what it printed so far.
struct Server {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: String,
    port: String,
}

impl Server {
    /// Waits for the next line that `wanted` accepts.
    async fn line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            let Some(line) = self.lines.next_line().await.unwrap() else {
                panic!("the server's output ended first:\n{}", self.seen);
            };
            self.seen.push_str(&line);
            self.seen.push('\n');
            if wanted(&line) {
                return line;
            }
        }
    }

    /// Waits until a line starting with `prefix` was printed, now or
    /// before (in any order with the other lines waited for so).
    async fn printed(&mut self, prefix: &str) {
        if !self.seen.lines().any(|l| l.starts_with(prefix)) {
            self.line(|l| l.starts_with(prefix)).await;
        }
    }

    /// Waits for the `exec` line of `command` and returns the connection's
    /// id.
    async fn exec_started(&mut self, command: &str) -> String {
        let suffix = format!(": exec {command:?}");
        let line = self.line(|l| l.ends_with(&suffix)).await;
        line.strip_prefix("conn ")
            .and_then(|l| l.split(':').next())
            .unwrap()
            .to_owned()
    }

    /// Sends `signal` (`INT`, `TERM`) to the server.
    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }

    /// Reads the rest of the output (the table) and the exit status.
    async fn finish(mut self) -> Finished {
        while let Some(line) = self.lines.next_line().await.unwrap() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        let status = self.child.wait().await.unwrap();
        Finished {
            success: status.success(),
            transcript: self.seen,
        }
    }

    /// `ssh` with no user config, never prompting, trusting the new host
    /// key, errors only, plus `extra` options, running `command`.
    fn ssh(&self, extra: &[&str], command: &str) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.args(["-F", "/dev/null", "-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"])
            .args(extra)
            .args(["-p", &self.port, "demo@127.0.0.1"])
            .args((!command.is_empty()).then_some(command))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        ssh
    }

    fn run(&self, extra: &[&str], command: &str) -> Child {
        self.ssh(extra, command).spawn().expect("ssh runs")
    }

    /// A ControlMaster on `path`, in the foreground (a child of the test,
    /// so it cannot outlive it), once its control socket listens: OpenSSH
    /// runs the `LocalCommand` after it set the socket up.
    async fn control_master(&self, path: &str, log_level: &str) -> Child {
        let log = format!("LogLevel={log_level}");
        let mut master = self
            .ssh(&["-M", "-S", path, "-N", "-o", &log], "")
            .args([
                "-o",
                "PermitLocalCommand=yes",
                "-o",
                "LocalCommand=echo ready",
            ])
            .spawn()
            .expect("ssh runs");
        let mut out = BufReader::new(master.stdout.take().unwrap()).lines();
        let ready = out.next_line().await.unwrap();
        assert_eq!(ready.as_deref(), Some("ready"), "the master did not start");
        master
    }
}

/// What the binary printed in all, and how it exited.
struct Finished {
    success: bool,
    transcript: String,
}

impl Finished {
    /// The number in the table's row `label`.
    fn row(&self, label: &str) -> u64 {
        self.transcript
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(label))
            .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` row in:\n{}", self.transcript))
    }

    /// The table's `commands` row: `N = a completed + b cancelled + ...`,
    /// as `(completed, cancelled, aborted, failed, running)`.
    fn commands(&self) -> (u64, u64, u64, u64, u64) {
        let line = self
            .transcript
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("commands "))
            .find(|rest| rest.contains(" = "))
            .unwrap_or_else(|| panic!("no `commands` row in:\n{}", self.transcript));
        let count = |what: &str| -> u64 {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == what).unwrap();
            words[at - 1].parse().unwrap()
        };
        (
            count("completed"),
            count("cancelled"),
            count("aborted"),
            count("failed"),
            count("running"),
        )
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answer_with_their_output_and_exit_status() {
    bounded(async {
        let scratch = Scratch::new().await;
        let mut server = scratch.server(GRACE_SECS).await;
        // The line the server suggests at start, run as printed.
        let try_line = server.line(|l| l.starts_with("try: ")).await;
        let suggested = Command::new("sh")
            .args(["-c", try_line.strip_prefix("try: ").unwrap()])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let echo = server
            .run(&[], "echo hello from a nursery")
            .wait_with_output();
        let sleep = server.run(&[], "sleep 0.2").wait_with_output();
        let unknown = server.run(&[], "frobnicate").wait_with_output();
        let bad_sleep = server.run(&[], "sleep 3000000").wait_with_output();
        let mut shell = server.ssh(&["-T"], "");
        let shell = shell.stdin(Stdio::piped()).spawn().unwrap();
        let shell = async move {
            let mut shell = shell;
            let mut stdin = shell.stdin.take().unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut stdin, b"hello\nfrom the shell\n")
                .await
                .unwrap();
            drop(stdin); // EOF: the shell exits
            shell.wait_with_output().await
        };
        let (suggested, echo, sleep, unknown, bad_sleep, shell) =
            tokio::join!(suggested, echo, sleep, unknown, bad_sleep, shell);
        let (suggested, echo, sleep) = (suggested.unwrap(), echo.unwrap(), sleep.unwrap());
        let (unknown, bad_sleep, shell) = (unknown.unwrap(), bad_sleep.unwrap(), shell.unwrap());

        assert_eq!(
            (stdout(&suggested).as_str(), suggested.status.code()),
            ("slept 3s\n", Some(0)),
            "{suggested:?}"
        );
        assert_eq!(
            (stdout(&echo).as_str(), echo.status.code()),
            ("hello from a nursery\n", Some(0)),
            "{echo:?}"
        );
        assert_eq!(
            (stdout(&sleep).as_str(), sleep.status.code()),
            ("slept 0.2s\n", Some(0)),
            "{sleep:?}"
        );
        assert_eq!(unknown.status.code(), Some(127), "{unknown:?}");
        assert!(
            stderr(&unknown).starts_with("unknown command: frobnicate\n"),
            "{unknown:?}"
        );
        assert_eq!(bad_sleep.status.code(), Some(2), "{bad_sleep:?}");
        assert!(
            stderr(&bad_sleep).starts_with("usage: sleep SECONDS"),
            "{bad_sleep:?}"
        );
        assert_eq!(
            (stdout(&shell).as_str(), shell.status.code()),
            ("hello\nfrom the shell\n", Some(0)),
            "{shell:?}"
        );

        server.signal("TERM").await;
        let done = server.finish().await;
        assert!(done.success, "{}", done.transcript);
        assert_eq!(done.row("connections"), 6, "{}", done.transcript);
        assert_eq!(done.commands(), (6, 0, 0, 0, 0), "{}", done.transcript);
        assert_eq!(done.row("lost"), 0, "{}", done.transcript);
        assert_eq!(done.row("output undelivered"), 0, "{}", done.transcript);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_finished_commands_and_cancels_the_rest() {
    bounded(async {
        let scratch = Scratch::new().await;
        let mut server = scratch.server(GRACE_SECS).await;
        let long = server.run(&[], "sleep 30");
        let long_conn = server.exec_started("sleep 30").await;
        let short = server.run(&[], "sleep 1");
        let short_conn = server.exec_started("sleep 1").await;

        let began = Instant::now();
        server.signal("TERM").await;
        // Both commands were running when their connection began to close.
        for conn in [&short_conn, &long_conn] {
            server
                .printed(&format!("conn {conn}: closing, 1 command running;"))
                .await;
        }
        // No new session: the listener is gone.
        let late = server
            .run(&[], "echo late")
            .wait_with_output()
            .await
            .unwrap();
        assert_eq!(
            (stdout(&late).as_str(), late.status.code()),
            ("", Some(255)),
            "{late:?}"
        );

        // Finished within the drain window: output and exit status delivered.
        let short = short.wait_with_output().await.unwrap();
        assert_eq!(
            (stdout(&short).as_str(), short.status.code()),
            ("slept 1s\n", Some(0)),
            "{short:?}"
        );
        // Still running when the window closed: cancelled, and told so.
        let long = long.wait_with_output().await.unwrap();
        assert_eq!(long.status.code(), Some(EXIT_CANCELLED), "{long:?}");
        assert_eq!(
            (stdout(&long).as_str(), stderr(&long).as_str()),
            ("", CANCELLED),
            "{long:?}"
        );

        let done = server.finish().await;
        let took = began.elapsed();
        assert!(done.success, "{}", done.transcript);
        // The cancel waits for the drain window; the whole ends within the
        // grace printed at start (and a second for a busy machine).
        let grace = Duration::from_secs_f64(GRACE_SECS);
        assert!(
            took >= grace / 4 * 3 && took < grace + Duration::from_secs(1),
            "{took:?}\n{}",
            done.transcript
        );
        assert!(
            done.transcript.contains("graceful shutdown, 3s in all"),
            "{}",
            done.transcript
        );
        for (conn, commands) in [
            (
                &short_conn,
                "1 = 1 completed + 0 cancelled + 0 aborted + 0 failed + 0 running",
            ),
            (
                &long_conn,
                "1 = 0 completed + 1 cancelled + 0 aborted + 0 failed + 0 running",
            ),
        ] {
            let closed = format!("closed: server shutdown; commands {commands}");
            assert!(
                done.transcript
                    .lines()
                    .any(|l| l.starts_with(&format!("conn {conn} (")) && l.ends_with(&closed)),
                "conn {conn}: no `{closed}` line in:\n{}",
                done.transcript
            );
        }
        assert_eq!(done.row("connections"), 2, "{}", done.transcript);
        assert_eq!(done.commands(), (1, 1, 0, 0, 0), "{}", done.transcript);
        assert_eq!(done.row("lost"), 0, "{}", done.transcript);
        assert_eq!(done.row("output undelivered"), 0, "{}", done.transcript);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_over_a_control_master_refuses_new_channels_and_says_goodbye() {
    bounded(async {
        let scratch = Scratch::new().await;
        let mut server = scratch.server(GRACE_SECS).await;
        let path = scratch.control_path();
        // INFO: the master reports how the server ended the connection.
        let master = server.control_master(&path, "INFO").await;
        let mux = ["-S", path.as_str()];
        let long = server.run(&mux, "sleep 30");
        let conn = server.exec_started("sleep 30").await;
        let short = server.run(&mux, "sleep 1");
        assert_eq!(server.exec_started("sleep 1").await, conn, "one connection");

        server.signal("INT").await;
        let closing = format!("conn {conn}: closing, 2 commands running;");
        server.line(|l| l.starts_with(&closing)).await;
        // A new channel on the closing connection is refused (the mux client
        // then tries a connection of its own, which finds no listener).
        let late = server
            .run(&mux, "echo late")
            .wait_with_output()
            .await
            .unwrap();
        assert_eq!(
            (stdout(&late).as_str(), late.status.code()),
            ("", Some(255)),
            "{late:?}"
        );
        assert!(
            stderr(&late).contains("Session open refused by peer"),
            "{late:?}"
        );

        let short = short.wait_with_output().await.unwrap();
        assert_eq!(
            (stdout(&short).as_str(), short.status.code()),
            ("slept 1s\n", Some(0)),
            "{short:?}"
        );
        let long = long.wait_with_output().await.unwrap();
        assert_eq!(long.status.code(), Some(EXIT_CANCELLED), "{long:?}");
        assert_eq!(
            (stdout(&long).as_str(), stderr(&long).as_str()),
            ("", CANCELLED),
            "{long:?}"
        );

        // Then the goodbye: an SSH disconnect with a reason, not a dropped
        // connection (ssh exits 255 either way; what it says differs).
        let master = master.wait_with_output().await.unwrap();
        let said = stderr(&master);
        assert!(
            said.contains("Received disconnect")
                && said.contains("the server is closing this connection"),
            "{master:?}"
        );
        assert!(!said.contains("closed by remote host"), "{master:?}");

        let done = server.finish().await;
        assert!(done.success, "{}", done.transcript);
        assert_eq!(done.row("connections"), 1, "{}", done.transcript);
        assert_eq!(done.commands(), (1, 1, 0, 0, 0), "{}", done.transcript);
        assert_eq!(done.row("channel opens refused"), 1, "{}", done.transcript);
        assert_eq!(done.row("lost"), 0, "{}", done.transcript);
        assert_eq!(done.row("output undelivered"), 0, "{}", done.transcript);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_master_exit_lets_its_commands_run_to_their_end() {
    bounded(async {
        let scratch = Scratch::new().await;
        let mut server = scratch.server(GRACE_SECS).await;
        let path = scratch.control_path();
        let master = server.control_master(&path, "ERROR").await;
        let mux = ["-S", path.as_str()];
        let first = server.run(&mux, "sleep 1");
        let conn = server.exec_started("sleep 1").await;
        let second = server.run(&mux, "sleep 1.5");
        assert_eq!(server.exec_started("sleep 1.5").await, conn, "one connection");

        let exit = server.run(&["-S", path.as_str(), "-O", "exit"], "").wait_with_output().await.unwrap();
        assert!(exit.status.success(), "{exit:?}");
        master.wait_with_output().await.unwrap();
        // The master took its clients with it; the server's side of the
        // connection drains: both commands run to their end, none cancelled.
        first.wait_with_output().await.unwrap();
        second.wait_with_output().await.unwrap();
        let closed = format!("conn {conn} (");
        let line = server.line(|l| l.starts_with(&closed)).await;
        assert!(
            line.ends_with("closed: the client left; commands 2 = 2 completed + 0 cancelled + 0 aborted + 0 failed + 0 running"),
            "{line}"
        );

        server.signal("TERM").await;
        let done = server.finish().await;
        assert!(done.success, "{}", done.transcript);
        assert_eq!(done.commands(), (2, 0, 0, 0, 0), "{}", done.transcript);
        assert_eq!(done.row("output undelivered"), 2, "{}", done.transcript);
        assert_eq!(done.row("lost"), 0, "{}", done.transcript);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_killed_mid_command_leaves_the_command_to_finish() {
    bounded(async {
        let scratch = Scratch::new().await;
        let mut server = scratch.server(GRACE_SECS).await;
        let mut client = server.run(&[], "sleep 0.5");
        let conn = server.exec_started("sleep 0.5").await;
        client.kill().await.unwrap(); // SIGKILL: no goodbye to the server

        // The session ended with the socket; the connection's close waited
        // for the command, which ran to its end with nobody to tell.
        let closed = format!("conn {conn} (");
        let line = server.line(|l| l.starts_with(&closed)).await;
        // Killed with data unread, its socket may be reset rather than
        // closed: either way the session ended under the command.
        assert!(
            line.contains("closed: the client left;")
                || line.contains("closed: the transport failed;"),
            "{line}"
        );
        assert!(
            line.ends_with(
                "commands 1 = 1 completed + 0 cancelled + 0 aborted + 0 failed + 0 running"
            ),
            "{line}"
        );
        server.signal("TERM").await;
        let done = server.finish().await;
        assert!(done.success, "{}", done.transcript);
        assert_eq!(done.row("output undelivered"), 1, "{}", done.transcript);
        assert_eq!(done.row("lost"), 0, "{}", done.transcript);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_aborts_what_is_left_and_still_prints_the_report() {
    bounded(async {
        let scratch = Scratch::new().await;
        // A grace far longer than the test's bound: only the second signal
        // can end the shutdown in time.
        let mut server = scratch.server(600.0).await;
        let client = server.run(&[], "sleep 300");
        let conn = server.exec_started("sleep 300").await;

        server.signal("INT").await;
        let closing = format!("conn {conn}: closing, 1 command running;");
        server.line(|l| l.starts_with(&closing)).await;
        server.signal("TERM").await;

        let done = server.finish().await;
        assert!(done.success, "{}", done.transcript);
        // Cancelled and aborted at once: the command either saw the cancel
        // in between (and tried to tell its client) or was dropped.
        let (completed, cancelled, aborted, failed, running) = done.commands();
        assert_eq!(
            (completed, cancelled + aborted, failed, running),
            (0, 1, 0, 0),
            "{}",
            done.transcript
        );
        assert_eq!(done.row("lost"), 0, "{}", done.transcript);
        // The client is not left hanging.
        client.wait_with_output().await.unwrap();
    })
    .await;
}
