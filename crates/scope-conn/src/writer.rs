//! [`Writer`]: a cloneable handle on a connection's write queue, bounded in
//! bytes, and the pump that drains it into the transport.
//!
//! # Invariants
//!
//! 1. `budget` holds the bytes the queue may still take: a send takes
//!    `min(len, max)` permits before its buffer enters `bufs`, and the pump
//!    gives them back once the buffer is written. So the queued bytes never
//!    exceed the bound, except for one buffer larger than the bound, which
//!    is queued alone.
//! 2. Once `closed` is set it stays set, `budget` is closed with it (waiting
//!    senders wake with an error), and no buffer enters `bufs` again: a send
//!    that got its permits checks `closed` under the same lock it pushes
//!    under.
//! 3. The lock is held only to move buffers in and out; buffers dropped
//!    because the transport failed are dropped after it is released.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use tokio::sync::Semaphore;

/// A cloneable handle that queues bytes for a connection's transport, for
/// tasks that write concurrently. Made by [`Io::split`](crate::Io::split).
///
/// Each [`send`](Self::send) queues one buffer whole, so concurrent senders'
/// messages never interleave. The queue is bounded in bytes
/// ([`ConnBuilder::write_queue`](crate::ConnBuilder::write_queue)): a sender
/// waits for room, never holding a lock while it waits. The connection
/// drains the queue into the transport as the peer reads; its close lets
/// the tasks finish first, then writes what they queued, flushes and shuts
/// the write half down.
///
/// Sends fail once the transport has failed (a write made no progress for
/// the send timeout, or the peer reset): every writer learns of it, none
/// waits for room that will never come. They also fail once the connection
/// has drained and is shutting its transport down.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tokio::io::AsyncReadExt;
///
/// let (io, mut peer) = tokio::io::duplex(1024);
/// let report = scope_conn::ConnBuilder::new().serve(io, |conn, io| async move {
///     let (_reader, writer) = io.split();
///     let spawner = conn.spawner().clone();
///     conn.spawner().spawn(async move {
///         // Follow-up work, writing its answer later.
///         spawner.spawn(async move { writer.send("follow-up done\n").await.unwrap() }).unwrap();
///     }).unwrap();
/// }).unwrap().await;
/// assert_eq!(report.tasks().stats().completed, 2);
/// let mut out = String::new();
/// peer.read_to_string(&mut out).await.unwrap();
/// assert_eq!(out, "follow-up done\n");
/// # }
/// ```
#[derive(Clone)]
pub struct Writer {
    queue: Arc<Queue>,
}

struct Queue {
    budget: Semaphore,
    /// The bound, in bytes (at most `u32::MAX`: one acquire's worth).
    max: u32,
    state: Mutex<State>,
    pump: AtomicWaker,
}

#[derive(Default)]
struct State {
    bufs: VecDeque<(Bytes, u32)>,
    queued: usize,
    closed: Option<Closed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The connection drained; what is queued goes out, nothing more.
    Finishing,
    /// The transport failed.
    Failed(io::ErrorKind),
}

impl Closed {
    fn error(self) -> io::Error {
        match self {
            Closed::Finishing => io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection is closing its transport",
            ),
            Closed::Failed(kind) => io::Error::new(kind, "the connection's transport failed"),
        }
    }
}

impl Writer {
    pub(crate) fn new(max: usize, io: Pin<Box<dyn AsyncWrite + Send>>) -> (Writer, Pump) {
        let max = u32::try_from(max.max(1)).unwrap_or(u32::MAX);
        let queue = Arc::new(Queue {
            budget: Semaphore::new(max as usize),
            max,
            state: Mutex::new(State::default()),
            pump: AtomicWaker::new(),
        });
        let pump = Pump {
            queue: Arc::clone(&queue),
            io,
            current: None,
            dirty: false,
        };
        (Writer { queue }, pump)
    }

    /// Queues `buf` to be written whole, waiting while the queue is full (a
    /// buffer larger than the queue's bound waits until the queue is empty,
    /// then goes in alone).
    ///
    /// # Errors
    ///
    /// The transport failed (`TimedOut` after the send timeout, or the error
    /// the transport returned), or the connection has drained and is
    /// shutting the transport down (`BrokenPipe`). The buffer is dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a send dropped while it waits for room queues nothing,
    /// and keeps its place in no line.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(1024);
    /// scope_conn::ConnBuilder::new().serve(io, |_conn, io| async move {
    ///     let (_reader, writer) = io.split();
    ///     writer.send(bytes::Bytes::from_static(b"hello\n")).await.unwrap();
    ///     writer.send("and a &'static str\n").await.unwrap();
    ///     writer.send(String::from("or a String\n")).await.unwrap();
    /// }).unwrap().await;
    /// # }
    /// ```
    pub async fn send(&self, buf: impl Into<Bytes>) -> io::Result<()> {
        let buf = buf.into();
        let q = &self.queue;
        let need = u32::try_from(buf.len()).unwrap_or(u32::MAX).min(q.max);
        if need > 0 {
            match q.budget.acquire_many(need).await {
                Ok(permit) => permit.forget(),
                Err(_) => return Err(q.closed_error()),
            }
        }
        let mut state = q.state.lock();
        if let Some(closed) = state.closed {
            drop(state);
            // The permits went to a closed semaphore; nobody counts them.
            return Err(closed.error());
        }
        if need == 0 {
            return Ok(());
        }
        state.queued += buf.len();
        state.bufs.push_back((buf, need));
        drop(state);
        q.pump.wake();
        Ok(())
    }

    /// Bytes queued and not yet written to the transport.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(1024);
    /// scope_conn::ConnBuilder::new().serve(io, |_conn, io| async move {
    ///     let (_reader, writer) = io.split();
    ///     writer.send("12345").await.unwrap();
    ///     assert_eq!(writer.queued(), 5); // the connection drains it once this session yields
    /// }).unwrap().await;
    /// # }
    /// ```
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.state.lock().queued
    }
}

impl Queue {
    fn closed_error(&self) -> io::Error {
        self.state
            .lock()
            .closed
            .unwrap_or(Closed::Finishing)
            .error()
    }

    /// Refuses further sends; `Finishing` keeps what is queued, a failure
    /// drops it (and overrides `Finishing`).
    fn close(&self, why: Closed) {
        let dropped = {
            let mut state = self.state.lock();
            if state.closed.is_none() || matches!(why, Closed::Failed(_)) {
                state.closed = Some(why);
            }
            if matches!(why, Closed::Failed(_)) {
                state.queued = 0;
                std::mem::take(&mut state.bufs)
            } else {
                VecDeque::new()
            }
        };
        self.budget.close();
        drop(dropped);
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.queue.state.lock();
        f.debug_struct("Writer")
            .field("queued", &state.queued)
            .field("bound", &self.queue.max)
            .field("closed", &state.closed)
            .finish()
    }
}

/// The driver's side of the queue: writes the queued buffers into the
/// transport's write half.
pub(crate) struct Pump {
    queue: Arc<Queue>,
    io: Pin<Box<dyn AsyncWrite + Send>>,
    current: Option<(Bytes, u32)>,
    /// Written since the last flush.
    dirty: bool,
}

impl Pump {
    /// Bytes queued and not yet written to the transport.
    pub(crate) fn unsent(&self) -> usize {
        self.queue.state.lock().queued
    }

    /// Writes until the queue is empty and flushed (then `Pending`, woken by
    /// the next send), or, once finishing, until everything queued is out
    /// (`Ready(Ok)`). An error fails the queue for every writer.
    pub(crate) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_inner(cx) {
            Poll::Ready(Err(e)) => {
                self.queue.close(Closed::Failed(e.kind()));
                Poll::Ready(Err(e))
            }
            other => other,
        }
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some((buf, permits)) = &mut self.current {
                if buf.has_remaining() {
                    let n = ready!(self.io.as_mut().poll_write(cx, buf.chunk()))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    buf.advance(n);
                    self.dirty = true;
                    self.queue.state.lock().queued -= n;
                    continue;
                }
                self.queue.budget.add_permits(*permits as usize);
                self.current = None;
            }
            self.queue.pump.register(cx.waker());
            let (next, finishing) = {
                let mut state = self.queue.state.lock();
                (state.bufs.pop_front(), state.closed.is_some())
            };
            match next {
                Some(next) => self.current = Some(next),
                None => {
                    if self.dirty {
                        ready!(self.io.as_mut().poll_flush(cx))?;
                        self.dirty = false;
                    }
                    return if finishing {
                        Poll::Ready(Ok(()))
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }

    /// Refuses new sends, writes what is queued, flushes and shuts the write
    /// half down. Bounded by the transport's send timeout.
    pub(crate) async fn finish(&mut self) -> io::Result<()> {
        self.queue.close(Closed::Finishing);
        poll_fn(|cx| self.poll_run(cx)).await?;
        poll_fn(|cx| self.io.as_mut().poll_shutdown(cx)).await
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        // Gone without finishing (the connection was aborted): writers must
        // not wait for room that will never come.
        if self.queue.state.lock().closed.is_none() {
            self.queue.close(Closed::Failed(io::ErrorKind::BrokenPipe));
        }
    }
}

impl fmt::Debug for Pump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump").finish_non_exhaustive()
    }
}
