//! Real services the tests run against (sshd, OpenLava, Slurm, a 2FA login node, Chromium):
//! found on this machine or skipped with a clear notice, unless CI requires them
//! (`BSWEEP_REQUIRE_SERVICES=1`, set by `.ci/run`), in which case a missing one fails the test.

use std::collections::HashSet;
use std::sync::Mutex;

/// Whether the run requires every service-backed test to run.
pub fn required() -> bool {
    std::env::var_os("BSWEEP_REQUIRE_SERVICES").is_some_and(|v| v == "1")
}

/// A service is missing: under CI that is a failure; otherwise say so (once per service) and
/// let the test return early.
pub fn missing(service: &str, how: &str) {
    if required() {
        panic!("{service} is required (BSWEEP_REQUIRE_SERVICES=1) but not available: {how}");
    }
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if said
        .get_or_insert_with(HashSet::new)
        .insert(service.to_string())
    {
        eprintln!("skipped: the tests that need {service} ({how})");
    }
}

/// Runs the rest of a test only when `$service` is available: `let x = need!(expr);` where
/// `expr` is an `Option`.
#[macro_export]
macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return,
        }
    };
}

/// The first of `names` found as an executable on PATH or as an absolute path.
pub fn which(names: &[&str]) -> Option<std::path::PathBuf> {
    for n in names {
        let p = std::path::Path::new(n);
        if p.is_absolute() {
            if p.is_file() {
                return Some(p.to_path_buf());
            }
            continue;
        }
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let c = dir.join(n);
            if c.is_file() {
                return Some(c);
            }
        }
    }
    None
}

/// A fact about a service the CI scripts started (`BSWEEP_OPENLAVA`, `SLURM_CONF`, ...): from
/// the environment, or else from the `NAME=value` lines they leave in `/tmp/bsweep-ci/*.env`.
pub fn ci_var(name: &str) -> Option<String> {
    if let Some(v) = std::env::var_os(name).filter(|v| !v.is_empty()) {
        return Some(v.to_string_lossy().into_owned());
    }
    let mut files: Vec<_> = std::fs::read_dir("/tmp/bsweep-ci")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "env"))
        .collect();
    files.sort();
    files.iter().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        text.lines().find_map(|l| {
            let v = l.strip_prefix(name)?.strip_prefix('=')?;
            Some(v.trim_matches(|c| c == '\'' || c == '"').to_string())
        })
    })
}

/// The installed OpenLava (its prefix, with `etc/openlava.sh`), or `None` with a notice.
pub fn openlava() -> Option<std::path::PathBuf> {
    let prefix = std::path::PathBuf::from(
        ci_var("BSWEEP_OPENLAVA").unwrap_or_else(|| "/opt/openlava".into()),
    );
    if prefix.join("etc/openlava.sh").is_file() && prefix.join("bin/bpeek").is_file() {
        return Some(prefix);
    }
    missing(
        "OpenLava",
        "run `sudo .ci/openlava-setup` (builds and starts it in /opt/openlava)",
    );
    None
}
