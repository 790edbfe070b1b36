//! Structured concurrency for tokio: every task has an owner, and the owner
//! decides how it ends.
//!
//! A [`Nursery`] owns the tasks it starts (strongly, through a tokio
//! `JoinSet`), reaps them as they finish, reports their failures with the
//! payload intact, limits, cancels, aborts, nests and detaches them, joins
//! their outcomes when asked, and drains them on [`Nursery::close`]. It is a
//! [`Spawner`] plus ownership: the spawner (cloneable, `Send + Sync`) spawns
//! from the owner, from inside children, from synchronous code and from
//! threads outside the runtime, and reads and waits for the nursery's state;
//! only the owner closes, cancels, aborts, shuts down and detaches.
//!
//! # When to use it instead of `JoinSet` or `TaskTracker`
//!
//! | you need | `JoinSet` | `TaskTracker` | `Nursery` |
//! |---|---|---|---|
//! | spawn from many places (`&self`, clones, other threads) | no (`&mut`) | yes | yes |
//! | finished tasks freed without joining | no | yes | yes |
//! | panics and errors reach the owner | when joined | no | always, per [`Policy`] |
//! | cancel / abort / limit / nest | abort only | no | yes |
//! | close ordered against concurrent spawns, with follow-up work | no | no | yes |
//! | outcomes in completion order, with ids | yes | no | yes ([`Nursery::join_next_with_id`])¹ |
//! | per-task abort handle | yes | `JoinHandle` | yes (every spawn) |
//! | `!Send` tasks on a `LocalSet` | yes | yes | yes ([`Spawner::spawn_local`]) |
//!
//! Two defaults differ from a `JoinSet`'s. The policy is
//! [`Policy::FailFast`]: the first failure cancels the nursery, and later
//! spawns are refused; [`Policy::Supervise`] records failures and lets the
//! others run, as a `JoinSet` does. ¹ Outcomes are kept for joining only when
//! the children return data: for `()` children (any zero-sized output) a
//! join hands out nothing, and returns `None` once no child is live, unless
//! [`Builder::keep_outcomes`] turns them on.
//!
//! # Contract
//!
//! The guarantees are stated on [`Nursery`]; in brief: a spawn is accepted and
//! accounted for exactly once, or refused with the future handed back
//! ([`SpawnError::into_inner`]); `close` drains and never deadlocks, even from
//! inside a child; dropping the owner cancels and aborts; a nested nursery is
//! one child of its parent; `detach` hands children to the parent (or lets
//! them finish on their own) without ending them.
//!
//! # Choices where tokio is silent
//!
//! - A child that returns after the token was cancelled counts as
//!   *cancelled*, not completed, whether or not it looked at the token, and
//!   whoever cancelled it ([`Nursery::cancel`], fail-fast, a shutdown, a drop,
//!   a parent, or `cancel()` on the token itself): in a shutdown report that
//!   is "ended in the cancel phase". The nursery follows its token in every
//!   other way too: a token cancelled from anywhere refuses spawns and drops
//!   queued children, as `cancel` does.
//! - A child's `Err` after cancellation still counts as a failure (it is
//!   counted, and under `FailFast` the first failure stays the reported one).
//! - `abort_all` leaves the nursery open; `cancel` closes it to new spawns.
//! - A root nursery's token can be a child of an application's token
//!   ([`Builder::token_parent`]); a nested nursery's token is always a child
//!   of its parent nursery's, so a nested builder refuses `token_parent`
//!   rather than ignore it.
//! - `shutdown(grace)` takes `grace` in total: three quarters to drain, the
//!   last quarter for children to react to the cancel, then abort. It returns
//!   within `grace` plus the time aborted children take to drop;
//!   [`Nursery::shutdown_phases`] sets the two windows separately.
//! - "Inside" (allowed to spawn while the nursery drains, and to close without
//!   waiting) means: code running in a child of this nursery or of a nested
//!   one, on the child's own task. A plain `tokio::spawn` made by a child is
//!   outside.
//!
//! # Features
//!
//! - `tracing` (default): warnings (a drop with live children, a close still
//!   waiting, a failure in a detached nursery) and a span per child naming its
//!   nursery (see *Observability*).
//!
//! # Observability
//!
//! - Every child runs in an `info`-level span named `child`, with fields
//!   `nursery` (the [`Builder::name`]) and `child` (the name given to
//!   [`Spawner::spawn_named`], empty otherwise). `info`, not `trace`: under
//!   the usual `info` filter an event inside a child carries the nursery and
//!   the child it came from. A subscriber that does not want the span pays
//!   one check of a cached interest per spawn.
//! - A nursery dropped with live children logs a warning naming its live
//!   count and up to three of them (`children = "mailer, resizer and 5
//!   more"`).
//! - [`Spawner::snapshot`] lists live children with their names and ages,
//!   for a status page or a debugger.
//! - **tokio-console** shows a named child's task under its name when the
//!   program is built with tokio's unstable flag (which tokio-console needs
//!   anyway) and uses `console-subscriber`:
//!
//!   ```text
//!   RUSTFLAGS="--cfg tokio_unstable" cargo run --release
//!   tokio-console   # in another terminal
//!   ```
//!
//!   Without the flag the names stay in the `child` spans and snapshots only.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use scope_core::{Nursery, Outcome};
//!
//! let nursery: Nursery<(), std::io::Error> = Nursery::new();
//! nursery.spawn(async { Ok(()) }).unwrap();
//! nursery.spawn(async { Err(std::io::Error::other("disk full")) }).unwrap();
//! let report = nursery.close().await;
//! assert_eq!(report.outcome(), Outcome::Failed);
//! assert_eq!(report.take_failure().unwrap().into_error().unwrap().to_string(), "disk full");
//! # }
//! ```

#![deny(unsafe_code)]

mod builder;
mod cancel_reason;
mod child_end;
mod child_error;
mod child_output;
mod context;
mod nursery;
mod pause;
mod policy;
mod report;
mod snapshot;
mod spawn_error;
mod spawner;
mod stats;
mod sync;

pub use builder::{BuildError, Builder};
pub use cancel_reason::CancelReason;
pub use child_end::ChildEnd;
pub use child_error::ChildError;
pub use child_output::ChildOutput;
pub use nursery::Nursery;
pub use policy::Policy;
pub use report::{Failure, Outcome, Report};
pub use snapshot::{ChildInfo, Snapshot};
pub use spawn_error::SpawnError;
pub use spawner::Spawner;
pub use stats::Stats;

/// The default error type of a nursery's fallible children.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // `Nursery` is `Nursery<(), BoxError>`: any error converts with `?` or `into`.
/// let nursery: scope_core::Nursery = scope_core::Nursery::new();
/// nursery.spawn(async { Err("not a number".parse::<u8>().unwrap_err().into()) }).unwrap();
/// let err = nursery.close().await.take_failure().unwrap().into_error().unwrap();
/// assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
/// # }
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
