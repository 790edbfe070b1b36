//! [`Case`]: one contender in one scenario.

use std::fmt;
use std::time::Duration;

use crate::Sample;

/// One contender in one scenario: a closure that runs the scenario once,
/// checks its work, and returns what it measured.
pub struct Case {
    contender: &'static str,
    items: u64,
    run: Box<dyn FnMut() -> Sample>,
}

impl Case {
    /// A timed case: `run` returns the timed region's wall time for `items`
    /// children (or owners).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut case = scope_benches::Case::time("nothing", 1, || Duration::ZERO);
    /// assert_eq!(case.run(), scope_benches::Sample::Time(Duration::ZERO));
    /// ```
    pub fn time(
        contender: &'static str,
        items: u64,
        mut run: impl FnMut() -> Duration + 'static,
    ) -> Case {
        Case {
            contender,
            items,
            run: Box::new(move || Sample::Time(run())),
        }
    }

    /// A byte-count case: `run` returns heap bytes per item.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut case = scope_benches::Case::bytes("nothing", 1, || 0.0);
    /// assert_eq!(case.run(), scope_benches::Sample::Bytes(0.0));
    /// ```
    pub fn bytes(
        contender: &'static str,
        items: u64,
        mut run: impl FnMut() -> f64 + 'static,
    ) -> Case {
        Case {
            contender,
            items,
            run: Box::new(move || Sample::Bytes(run())),
        }
    }

    /// Who is measured, e.g. `"Nursery"` or `"JoinSet + join_next"`.
    #[must_use]
    pub fn contender(&self) -> &'static str {
        self.contender
    }

    /// Children (or owners) per run.
    #[must_use]
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Runs the scenario once for this contender.
    ///
    /// # Panics
    ///
    /// When the run's check fails (a lost child, a wrong sum or count).
    pub fn run(&mut self) -> Sample {
        (self.run)()
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("contender", &self.contender)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}
