//! [`HyperExecutor`]: hyper's executor, spawning into a connection's nursery.

use std::fmt;
use std::future::Future;

use scope_core::Spawner;

/// A `hyper::rt::Executor` that spawns into a connection's nursery, so the
/// futures hyper hands to an executor (an HTTP/2 stream each, an upgraded
/// connection's send task) are tasks of the connection: owned, counted in
/// its report, drained by its close. With the `hyper` feature.
///
/// Equivalent to `spawner.spawn(fut)`; a future the nursery refuses (the
/// connection was cancelled, or is at its task limit) is dropped, which
/// resets that HTTP/2 stream. While the connection closes gracefully, the
/// streams its session accepts are still taken: the session is the
/// nursery's body, and hyper's GOAWAY is what stops new streams.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use hyper::rt::Executor;
/// use scope_conn::HyperExecutor;
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let report = scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
///     let exec = HyperExecutor::new(conn.spawner());
///     exec.execute(async { /* an HTTP/2 stream, say */ });
/// }).unwrap().await;
/// assert_eq!(report.tasks().stats().completed, 1);
/// # }
/// ```
pub struct HyperExecutor<E: Send + 'static = scope_core::BoxError> {
    spawner: Spawner<(), E>,
}

impl<E: Send + 'static> HyperExecutor<E> {
    /// An executor spawning through `spawner` (a connection's:
    /// [`Conn::spawner`](crate::Conn::spawner)).
    ///
    /// # Examples
    ///
    /// See [`HyperExecutor`].
    #[must_use]
    pub fn new(spawner: &Spawner<(), E>) -> Self {
        HyperExecutor {
            spawner: spawner.clone(),
        }
    }
}

impl<E, F> hyper::rt::Executor<F> for HyperExecutor<E>
where
    E: Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        // Refused: dropped unpolled, which resets the stream it serves.
        drop(self.spawner.spawn(fut));
    }
}

impl<E: Send + 'static> Clone for HyperExecutor<E> {
    fn clone(&self) -> Self {
        HyperExecutor {
            spawner: self.spawner.clone(),
        }
    }
}

impl<E: Send + 'static> fmt::Debug for HyperExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperExecutor").finish_non_exhaustive()
    }
}
