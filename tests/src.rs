//! Tests that need more than one scope crate live in `tests/`. This library
//! only compiles the README's examples as doc tests, so they cannot rot.

#[doc = include_str!("../README.md")]
mod readme {}
