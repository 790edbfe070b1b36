//! The SSH example driven by OpenSSH's `ssh`: a plain exec, a client killed
//! mid-command, five commands over one multiplexed connection, and a
//! shutdown during a long command. Each test checks the example's ledger
//! against the nurseries' report: every command started is completed,
//! cancelled or aborted, none lost.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use scope_example_ssh::{ShutdownReport, SshServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// No test may run longer than this, whatever goes wrong.
const TEST_BOUND: Duration = Duration::from_secs(60);

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("the test ran past its bound");
}

/// A scratch directory with a host key made by `ssh-keygen`; removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    async fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Short: the multiplexing test puts a Unix socket in it.
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

    fn host_key(&self) -> PathBuf {
        self.dir.join("host_key")
    }

    async fn start(&self) -> SshServer {
        let key = russh::keys::load_secret_key(self.host_key(), None).unwrap();
        SshServer::bind("127.0.0.1:0", key).await.unwrap()
    }

    /// `ssh` with no user config, never prompting, trusting the new host
    /// key into a throwaway known-hosts file, plus `extra` options; an
    /// empty `command` asks for a shell, with stdin piped.
    fn ssh(&self, server: &SshServer, extra: &[&str], command: &str) -> Child {
        let port = server.local_addr().port().to_string();
        let known_hosts = format!(
            "UserKnownHostsFile={}",
            self.dir.join("known_hosts").display()
        );
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
            ])
            .args([
                "-o",
                &known_hosts,
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
            ])
            .args(extra)
            .args(["-p", &port, "demo@127.0.0.1"])
            // No command: a shell, fed through a pipe.
            .args((!command.is_empty()).then_some(command))
            .stdin(if command.is_empty() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("ssh runs")
    }

    async fn run(&self, server: &SshServer, command: &str) -> Output {
        self.ssh(server, &[], command)
            .wait_with_output()
            .await
            .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Both accounts agree and nothing is left: every command the ledger saw
/// start ended one way, and the nurseries hold exactly those commands.
fn assert_all_accounted(report: &ShutdownReport) {
    let (l, t) = (report.ledger(), report.server().tasks());
    assert!(report.server().is_final(), "{report}");
    assert_eq!(l.commands_unaccounted(), 0, "a command was lost:\n{report}");
    assert_eq!(l.commands_started, l.commands_accepted, "{report}");
    assert_eq!(t.live, 0, "{report}");
    assert_eq!(t.spawned, l.commands_accepted, "{report}");
    assert_eq!(
        t.spawned,
        t.completed + t.failed + t.cancelled + t.aborted,
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_exec_returns_its_output() {
    bounded(async {
        let scratch = Scratch::new().await;
        let server = scratch.start().await;
        let out = scratch.run(&server, "echo hello from a nursery").await;
        assert!(out.status.success(), "{out:?}");
        assert_eq!(text(&out), "hello from a nursery\n");

        let seen = server.ledger().wait_until(|s| s.conns_closed == 1).await;
        assert_eq!(
            (seen.commands_completed, seen.conns_drained),
            (1, 1),
            "{seen}"
        );
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_all_accounted(&report);
        assert_eq!(report.server().connections(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_echoes_its_input_as_a_task_of_the_connection() {
    bounded(async {
        let scratch = Scratch::new().await;
        let server = scratch.start().await;
        let mut shell = scratch.ssh(&server, &["-T"], "");
        let mut stdin = shell.stdin.take().unwrap();
        stdin.write_all(b"hello\nfrom the shell\n").await.unwrap();
        drop(stdin); // EOF: the shell exits
        let out = shell.wait_with_output().await.unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(text(&out), "hello\nfrom the shell\n");

        let seen = server.ledger().wait_until(|s| s.conns_closed == 1).await;
        assert_eq!(
            (seen.commands_completed, seen.conns_drained),
            (1, 1),
            "{seen}"
        );
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_killed_mid_command_leaves_the_work_to_finish() {
    bounded(async {
        let scratch = Scratch::new().await;
        let server = scratch.start().await;
        let mut client = scratch.ssh(&server, &[], "sleep 1000");
        server
            .ledger()
            .wait_until(|s| s.commands_started == 1)
            .await;
        client.kill().await.unwrap(); // SIGKILL: no goodbye to the server
        assert_eq!(server.ledger().stats().commands_completed, 0);

        // The session ended with the socket; the connection's close waited
        // for the command, which ran its full second with nobody to tell.
        let seen = server.ledger().wait_until(|s| s.conns_closed == 1).await;
        assert_eq!(
            (seen.commands_completed, seen.commands_cancelled),
            (1, 0),
            "{seen}"
        );
        assert_eq!(seen.outputs_undelivered, 1, "{seen}");
        assert_eq!(
            seen.conns_drained, 1,
            "the close reports it drained: {seen}"
        );

        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_commands_over_one_multiplexed_connection_drain_on_exit() {
    bounded(async {
        let scratch = Scratch::new().await;
        let server = scratch.start().await;
        let path = format!("ControlPath={}", scratch.dir.join("cm").display());
        // `-f`: the master goes to the background once it has authenticated
        // and its control socket listens, so its foreground exit is the
        // readiness signal. (Backgrounded, it is no child of ours: if the
        // test fails, it leaves when the server drops its connection.)
        let master_opts = ["-o", "ControlMaster=yes", "-o", &path, "-N", "-f"];
        let master = scratch.ssh(&server, &master_opts, "");
        let out = master.wait_with_output().await.unwrap();
        assert!(out.status.success(), "{out:?}");

        let mux = ["-o", "ControlMaster=no", "-o", path.as_str()];
        let clients: Vec<Child> = (0..5)
            .map(|_| scratch.ssh(&server, &mux, "sleep 1000"))
            .collect();
        server
            .ledger()
            .wait_until(|s| s.commands_started == 5)
            .await;
        assert_eq!(server.accepted(), 1, "five channels, one connection");

        // The master leaves with the five commands running.
        let exit = ["-o", path.as_str(), "-O", "exit"];
        assert!(
            scratch
                .ssh(&server, &exit, "")
                .wait()
                .await
                .unwrap()
                .success()
        );
        for client in clients {
            client.wait_with_output().await.unwrap();
        }
        let seen = server.ledger().wait_until(|s| s.conns_closed == 1).await;
        assert_eq!((seen.channels, seen.commands_completed), (5, 5), "{seen}");
        assert_eq!(seen.conns_drained, 1, "{seen}");

        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_eq!(report.server().connections(), 1);
        assert_eq!(
            report.server().tasks().spawned,
            5,
            "five tasks in one nursery"
        );
        assert_all_accounted(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_long_command_ends_within_its_deadline() {
    bounded(async {
        let scratch = Scratch::new().await;
        let server = scratch.start().await;
        let client = scratch.ssh(&server, &[], "sleep 600000");
        server
            .ledger()
            .wait_until(|s| s.commands_started == 1)
            .await;

        let grace = Duration::from_millis(300);
        let report = server.shutdown(grace).await;
        // Three phases of `grace` at most, and some room for a busy machine.
        assert!(
            report.elapsed() < grace * 3 + Duration::from_secs(2),
            "{report}"
        );
        let l = report.ledger();
        assert_eq!(
            (
                l.commands_completed,
                l.commands_cancelled,
                l.commands_aborted
            ),
            (0, 1, 0),
            "{report}"
        );
        assert_all_accounted(&report);

        // The client is not left hanging: its connection was closed.
        let out = client.wait_with_output().await.unwrap();
        assert!(!out.status.success(), "{out:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_ssh_and_prints_a_lossless_table_on_ctrl_c() {
    bounded(async {
        let scratch = Scratch::new().await;
        let mut server = Command::new(env!("CARGO_BIN_EXE_scope-example-ssh"))
            .arg("127.0.0.1:0")
            .arg(scratch.host_key())
            .arg("5000")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        // Ready when it prints its address.
        let addr = loop {
            let line = lines.next_line().await.unwrap().expect("the address line");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.to_owned();
            }
        };
        let port = addr.rsplit(':').next().unwrap();
        let known_hosts = format!(
            "UserKnownHostsFile={}",
            scratch.dir.join("known_hosts").display()
        );
        let out = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
            ])
            .args([
                "-o",
                &known_hosts,
                "-o",
                "LogLevel=ERROR",
                "-p",
                port,
                "demo@127.0.0.1",
            ])
            .arg("sleep 200")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        assert_eq!(text(&out), "slept 200 ms\n", "{out:?}");

        let pid = server.id().unwrap().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .await
                .unwrap()
                .success()
        );
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
        assert_eq!(row("commands started"), "1", "{table}");
        assert_eq!(row("completed"), "1", "{table}");
        assert_eq!(row("lost"), "0", "{table}");
    })
    .await;
}
