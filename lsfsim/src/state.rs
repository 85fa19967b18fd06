//! The cluster state file (`state.json`), guarded by an exclusive lock on `LSFSIM_DIR/lock`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stat {
    #[serde(rename = "PEND")]
    Pend,
    #[serde(rename = "RUN")]
    Run,
    #[serde(rename = "DONE")]
    Done,
    #[serde(rename = "EXIT")]
    Exit,
}

impl Stat {
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Pend => "PEND",
            Stat::Run => "RUN",
            Stat::Done => "DONE",
            Stat::Exit => "EXIT",
        }
    }

    pub fn finished(self) -> bool {
        matches!(self, Stat::Done | Stat::Exit)
    }
}

/// Why a job ended other than by exiting on its own; decides the TERM_* line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Term {
    /// bkill.
    Owner,
    /// The runner vanished (killed, machine crash); the job was killed and marked EXIT.
    Lost,
    /// The job's memory went over its `-M` limit (LSF 10 enforcing it per job, as with
    /// `LSB_JOB_MEMLIMIT=Y`): SIGINT, SIGTERM, SIGKILL, and `TERM_MEMLIMIT` in its report.
    #[serde(rename = "MemLimit")]
    MemLimit,
    /// LSF (not OpenLava, which names no reason) ended the job at its run limit: SIGUSR2 at
    /// the limit, SIGKILL ten limit-minutes later, and `TERM_RUNLIMIT` in its report.
    #[serde(rename = "RunLimit")]
    RunLimit,
}

/// Options fixed at submission (from #BSUB lines and the command line).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobOpts {
    pub out: Option<String>,
    pub err: Option<String>,
    pub out_overwrite: bool,
    pub err_overwrite: bool,
    pub slots: u32,
    /// The -m request as given (host and group names).
    pub hosts_req: Vec<String>,
    pub project: Option<String>,
    pub runlimit_min: Option<u64>,
    pub mem_limit_mb: Option<f64>,
    pub resreq: Vec<String>,
    pub gpu: Option<String>,
    pub exclusive: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Elem {
    /// Array index; 0 for a plain job.
    pub index: u32,
    pub stat: Stat,
    #[serde(default)]
    pub exec_hosts: Vec<String>,
    pub start_ms: Option<u64>,
    pub finish_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub runner_pid: Option<i32>,
    /// Pid (and process group) of the job's bash.
    pub job_pid: Option<i32>,
    #[serde(default)]
    pub cpu_secs: f64,
    #[serde(default)]
    pub max_rss_kb: u64,
    #[serde(default)]
    pub avg_rss_kb: u64,
    #[serde(default)]
    pub max_procs: u32,
    #[serde(default)]
    pub max_threads: u32,
    /// Peak virtual memory of the job's processes (OpenLava's "Max Swap").
    #[serde(default)]
    pub max_swap_kb: u64,
    /// The signal that ended the job's shell itself, if one did (OpenLava then reports
    /// "Exited with signal termination" / "Exited by signal N" rather than an exit code).
    #[serde(default)]
    pub signal: Option<i32>,
    pub term: Option<Term>,
    /// When bkill was accepted (shown in bhist).
    pub kill_ms: Option<u64>,
    /// Past CLEAN_PERIOD: invisible to bjobs/bkill, still known to bhist.
    #[serde(default)]
    pub forgotten: bool,
}

impl Elem {
    pub fn new(index: u32) -> Elem {
        Elem {
            index,
            stat: Stat::Pend,
            exec_hosts: Vec::new(),
            start_ms: None,
            finish_ms: None,
            exit_code: None,
            runner_pid: None,
            job_pid: None,
            cpu_secs: 0.0,
            max_rss_kb: 0,
            avg_rss_kb: 0,
            max_procs: 0,
            max_threads: 0,
            max_swap_kb: 0,
            signal: None,
            term: None,
            kill_ms: None,
            forgotten: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    /// Name without the array spec (`sweep` for `-J "sweep[1-10]%2"`).
    pub name: String,
    /// True when -J was given; otherwise `name` is the command.
    pub named: bool,
    /// The index list as written (`1-10`), for arrays.
    pub array_spec: Option<String>,
    /// `%k`: at most this many elements run at once.
    pub array_limit: Option<u32>,
    pub queue: String,
    pub user: String,
    pub from_host: String,
    pub cwd: String,
    pub submit_ms: u64,
    /// First line of the job (LSF's "Command <...>").
    pub command: String,
    /// Submitted as a script on stdin (`bsub < job.sh`) rather than a command line.
    #[serde(default)]
    pub stdin_script: bool,
    pub opts: JobOpts,
    pub elems: Vec<Elem>,
}

impl Job {
    pub fn is_array(&self) -> bool {
        self.array_spec.is_some()
    }

    /// JOB_NAME as bjobs shows it for one element: `name[i]` for arrays.
    pub fn elem_name(&self, e: &Elem) -> String {
        if self.is_array() {
            format!("{}[{}]", self.name, e.index)
        } else {
            self.name.clone()
        }
    }

    /// The name as submitted: `name[1-10]%2` for an array (OpenLava's reports name an
    /// element by it).
    pub fn submitted_name(&self) -> String {
        match &self.array_spec {
            Some(spec) => {
                let limit = self
                    .array_limit
                    .map(|k| format!("%{k}"))
                    .unwrap_or_default();
                format!("{}[{spec}]{limit}", self.name)
            }
            None => self.name.clone(),
        }
    }

    /// The job's id as LSF prints it in messages: `123` or `123[4]`.
    pub fn elem_id(&self, e: &Elem) -> String {
        if self.is_array() {
            format!("{}[{}]", self.id, e.index)
        } else {
            self.id.to_string()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub next_id: u64,
    /// Invocations so far; feeds the fault RNG so runs are reproducible.
    pub calls: u64,
    pub jobs: BTreeMap<u64, Job>,
}

impl Default for State {
    fn default() -> Self {
        State {
            next_id: 1,
            calls: 0,
            jobs: BTreeMap::new(),
        }
    }
}

/// Holds the exclusive lock for as long as it lives.
pub struct Locked {
    _lock: File,
    path: PathBuf,
    pub state: State,
}

impl Locked {
    /// Blocks until the lock is ours, then reads the state.
    pub fn open(dir: &Path) -> Result<Locked, String> {
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(|e| format!("{}: {e}", dir.join("lock").display()))?;
        lock.lock().map_err(|e| format!("lock: {e}"))?;
        let path = dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: corrupt state: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(Locked {
            _lock: lock,
            path,
            state,
        })
    }

    /// Writes a temp file and renames it, so a writer dying mid-write never leaves half a state.
    pub fn save(&self) -> Result<(), String> {
        let tmp = self
            .path
            .with_extension(format!("json.tmp{}", std::process::id()));
        let bytes = serde_json::to_vec(&self.state).map_err(|e| e.to_string())?;
        let mut f = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        // No fsync: the rename guards against a crashed writer; power loss is not our concern.
        f.write_all(&bytes)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}
