//! [`ChildOutput`]: what a child may return.

/// What a child's future (or blocking closure) may return in a
/// `Nursery<T, E>`: `()` (an infallible child, when `T = ()`) or
/// `Result<T, E>` (a fallible one; `Err` is a failure).
///
/// Implemented for exactly those two shapes, so an `async { Ok(()) }` block
/// needs no type annotation: the nursery's `E` fills it in. A future whose
/// output is generic has two candidates in a `Nursery<(), E>` and needs its
/// output named: `std::future::pending::<()>()`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::Nursery;
///
/// let nursery: Nursery<(), std::io::Error> = Nursery::new();
/// nursery.spawn(async {}).unwrap();               // infallible
/// nursery.spawn(async { Ok(()) }).unwrap();       // fallible, succeeds
/// assert!(nursery.close().await.failure().is_none());
/// # }
/// ```
pub trait ChildOutput<T, E>: Send + 'static {
    /// Converts the child's return value into success or failure: `()`
    /// becomes `Ok(())`, a `Result` is passed through.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_core::ChildOutput;
    ///
    /// let unit: Result<(), String> = ().into_result();
    /// assert_eq!(unit, Ok(()));
    /// let failed = ChildOutput::<u8, String>::into_result(Err::<u8, String>("bad".into()));
    /// assert_eq!(failed, Err("bad".to_string()));
    /// ```
    fn into_result(self) -> Result<T, E>;
}

impl<E> ChildOutput<(), E> for () {
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<T: Send + 'static, E: Send + 'static> ChildOutput<T, E> for Result<T, E> {
    fn into_result(self) -> Result<T, E> {
        self
    }
}
