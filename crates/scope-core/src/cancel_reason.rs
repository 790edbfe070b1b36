//! [`CancelReason`]: why a nursery's token was cancelled.

/// Why a nursery's token was cancelled: [`Nursery::cancel_reason`],
/// [`Spawner::cancel_reason`] and [`Report::cancel_reason`].
///
/// A nursery records one reason, the first: a fail-fast failure after a
/// `cancel()` leaves the reason `Requested`, and a `shutdown` that finds the
/// nursery already cancelled does not make it `Deadline`. A token that fired
/// without the nursery recording why (someone called `token().cancel()`
/// directly, or a parent token fired) is reported as `Requested` or `Parent`.
///
/// New reasons may be added; match with a wildcard arm.
///
/// [`Nursery::cancel_reason`]: crate::Spawner::cancel_reason
/// [`Spawner::cancel_reason`]: crate::Spawner::cancel_reason
/// [`Report::cancel_reason`]: crate::Report::cancel_reason
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{CancelReason, Nursery};
///
/// let nursery: Nursery<(), &str> = Nursery::new();
/// nursery.spawn(async { Err("bad input") }).unwrap(); // fail-fast cancels
/// let report = nursery.close().await;
/// match report.cancel_reason() {
///     None => println!("ran to the end"),
///     Some(CancelReason::Failure) => println!("a child failed: {:?}", report.failure()),
///     Some(other) => println!("cancelled: {other:?}"),
/// }
/// assert_eq!(report.cancel_reason(), Some(CancelReason::Failure));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// The owner's `cancel()`, or anyone calling `cancel()` on the
    /// nursery's token directly (a spawner reaches it through `token()`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.token().cancel();
    /// assert_eq!(nursery.cancel_reason(), Some(scope_core::CancelReason::Requested));
    /// # }
    /// ```
    Requested,
    /// Under [`Policy::FailFast`](crate::Policy::FailFast), the first failure
    /// cancelled the nursery.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("bad") }).unwrap();
    /// let report = nursery.close().await;
    /// assert_eq!(report.cancel_reason(), Some(scope_core::CancelReason::Failure));
    /// # }
    /// ```
    Failure,
    /// A `shutdown` ran past its drain window (or was called from inside a
    /// child, where it cannot wait) and cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// let report = nursery.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert_eq!(report.cancel_reason(), Some(scope_core::CancelReason::Deadline));
    /// # }
    /// ```
    Deadline,
    /// The cancellation came from above: a parent nursery was cancelled (for
    /// any reason), or a token above this nursery's fired.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let parent: scope_core::Nursery = scope_core::Nursery::new();
    /// let child: scope_core::Nursery = parent.child_builder().build().unwrap();
    /// parent.cancel();
    /// assert_eq!(child.cancel_reason(), Some(scope_core::CancelReason::Parent));
    /// assert_eq!(parent.cancel_reason(), Some(scope_core::CancelReason::Requested));
    /// # child.close().await;
    /// # }
    /// ```
    Parent,
    /// The owner was dropped without `close`, `shutdown` or `detach`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// drop(nursery);
    /// assert_eq!(spawner.cancel_reason(), Some(scope_core::CancelReason::Dropped));
    /// # }
    /// ```
    Dropped,
}

impl CancelReason {
    /// Codes for packing into an atomic word; 0 means "no reason", so every
    /// code here is non-zero and fits in [`CancelReason::BITS`] bits.
    pub(crate) const BITS: u32 = 3;

    pub(crate) fn code(self) -> u64 {
        match self {
            CancelReason::Requested => 1,
            CancelReason::Failure => 2,
            CancelReason::Deadline => 3,
            CancelReason::Parent => 4,
            CancelReason::Dropped => 5,
        }
    }

    pub(crate) fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            1 => CancelReason::Requested,
            2 => CancelReason::Failure,
            3 => CancelReason::Deadline,
            4 => CancelReason::Parent,
            5 => CancelReason::Dropped,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::CancelReason;

    #[test]
    fn every_reason_survives_its_code() {
        for r in [
            CancelReason::Requested,
            CancelReason::Failure,
            CancelReason::Deadline,
            CancelReason::Parent,
            CancelReason::Dropped,
        ] {
            assert!(r.code() != 0 && r.code() < 1 << CancelReason::BITS);
            assert_eq!(CancelReason::from_code(r.code()), Some(r));
        }
        assert_eq!(CancelReason::from_code(0), None);
    }
}
