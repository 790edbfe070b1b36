//! [`Snapshot`]: what a nursery is waiting for, right now.

use std::sync::Arc;
use std::time::Duration;

/// The live children of a nursery at one moment ([`Nursery::snapshot`](crate::Nursery::snapshot)).
///
/// Named children are always listed; unnamed ones only when the nursery was
/// built with [`track_children`](crate::Builder::track_children), so the
/// untracked hot path pays nothing for this.
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
    /// Live children, listed or not.
    #[must_use]
    pub fn live(&self) -> u64 {
        self.live
    }

    /// The listed live children, oldest first.
    #[must_use]
    pub fn children(&self) -> &[ChildInfo] {
        &self.children
    }

    /// Live children not listed (unnamed, in a nursery that does not track
    /// every child).
    #[must_use]
    pub fn unlisted(&self) -> u64 {
        self.live.saturating_sub(self.children.len() as u64)
    }
}

/// One live child in a [`Snapshot`].
#[derive(Debug, Clone)]
pub struct ChildInfo {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) age: Duration,
}

impl ChildInfo {
    /// The child's number among its nursery's listed children, in spawn
    /// order (starting at 1).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The child's name, if it was spawned with one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Time since the child was accepted.
    #[must_use]
    pub fn age(&self) -> Duration {
        self.age
    }
}
