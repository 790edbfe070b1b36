//! [`ChildEnd`]: how one child ended, as its owner joins it.

use crate::report::Failure;

/// How one child ended, as the owner joins it with
/// [`Nursery::join_next_with_id`](crate::Nursery::join_next_with_id), in
/// completion order and with the child's task id.
///
/// Every child spawned into a nursery that keeps outcomes (see
/// [`Builder::keep_outcomes`](crate::Builder::keep_outcomes)) is joined
/// exactly once, whatever its end; nested nurseries are not joined (they have
/// their own outcomes). The policy still decides what a failure does, and
/// the nursery's report still carries its first failure: that one is the same
/// [`Failure`] as the one joined here, and its payload goes to whoever takes
/// it first ([`Failure::take`]).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{ChildEnd, Nursery, Policy};
///
/// let mut nursery: Nursery<u32, &str> = Nursery::builder().policy(Policy::Supervise).build().unwrap();
/// let ok = nursery.spawn(async { Ok(7) }).unwrap();
/// let bad = nursery.spawn(async { Err("bad input") }).unwrap();
/// let mut seen = Vec::new();
/// while let Some((id, end)) = nursery.join_next_with_id().await {
///     match end {
///         ChildEnd::Returned(v) => seen.push((id == ok.id(), v)),
///         ChildEnd::Failed(f) => {
///             assert_eq!(id, bad.id());
///             assert_eq!(f.take().unwrap().into_error().unwrap(), "bad input");
///         }
///         _ => unreachable!(),
///     }
/// }
/// assert_eq!(seen, [(true, 7)]);
/// let report = nursery.close().await;
/// assert!(report.failure().is_some(), "the report still names the first failure");
/// assert!(report.take_failure().is_none(), "its payload went to the joiner");
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ChildEnd<T, E> {
    /// The child returned its output (`()` or `Ok`). A child that returned
    /// after the nursery's token was cancelled counts as cancelled in
    /// [`Stats`](crate::Stats), and its output is still here.
    Returned(T),
    /// The child returned `Err` or panicked. The nursery's first failure is
    /// shared with its report; see [`ChildEnd`].
    Failed(Failure<E>),
    /// The nursery was cancelled while the child waited for a running slot:
    /// it never ran.
    Cancelled,
    /// The child was aborted (by its handle, `abort_all`, a shutdown's last
    /// phase or the owner's drop), before or while it ran.
    Aborted,
}
