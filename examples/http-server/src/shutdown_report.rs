//! [`ShutdownReport`]: how an [`HttpServer`](crate::HttpServer) shutdown went.

use std::fmt;

use scope_conn::ServerReport;
use scope_core::BoxError;

use crate::jobs::JobCounts;

/// What [`HttpServer::shutdown`](crate::HttpServer::shutdown) returns: the
/// server's totals, from the nurseries (every task of every connection: the
/// HTTP/2 streams and the background jobs), and the jobs among them. Both
/// count the same way, so they add up: nothing is "lost" unless a task was
/// started and never ended, which the table would show.
pub struct ShutdownReport {
    pub(crate) server: ServerReport<BoxError>,
    pub(crate) jobs: JobCounts,
}

impl ShutdownReport {
    /// The scope-conn server's report.
    #[must_use]
    pub fn server(&self) -> &ServerReport<BoxError> {
        &self.server
    }

    /// The background jobs, read once every task had ended.
    #[must_use]
    pub fn jobs(&self) -> JobCounts {
        self.jobs
    }

    /// Tasks started and never accounted for (completed, failed, cancelled,
    /// aborted, or still running): 0, always.
    #[must_use]
    pub fn lost(&self) -> u64 {
        let t = self.server.tasks();
        t.spawned - (t.completed + t.failed + t.cancelled + t.aborted + t.live)
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, j) = (self.server.tasks(), self.jobs);
        writeln!(
            f,
            "connections      {:>6} served, {} refused",
            self.server.connections(),
            self.server.refused_connections()
        )?;
        writeln!(
            f,
            "tasks            {:>6} started = {} completed + {} failed + {} cancelled + {} aborted + {} running",
            t.spawned, t.completed, t.failed, t.cancelled, t.aborted, t.live
        )?;
        writeln!(
            f,
            "  of which jobs  {:>6} started = {} completed + {} cancelled + {} aborted + {} running",
            j.started,
            j.completed,
            j.cancelled,
            j.aborted,
            j.running()
        )?;
        writeln!(f, "lost             {:>6}", self.lost())
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
