//! [`ChildError`]: why a child failed, with the payload intact.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A child's failure: the `Err` it returned, or the payload it panicked with.
///
/// Like tokio's `JoinError`, the payload is kept, never turned into a string:
/// [`ChildError::into_panic`] gives it back for `std::panic::resume_unwind`.
/// Cancellation and abort are not failures and never produce a `ChildError`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::Nursery;
///
/// let nursery: Nursery<(), String> = Nursery::new();
/// nursery.spawn(async { Err("boom".to_string()) }).unwrap();
/// let report = nursery.close().await;
/// let err = report.take_failure().unwrap();
/// assert!(err.is_error());
/// assert_eq!(err.into_error().unwrap(), "boom");
/// # }
/// ```
pub struct ChildError<E> {
    repr: Repr<E>,
    name: Option<Arc<str>>,
}

enum Repr<E> {
    Error(E),
    Panic(Box<dyn Any + Send + 'static>),
}

impl<E> ChildError<E> {
    pub(crate) fn error(e: E, name: Option<Arc<str>>) -> Self {
        ChildError {
            repr: Repr::Error(e),
            name,
        }
    }

    pub(crate) fn panic(p: Box<dyn Any + Send + 'static>, name: Option<Arc<str>>) -> Self {
        ChildError {
            repr: Repr::Panic(p),
            name,
        }
    }

    /// The child returned `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("no route") }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// assert!(err.is_error() && !err.is_panic());
    /// # }
    /// ```
    #[must_use]
    pub fn is_error(&self) -> bool {
        matches!(self.repr, Repr::Error(_))
    }

    /// The child panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(async { if true { panic!("index out of range") } }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// assert!(err.is_panic() && !err.is_error());
    /// # }
    /// ```
    #[must_use]
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The child's name, if it was spawned with one
    /// ([`spawn_named`](crate::Spawner::spawn_named)). For the failure of a
    /// nested nursery, the name of the child that failed inside it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn_named("resolver", async { Err("timeout") }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// assert_eq!(err.child_name(), Some("resolver"));
    /// assert_eq!(err.to_string(), "resolver failed: timeout");
    /// # }
    /// ```
    #[must_use]
    pub fn child_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The error the child returned, if it returned one; `None` for a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), std::io::Error> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err(std::io::ErrorKind::NotFound.into()) }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// assert_eq!(err.as_error().unwrap().kind(), std::io::ErrorKind::NotFound);
    /// assert!(err.panic_payload().is_none());
    /// # }
    /// ```
    #[must_use]
    pub fn as_error(&self) -> Option<&E> {
        match &self.repr {
            Repr::Error(e) => Some(e),
            Repr::Panic(_) => None,
        }
    }

    /// The panic payload, if the child panicked; `None` for an `Err`.
    /// `panic!` with a constant message makes a `&'static str` payload; one
    /// that formats runtime values makes a `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let frame = 7;
    /// nursery.spawn(async move { if true { panic!("bad frame {frame}") } }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// let payload = err.panic_payload().unwrap();
    /// assert_eq!(payload.downcast_ref::<String>().unwrap(), "bad frame 7");
    /// assert!(err.as_error().is_none());
    /// # }
    /// ```
    #[must_use]
    pub fn panic_payload(&self) -> Option<&(dyn Any + Send + 'static)> {
        match &self.repr {
            Repr::Panic(p) => Some(&**p),
            Repr::Error(_) => None,
        }
    }

    /// The error the child returned.
    ///
    /// # Errors
    ///
    /// Gives `self` back if the child panicked instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), String> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("quota exceeded".to_string()) }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// assert_eq!(err.into_error().unwrap(), "quota exceeded");
    ///
    /// let nursery: scope_core::Nursery<(), String> = scope_core::Nursery::new();
    /// nursery.spawn(async { if true { panic!("oops") } }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// assert!(err.into_error().unwrap_err().is_panic(), "a panic is handed back");
    /// # }
    /// ```
    pub fn into_error(self) -> Result<E, Self> {
        match self.repr {
            Repr::Error(e) => Ok(e),
            repr => Err(ChildError {
                repr,
                name: self.name,
            }),
        }
    }

    /// The panic payload, for `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// Panics if the child returned an error instead; check
    /// [`is_panic`](Self::is_panic) or use [`try_into_panic`](Self::try_into_panic).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(async { if true { panic!("invariant broken") } }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// let payload = err.into_panic();
    /// assert_eq!(*payload.downcast::<&str>().unwrap(), "invariant broken");
    /// // Or re-raise it in the owner: `std::panic::resume_unwind(payload)`.
    /// # }
    /// ```
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(_) => panic!("`ChildError::into_panic` called on an error, not a panic"),
        }
    }

    /// The panic payload.
    ///
    /// # Errors
    ///
    /// Gives `self` back if the child returned an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("refused") }).unwrap();
    /// let err = nursery.close().await.take_failure().unwrap();
    /// let err = err.try_into_panic().unwrap_err(); // an error, handed back
    /// assert_eq!(err.into_error().unwrap(), "refused");
    /// # }
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, Self> {
        match self.repr {
            Repr::Panic(p) => Ok(p),
            repr => Err(ChildError {
                repr,
                name: self.name,
            }),
        }
    }
}

/// The text of a panic payload, when it is a string (as `panic!` makes it).
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> Option<&str> {
    p.downcast_ref::<&'static str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

impl<E: fmt::Debug> fmt::Debug for ChildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ChildError");
        match &self.repr {
            Repr::Error(e) => d.field("error", e),
            Repr::Panic(p) => d.field(
                "panic",
                &panic_message(&**p).unwrap_or("<non-string payload>"),
            ),
        };
        d.field("child", &self.name).finish()
    }
}

impl<E: fmt::Display> fmt::Display for ChildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.name.as_deref().unwrap_or("a child");
        match &self.repr {
            Repr::Error(e) => write!(f, "{who} failed: {e}"),
            Repr::Panic(p) => match panic_message(&**p) {
                Some(m) => write!(f, "{who} panicked: {m}"),
                None => write!(f, "{who} panicked"),
            },
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ChildError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.as_error().map(|e| e as _)
    }
}
