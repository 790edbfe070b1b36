//! The routes, and the jobs they start in the connection's nursery.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use scope_conn::Conn;
use tokio::sync::oneshot;

use crate::jobs::Jobs;

/// Longest job or slow reply a request may ask for.
const MAX_MS: u64 = 600_000;

const USAGE: &str = "\
routes:
  GET /work?ms=N[&stubborn=1]   answer at once, then work N ms in the background
                                (stubborn: ignore cancellation)
  GET /slow?ms=N[&work=M]       start M ms of background work, answer after N ms
  GET /stats                    the server's counters
";

/// What every request on one connection shares.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) conn: Conn,
    pub(crate) jobs: Arc<Jobs>,
    pub(crate) stats: Arc<dyn Fn() -> String + Send + Sync>,
}

pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: Ctx,
) -> Result<Response<ReplyBody>, Infallible> {
    let query = Query(req.uri().query().unwrap_or(""));
    let id = ctx.conn.id();
    let version = req.version();
    let res = match req.uri().path() {
        "/" => reply(StatusCode::OK, USAGE.to_owned(), None),
        "/work" => {
            let ms = query.millis("ms").unwrap_or(100);
            let (sent, responded) = oneshot::channel();
            if spawn_job(&ctx, ms, query.flag("stubborn"), Some(responded)) {
                let body = format!(
                    "job accepted on connection {id} ({version:?}): {ms} ms after this reply\n"
                );
                reply(StatusCode::OK, body, Some(sent))
            } else {
                unavailable()
            }
        }
        "/slow" => {
            let ms = query.millis("ms").unwrap_or(1_000);
            // Work the request starts before answering: it is the
            // connection's, so it survives the client leaving.
            let started = query
                .millis("work")
                .is_none_or(|work| spawn_job(&ctx, work, false, None));
            if started {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let body = format!("slow reply after {ms} ms on connection {id} ({version:?})\n");
                reply(StatusCode::OK, body, None)
            } else {
                unavailable()
            }
        }
        "/stats" => reply(StatusCode::OK, (ctx.stats)(), None),
        _ => reply(StatusCode::NOT_FOUND, USAGE.to_owned(), None),
    };
    Ok(res)
}

fn unavailable() -> Response<ReplyBody> {
    reply(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down\n".into(),
        None,
    )
}

/// Starts `ms` of work as a task of the connection's nursery: it waits for
/// the reply to be handed to hyper (`responded`), then works, watching the
/// connection's token unless `stubborn`. `false` if the nursery refused it
/// (the connection was cancelled).
fn spawn_job(ctx: &Ctx, ms: u64, stubborn: bool, responded: Option<oneshot::Receiver<()>>) -> bool {
    let jobs = Arc::clone(&ctx.jobs);
    let token = ctx.conn.spawner().token().clone();
    let (accepted_tx, accepted) = oneshot::channel::<()>();
    let job = async move {
        // Counted once the nursery has taken it (the spawn below returned
        // `Ok`): a refused job never started.
        if accepted.await.is_err() {
            return;
        }
        let job = jobs.started();
        let work = async {
            if let Some(responded) = responded {
                // Err too when the reply was dropped unsent: work anyway.
                let _ = responded.await;
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
        };
        if stubborn {
            work.await;
        } else {
            tokio::select! {
                () = work => {}
                () = token.cancelled() => {}
            }
        }
        job.ended(&token);
    };
    // The session (hyper, driving this handler) is the nursery's body: a
    // request in flight may start its job even while the connection closes.
    if ctx.conn.spawner().spawn_named("job", job).is_ok() {
        let _ = accepted_tx.send(());
        true
    } else {
        false
    }
}

fn reply(
    status: StatusCode,
    body: String,
    on_sent: Option<oneshot::Sender<()>>,
) -> Response<ReplyBody> {
    let mut res = Response::new(ReplyBody {
        inner: Full::new(Bytes::from(body)),
        _on_sent: on_sent,
    });
    *res.status_mut() = status;
    res
}

/// A complete body that tells a job when hyper is done with it: hyper drops
/// the body once it has written it (or given up), dropping the sender.
pub(crate) struct ReplyBody {
    inner: Full<Bytes>,
    _on_sent: Option<oneshot::Sender<()>>,
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The few query parameters the routes read.
struct Query<'a>(&'a str);

impl Query<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }

    fn millis(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse::<u64>().ok().map(|ms| ms.min(MAX_MS))
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("" | "1" | "true"))
    }
}
