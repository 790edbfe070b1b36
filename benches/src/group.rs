//! [`Group`]: one scenario on one setup, with every contender.

use crate::Case;

/// One scenario on one setup (runtime flavour, size), with one [`Case`] per
/// contender; ratios are taken against the case named by
/// [`baseline`](Self::baseline), measured in the same run.
#[derive(Debug)]
pub struct Group {
    id: String,
    name: String,
    baseline: &'static str,
    cases: Vec<Case>,
}

impl Group {
    /// A group. `id` is a short path for criterion (`"spawn_finish/current"`),
    /// `name` the row label in the report.
    ///
    /// # Panics
    ///
    /// If no case is named `baseline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_benches::{Case, Group};
    /// let g = Group::new("x/y", "x on y", "a", vec![Case::bytes("a", 1, || 0.0)]);
    /// assert_eq!(g.baseline(), "a");
    /// ```
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        baseline: &'static str,
        cases: Vec<Case>,
    ) -> Group {
        let name = name.into();
        assert!(
            cases.iter().any(|c| c.contender() == baseline),
            "{name}: no baseline case {baseline:?}"
        );
        Group {
            id: id.into(),
            name,
            baseline,
            cases,
        }
    }

    /// Short path for criterion.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Row label for the report.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contender the others are divided by.
    #[must_use]
    pub fn baseline(&self) -> &'static str {
        self.baseline
    }

    /// The cases, baseline included.
    #[must_use]
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// The cases, to run them.
    pub fn cases_mut(&mut self) -> &mut [Case] {
        &mut self.cases
    }
}
