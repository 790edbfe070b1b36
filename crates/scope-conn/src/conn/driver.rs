//! The driver: the one future that runs a connection. It polls the session
//! (the protocol, which owns the transport), the queued writer's pump when
//! there is one, and the signals that start a close; then it runs the close
//! in phases, each bounded:
//!
//! 1. **Stop new work.** The nursery begins to close: spawns from outside
//!    the connection are refused and [`Conn::closing`](crate::Conn::closing)
//!    fires, so the protocol takes no new requests. The session keeps
//!    running: the transport reads and writes.
//! 2. **Drain**, by the mode: `Join` waits until no task is left,
//!    `Deadline` escalates as the core's `shutdown`, `Detach` hands the tasks
//!    over and drops the session. The session and the pump keep running, so
//!    what the tasks write reaches the peer; a peer that stops reading fails
//!    the writes after the send timeout, which ends the tasks that wait on
//!    them.
//! 3. **Goodbye.** [`Conn::drained`](crate::Conn::drained) fires and the
//!    session gets the goodbye timeout to finish its own ending (the last
//!    response, an exit status, a disconnect); then it is dropped.
//! 4. **Flush and shut down** the queued writer, within what is left of the
//!    goodbye timeout (each write also within the send timeout).
//! 5. **Report**, once: the nursery's close, now that the session is gone.
//!
//! The session is the nursery's *body* (the core's `inside`): the requests
//! it has in flight when the close begins may still start follow-up work
//! (an HTTP/2 stream accepted before the client saw GOAWAY, say), and the
//! nursery does not finish closing before the session has ended. Work from
//! outside the connection is refused from phase 1 on.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use scope_core::{CancelReason, Nursery, Spawner};

use tokio::time::{Instant, Sleep};

use super::shared::{ConnShared, DRAINED};
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::io::Link;
use crate::report::ConnReport;
use crate::writer::Pump;

/// Publishes a non-final report if the driver is dropped before it could
/// publish the real one (an abort, a standalone connection's future
/// dropped unfinished or before its first poll, a runtime shut down), so no
/// `closed` waits forever.
struct PublishOnDrop<E: Send + 'static> {
    shared: Arc<ConnShared<E>>,
    /// The close request a drop stands for, unless the close had begun for
    /// a reason of its own (the first wins): a server's connection is
    /// dropped by the server's shutdown (or its drop, or its runtime's end),
    /// in the server's shutdown mode.
    request: (CloseMode, CloseReason),
}

impl<E: Send + 'static> Drop for PublishOnDrop<E> {
    fn drop(&mut self) {
        let shared = &*self.shared;
        if shared.report().is_none() {
            shared.kill();
            let (mode, reason) = self.request;
            shared.request(mode, reason);
            shared.publish(shared.report_now(shared.spawner.report(), false));
        }
    }
}

/// A panic's payload, as `catch_unwind` returns it.
pub(crate) type Panic = Box<dyn Any + Send>;

/// What the driver polls besides the phase at hand.
struct Running<'a, E: Send + 'static, S> {
    shared: &'a ConnShared<E>,
    /// `None` once it ended, panicked or was dropped.
    session: Pin<&'a mut Option<S>>,
    /// Boxed: most connections never make one.
    pump: Option<Box<Pump>>,
    /// The session's panic, resumed once the connection has closed.
    panic: Option<Panic>,
}

impl<E: Send + 'static, S: Future<Output = ()>> Running<'_, E, S> {
    /// Polls the pump (taking a newly installed one) and the session.
    /// Returns whether the pump failed.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        self.shared.register_driver(cx.waker());
        if self.pump.is_none() {
            self.pump = self.shared.take_pump();
        }
        let mut failed = false;
        if let Some(pump) = &mut self.pump {
            // `Ok` only once finishing, which is not yet.
            if let Poll::Ready(Err(_)) = pump.poll_run(cx) {
                self.pump = None;
                failed = true;
            }
        }
        if let Some(session) = self.session.as_mut().as_pin_mut() {
            // A panicking session ends like a returning one; the panic is
            // kept for the connection's end.
            match catch_unwind(AssertUnwindSafe(|| session.poll(cx))) {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(())) => self.session.set(None),
                Err(panic) => {
                    self.panic = Some(panic);
                    self.session.set(None);
                }
            }
        }
        failed
    }

    fn session_live(&self) -> bool {
        self.session.is_some()
    }

    /// Runs `main` to its end, the session and the pump alongside.
    async fn alongside<M: Future>(&mut self, main: M) -> M::Output {
        let mut main = pin!(main);
        poll_fn(|cx| {
            self.poll(cx);
            main.as_mut().poll(cx)
        })
        .await
    }
}

/// How a server tells its connections that it shuts down: the server's
/// nursery is closing (the one truth), and this wakes whoever waits on it.
/// One `Notify` for every connection, where each connection waiting on the
/// server nursery's `closing()` would carry that future's state.
pub(crate) struct Shutdown<E: Send + 'static> {
    server: Spawner<(), E>,
    notify: tokio::sync::Notify,
}

impl<E: Send + 'static> Shutdown<E> {
    pub(crate) fn new(server: Spawner<(), E>) -> Self {
        Shutdown {
            server,
            notify: tokio::sync::Notify::new(),
        }
    }

    /// The server's nursery has begun to close: wake every connection.
    pub(crate) fn announce(&self) {
        self.notify.notify_waiters();
    }
}

/// A session, already the nursery's body (`Nursery::inside`), type-erased:
/// it lives in its own allocation, so the driver's state (a task of the
/// server's, per connection) stays small and the driver is compiled once
/// per error type, not once per protocol.
pub(crate) type Session = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Makes the session with `make` (the user's handler) and makes it the
/// nursery's body, boxed. A handler that panics gives a session that
/// panics at its first poll: the connection then closes as any panicking
/// session's does (`SessionPanicked`, the panic resumed by whoever awaits
/// the connection), and the panic does not unwind through the caller (a
/// server's accept loop).
pub(crate) fn body<E, Fut>(nursery: &Nursery<(), E>, make: impl FnOnce() -> Fut) -> Session
where
    E: Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    match catch_unwind(AssertUnwindSafe(make)) {
        Ok(session) => Box::pin(nursery.inside(session)),
        Err(panic) => Box::pin(nursery.inside(async move { std::panic::resume_unwind(panic) })),
    }
}

/// Runs one connection to its end: its report, and the session's panic if
/// it panicked (for the caller to resume once it has used the report).
/// `server` is the server's spawner for a server's connection: when the
/// server begins to close, the connection closes in `shutdown_mode`.
///
/// The report on drop is armed here, as the future is made: one dropped
/// before its first poll publishes it too.
pub(crate) fn drive<E>(
    shared: Arc<ConnShared<E>>,
    nursery: Nursery<(), E>,
    session: Session,
    server: Option<Arc<Shutdown<E>>>,
    shutdown_mode: CloseMode,
) -> impl Future<Output = (ConnReport<E>, Option<Panic>)> + Send + 'static
where
    E: Send + 'static,
{
    let request = match server {
        Some(_) => (shutdown_mode, CloseReason::Shutdown),
        // A drop cancels and aborts at once.
        None => (CloseMode::Deadline(Duration::ZERO), CloseReason::Dropped),
    };
    let publish = PublishOnDrop { shared, request };
    async move {
        let shared = &*publish.shared;
        drive_body(shared, nursery, session, server, shutdown_mode).await
    }
}

/// `drive`'s body, once polled.
async fn drive_body<E>(
    shared: &ConnShared<E>,
    nursery: Nursery<(), E>,
    session: Session,
    server: Option<Arc<Shutdown<E>>>,
    shutdown_mode: CloseMode,
) -> (ConnReport<E>, Option<Panic>)
where
    E: Send + 'static,
{
    let config = Arc::clone(&shared.config);
    let session = pin!(Some(session));
    let mut run = Running {
        shared,
        session,
        pump: None,
        panic: None,
    };

    // ----- open: until something starts the close -----
    let (mode, _) = {
        let mut shutdown = pin!(server.as_ref().map(|s| s.notify.notified()));
        let mut idle: Option<Pin<Box<Sleep>>> = config
            .idle
            .map(|idle| Box::pin(tokio::time::sleep_until(shared.last_activity() + idle)));
        let mut first = true;
        let reason = poll_fn(|cx| {
            let pump_failed = run.poll(cx);
            if let Some((_, reason)) = shared.requested() {
                return Poll::Ready(reason);
            }
            // A session that ended because its transport failed ended for
            // that reason.
            if let Some((reason, _)) = shared.transport_failure() {
                return Poll::Ready(reason);
            }
            if pump_failed {
                return Poll::Ready(CloseReason::Transport);
            }
            if run.panic.is_some() {
                return Poll::Ready(CloseReason::SessionPanicked);
            }
            if !run.session_live() {
                return Poll::Ready(CloseReason::SessionEnded);
            }
            // A cancel of the nursery and the server's announcement each
            // wake this task through a registration made on the first poll;
            // after that the driver reads the state they change (one atomic
            // load each) rather than poll them on every wake-up of the
            // session. `poll_cancelled` rather than a wait on the token: an
            // open connection then needs no token at all, one waker slot.
            if (first || nursery.is_cancelled()) && nursery.poll_cancelled(cx).is_ready() {
                return Poll::Ready(match nursery.cancel_reason() {
                    Some(CancelReason::Failure) => CloseReason::Failed,
                    // A dropped server begins its nursery's close before
                    // the drop cancels it. The cancel reached this nursery
                    // with a `Release` store after that began, and the
                    // `Acquire` load that saw it makes the close visible.
                    Some(CancelReason::Parent)
                        if server.as_ref().is_some_and(|s| s.server.is_closing()) =>
                    {
                        CloseReason::Shutdown
                    }
                    _ => CloseReason::Cancelled,
                });
            }
            if let Some(signal) = &server {
                if signal.server.is_closing() {
                    return Poll::Ready(CloseReason::Shutdown);
                }
                if first {
                    let mut notified = shutdown
                        .as_mut()
                        .as_pin_mut()
                        .expect("made with the signal");
                    // Registered, then a second look: an announcement made
                    // in between is not missed.
                    notified.as_mut().enable();
                    if signal.server.is_closing() || notified.poll(cx).is_ready() {
                        return Poll::Ready(CloseReason::Shutdown);
                    }
                }
            }
            first = false;
            if let (Some(timer), Some(limit)) = (&mut idle, config.idle) {
                while timer.as_mut().poll(cx).is_ready() {
                    let at = shared.last_activity() + limit;
                    if at <= Instant::now() {
                        return Poll::Ready(CloseReason::IdleTimeout);
                    }
                    timer.as_mut().reset(at);
                }
            }
            Poll::Pending
        })
        .await;
        let mode = if reason == CloseReason::Shutdown {
            shutdown_mode
        } else {
            config.mode
        };
        // A no-op if a handle's request is what we saw (the first wins).
        shared.request(mode, reason)
    };

    // The phases of the close run once: their state is boxed, so an open
    // connection does not carry it.
    Box::pin(close(run, nursery, mode)).await
}

/// The close, from its first phase: see the module docs.
async fn close<E, S>(
    mut run: Running<'_, E, S>,
    nursery: Nursery<(), E>,
    mode: CloseMode,
) -> (ConnReport<E>, Option<Panic>)
where
    E: Send + 'static,
    S: Future<Output = ()>,
{
    let shared = run.shared;
    let config = Arc::clone(&shared.config);
    // ----- stop new work, and drain -----
    let mut stuck = None;
    // Under a deadline, when it ends: it bounds the tasks the session starts
    // during its goodbye too (`None`: no deadline, or one too far to
    // represent).
    let mut deadline = None;
    // `None` once handed over.
    let owner = match mode {
        CloseMode::Detach => {
            // The transport closes now: no goodbye.
            run.session.set(None);
            nursery.detach();
            None
        }
        CloseMode::Join => {
            // Begins the close; the future only waits, so dropping it is fine.
            drop(nursery.close().now_or_never());
            run.alongside(nursery.idle()).await;
            Some(nursery)
        }
        CloseMode::Deadline(grace) => {
            deadline = Instant::now().checked_add(grace);
            // Boxed: the escalation's state is the largest of any phase, and
            // kept inline it would make every close's state (boxed itself,
            // see `drive`) too large for the allocator's fast path.
            let report = run.alongside(Box::pin(nursery.shutdown(grace))).await;
            // Started blocking tasks cannot be aborted: report them as still
            // running rather than wait for them below.
            stuck = Some(report).filter(|r| r.still_running() > 0);
            Some(nursery)
        }
    };

    // ----- goodbye -----
    shared.advance(DRAINED);
    let goodbye_at = Instant::now() + config.goodbye_timeout;
    if run.session_live() {
        let mut sleep = pin!(tokio::time::sleep_until(goodbye_at));
        poll_fn(|cx| {
            run.poll(cx);
            if !run.session_live() {
                return Poll::Ready(());
            }
            sleep.as_mut().poll(cx)
        })
        .await;
        // Out of time: the session (and the transport it owns) goes.
        run.session.set(None);
    }

    // ----- flush and shut down -----
    let mut pump = run.pump.take().or_else(|| shared.take_pump());
    if let Some(pump) = &mut pump {
        if shared.transport_failure().is_none()
            && tokio::time::timeout_at(goodbye_at, pump.finish())
                .await
                .is_err()
        {
            // Out of time: the peer gets less than the tasks wrote, and the
            // report says so (a failed write has said so already).
            let cut = std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                match pump.unsent() {
                    0 => "the goodbye timeout ended the transport's shutdown \
                          (everything queued was written)"
                        .to_owned(),
                    unsent => {
                        format!("the goodbye timeout cut the flush short, {unsent} bytes unsent")
                    }
                },
            );
            shared.transport_failed(&cut, true);
        }
    }
    drop(pump);

    // Whoever still holds the transport (a protocol's own task) lets go.
    shared.kill();

    // ----- report -----
    let (tasks, is_final) = match (owner, stuck) {
        (None, _) => (shared.spawner.report(), false),
        (Some(nursery), Some(stuck)) => {
            // Blocking tasks that cannot be aborted run on, owned as a
            // detached nursery's (by the server's, under a server).
            nursery.detach();
            (stuck, false)
        }
        (Some(nursery), None) => {
            // The session has ended, so the nursery closes as soon as the
            // work it started in its last moments has: under a deadline,
            // within what is left of it (nothing, often: that work is then
            // cancelled and aborted at once).
            let tasks = match deadline {
                Some(end) => {
                    let left = end.saturating_duration_since(Instant::now());
                    let tasks = Box::pin(nursery.shutdown(left)).await;
                    if tasks.still_running() > 0 {
                        nursery.detach();
                    }
                    tasks
                }
                None => nursery.close().await,
            };
            let is_final = tasks.is_final();
            (tasks, is_final)
        }
    };
    let report = shared.report_now(tasks, is_final);
    shared.publish(report.clone());
    (report, run.panic)
}
