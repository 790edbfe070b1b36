//! The routes, and the jobs they start in the connection's nursery.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use scope_conn::ConnSpawner;
use tokio::sync::oneshot;

use crate::ledger::{Job, Ledger, Reply};

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
    pub(crate) spawner: ConnSpawner,
    pub(crate) ledger: Arc<Ledger>,
}

pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: Ctx,
) -> Result<Response<ReplyBody>, Infallible> {
    ctx.ledger.request();
    let query = Query(req.uri().query().unwrap_or(""));
    let id = ctx.spawner.id();
    let res = match req.uri().path() {
        "/" => reply(StatusCode::OK, USAGE.to_owned(), None),
        "/work" => {
            let ms = query.millis("ms").unwrap_or(100);
            let (sent, responded) = oneshot::channel();
            if spawn_job(&ctx, ms, query.flag("stubborn"), Some(responded)) {
                let body = format!("job accepted on connection {id}: {ms} ms after this reply\n");
                reply(StatusCode::OK, body, Some(sent))
            } else {
                reply(StatusCode::SERVICE_UNAVAILABLE, "closing\n".into(), None)
            }
        }
        "/slow" => {
            let ms = query.millis("ms").unwrap_or(1_000);
            if let Some(work) = query.millis("work") {
                // Work the request starts before answering: it is the
                // connection's, so it survives the client leaving.
                spawn_job(&ctx, work, false, None);
            }
            let answer = Reply::begin(&ctx.ledger);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer.answered();
            let body = format!("slow reply after {ms} ms on connection {id}\n");
            reply(StatusCode::OK, body, None)
        }
        "/stats" => reply(StatusCode::OK, ctx.ledger.stats().to_string(), None),
        _ => reply(StatusCode::NOT_FOUND, USAGE.to_owned(), None),
    };
    Ok(res)
}

/// Starts `ms` of work as a task of the connection's nursery: it waits for
/// the reply to be handed to hyper (`responded`), then works, watching the
/// connection's token unless `stubborn`.
fn spawn_job(ctx: &Ctx, ms: u64, stubborn: bool, responded: Option<oneshot::Receiver<()>>) -> bool {
    let ledger = Arc::clone(&ctx.ledger);
    let token = ctx.spawner.token().clone();
    let job = async move {
        let job = Job::begin(&ledger);
        let work = async {
            if let Some(responded) = responded {
                // Err too when the reply was dropped unsent: work anyway.
                let _ = responded.await;
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
        };
        if stubborn {
            work.await;
            job.completed();
        } else {
            tokio::select! {
                () = work => job.completed(),
                () = token.cancelled() => job.cancelled(),
            }
        }
    };
    // Spawned from inside the connection's hyper task, so the nursery takes
    // it even while the connection's close drains (follow-up work).
    match ctx.spawner.spawn_named("job", job) {
        Ok(()) => {
            ctx.ledger.job_accepted();
            true
        }
        Err(_) => {
            ctx.ledger.job_refused();
            false
        }
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
