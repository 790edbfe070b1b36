//! The state a connection's owner, spawners, reader, writer and driver share.
//!
//! # Invariants
//!
//! 1. The first close request wins: `request` is written once, and its mode
//!    and reason are what every report says. The request begins the
//!    nursery's close (or detaches it) before it fires `closing`, so once
//!    anyone can observe `closing`, spawns from outside are already refused.
//! 2. The report cell is written once. The driver writes the real report as
//!    its last step; if the driver is torn down first, its drop guard writes
//!    a non-final one, so `closed` never waits for a driver that is gone.
//! 3. No lock here is held across an `.await` or while user code runs: the
//!    nursery is moved out of its slot (or a spawner used) before anything
//!    that can take time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::Mutex;
use scope_core::{Nursery, Report, Spawner};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::report::ConnReport;

/// When the transport last moved a byte, for the idle timeout.
#[derive(Debug)]
pub(crate) struct Activity {
    base: Instant,
    /// Milliseconds after `base`. Relaxed: a stale reading only delays the
    /// idle check by one round, which re-reads it.
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

pub(crate) struct ConnShared<E: Send + 'static> {
    pub(crate) id: u64,
    /// The owner side of the nursery. Moved out by a detach, by a deadline
    /// close while it escalates, and by a standalone connection's drop.
    pub(crate) nursery: Mutex<Option<Nursery<(), E>>>,
    pub(crate) spawner: Spawner<(), E>,
    /// Fired by the first close request: the reader reports end-of-stream and
    /// the driver moves to its closing phase.
    pub(crate) closing: CancellationToken,
    request: Mutex<Option<(CloseMode, CloseReason)>>,
    report: watch::Sender<Option<ConnReport<E>>>,
    pub(crate) tx: mpsc::Sender<Vec<u8>>,
    pub(crate) activity: Arc<Activity>,
    /// The mode for closes nobody chose a mode for (idle, failure).
    pub(crate) mode: CloseMode,
    pub(crate) idle: Option<Duration>,
    pub(crate) flush_timeout: Duration,
    pub(crate) has_server: bool,
}

impl<E: Send + 'static> ConnShared<E> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        nursery: Nursery<(), E>,
        tx: mpsc::Sender<Vec<u8>>,
        mode: CloseMode,
        idle: Option<Duration>,
        flush_timeout: Duration,
        has_server: bool,
    ) -> Self {
        ConnShared {
            id,
            spawner: nursery.spawner(),
            nursery: Mutex::new(Some(nursery)),
            closing: CancellationToken::new(),
            request: Mutex::new(None),
            report: watch::Sender::new(None),
            tx,
            activity: Arc::new(Activity::new()),
            mode,
            idle,
            flush_timeout,
            has_server,
        }
    }

    pub(crate) fn request(&self) -> Option<(CloseMode, CloseReason)> {
        *self.request.lock()
    }

    /// Begins the close (invariant 1). Returns whether this call was first.
    pub(crate) fn request_close(&self, mode: CloseMode, reason: CloseReason) -> bool {
        {
            let mut request = self.request.lock();
            if request.is_some() {
                return false;
            }
            *request = Some((mode, reason));
        }
        match mode {
            CloseMode::Detach => {
                let nursery = self.nursery.lock().take();
                if let Some(nursery) = nursery {
                    nursery.detach();
                }
            }
            // The first poll of `close` begins it (and the future is cancel
            // safe: the close stays begun when it is dropped unfinished).
            CloseMode::Join | CloseMode::Deadline(_) => drop(self.spawner.close().now_or_never()),
        }
        self.closing.cancel();
        true
    }

    /// Requests the close and waits for the report; from inside one of the
    /// connection's tasks, returns at once without waiting for itself.
    pub(crate) async fn close(&self, mode: CloseMode, reason: CloseReason) -> ConnReport<E> {
        self.request_close(mode, reason);
        // The core knows whether we run inside the nursery: its close then
        // resolves at once with a non-final report.
        if let Some(tasks) = self.spawner.close().now_or_never() {
            if !tasks.is_final() {
                return self.provisional(Some(tasks));
            }
        }
        self.closed().await
    }

    pub(crate) async fn closed(&self) -> ConnReport<E> {
        let mut rx = self.report.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(report) => report.clone().unwrap_or_else(|| self.provisional(None)),
            // Unreachable: `self` holds the sender.
            Err(_) => self.provisional(None),
        }
    }

    /// A report for now, without waiting.
    pub(crate) fn provisional(&self, tasks: Option<Report<E>>) -> ConnReport<E> {
        let (mode, reason) = self.request().unwrap_or((self.mode, CloseReason::Dropped));
        ConnReport {
            reason,
            mode,
            stats: tasks
                .as_ref()
                .map_or_else(|| self.spawner.stats(), Report::stats),
            tasks,
            io_error: None,
            is_final: false,
        }
    }

    /// Writes the report cell once (invariant 2).
    pub(crate) fn publish(&self, report: ConnReport<E>) {
        self.report.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(report);
            true
        });
    }

    pub(crate) fn is_published(&self) -> bool {
        self.report.borrow().is_some()
    }

    /// What the driver waits for in the closing phase.
    pub(crate) async fn wait_tasks(&self, mode: CloseMode) -> Option<Report<E>> {
        match mode {
            CloseMode::Join => Some(self.spawner.closed().await),
            CloseMode::Deadline(grace) => {
                let nursery = self.nursery.lock().take();
                match nursery {
                    Some(nursery) => {
                        let report = nursery.shutdown(grace).await;
                        *self.nursery.lock() = Some(nursery);
                        Some(report)
                    }
                    None => Some(self.spawner.closed().await),
                }
            }
            CloseMode::Detach => None,
        }
    }
}
