//! Regression tests of everything careless or hostile users broke, one per reported item (`cargo test hardening` runs them all).

mod cli;
mod collect;
mod spec;
