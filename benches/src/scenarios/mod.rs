//! The scenarios, one module each. Every module has a `groups(&Sizes)`
//! function returning its [`Group`](crate::Group)s; the report and the
//! criterion benches only ever go through those.
//!
//! | module | what is timed or counted | baseline |
//! |---|---|---|
//! | [`spawn_finish`] | spawn 100k trivial children and wait for all, per runtime flavour (and, `JoinSet` against nursery only, with 16- and 40-byte children) | `tokio::spawn` keeping `JoinHandle`s (`JoinSet` for the sized groups) |
//! | [`contention`] | 100k spawns from 8 tasks, and from 2 OS threads, into one owner | detached `tokio::spawn` |
//! | [`drain`] | 100k parked children released at once, until the owner's wait returns | `TaskTracker::close` + `wait` |
//! | [`cancel`] | 100k parked children ended by a token, and by abort | `TaskTracker` + bare `CancellationToken`; `JoinSet::shutdown` |
//! | [`memory`] | exact heap bytes per live child, and per finished child nobody joined | `JoinSet` |
//! | [`fixed_cost`] | an empty owner created and closed: ns and bytes | `JoinSet` + child `CancellationToken` |
//! | `connections` (feature `conn`) | 10k loopback connections, each a one-line exchange whose handler spawns 2 tasks, then close; until the server's graceful end; and heap bytes per idle connection | a server on bare, detached `tokio::spawn` |
//! | `http` (feature `conn`) | HTTP/1.1 keep-alive and HTTP/2 requests through hyper, with an in-process load generator | the same hyper service on a bare `TcpStream` |

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::{Case, drive};

pub mod cancel;
#[cfg(feature = "conn")]
pub mod connections;
pub mod contention;
pub mod drain;
pub mod fixed_cost;
#[cfg(feature = "conn")]
pub mod http;
pub mod memory;
pub mod spawn_finish;

/// `tokio::spawn`, keeping every `JoinHandle` and awaiting each.
pub const HANDLES: &str = "tokio::spawn + JoinHandles";
/// `tokio::spawn`, dropping the handle; a latch counts the ends.
pub const DETACHED: &str = "tokio::spawn, detached";
/// `JoinSet`, drained by `join_next` at the end.
pub const JOIN_SET: &str = "JoinSet + join_next";
/// tokio-util's `TaskTracker`: `close` then `wait`.
pub const TRACKER: &str = "TaskTracker";
/// `Arc<parking_lot::Mutex<JoinSet>>`, reaped with `try_join_next` on each
/// spawn, drained by `join_next` at the end.
pub const MUTEX_JOIN_SET: &str = "Arc<Mutex<JoinSet>> + try_join_next";
/// `tokio::spawn`, each task's `AbortHandle` kept in a list of the owner's
/// (a `parking_lot` mutex over a slot per live task), which the task clears
/// as it ends; a latch counts the ends. Ownership without a `JoinSet`: what
/// holding every task strongly costs by itself.
pub const OWN_LIST: &str = "tokio::spawn + own AbortHandle list";
/// `FuturesUnordered` polled by the owner: spawns nothing.
pub const FUTURES_UNORDERED: &str = "FuturesUnordered (no spawn)";
/// `scope_core::Nursery`: `spawn`, then `close`.
pub const NURSERY: &str = "Nursery";

/// A timed case that drives `f()` on `rt` once per run.
fn timed<F, Fut>(rt: &Rc<Runtime>, contender: &'static str, items: usize, f: F) -> Case
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Duration> + Send + 'static,
{
    let rt = Rc::clone(rt);
    Case::time(contender, items as u64, move || drive(&rt, f()))
}
