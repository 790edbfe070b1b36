//! [`ChildOutput`]: what a child may return.

/// What a child's future (or blocking closure) may return in a
/// `Nursery<T, E>`: `()` (an infallible child, when `T = ()`),
/// `Result<T, E>` (a fallible one; `Err` is a failure), or `!` (a child
/// that never returns, such as `async { loop { … } }` under edition 2024,
/// in a nursery of any `T`).
///
/// Implemented for exactly those shapes, so an `async { Ok(()) }` block
/// needs no type annotation: the nursery's `E` fills it in. A future whose
/// output is generic has several candidates and needs its output named:
/// `std::future::pending::<()>()`.
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
/// nursery.spawn(async { loop { tokio::task::yield_now().await } }).unwrap(); // never returns
/// tokio::task::yield_now().await; // the children run once
/// let report = nursery.shutdown(std::time::Duration::ZERO).await;
/// assert_eq!(report.stats().completed, 2);
/// assert_eq!(report.stats().aborted, 1);
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

/// `!`, named on stable Rust as the output of a function pointer type that
/// never returns; the trait is public in a private module, so nobody outside
/// can name it.
mod never {
    pub trait Returns {
        type Output;
    }

    impl<O> Returns for fn() -> O {
        type Output = O;
    }

    pub(super) type Never = <fn() -> ! as Returns>::Output;
}

/// A child that never returns (`async { loop { … } }`, whose output is `!`
/// under edition 2024) fits a nursery of any `T`.
impl<T, E> ChildOutput<T, E> for never::Never {
    fn into_result(self) -> Result<T, E> {
        self
    }
}
