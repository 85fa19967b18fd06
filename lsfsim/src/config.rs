//! `LSFSIM_DIR/config.toml`: cluster shape, LSF version mode and fault injection, all optional.

use serde::Deserialize;
use std::path::Path;

/// Which LSF generation the simulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    /// IBM Spectrum LSF 10.1: `bjobs -o`, `-json`, `-noheader` work.
    #[default]
    Lsf10,
    /// Old LSF: only the classic tables; `-o`/`-json`/`-noheader` are unknown options.
    Old,
    /// OpenLava 4.0 (the captures in `shared/lsf/openlava/`): OpenLava's bjobs/bqueues/bhist/
    /// bmgroup options and formats, its job report (before the output, no `Run time`) and its
    /// run limit (SIGUSR2 at the limit, so a job script exits 140; no `TERM_` lines).
    Openlava,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: String,
    #[serde(default = "default_slots")]
    pub slots: u32,
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Hosts this queue dispatches to; empty means all cluster hosts.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The queue's RUNLIMIT in minutes (`openlava` only enforces run limits).
    #[serde(default)]
    pub runlimit: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostGroup {
    pub name: String,
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// Probabilities are in 0..=1; a missing key means the fault never fires.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    pub latency_ms: u64,
    pub bsub_transient_fail: f64,
    pub bsub_fail_after_submit: f64,
    pub please_wait: f64,
    pub esub_chatter: Vec<String>,
    pub bjobs_fail: f64,
    pub bkill_fail: f64,
    pub visibility_delay_ms: u64,
    pub seed: u64,
    /// Hosts that fail every job dispatched to them: the job exits 1 at once, its script not
    /// run (a node with a broken mount or a full disk).
    pub failing_hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub version: Version,
    #[serde(rename = "queue")]
    pub queues: Vec<Queue>,
    pub default_queue: Option<String>,
    #[serde(rename = "hostgroup")]
    pub hostgroups: Vec<HostGroup>,
    /// Execution hosts; hosts named only in host groups are added to these.
    pub hosts: Vec<String>,
    pub max_array_size: u32,
    pub clean_period: u64,
    pub cluster_name: String,
    pub master_host: Option<String>,
    /// FROM_HOST; defaults to this machine's short host name.
    pub submit_host: Option<String>,
    /// USER column; defaults to $USER.
    pub user: Option<String>,
    /// Milliseconds between bkill's SIGINT and the runner's SIGKILL.
    pub kill_grace_ms: u64,
    /// How long one minute of a run limit (`bsub -W`, a queue's `runlimit`) lasts, in ms: tests
    /// set it low to see limits reached in seconds. OpenLava's grace after its warning signal
    /// (WARN_TIME, 600 s) is ten of these minutes.
    pub runlimit_minute_ms: u64,
    pub faults: Faults,
}

fn default_slots() -> u32 {
    4
}

fn default_priority() -> u32 {
    30
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: Version::Lsf10,
            queues: Vec::new(),
            default_queue: None,
            hostgroups: Vec::new(),
            hosts: Vec::new(),
            max_array_size: 1000,
            clean_period: 3600,
            cluster_name: "lsfsim".into(),
            master_host: None,
            submit_host: None,
            user: None,
            kill_grace_ms: 2000,
            runlimit_minute_ms: 60_000,
            faults: Faults::default(),
        }
    }
}

impl Config {
    /// Reads `dir/config.toml` if present and fills in the defaults that depend on other keys.
    pub fn load(dir: &Path) -> Result<Config, String> {
        let path = dir.join("config.toml");
        let mut cfg: Config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if cfg.queues.is_empty() {
            cfg.queues.push(Queue {
                name: "normal".into(),
                slots: default_slots(),
                priority: default_priority(),
                hosts: Vec::new(),
                runlimit: None,
            });
        }
        if cfg.hosts.is_empty() && cfg.hostgroups.iter().all(|g| g.hosts.is_empty()) {
            cfg.hosts = (1..=4).map(|i| format!("simhost{i:02}")).collect();
        }
        // Hosts that appear only in host groups or queues are still cluster hosts.
        let extra: Vec<String> = cfg
            .hostgroups
            .iter()
            .flat_map(|g| g.hosts.iter())
            .chain(cfg.queues.iter().flat_map(|q| q.hosts.iter()))
            .cloned()
            .collect();
        for h in extra {
            if !cfg.hosts.contains(&h) {
                cfg.hosts.push(h);
            }
        }
        if let Some(dq) = &cfg.default_queue
            && !cfg.queues.iter().any(|q| &q.name == dq)
        {
            return Err(format!("default_queue {dq:?} is not a [[queue]]"));
        }
        Ok(cfg)
    }

    pub fn default_queue(&self) -> &str {
        self.default_queue
            .as_deref()
            .unwrap_or(&self.queues[0].name)
    }

    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.name == name)
    }

    pub fn hostgroup(&self, name: &str) -> Option<&HostGroup> {
        self.hostgroups.iter().find(|g| g.name == name)
    }

    /// Hosts a queue may use.
    pub fn queue_hosts(&self, queue: &str) -> Vec<String> {
        match self.queue(queue) {
            Some(q) if !q.hosts.is_empty() => q.hosts.clone(),
            _ => self.hosts.clone(),
        }
    }

    pub fn openlava(&self) -> bool {
        self.version == Version::Openlava
    }

    /// The run limit a job of `queue` with `bsub -W minutes` gets, in ms: the smaller of the two.
    pub fn runlimit_ms(&self, queue: &str, minutes: Option<u64>) -> Option<u64> {
        let queue = self.queue(queue).and_then(|q| q.runlimit);
        let min = match (minutes, queue) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        min.map(|m| m.saturating_mul(self.runlimit_minute_ms))
    }

    pub fn master(&self) -> String {
        self.master_host
            .clone()
            .unwrap_or_else(|| self.hosts[0].clone())
    }
}
