//! The acceptance: the same routes and the same job, once under
//! `axum::serve(..).with_graceful_shutdown(..)` with the job handed to
//! `tokio::spawn`, once on the example's scope-conn server with the job a
//! task of the request's connection. A client starts a job, gets its 202,
//! and the server is shut down at once; the test reads the job's ledger
//! the moment the shutdown returns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use scope_example_axum::{AxumServer, JobOwner, Jobs, app};
use scope_example_testing::{TEST_BOUND, curl, ok};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How long the job works: long enough that no shutdown returns after it
/// by accident, short enough for a quick test.
const JOB: &str = "1500";

/// The owner an `axum::serve` handler has at hand: none.
#[derive(Clone)]
struct TokioSpawn;

impl JobOwner for TokioSpawn {
    fn spawn<F>(&self, job: F) -> Result<(), F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(job));
        Ok(())
    }

    fn token(&self) -> CancellationToken {
        // Nobody would ever cancel it.
        CancellationToken::new()
    }

    fn describe(&self) -> String {
        "nobody (tokio::spawn)".to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serve_with_graceful_shutdown_returns_while_a_tokio_spawned_job_still_runs() {
    tokio::time::timeout(TEST_BOUND, async {
        let jobs = Arc::new(Jobs::default());
        // One layer for the whole router, built once: `TokioSpawn` has no
        // per-connection state.
        let router = app::<TokioSpawn>(Arc::clone(&jobs)).layer(Extension(TokioSpawn));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });

        let out = curl(&["-i", "-X", "POST", &format!("{url}/jobs?ms={JOB}")]).await;
        assert!(ok(&out).starts_with("HTTP/1.1 202"), "{}", ok(&out));
        stop.send(()).unwrap();
        served.await.unwrap().unwrap();

        let at_return = jobs.counts();
        assert_eq!(at_return.started, 1, "{at_return}");
        assert_eq!(
            at_return.completed, 0,
            "axum::serve returned only after the job was done: {at_return}"
        );
        assert_eq!(at_return.running(), 1, "{at_return}");
        // It was running, not lost before it began: it finishes later, with
        // nobody waiting for it (in a program, `main` would have returned and
        // the runtime's drop would have cut it off).
        while jobs.counts().completed == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the test ran past its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_server_shutdown_returns_only_after_the_connections_job_finished() {
    tokio::time::timeout(TEST_BOUND, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = AxumServer::start(listener, |_| {}).unwrap();
        let url = format!("http://{}", server.local_addr());

        let out = curl(&["-i", "-X", "POST", &format!("{url}/jobs?ms={JOB}")]).await;
        let text = ok(&out);
        assert!(text.starts_with("HTTP/1.1 202"), "{text}");
        assert!(text.contains("owned by connection"), "{text}");
        let report = server.shutdown(Duration::from_secs(4)).await;

        let at_return = server.jobs().counts();
        assert_eq!(at_return.started, 1, "{at_return}");
        assert_eq!(
            at_return.completed, 1,
            "the shutdown returned before the job was done: {at_return}"
        );
        assert_eq!(report.jobs(), at_return, "{report}");
        // The nurseries counted it completed too: over HTTP/1.1 the job is
        // the connection's only task.
        let t = report.server().tasks();
        assert_eq!((t.spawned, t.completed, t.live), (1, 1, 0), "{report}");
        assert_eq!(report.lost(), 0, "{report}");
    })
    .await
    .expect("the test ran past its bound");
}
