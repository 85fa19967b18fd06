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

/// What a CI setup script wrote about the service it started: the `KEY=value` lines of
/// `/tmp/bsweep-ci/NAME.env` (e.g. `slurm`), each overridden by an environment variable of the
/// same name when one is set. Only a file of this user counts: the scripts set services up for
/// the user who ran them (root in CI: Slurm's account, the 2FA user's profile), and another
/// user's `cargo test` must not fail on them; it can still name a service in its environment.
pub fn ci_facts(name: &str) -> std::collections::HashMap<String, String> {
    use std::os::unix::fs::MetadataExt as _;
    let file = std::path::Path::new("/tmp/bsweep-ci").join(format!("{name}.env"));
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let mine = std::fs::metadata(&file).is_ok_and(|m| Some(m.uid()) == me);
    let mut facts: std::collections::HashMap<String, String> = mine
        .then(|| std::fs::read_to_string(&file).ok())
        .flatten()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
            (k.trim().to_string(), v.to_string())
        })
        .collect();
    for (k, v) in facts.iter_mut() {
        if let Ok(e) = std::env::var(k) {
            *v = e;
        }
    }
    facts
}

/// The real Slurm `.ci/slurm-setup` starts (see `.ci/slurm.md`).
#[derive(Debug, Clone)]
pub struct Slurm {
    /// SLURM_CONF: every client command needs it.
    pub conf: String,
    /// The default partition (MaxTime in `short_max_minutes`) and one without a limit.
    pub short: String,
    pub short_max_minutes: u64,
    pub long: String,
    pub account: String,
    pub qos: String,
    pub min_job_age: u64,
}

impl Slurm {
    /// A Slurm client command (`squeue`, `sacct`, ...) with this cluster's environment.
    pub fn command(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.env("SLURM_CONF", &self.conf)
            .env("SLURM_TIME_FORMAT", "standard");
        c
    }
}

/// This machine's Slurm, when its clients are installed, its config is known (SLURM_CONF or
/// `/tmp/bsweep-ci/slurm.env`) and its controller answers; else `None` with a notice (a
/// failure under `BSWEEP_REQUIRE_SERVICES=1`).
pub fn slurm() -> Option<Slurm> {
    const HOW: &str = "run `sudo bash .ci/slurm-setup` (see .ci/slurm.md)";
    let facts = ci_facts("slurm");
    let conf = std::env::var("SLURM_CONF")
        .ok()
        .or_else(|| facts.get("SLURM_CONF").cloned())
        .filter(|c| std::path::Path::new(c).is_file());
    let (Some(conf), Some(_)) = (conf, which(&["sbatch"])) else {
        missing("Slurm", HOW);
        return None;
    };
    let get = |k: &str, default: &str| facts.get(k).cloned().unwrap_or_else(|| default.into());
    let s = Slurm {
        conf,
        short: get("BSWEEP_SLURM_PARTITION", "short"),
        short_max_minutes: get("BSWEEP_SLURM_PARTITION_MAXTIME_MIN", "10")
            .parse()
            .unwrap_or(10),
        long: get("BSWEEP_SLURM_PARTITION_LONG", "long"),
        account: get("BSWEEP_SLURM_ACCOUNT", "bsweep"),
        qos: get("BSWEEP_SLURM_QOS", "bsweep"),
        min_job_age: get("BSWEEP_SLURM_MIN_JOB_AGE", "10").parse().unwrap_or(10),
    };
    let up = s
        .command("scontrol")
        .arg("ping")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("UP"));
    if !up {
        missing(
            "Slurm",
            &format!("its controller does not answer `scontrol ping`; {HOW}"),
        );
        return None;
    }
    Some(s)
}

/// A fact about a service the CI scripts started (`.ci/*-setup`): the environment variable
/// `key`, or else its `KEY=value` line in one of `/tmp/bsweep-ci/*.env`.
pub fn ci_fact(key: &str) -> Option<String> {
    if let Some(v) = std::env::var(key).ok().filter(|v| !v.is_empty()) {
        return Some(v);
    }
    let mut files: Vec<_> = std::fs::read_dir("/tmp/bsweep-ci")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "env"))
        .collect();
    files.sort();
    files.iter().find_map(|f| {
        let name = f.file_stem()?.to_str()?;
        ci_facts(name).remove(key).filter(|v| !v.is_empty())
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
        // bpeek too: `logs` of a running job uses it.
        if !profile.is_file() || !prefix.join("bin/bpeek").is_file() {
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
        let ol = Self { prefix, vars };
        // Installed is not running: with its daemons down every bsub would retry for ever.
        let answers = ol
            .cmd("timeout")
            .args(["20", "bqueues"])
            .env("LSB_NTRIES", "1")
            .output()
            .is_ok_and(|o| o.status.success());
        answers.then_some(ol)
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
    let found = ci_fact("BSWEEP_OPENLAVA")
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
            "none installed, or its daemons do not answer `bqueues`: run `sudo .ci/openlava-setup` \
             (it builds, or restarts, OpenLava in /opt/openlava), or set BSWEEP_OPENLAVA to an \
             OpenLava prefix",
        );
    }
    found
}

/// The second OpenLava cluster with a short `CLEAN_PERIOD`, and how many seconds after a job
/// ends its `bjobs` has forgotten the job.
pub fn openlava_clean() -> Option<(OpenLava, u64)> {
    let found = ci_fact("BSWEEP_OPENLAVA_CLEAN")
        .map(std::path::PathBuf::from)
        .and_then(OpenLava::at)
        .map(|c| {
            let wait = ci_fact("BSWEEP_OPENLAVA_CLEAN_WAIT")
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
