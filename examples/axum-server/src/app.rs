//! [`app`]: the example's routes, the same whoever owns the jobs.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, Version};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::job_owner::JobOwner;
use crate::jobs::Jobs;

/// Longest job a request may ask for.
const MAX_MS: u64 = 600_000;

const USAGE: &str = "\
routes:
  POST /jobs?ms=N   answer 202 at once; the job then works N ms in the background
  GET  /stats       the jobs of every connection: started = completed + cancelled + aborted + running
";

/// The routes, with the jobs' ledger as the router's state:
///
/// - `POST /jobs?ms=N` answers `202 Accepted` at once and starts a job that
///   works `N` ms (at most ten minutes) as background work of the request's
///   owner, taken from the request's extensions as an `Extension<O>`;
///   `503` if the owner refuses it (it is closing, or at its task limit).
/// - `GET /stats`: the jobs' counts ([`Jobs`]).
/// - `GET /`: the routes.
///
/// The example serves `app::<Conn>`: the server puts each request's
/// [`Conn`](scope_conn::Conn) in its extensions, so a job is a task of the
/// request's connection. The handlers do not know more than
/// [`JobOwner`]: the contrast test serves the very same routes with
/// `tokio::spawn` as the owner.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::sync::Arc;
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use scope_example_axum::{app, Jobs};
/// use tower_service::Service;
///
/// let jobs = Arc::new(Jobs::default());
/// let (io, _peer) = tokio::io::duplex(64);
/// let report = scope_conn::ConnBuilder::new()
///     .serve(io, |conn, _io| {
///         let mut router = app::<scope_conn::Conn>(Arc::clone(&jobs));
///         async move {
///             let mut req = Request::post("/jobs?ms=100").body(Body::empty()).unwrap();
///             req.extensions_mut().insert(conn); // what the server does per request
///             let res = router.call(req).await.unwrap();
///             assert_eq!(res.status(), StatusCode::ACCEPTED);
///         }
///     })
///     .unwrap()
///     .await;
/// assert_eq!(report.tasks().stats().completed, 1); // the job, drained
/// assert_eq!(jobs.counts().completed, 1);
/// # }
/// ```
pub fn app<O: JobOwner>(jobs: Arc<Jobs>) -> Router {
    Router::new()
        .route("/", get(|| async { USAGE }))
        .route("/jobs", post(start_job::<O>))
        .route("/stats", get(stats))
        .with_state(jobs)
}

/// The query of `POST /jobs`.
#[derive(Deserialize)]
struct JobParams {
    /// How long the job works, in milliseconds.
    ms: u64,
}

async fn start_job<O: JobOwner>(
    Extension(owner): Extension<O>,
    State(jobs): State<Arc<Jobs>>,
    version: Version,
    Query(params): Query<JobParams>,
) -> (StatusCode, String) {
    let ms = params.ms.min(MAX_MS);
    if jobs.start(&owner, Duration::from_millis(ms)) {
        let body = format!(
            "job accepted: {ms} ms of work, owned by {} ({version:?})\n",
            owner.describe()
        );
        (StatusCode::ACCEPTED, body)
    } else {
        let body = format!(
            "{} takes no new jobs (closing, or full)\n",
            owner.describe()
        );
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

async fn stats(State(jobs): State<Arc<Jobs>>) -> String {
    format!("jobs: {}\n", jobs.counts())
}
