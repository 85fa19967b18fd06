//! The `bsweep` binary: a thin shell around the library's `run`.
fn main() {}
