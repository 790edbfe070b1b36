//! Scenario 7: HTTP/1.1 keep-alive and HTTP/2 requests through hyper, on a
//! bare `TcpStream` and through `scope_conn::Server`.
//!
//! `cargo bench -p scope-benches --bench http`; the scenario code is
//! `scope_benches::scenarios::http`, shared with the report binary.

use criterion::Criterion;
use scope_benches::Sizes;
use scope_benches::scenarios::http;

mod common;

// `main` by hand rather than `criterion_main!`: the macros generate an
// undocumented `pub fn`, which the workspace's `missing_docs` rejects.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    common::run(&mut c, http::groups(&Sizes::default()));
    c.final_summary();
}
