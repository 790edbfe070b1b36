//! [`Sizes`]: how much work each scenario does per run.

/// How much work each scenario does per run. The report and the criterion
/// benches both use [`Sizes::default`], so their numbers are comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// Children spawned per run of spawn-and-finish and contention.
    pub children: usize,
    /// Parked children per run of drain and cancel.
    pub parked: usize,
    /// Children per run of the memory scenario.
    pub memory_children: usize,
    /// Owners created and closed per run of the fixed-cost timing.
    pub owners: usize,
    /// Owners held at once for the fixed-cost byte count.
    pub owners_bytes: usize,
    /// Connections per run of the connection scenario.
    pub connections: usize,
    /// Clients in flight at once in the connection scenario: enough to keep
    /// both workers busy, few enough for a 2-core machine's file descriptors
    /// and the listener's backlog.
    pub clients: usize,
    /// Idle connections held at once for the per-connection byte count.
    pub idle_connections: usize,
    /// HTTP connections in the HTTP scenarios, and requests over each.
    pub http_connections: usize,
    /// Requests per HTTP connection.
    pub http_requests: usize,
}

impl Default for Sizes {
    /// The sizes the issue asks for: 100k children, 100k parked, 10k
    /// connections.
    fn default() -> Self {
        Sizes {
            children: 100_000,
            parked: 100_000,
            memory_children: 10_000,
            owners: 10_000,
            owners_bytes: 1_000,
            connections: 10_000,
            clients: 200,
            idle_connections: 2_000,
            http_connections: 32,
            http_requests: 2_000,
        }
    }
}

impl Sizes {
    /// A few of everything: for tests that only check the scenarios run and
    /// check their work.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(scope_benches::Sizes::tiny().children < scope_benches::Sizes::default().children);
    /// ```
    #[must_use]
    pub fn tiny() -> Self {
        Sizes {
            children: 64,
            parked: 64,
            memory_children: 64,
            owners: 8,
            owners_bytes: 8,
            connections: 16,
            clients: 4,
            idle_connections: 16,
            http_connections: 2,
            http_requests: 8,
        }
    }
}
