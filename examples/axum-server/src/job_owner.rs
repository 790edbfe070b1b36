//! [`JobOwner`]: who owns the background work a handler starts.

use std::future::Future;

use scope_conn::Conn;
use scope_core::SpawnError;
use tokio_util::sync::CancellationToken;

/// Who owns the jobs a request starts: the one seam between the handlers
/// ([`app`](crate::app)) and the server under them. The example's server
/// puts the request's [`Conn`] in its extensions, so its jobs are tasks of
/// the connection; the contrast test plugs in `tokio::spawn` to show what
/// is lost without an owner.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_example_axum::JobOwner;
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let report = scope_conn::ConnBuilder::new()
///     .serve(io, |conn, _io| async move {
///         assert!(conn.spawn(async { /* a job */ }).is_ok());
///         assert_eq!(conn.describe(), format!("connection {}", conn.id()));
///     })
///     .unwrap()
///     .await;
/// assert_eq!(report.tasks().stats().completed, 1);
/// # }
/// ```
pub trait JobOwner: Clone + Send + Sync + 'static {
    /// Starts `job` in the background, or hands it back unpolled if the
    /// owner refuses it (it is shutting down, say).
    ///
    /// # Errors
    ///
    /// The job, refused.
    fn spawn<F>(&self, job: F) -> Result<(), F>
    where
        F: Future<Output = ()> + Send + 'static;

    /// Fires when the owner wants its jobs to stop early. A job that
    /// returns after it fired counts as cancelled.
    fn token(&self) -> CancellationToken;

    /// Names the owner in a reply (`connection 3`).
    fn describe(&self) -> String;
}

/// The example's owner: each job is a task of the request's connection,
/// equivalent to `conn.spawner().spawn_named("job", job)`.
impl JobOwner for Conn {
    fn spawn<F>(&self, job: F) -> Result<(), F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawner()
            .spawn_named("job", job)
            .map(drop)
            .map_err(SpawnError::into_inner)
    }

    fn token(&self) -> CancellationToken {
        self.spawner().token().clone()
    }

    fn describe(&self) -> String {
        format!("connection {}", self.id())
    }
}
