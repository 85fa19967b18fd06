//! Finds the LSF simulator binary for the integration tests (shared by `common` and `sshenv`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The LSF simulator binary of this workspace (built by `cargo test` at the top; built here if
/// a narrower `cargo test -p bsweep` skipped it).
pub fn lsfsim_bin() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let bin = Path::new(env!("CARGO_BIN_EXE_bsweep")).with_file_name("lsfsim");
    BUILD.call_once(|| {
        if !bin.exists() {
            let st = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "lsfsim"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo build -p lsfsim");
            assert!(st.success(), "building the LSF simulator failed");
        }
    });
    assert!(bin.exists(), "no simulator at {}", bin.display());
    bin
}
