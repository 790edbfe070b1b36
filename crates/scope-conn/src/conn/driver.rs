//! The driver: the one task-side future of a connection. It owns the write
//! half, pumps the write queue into it, watches for the close (requested,
//! idle, a failure, a dead transport), runs the close in its mode, then
//! flushes and shuts the transport down and publishes the report.
//!
//! A standalone connection runs it as a task the [`Conn`](crate::Conn) aborts
//! on drop; a server runs it inside the connection's own server task.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncWrite, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::shared::{Activity, ConnShared};
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::report::ConnReport;

/// Moves queued buffers into the transport. Its progress lives here, not in
/// a future, so the driver can stop polling it (to run the close) and resume
/// without losing a partly written buffer.
struct Pump<W> {
    io: W,
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
    dirty: bool,
    /// Stopped for good: the queue is drained and flushed, or a write failed.
    stopped: bool,
    activity: Arc<Activity>,
}

impl<W: AsyncWrite + Unpin> Pump<W> {
    /// `Ready(Ok)` once the queue is closed, empty and flushed; `Ready(Err)`
    /// on a write error; `Pending` while waiting for buffers or the transport.
    fn poll_pump(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.pos < self.buf.len() {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.pos..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.pos += n;
                self.dirty = true;
                self.activity.touch();
                continue;
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(buf)) => {
                    self.buf = buf;
                    self.pos = 0;
                }
                Poll::Ready(None) => {
                    ready!(self.poll_flush(cx))?;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => {
                    ready!(self.poll_flush(cx))?;
                    return Poll::Pending;
                }
            }
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.dirty {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.dirty = false;
        }
        Poll::Ready(Ok(()))
    }

    async fn run(&mut self) -> io::Result<()> {
        let res = std::future::poll_fn(|cx| self.poll_pump(cx)).await;
        self.stopped = true;
        if res.is_err() {
            // Writers fail from now on instead of filling a queue nobody reads.
            self.rx.close();
        }
        res
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.rx.close();
        if !self.stopped {
            self.run().await?;
        }
        tokio::io::AsyncWriteExt::shutdown(&mut self.io).await
    }
}

/// Publishes a non-final report if the driver is torn down before it
/// published the real one, so `closed` never waits for a driver that is gone.
struct PublishOnDrop<E: Send + 'static>(Arc<ConnShared<E>>);

impl<E: Send + 'static> Drop for PublishOnDrop<E> {
    fn drop(&mut self) {
        if !self.0.is_published() {
            self.0.publish(self.0.provisional(None));
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The driver future. The drop guard is made here, outside the `async`
/// body, so a driver aborted before its first poll still publishes.
pub(crate) fn drive<S, E>(
    shared: Arc<ConnShared<E>>,
    io: WriteHalf<S>,
    rx: mpsc::Receiver<Vec<u8>>,
) -> impl Future<Output = ()> + Send + 'static
where
    S: AsyncWrite + Send + 'static,
    E: Send + 'static,
{
    let guard = PublishOnDrop(Arc::clone(&shared));
    async move {
        let _guard = guard;
        run(shared, io, rx).await;
    }
}

async fn run<S, E>(shared: Arc<ConnShared<E>>, io: WriteHalf<S>, rx: mpsc::Receiver<Vec<u8>>)
where
    S: AsyncWrite + Send + 'static,
    E: Send + 'static,
{
    let mut pump = Pump {
        io,
        rx,
        buf: Vec::new(),
        pos: 0,
        dirty: false,
        stopped: false,
        activity: Arc::clone(&shared.activity),
    };
    let mut io_error: Option<io::Error> = None;

    // Open: pump writes until something starts the close.
    while !shared.closing.is_cancelled() {
        let idle_at = shared.idle.map(|idle| shared.activity.last() + idle);
        tokio::select! {
            biased;
            () = shared.closing.cancelled() => {}
            () = shared.spawner.token().cancelled() => {
                // Under fail-fast a failure cancels the token: that failure
                // is the reason. Otherwise someone cancelled the connection.
                let reason = if shared.spawner.stats().failed > 0 {
                    CloseReason::Failed
                } else {
                    CloseReason::Cancelled
                };
                shared.request_close(shared.mode, reason);
            }
            res = pump.run(), if !pump.stopped => {
                if let Err(e) = res {
                    io_error = Some(e);
                    shared.request_close(shared.mode, CloseReason::Transport);
                }
            }
            () = sleep_until(idle_at) => {
                if let Some(idle) = shared.idle {
                    if shared.activity.last() + idle <= Instant::now() {
                        shared.request_close(shared.mode, CloseReason::IdleTimeout);
                    }
                }
            }
        }
    }

    // Closing: run the close in its mode, still pumping what tasks write.
    let (mode, reason) = shared
        .request()
        .unwrap_or((shared.mode, CloseReason::Requested));
    if mode == CloseMode::Detach {
        // The transport closes now: what is queued goes out, nothing more.
        pump.rx.close();
    }
    let tasks = {
        let phase = shared.wait_tasks(mode);
        tokio::pin!(phase);
        loop {
            tokio::select! {
                biased;
                tasks = &mut phase => break tasks,
                res = pump.run(), if !pump.stopped => {
                    if let Err(e) = res {
                        io_error.get_or_insert(e);
                    }
                }
            }
        }
    };

    // Then flush and shut the transport down, within a bound: a peer that
    // stopped reading must not hold the close forever.
    let limit = match mode {
        CloseMode::Deadline(grace) => grace,
        CloseMode::Join | CloseMode::Detach => shared.flush_timeout,
    };
    if io_error.is_none() {
        match tokio::time::timeout(limit, pump.finish()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => io_error = Some(e),
            Err(_) => {
                io_error = Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "flushing the transport timed out",
                ));
            }
        }
    } else {
        pump.rx.close();
    }
    drop(pump);

    let is_final = tasks.as_ref().is_some_and(scope_core::Report::is_final);
    let stats = tasks
        .as_ref()
        .map_or_else(|| shared.spawner.stats(), scope_core::Report::stats);
    shared.publish(ConnReport {
        reason,
        mode,
        stats,
        tasks,
        io_error: io_error.map(Arc::new),
        is_final,
    });
}
