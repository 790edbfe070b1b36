//! [`Policy`]: what a child's failure does to its siblings.

/// What a nursery does when a child fails (returns `Err` or panics).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{Nursery, Policy};
///
/// let nursery: Nursery<(), &str> = Nursery::builder().policy(Policy::Supervise).build().unwrap();
/// nursery.spawn(async { Err("one bad request") }).unwrap();
/// nursery.spawn(async { Ok(()) }).unwrap();
/// let report = nursery.close().await;
/// assert_eq!((report.stats().failed, report.stats().completed), (1, 1));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// The first failure cancels the nursery (its token fires and further
    /// spawns are refused) and is what `close` reports; later failures are
    /// counted. As trio's nurseries and asyncio's `TaskGroup`.
    #[default]
    FailFast,
    /// A failure is recorded, counted and handed to the failure handler;
    /// siblings keep running. As Kotlin's `supervisorScope`.
    Supervise,
}
