//! Scenario 7: HTTP through a connection. The same hyper service (a short
//! fixed body) served on a bare `TcpStream` in a `tokio::spawn`ed task, and
//! through `scope_conn::Server` (the session is hyper's connection, run with
//! its graceful hook; HTTP/2 streams are the connection's tasks through
//! `HyperExecutor`). The load generator is in the same process, on the same
//! runtime, identical for both contenders:
//!
//! - HTTP/1.1 keep-alive: `connections` clients, each sending `requests`
//!   requests one after the other on one connection, reading each response
//!   whole (a minimal client over `TcpStream`: the same bytes as `wrk`'s).
//! - HTTP/2 (h2c, prior knowledge): `connections` hyper clients, each with
//!   4 concurrent streams sending `requests` requests in all.
//!
//! Timed: from the first connect until the last response is read. The
//! servers are started before and shut down after the timed region.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use scope_conn::{HyperExecutor, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Runtime};
use tokio_util::sync::CancellationToken;

use super::timed;
use crate::{Group, Sizes};

/// hyper in a `tokio::spawn`ed task per connection.
pub const BARE: &str = "hyper on a bare TcpStream";
/// hyper as the session of a `scope_conn::Server` connection.
pub const SCOPE: &str = "hyper through scope-conn";

const BODY: &[u8] = b"hello, world\n";
/// Concurrent streams per HTTP/2 connection.
const STREAMS: usize = 4;

/// Both protocols, `sizes.http_connections` connections of
/// `sizes.http_requests` requests each.
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    let rt = Rc::new(runtime());
    let (c, r) = (sizes.http_connections, sizes.http_requests);
    vec![
        group(&rt, "http/1.1", Protocol::Http1, c, r),
        group(&rt, "http/2", Protocol::Http2, c, r),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

fn group(rt: &Rc<Runtime>, id: &str, protocol: Protocol, conns: usize, requests: usize) -> Group {
    let total = conns * requests;
    let what = match protocol {
        Protocol::Http1 => "HTTP/1.1 keep-alive",
        Protocol::Http2 => "HTTP/2 (h2c), 4 streams per connection",
    };
    Group::new(
        id,
        format!("{what}: {total} requests over {conns} connections, multi-thread (2 workers)"),
        BARE,
        vec![
            timed(rt, BARE, total, move || {
                round(protocol, false, conns, requests)
            }),
            timed(rt, SCOPE, total, move || {
                round(protocol, true, conns, requests)
            }),
        ],
    )
}

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .expect("build the runtime")
}

async fn service(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// One served connection, the same for both contenders.
async fn serve_bare(protocol: Protocol, stream: TcpStream) {
    let io = TokioIo::new(stream);
    let svc = hyper::service::service_fn(service);
    let _ = match protocol {
        Protocol::Http1 => {
            hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await
        }
        Protocol::Http2 => {
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, svc)
                .await
        }
    };
}

async fn round(protocol: Protocol, scope: bool, conns: usize, requests: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (stop, server) = if scope {
        let server = Server::builder()
            .serve(listener, move |conn, io| async move {
                let io = TokioIo::new(io);
                let svc = hyper::service::service_fn(service);
                let _ = match protocol {
                    Protocol::Http1 => {
                        let http =
                            hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
                        conn.run(http, |http| http.graceful_shutdown()).await
                    }
                    Protocol::Http2 => {
                        let http = hyper::server::conn::http2::Builder::new(HyperExecutor::new(
                            conn.spawner(),
                        ))
                        .serve_connection(io, svc);
                        conn.run(http, |http| http.graceful_shutdown()).await
                    }
                };
            })
            .expect("start the server");
        (None, Some(server))
    } else {
        let stop = CancellationToken::new();
        let accept = {
            let stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    let stream = tokio::select! {
                        () = stop.cancelled() => return,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                    };
                    tokio::spawn(serve_bare(protocol, stream));
                }
            })
        };
        (Some((stop, accept)), None)
    };

    let start = Instant::now();
    let clients: Vec<_> = (0..conns)
        .map(|_| {
            tokio::spawn(async move {
                match protocol {
                    Protocol::Http1 => http1_client(addr, requests).await,
                    Protocol::Http2 => http2_client(addr, requests).await,
                }
            })
        })
        .collect();
    let mut answered = 0;
    for c in clients {
        answered += c.await.expect("a client failed");
    }
    let took = start.elapsed();
    assert_eq!(answered, conns * requests, "a request went unanswered");

    if let Some((stop, accept)) = stop {
        stop.cancel();
        accept.await.expect("the accept loop panicked");
    }
    if let Some(server) = server {
        let report = server.shutdown(Duration::from_secs(10)).await;
        assert!(report.is_final());
        assert_eq!(report.connections(), conns as u64);
    }
    took
}

/// Keep-alive requests one after the other; returns how many were answered.
async fn http1_client(addr: SocketAddr, requests: usize) -> usize {
    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buf = vec![0u8; 4096];
    let mut answered = 0;
    for _ in 0..requests {
        stream.write_all(REQUEST).await.expect("send");
        // A response: headers, then `content-length` bytes.
        let mut len = 0;
        loop {
            let n = stream.read(&mut buf[len..]).await.expect("read");
            assert!(n > 0, "the server closed mid-response");
            len += n;
            if let Some(end) = response_end(&buf[..len]) {
                assert_eq!(end, len, "a pipelined extra response");
                break;
            }
        }
        answered += 1;
    }
    answered
}

/// Where the response in `buf` ends, once it is whole.
fn response_end(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let headers = std::str::from_utf8(&buf[..head]).ok()?;
    let length: usize = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("a content-length");
    (buf.len() >= head + length).then_some(head + length)
}

/// `STREAMS` concurrent streams on one HTTP/2 connection, `requests` in all.
async fn http2_client(addr: SocketAddr, requests: usize) -> usize {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    let driver = tokio::spawn(connection);
    let per_stream = requests.div_ceil(STREAMS);
    let mut streams = Vec::new();
    let mut left = requests;
    for _ in 0..STREAMS {
        let n = per_stream.min(left);
        left -= n;
        let mut sender = sender.clone();
        streams.push(tokio::spawn(async move {
            for _ in 0..n {
                sender.ready().await.expect("ready");
                let req = Request::get("http://bench/")
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let res = sender.send_request(req).await.expect("response");
                let body = res.into_body().collect().await.expect("body").to_bytes();
                assert_eq!(&body[..], BODY);
            }
            n
        }));
    }
    drop(sender);
    let mut answered = 0;
    for s in streams {
        answered += s.await.expect("a stream failed");
    }
    let _ = driver.await;
    answered
}
