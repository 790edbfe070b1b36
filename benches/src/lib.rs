//! Benchmarks (see the README).
