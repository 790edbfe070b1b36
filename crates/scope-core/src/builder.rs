//! [`Builder`]: a nursery's settings, and [`BuildError`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::child_error::ChildError;
use crate::nursery::Nursery;
use crate::nursery::shared::{Config, Handler, Shared};
use crate::nursery::state::EXPOSED;
use crate::nursery::tree::{self, Above, Node};
use crate::policy::Policy;
use crate::spawn_error::Kind;
use crate::spawner::Spawner;

/// Settings for a [`Nursery`]: name, failure policy and handler, limits,
/// tracking, the runtime to spawn on, and a token to parent its own under. Made by [`Nursery::builder`] (a root
/// nursery) or [`Spawner::child_builder`] (on a nursery or any of its spawners)
/// (a nested one).
///
/// [`Spawner::child_builder`]: crate::Spawner::child_builder
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{Nursery, Policy};
/// use std::time::Duration;
///
/// let nursery: Nursery<(), std::io::Error> = Nursery::builder()
///     .name("uploads")
///     .policy(Policy::Supervise)
///     .on_failure(|err| eprintln!("upload failed: {err}"))
///     .max_running(4)
///     .max_held(10_000)
///     .close_warn_after(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// # nursery.close().await;
/// # }
/// ```
pub struct Builder<T = (), E = crate::BoxError> {
    name: Option<Arc<str>>,
    policy: Policy,
    handler: Option<Handler<E>>,
    max_running: Option<usize>,
    max_held: Option<usize>,
    track_all: bool,
    keep_outcomes: Option<bool>,
    warn_after: Option<Duration>,
    handle: Option<Handle>,
    token_parent: Option<CancellationToken>,
    parent: Option<Arc<dyn Node<E>>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, E> Builder<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn new(parent: Option<Arc<dyn Node<E>>>) -> Self {
        Builder {
            name: None,
            policy: Policy::default(),
            handler: None,
            max_running: None,
            max_held: None,
            track_all: false,
            keep_outcomes: None,
            warn_after: None,
            handle: None,
            token_parent: None,
            parent,
            _t: std::marker::PhantomData,
        }
    }

    /// Names the nursery (in the nursery's `Debug`, warnings and, with the
    /// `tracing` feature, every child's span). A nested nursery is listed
    /// under this name in its parent's [`snapshot`](crate::Spawner::snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().name("mailer").build().unwrap();
    /// assert!(format!("{nursery:?}").contains("mailer"));
    /// # }
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// What a failure does to the siblings; [`Policy::FailFast`] by default.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_core::{Nursery, Policy};
    ///
    /// let nursery: Nursery<(), &str> = Nursery::builder().policy(Policy::Supervise).build().unwrap();
    /// nursery.spawn(async { Err("one bad job") }).unwrap();
    /// tokio::task::yield_now().await;
    /// assert!(!nursery.is_cancelled(), "siblings keep running");
    /// assert!(nursery.spawn(async { Ok(()) }).is_ok());
    /// # nursery.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Called with every failure (under either policy), on the failing
    /// child's task, before the failure is recorded. A panic in the handler is
    /// caught (and logged with the `tracing` feature); the failure is still
    /// recorded. A nested nursery's failure reaches its parent's handler as
    /// one failure: the nested nursery's first, when it drains.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::builder()
    ///     .policy(scope_core::Policy::Supervise)
    ///     .on_failure(move |err| log.lock().unwrap().push(err.to_string()))
    ///     .build()
    ///     .unwrap();
    /// nursery.spawn_named("a", async { Err("x") }).unwrap();
    /// nursery.spawn_named("b", async { Err("y") }).unwrap();
    /// nursery.close().await;
    /// assert_eq!(*seen.lock().unwrap(), ["a failed: x", "b failed: y"]);
    /// # }
    /// ```
    #[must_use]
    pub fn on_failure(mut self, handler: impl Fn(&ChildError<E>) + Send + Sync + 'static) -> Self {
        self.handler = Some(Box::new(handler));
        self
    }

    /// Bounds the children running at once (as Go's errgroup `SetLimit`).
    /// Beyond it, `spawn` queues the child (accepted and owned, started in
    /// FIFO order as slots free) and `try_spawn` refuses it. Must be at least
    /// 1; `build` refuses 0. Unbounded by default.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().max_running(1).build().unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// nursery.spawn(async {}).unwrap(); // queued, not refused
    /// assert_eq!(nursery.stats().live, 2);
    /// assert!(nursery.try_spawn(async {}).unwrap_err().is_full());
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn max_running(mut self, limit: usize) -> Self {
        self.max_running = Some(limit);
        self
    }

    /// Bounds the children held at once (running plus queued); spawns past it
    /// are refused with [`SpawnError::is_full`](crate::SpawnError::is_full).
    /// Must be at least 1; `build` refuses 0. Unbounded by default. A nested
    /// nursery counts as one held child of its parent.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().max_held(2).build().unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// assert!(nursery.spawn(async {}).unwrap_err().is_full());
    /// assert_eq!(nursery.stats().refused, 1);
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn max_held(mut self, limit: usize) -> Self {
        self.max_held = Some(limit);
        self
    }

    /// Lists every started child in [`snapshot`](crate::Spawner::snapshot), not only named
    /// ones. Costs a lock and an entry per child. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().track_children(true).build().unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// let snap = nursery.snapshot();
    /// assert_eq!((snap.children().len(), snap.unlisted()), (1, 0));
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn track_children(mut self, on: bool) -> Self {
        self.track_all = on;
        self
    }

    /// Keeps each child's end (its output, failure, cancellation or abort,
    /// with its task id) until the owner joins it with
    /// [`Nursery::join_next_with_id`], [`Nursery::join_next`] or the
    /// nursery's `Stream`; a finished child then costs its end, never its
    /// task. On by default when the output type `T` carries data (is not
    /// zero-sized); off for children that return `()` (or another
    /// zero-sized type), whose nursery keeps nothing per finished child: a
    /// join there hands out nothing, and waits, as
    /// [`idle`](crate::Spawner::idle) does, until no child is live, then
    /// returns `None` (failures are still counted, and the report keeps the
    /// first). Ends arriving after the owner is dropped or detached are not
    /// kept.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_core::{ChildEnd, Nursery, Policy};
    ///
    /// let mut nursery: Nursery = Nursery::builder()
    ///     .policy(Policy::Supervise)
    ///     .keep_outcomes(true)
    ///     .build()
    ///     .unwrap();
    /// nursery.spawn(async { if true { panic!("lost") } }).unwrap();
    /// let (_, end) = nursery.join_next_with_id().await.unwrap();
    /// assert!(matches!(end, ChildEnd::Failed(f) if f.is_panic()));
    /// # }
    /// ```
    #[must_use]
    pub fn keep_outcomes(mut self, keep: bool) -> Self {
        self.keep_outcomes = Some(keep);
        self
    }

    /// A `close` (or `closed`) still waiting after `after` logs a warning
    /// (with the `tracing` feature) naming the listed children it waits for
    /// and counting the others, and again every `after`. It only logs: the
    /// close keeps waiting. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder()
    ///     .close_warn_after(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// nursery.spawn_named("flush", tokio::time::sleep(Duration::from_millis(2500))).unwrap();
    /// let start = tokio::time::Instant::now();
    /// let report = nursery.close().await; // warns at 1s and 2s, then completes
    /// assert_eq!(start.elapsed(), Duration::from_millis(2500));
    /// assert_eq!(report.stats().completed, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn close_warn_after(mut self, after: Duration) -> Self {
        self.warn_after = Some(after);
        self
    }

    /// Spawns on `handle` instead of the current runtime (a nested nursery
    /// defaults to its parent's). This is how to make a nursery outside a
    /// runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// // Built and used from plain synchronous code.
    /// let nursery: scope_core::Nursery<u32, std::io::Error> = scope_core::Nursery::builder()
    ///     .handle(rt.handle().clone())
    ///     .build()
    ///     .unwrap();
    /// nursery.spawn(async { Ok(5) }).unwrap();
    /// let report = rt.block_on(nursery.close());
    /// assert_eq!(report.stats().completed, 1);
    /// ```
    #[must_use]
    pub fn handle(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Makes the nursery's token a child of `token` (an application-wide
    /// shutdown token, say): cancelling `token` cancels the nursery as
    /// [`Nursery::cancel`] would (spawns refused, queued children dropped as
    /// cancelled, children returning from then on counted as cancelled), with
    /// the reason [`CancelReason::Parent`](crate::CancelReason::Parent).
    /// Never the reverse: cancelling the nursery leaves `token` alone. If
    /// `token` is already cancelled, the nursery is built cancelled.
    ///
    /// Only for a root nursery: a nested nursery's token is already a child
    /// of its parent nursery's, and [`build`](Self::build) refuses this
    /// setting there ([`BuildError::is_token_parent_on_nested`]) rather than
    /// ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_core::{CancelReason, Nursery};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let app_shutdown = CancellationToken::new();
    /// let nursery: Nursery = Nursery::builder().token_parent(&app_shutdown).build().unwrap();
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await }).unwrap();
    /// app_shutdown.cancel();
    /// assert_eq!(nursery.cancel_reason(), Some(CancelReason::Parent));
    /// assert!(nursery.spawn(async {}).unwrap_err().is_cancelled());
    /// assert_eq!(nursery.close().await.stats().cancelled, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn token_parent(mut self, token: &CancellationToken) -> Self {
        self.token_parent = Some(token.clone());
        self
    }

    /// Makes the nursery.
    ///
    /// # Errors
    ///
    /// A zero limit; no runtime (outside one, without [`handle`](Self::handle));
    /// for a nested nursery, a [`token_parent`](Self::token_parent), or a
    /// parent that refuses it as it would refuse a spawn: closed (or closing,
    /// to callers outside it), cancelled, or at its held limit. See
    /// [`BuildError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ok = scope_core::Nursery::<(), std::io::Error>::builder().max_running(4).build();
    /// assert!(ok.is_ok());
    /// let err = scope_core::Nursery::<(), std::io::Error>::builder().max_running(0).build();
    /// assert!(err.unwrap_err().is_zero_limit());
    /// # }
    /// ```
    pub fn build(self) -> Result<Nursery<T, E>, BuildError> {
        if self.max_running == Some(0) || self.max_held == Some(0) {
            return Err(BuildError(BuildErrorKind::ZeroLimit));
        }
        if self.parent.is_some() && self.token_parent.is_some() {
            return Err(BuildError(BuildErrorKind::TokenParentOnNested));
        }
        let (above, own_handle) = match (self.parent, self.handle) {
            (None, Some(h)) => (Above::Runtime(h), None),
            (None, None) => (
                Above::Runtime(
                    Handle::try_current().map_err(|_| BuildError(BuildErrorKind::NoRuntime))?,
                ),
                None,
            ),
            // On the parent's runtime, reached through the parent, unless
            // given one.
            (Some(p), h) => (Above::Parent(p), h),
        };
        let config = Config {
            name: self.name,
            policy: self.policy,
            handler: self.handler,
            max_running: self.max_running.unwrap_or(0),
            max_held: self.max_held.map_or(0, |n| n as u64),
            track_all: self.track_all,
            // Outputs are what the owner asked for by choosing `T`; a
            // zero-sized one carries nothing worth keeping per child.
            keep_outcomes: self.keep_outcomes.unwrap_or(std::mem::size_of::<T>() != 0),
            warn_after: self.warn_after,
            token_parent: self.token_parent,
            handle: own_handle,
        };
        let parented = config.token_parent.is_some();
        let shared = Arc::new(Shared::new(config, above));
        // Knows its own allocation; a nested one is reachable from its
        // parent from here on (`tree.rs`, invariant 4): before it is counted
        // in, so a parent's cancel, abort or shutdown that runs from here on
        // reaches it, and before it looks at the parent's flags (`token.rs`,
        // invariant 2).
        shared.made();
        if parented {
            // An application's token may be cancelled by anyone: follow it.
            shared.exposed_at_build();
        }
        if let Some(parent) = shared.tree().parent() {
            if parent.core().has(EXPOSED) {
                shared.exposed_at_build();
            }
            let name = shared.name_arc();
            let listed = parent.admit_nested(name.as_ref()).map_err(|kind| {
                BuildError(if kind == Kind::Cancelled {
                    BuildErrorKind::ParentCancelled
                } else {
                    BuildErrorKind::ParentClosed
                })
            })?;
            tree::admitted(&*shared, listed);
            // A cancel that set the parent's flag before the admission above
            // had it refused; one after it walks here.
        }
        Ok(Nursery::from_spawner(Spawner::from_shared(shared)))
    }
}

impl<T, E> fmt::Debug for Builder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("max_running", &self.max_running)
            .field("max_held", &self.max_held)
            .field("nested", &self.parent.is_some())
            .field("token_parent", &self.token_parent.is_some())
            .finish_non_exhaustive()
    }
}

/// Why [`Builder::build`] refused.
///
/// # Examples
///
/// ```
/// let err = scope_core::Nursery::<(), std::io::Error>::builder().build().unwrap_err();
/// assert!(err.is_no_runtime());
/// assert_eq!(err.to_string(), "no tokio runtime: build inside one or pass a handle");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(BuildErrorKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuildErrorKind {
    ZeroLimit,
    NoRuntime,
    ParentClosed,
    ParentCancelled,
    TokenParentOnNested,
}

impl BuildError {
    /// A running or held limit of zero was given.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = scope_core::Nursery::<(), std::io::Error>::builder().max_held(0).build().unwrap_err();
    /// assert!(err.is_zero_limit());
    /// # }
    /// ```
    #[must_use]
    pub fn is_zero_limit(&self) -> bool {
        self.0 == BuildErrorKind::ZeroLimit
    }

    /// No runtime: called outside one and no handle was given.
    ///
    /// # Examples
    ///
    /// ```
    /// // No `#[tokio::main]`: there is no current runtime here.
    /// let err = scope_core::Nursery::<(), std::io::Error>::builder().build().unwrap_err();
    /// assert!(err.is_no_runtime());
    /// ```
    #[must_use]
    pub fn is_no_runtime(&self) -> bool {
        self.0 == BuildErrorKind::NoRuntime
    }

    /// The parent nursery refused the nested one: it is closed (or closing,
    /// to callers outside it) or cancelled. A parent at its
    /// [held limit](Builder::max_held) is reported this way too (and its
    /// message says "closed").
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let parent: scope_core::Nursery = scope_core::Nursery::new();
    /// parent.cancel();
    /// let err = parent.child_builder::<()>().build().unwrap_err();
    /// assert!(err.is_parent_closed());
    /// assert_eq!(err.to_string(), "the parent nursery is cancelled");
    /// # }
    /// ```
    #[must_use]
    pub fn is_parent_closed(&self) -> bool {
        matches!(
            self.0,
            BuildErrorKind::ParentClosed | BuildErrorKind::ParentCancelled
        )
    }

    /// [`Builder::token_parent`] was set on a nested nursery's builder, whose
    /// token is already a child of its parent nursery's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let app = tokio_util::sync::CancellationToken::new();
    /// let parent: scope_core::Nursery = scope_core::Nursery::new();
    /// let err = parent.child_builder::<()>().token_parent(&app).build().unwrap_err();
    /// assert!(err.is_token_parent_on_nested());
    /// # }
    /// ```
    #[must_use]
    pub fn is_token_parent_on_nested(&self) -> bool {
        self.0 == BuildErrorKind::TokenParentOnNested
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            BuildErrorKind::ZeroLimit => "a nursery limit must be at least 1",
            BuildErrorKind::NoRuntime => "no tokio runtime: build inside one or pass a handle",
            BuildErrorKind::ParentClosed => "the parent nursery is closed",
            BuildErrorKind::ParentCancelled => "the parent nursery is cancelled",
            BuildErrorKind::TokenParentOnNested => {
                "a nested nursery's token is a child of its parent's: token_parent is for root nurseries"
            }
        })
    }
}

impl std::error::Error for BuildError {}
