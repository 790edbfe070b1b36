//! What a connection's handles, its transport and its driver share.
//!
//! # Invariants
//!
//! 1. **One source of truth per fact.** Whether the connection is closing,
//!    its tasks' counts and their failure are its nursery's. This state holds
//!    only what the nursery cannot know: how and why the close was asked for
//!    (`Control::request`, written once: the first request wins), how the
//!    transport failed (written once), the installed writer's pump until the
//!    driver takes it, the idle clock, the phase of the close, and the final
//!    report.
//! 2. **Only the driver moves the close.** Handles and the transport record
//!    a request or a failure and wake the driver; the driver alone owns the
//!    nursery and runs the phases, so two callers can never run a phase
//!    twice.
//! 3. **The report is published once**, by the driver as its last step, or
//!    (non-final) by its drop guard if the driver is dropped first, so
//!    `closed` never waits for a driver that is gone. `phase` only grows;
//!    waiters register on `changed` before they check it.
//! 4. **No lock is held across an `.await` or user code**: `control` guards
//!    plain data, and the pump is moved out of it before it is polled.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use futures_util::FutureExt;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use scope_core::{Report, Spawner};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::addr::Addr;
use crate::builder::ConnConfig;
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::io::Link;
use crate::report::ConnReport;
use crate::writer::Pump;

/// `news` bits. Each is set (`Release`) after its part of `control` was
/// written under the lock, and read with `Acquire` before the driver locks
/// it; a bit never clears, except `PUMPED`, cleared by whoever takes the
/// pump under the lock.
const REQUESTED: u8 = 1;
const FAILED: u8 = 2;
const PUMPED: u8 = 4;

/// The phases a waiter can ask about (the others are the nursery's).
pub(crate) const OPEN: u8 = 0;
/// The tasks have drained (or were detached): the session may say goodbye.
pub(crate) const DRAINED: u8 = 1;
/// The report is published.
pub(crate) const CLOSED: u8 = 2;

#[derive(Default)]
struct Control {
    request: Option<(CloseMode, CloseReason)>,
    /// `SendTimeout` or `Transport`, with the error.
    transport: Option<(CloseReason, Arc<io::Error>)>,
    pump: Option<Box<Pump>>,
}

pub(crate) struct ConnShared<E: Send + 'static> {
    pub(crate) spawner: Spawner<(), E>,
    pub(crate) id: u64,
    pub(crate) peer: Option<Addr>,
    pub(crate) local: Option<Addr>,
    pub(crate) config: Arc<ConnConfig>,
    control: Mutex<Control>,
    /// Which parts of `control` were written (`REQUESTED`, `FAILED`,
    /// `PUMPED`), so the driver locks it only when there is news: it runs on
    /// every wake-up of the session, that is on every request.
    news: AtomicU8,
    /// Last time bytes moved, in milliseconds since `config.epoch`.
    activity: AtomicU64,
    phase: AtomicU8,
    /// The driver's waker: requests, transport failures and a new pump.
    driver: AtomicWaker,
    /// Woken when `phase` grows.
    changed: Notify,
    /// The close has run to its end: the transport refuses every read and
    /// write from now on.
    killed: AtomicBool,
    /// A read waiting on the transport, to be woken by the kill.
    reader: AtomicWaker,
    report: OnceLock<Box<ConnReport<E>>>,
}

impl<E: Send + 'static> ConnShared<E> {
    pub(crate) fn new(
        spawner: Spawner<(), E>,
        id: u64,
        peer: Option<Addr>,
        local: Option<Addr>,
        config: Arc<ConnConfig>,
    ) -> Self {
        let shared = ConnShared {
            spawner,
            id,
            peer,
            local,
            config,
            control: Mutex::new(Control::default()),
            news: AtomicU8::new(0),
            activity: AtomicU64::new(0),
            phase: AtomicU8::new(OPEN),
            driver: AtomicWaker::new(),
            changed: Notify::new(),
            killed: AtomicBool::new(false),
            reader: AtomicWaker::new(),
            report: OnceLock::new(),
        };
        if shared.config.idle.is_some() {
            shared.touch();
        }
        shared
    }

    // ----- requests --------------------------------------------------------

    /// Records a close request; the first one wins. Returns the one that did.
    pub(crate) fn request(&self, mode: CloseMode, reason: CloseReason) -> (CloseMode, CloseReason) {
        let won = *self.control.lock().request.get_or_insert((mode, reason));
        self.news.fetch_or(REQUESTED, Ordering::Release);
        self.driver.wake();
        won
    }

    fn has(&self, bit: u8) -> bool {
        self.news.load(Ordering::Acquire) & bit != 0
    }

    pub(crate) fn requested(&self) -> Option<(CloseMode, CloseReason)> {
        if !self.has(REQUESTED) {
            return None;
        }
        self.control.lock().request
    }

    pub(crate) fn transport_failure(&self) -> Option<(CloseReason, Arc<io::Error>)> {
        if !self.has(FAILED) {
            return None;
        }
        self.control.lock().transport.clone()
    }

    pub(crate) fn take_pump(&self) -> Option<Box<Pump>> {
        if !self.has(PUMPED) {
            return None;
        }
        let mut control = self.control.lock();
        self.news.fetch_and(!PUMPED, Ordering::Relaxed);
        control.pump.take()
    }

    pub(crate) fn register_driver(&self, waker: &std::task::Waker) {
        self.driver.register(waker);
    }

    // ----- the idle clock --------------------------------------------------

    fn now_ms(&self) -> u64 {
        u64::try_from(self.config.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// When bytes last moved.
    pub(crate) fn last_activity(&self) -> Instant {
        self.config.epoch + std::time::Duration::from_millis(self.activity.load(Ordering::Relaxed))
    }

    // ----- phases and the report -------------------------------------------

    pub(crate) fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }

    /// Moves to `phase` (never back) and wakes its waiters. `Release`: a
    /// waiter that sees the phase sees what the driver did before it (the
    /// published report, for `CLOSED`).
    pub(crate) fn advance(&self, phase: u8) {
        self.phase.fetch_max(phase, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Waits until the phase is at least `phase`. Cancel safe.
    pub(crate) async fn reached(&self, phase: u8) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if self.phase() >= phase {
                return;
            }
            changed.await;
        }
    }

    /// Ends the transport for whoever still holds it. `Release`, paired with
    /// the transport's `Acquire` load: a read that sees the flag sees the
    /// close that set it.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.reader.wake();
    }

    /// Publishes the report (the first one wins) and ends the close.
    pub(crate) fn publish(&self, report: ConnReport<E>) {
        let _ = self.report.set(Box::new(report));
        self.advance(CLOSED);
    }

    pub(crate) fn report(&self) -> Option<&ConnReport<E>> {
        self.report.get().map(|r| &**r)
    }

    /// A report of where the close stands now, from `tasks` (a snapshot from
    /// inside, or the final tasks report).
    pub(crate) fn report_now(&self, tasks: Report<E>, is_final: bool) -> ConnReport<E> {
        let control = self.control.lock();
        let (mode, reason) = control
            .request
            .unwrap_or((self.config.mode, CloseReason::SessionEnded));
        ConnReport {
            reason,
            mode,
            tasks,
            io_error: control.transport.as_ref().map(|(_, e)| Arc::clone(e)),
            id: self.id,
            peer: self.peer.clone(),
            is_final,
        }
    }

    /// Waits for the connection's report. From inside the connection (one
    /// of its tasks, or its session), which the close would wait for, it
    /// returns a report of where the close stands at once.
    pub(crate) async fn wait_report(&self) -> ConnReport<E> {
        if let Some(report) = self.report() {
            return report.clone();
        }
        // The core knows whether the caller is inside: its `closed` then
        // resolves at once with a report that is not final.
        if let Some(tasks) = self.spawner.closed().now_or_never() {
            if !tasks.is_final() {
                return self.report_now(tasks, false);
            }
        }
        self.reached(CLOSED).await;
        self.report()
            .expect("the report is published before the phase reaches CLOSED")
            .clone()
    }
}

impl<E: Send + 'static> Link for ConnShared<E> {
    fn touch(&self) {
        self.activity.store(self.now_ms(), Ordering::Relaxed);
    }

    fn transport_failed(&self, err: &io::Error, timed_out: bool) {
        {
            let mut control = self.control.lock();
            if control.transport.is_none() {
                let reason = if timed_out {
                    CloseReason::SendTimeout
                } else {
                    CloseReason::Transport
                };
                // `io::Error` is not `Clone`: keep its kind and message.
                let copy = io::Error::new(err.kind(), err.to_string());
                control.transport = Some((reason, Arc::new(copy)));
                self.news.fetch_or(FAILED, Ordering::Release);
            }
        }
        self.driver.wake();
    }

    fn closing(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let spawner = self.spawner.clone();
        Box::pin(async move { spawner.closing().await })
    }

    fn install_pump(&self, pump: Pump) {
        let old = {
            let mut control = self.control.lock();
            self.news.fetch_or(PUMPED, Ordering::Release);
            control.pump.replace(Box::new(pump))
        };
        drop(old);
        self.driver.wake();
    }

    fn send_timeout(&self) -> std::time::Duration {
        self.config.send_timeout
    }

    fn write_queue_bytes(&self) -> usize {
        self.config.write_queue
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    fn park_reader(&self, waker: &std::task::Waker) {
        self.reader.register(waker);
    }
}
