//! [`Snapshot`]: what a nursery is waiting for, right now.

use std::sync::Arc;
use std::time::Duration;

/// The live children of a nursery at one moment ([`snapshot`](crate::Spawner::snapshot)).
///
/// Started children (tasks, and nested nurseries) are listed when they are
/// named, or, when the nursery was built with
/// [`track_children`](crate::Builder::track_children), all of them; so the
/// untracked hot path pays nothing for this. A child queued behind the
/// [running limit](crate::Builder::max_running) is listed only once it
/// starts: until then it counts in [`live`](Snapshot::live) and
/// [`unlisted`](Snapshot::unlisted).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use scope_core::Nursery;
/// use std::time::Duration;
///
/// let nursery: Nursery = Nursery::new();
/// nursery.spawn_named("flush", tokio::time::sleep(Duration::from_secs(5))).unwrap();
/// tokio::time::sleep(Duration::from_secs(1)).await;
/// let snap = nursery.snapshot();
/// assert_eq!(snap.live(), 1);
/// assert_eq!(snap.children()[0].name(), Some("flush"));
/// assert_eq!(snap.children()[0].age(), Duration::from_secs(1));
/// # nursery.close().await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) live: u64,
    pub(crate) children: Vec<ChildInfo>,
}

impl Snapshot {
    /// Live children, listed or not (queued ones and live nested nurseries
    /// included), as [`Stats::live`](crate::Stats::live).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// nursery.spawn_named("tick", std::future::pending::<()>()).unwrap();
    /// assert_eq!(nursery.snapshot().live(), 2);
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn live(&self) -> u64 {
        self.live
    }

    /// The listed live children, in the order they were listed (oldest
    /// first).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn_named("a", std::future::pending::<()>()).unwrap();
    /// nursery.spawn_named("b", std::future::pending::<()>()).unwrap();
    /// let snap = nursery.snapshot();
    /// let names: Vec<_> = snap.children().iter().map(|c| c.name().unwrap()).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn children(&self) -> &[ChildInfo] {
        &self.children
    }

    /// Live children not listed: unnamed ones in a nursery that does not
    /// track every child, and children still queued behind the running limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// nursery.spawn_named("tick", std::future::pending::<()>()).unwrap();
    /// let snap = nursery.snapshot();
    /// assert_eq!((snap.children().len(), snap.unlisted()), (1, 1));
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn unlisted(&self) -> u64 {
        self.live.saturating_sub(self.children.len() as u64)
    }
}

/// One live child in a [`Snapshot`]: a task, or a nested nursery (listed under
/// the nested nursery's name).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let nursery: scope_core::Nursery = scope_core::Nursery::new();
/// let nested: scope_core::Nursery = nursery.child_builder().name("conn-7").build().unwrap();
/// let snap = nursery.snapshot();
/// assert_eq!(snap.children()[0].name(), Some("conn-7"));
/// # nested.close().await;
/// # nursery.close().await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ChildInfo {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) age: Duration,
}

impl ChildInfo {
    /// The child's number among its nursery's listed children, in the order
    /// they were listed (starting at 1; a queued child is numbered when it
    /// starts). Unlisted children take no number.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn_named("a", std::future::pending::<()>()).unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap(); // unnamed: not listed
    /// nursery.spawn_named("b", std::future::pending::<()>()).unwrap();
    /// let ids: Vec<u64> = nursery.snapshot().children().iter().map(|c| c.id()).collect();
    /// assert_eq!(ids, [1, 2]);
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The child's name, if it was spawned with one (`None` for an unnamed
    /// child listed by [`track_children`](crate::Builder::track_children)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().track_children(true).build().unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// assert_eq!(nursery.snapshot().children()[0].name(), None);
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Time since the child was listed: since it started (a queued child
    /// is listed when it leaves the queue), or, for a nested nursery, since
    /// it was built. Measured with `tokio::time::Instant`, so a paused clock
    /// applies.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn_named("sync", std::future::pending::<()>()).unwrap();
    /// tokio::time::sleep(Duration::from_secs(3)).await;
    /// assert_eq!(nursery.snapshot().children()[0].age(), Duration::from_secs(3));
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn age(&self) -> Duration {
        self.age
    }
}
