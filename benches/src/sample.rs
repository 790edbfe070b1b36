//! [`Sample`]: what one run of a case measured.

use std::time::Duration;

/// What one run of a [`Case`](crate::Case) measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// Wall time of the timed region, for all the case's items together.
    Time(Duration),
    /// Heap bytes per item (exact, from [`Window`](crate::Window)).
    Bytes(f64),
}

impl Sample {
    /// The value as a plain number: seconds, or bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_benches::Sample;
    /// assert_eq!(Sample::Bytes(184.0).value(), 184.0);
    /// ```
    #[must_use]
    pub fn value(self) -> f64 {
        match self {
            Sample::Time(d) => d.as_secs_f64(),
            Sample::Bytes(b) => b,
        }
    }
}
