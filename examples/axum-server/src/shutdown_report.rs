//! [`ShutdownReport`]: how an [`AxumServer`](crate::AxumServer) shutdown went.

use std::fmt;

use scope_conn::ServerReport;
use scope_core::BoxError;

use crate::jobs::JobCounts;

/// What [`AxumServer::shutdown`](crate::AxumServer::shutdown) returns: the
/// server's totals from the nurseries (every task of every connection: the
/// jobs and the HTTP/2 streams), and the jobs among them, counted by the
/// same rule. `lost` is what the nurseries cannot account for: 0, since a
/// nursery counts every task it took in exactly one column.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let server = scope_example_axum::AxumServer::start(listener, |_| {})?;
/// let report = server.shutdown(std::time::Duration::from_secs(1)).await;
/// assert_eq!(report.lost(), 0);
/// assert!(report.to_string().starts_with("connections          0 served"));
/// # Ok(()) }
/// ```
pub struct ShutdownReport {
    pub(crate) server: ServerReport<BoxError>,
    pub(crate) jobs: JobCounts,
}

impl ShutdownReport {
    /// The scope-conn server's report.
    ///
    /// # Examples
    ///
    /// See [`ShutdownReport`].
    #[must_use]
    pub fn server(&self) -> &ServerReport<BoxError> {
        &self.server
    }

    /// The jobs, read once the shutdown had returned.
    ///
    /// # Examples
    ///
    /// See [`ShutdownReport`].
    #[must_use]
    pub fn jobs(&self) -> JobCounts {
        self.jobs
    }

    /// Tasks started and never accounted for (completed, failed, cancelled,
    /// aborted, or still running).
    ///
    /// # Examples
    ///
    /// See [`ShutdownReport`].
    #[must_use]
    pub fn lost(&self) -> i128 {
        let t = self.server.tasks();
        // Signed: a ledger that counted a task twice would show, not wrap.
        i128::from(t.spawned)
            - i128::from(t.completed + t.failed + t.cancelled + t.aborted + t.live)
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, j) = (self.server.tasks(), self.jobs);
        writeln!(
            f,
            "{:<16}{:>6} served, {} refused",
            "connections",
            self.server.connections(),
            self.server.refused_connections()
        )?;
        writeln!(
            f,
            "{:<16}{:>6} started = {} completed + {} failed + {} cancelled + {} aborted + {} running",
            "tasks", t.spawned, t.completed, t.failed, t.cancelled, t.aborted, t.live
        )?;
        writeln!(
            f,
            "{:<16}{:>6} started = {} completed + {} cancelled + {} aborted + {} running",
            "  of which jobs",
            j.started,
            j.completed,
            j.cancelled,
            j.aborted,
            j.running()
        )?;
        writeln!(
            f,
            "{:<16}{:>6} started and never accounted for",
            "lost",
            self.lost()
        )
    }
}

impl fmt::Debug for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownReport")
            .field("server", &self.server)
            .field("jobs", &self.jobs)
            .finish()
    }
}
