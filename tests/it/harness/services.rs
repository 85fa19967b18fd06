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

/// Facts a CI setup script wrote about a service it started (`/tmp/bsweep-ci/<service>.env`,
/// `KEY=value` lines), for tests run without those variables in their environment.
pub fn ci_env(service: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("/tmp/bsweep-ci/{service}.env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('\'').to_string(),
            )
        })
        .collect()
}

/// A setting of a service: the test's environment first, then what its CI script wrote.
pub fn setting(service: &str, key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            ci_env(service)
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        })
}

/// An OpenLava cluster the tests can submit to.
#[derive(Debug, Clone)]
pub struct OpenLava {
    /// Its prefix: clients source `PREFIX/etc/openlava.sh`.
    pub prefix: std::path::PathBuf,
    /// The environment that script sets (PATH, LSF_ENVDIR, ...), for commands run here.
    pub vars: Vec<(String, String)>,
}

impl OpenLava {
    fn at(prefix: std::path::PathBuf) -> Option<Self> {
        let profile = prefix.join("etc/openlava.sh");
        if !profile.is_file() {
            return None;
        }
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". '{}' >/dev/null 2>&1 && env -0",
                profile.display()
            ))
            .output()
            .ok()?;
        let vars = out
            .stdout
            .split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('='))
            .filter(|(k, _)| k.starts_with("LSF") || k.starts_with("LSB") || *k == "PATH")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Self { prefix, vars })
    }

    /// A command with this cluster's environment.
    pub fn cmd(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }
}

/// The main OpenLava cluster: `BSWEEP_OPENLAVA` (or what `.ci/openlava-setup` wrote), else the
/// one whose `lsid` is on PATH. `None`, with a notice, when there is none.
pub fn openlava() -> Option<OpenLava> {
    let found = setting("openlava", "BSWEEP_OPENLAVA")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            // .../bin/lsid → the prefix.
            let lsid = which(&["lsid"])?;
            Some(lsid.parent()?.parent()?.to_path_buf())
        })
        .and_then(OpenLava::at);
    if found.is_none() {
        missing(
            "OpenLava",
            "run `sudo .ci/openlava-setup`, or set BSWEEP_OPENLAVA to an OpenLava prefix",
        );
    }
    found
}

/// The second OpenLava cluster with a short `CLEAN_PERIOD`, and how many seconds after a job
/// ends its `bjobs` has forgotten the job.
pub fn openlava_clean() -> Option<(OpenLava, u64)> {
    let found = setting("openlava", "BSWEEP_OPENLAVA_CLEAN")
        .map(std::path::PathBuf::from)
        .and_then(OpenLava::at)
        .map(|c| {
            let wait = setting("openlava", "BSWEEP_OPENLAVA_CLEAN_WAIT")
                .and_then(|w| w.parse().ok())
                .unwrap_or(25);
            (c, wait)
        });
    if found.is_none() {
        missing(
            "OpenLava with a short CLEAN_PERIOD",
            "run `sudo .ci/openlava-setup`, or set BSWEEP_OPENLAVA_CLEAN to its prefix",
        );
    }
    found
}
