//! The `bsweep` binary: a thin shell around the library's `run`.
fn main() {
    std::process::exit(bsweep::cli::run());
}
