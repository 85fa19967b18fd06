//! The command line: clap types, the commands, and the mapping of errors to exit codes.
//!
//! Exit codes: 0 success; 1 runtime error; 2 bad input (sweep file, arguments); 3 the sweep is
//! in use, missing, or already exists; 4 the sweep ended with failed or cancelled points;
//! 130 interrupted while following (jobs keep running).

use std::ffi::OsString;
use std::fs;
use std::hash::BuildHasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use clap::{CommandFactory, Parser, Subcommand};
use itertools::Itertools;

use crate::collect;
use crate::engine::{self, Engine, Outcome};
use crate::report;
use crate::sched::local::LocalScheduler;
use crate::sched::lsf::{self, BjobsMode, LsfScheduler};
use crate::sched::{AnySched, State};
use crate::script::{self, ScriptCtx};
use crate::spec::{BackendKind, Spec, SpecError, Target};
use crate::store::{Home, PointRec, Store, StoreError, SweepMeta};
use crate::transport::local::LocalTransport;
use crate::transport::ssh::{self, SshOpts, SshTransport};
use crate::transport::{AnyTransport, Transport};

/// Grids above this many points need `--yes` (a typo in a range can mean millions of jobs).
pub const LARGE_GRID: u64 = 100_000;

#[derive(Parser, Debug)]
#[command(
    name = "bsweep",
    version,
    about = "Parameter sweeps on LSF clusters and the local machine, that survive disconnects and crashes"
)]
pub struct Cli {
    /// Where bsweep keeps its state (default: the XDG data dir, ~/.local/share/bsweep).
    #[arg(long, global = true, env = "BSWEEP_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print no progress display.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// An ssh config file to use instead of ~/.ssh/config (`ssh -F`).
    #[arg(long, global = true, env = "BSWEEP_SSH_CONFIG", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what would be submitted: point count, distribution over targets, job scripts. Touches nothing.
    Plan {
        file: PathBuf,
        /// Print every job script (default: the first 3).
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
        /// Confirm a grid above 100,000 points.
        #[arg(long)]
        yes: bool,
    },
    /// Record the sweep, submit its points, and follow them until all end.
    Launch {
        file: PathBuf,
        /// Return once everything that fits is submitted; a background bsweep follows the rest.
        #[arg(long)]
        detach: bool,
        /// Confirm a grid above 100,000 points.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Open a connection to a cluster's login node that later bsweep commands reuse: type the
    /// password and one-time code once.
    Login {
        /// The login host: `user@host` or an alias of ~/.ssh/config.
        host: String,
        /// Only report whether a live connection exists.
        #[arg(long)]
        check: bool,
        /// Close the connection.
        #[arg(long, conflicts_with = "check")]
        close: bool,
    },
    /// Check that a sweep file can run: the connection, LSF, its queues, the remote directory.
    Doctor {
        file: PathBuf,
        #[command(flatten)]
        place: Place,
    },
    /// Counts per state and per target (polls the scheduler unless another bsweep follows the sweep).
    Status {
        sweep: Option<String>,
        #[arg(long)]
        json: bool,
        /// Refresh every 2 s until every point has ended.
        #[arg(long)]
        watch: bool,
    },
    /// All recorded sweeps.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Pick up a sweep where it was: adopt submitted jobs, submit the rest, follow to the end.
    Resume {
        sweep: String,
        #[arg(long)]
        detach: bool,
        /// Follow an edited sweep file from now on (see `retry --spec`).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
    },
    /// Cancel every point not yet ended (running jobs are killed).
    Cancel { sweep: String },
    /// Run failed points again as new attempts, then follow.
    Retry {
        sweep: String,
        /// Retry the points whose last attempt failed.
        #[arg(long, required = true)]
        failed: bool,
        #[arg(long)]
        detach: bool,
        /// Follow an edited sweep file from now on: its command, setup, [lsf] options (memory,
        /// walltime, ...) and [collect] apply to every job submitted after this. The name,
        /// backend, cluster and grid must stay the same; a target that has had jobs keeps its
        /// place (one LSF refused may be replaced), and new targets may follow.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
    },
    /// Show the end of a point's output (its stdout, where LSF also writes its report), from the
    /// cluster if the sweep runs there. Works while another bsweep follows the sweep.
    Logs {
        sweep: String,
        /// The point's index (`bsweep status` names the points that failed).
        index: u64,
        /// Its stderr instead.
        #[arg(long)]
        stderr: bool,
        /// How many lines from the end.
        #[arg(short = 'n', long, default_value_t = 40)]
        lines: usize,
        /// The file as it is, LSF's reports included (otherwise each is shown as one line).
        #[arg(long)]
        raw: bool,
    },
    /// Write one CSV row per point: parameters, job, state, exit code, times, metrics.
    Collect {
        sweep: String,
        /// Output file (default: <sweep>.csv in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Rebuild a sweep whose store is damaged, from its record, its job scripts, the scheduler
    /// (jobs found by name) and the jobs' outputs; then `resume` goes on from there.
    Recover { sweep: String },
    /// Forget a sweep: its record, scripts and local outputs. Refuses while points are in flight.
    Delete {
        sweep: String,
        /// Delete even with points in flight (their jobs are not cancelled).
        #[arg(long)]
        force: bool,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Tools for reporting problems.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Runs PROGRAM, writes its peak memory (KB) to FILE, and exits as PROGRAM did: the local
    /// backend runs each job through it.
    #[command(hide = true)]
    InternalMeasure {
        file: PathBuf,
        #[arg(last = true, required = true, value_name = "PROGRAM")]
        command: Vec<OsString>,
    },
}

#[derive(Subcommand, Debug)]
pub enum DebugCommand {
    /// Show, as JSON, how bsweep reads a captured LSF output (paste it into a file, or pipe it in).
    Parse {
        kind: ParseKind,
        /// The captured output (stdout of the command); standard input when absent.
        file: Option<PathBuf>,
        /// What the command printed on stderr, when captured apart.
        #[arg(long, value_name = "FILE")]
        stderr: Option<PathBuf>,
        /// The command's exit code (bsub).
        #[arg(long)]
        exit: Option<i32>,
    },
}

/// Which LSF output `debug parse` reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ParseKind {
    Bsub,
    BjobsJson,
    BjobsDelim,
    BjobsTable,
    Bkill,
    Bqueues,
    Bhist,
    Lsid,
    Trailer,
}

/// Where a sweep's scheduler commands run.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Place {
    /// Reach LSF on this login host over SSH (overrides `[cluster] host`).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Run LSF commands on this machine even if the sweep file names a `[cluster] host` (when
    /// bsweep runs on the login node itself).
    #[arg(long, conflicts_with = "host")]
    pub here: bool,
}

impl Place {
    /// The SSH host a sweep uses, if any.
    fn host(&self, spec: &Spec) -> Option<String> {
        if self.here {
            return None;
        }
        self.host
            .clone()
            .or_else(|| spec.cluster.as_ref().map(|c| c.host.clone()))
    }
}

/// A failure, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Spec(Box<SpecError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Collect(#[from] collect::CollectError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Sched(#[from] crate::sched::SchedError),
    /// The cluster answered, but not as bsweep needs (a login that failed, no home directory).
    #[error("{0}")]
    Cluster(String),
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Followed to the end, but not every point is done.
    #[error("{0}")]
    Unfinished(String),
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Spec(_) | CliError::Usage(_) => 2,
            CliError::Store(
                StoreError::InUse { .. } | StoreError::NotFound(_) | StoreError::Exists(_),
            ) => 3,
            CliError::Engine(engine::EngineError::Store(
                StoreError::InUse { .. } | StoreError::NotFound(_) | StoreError::Exists(_),
            )) => 3,
            CliError::Unfinished(_) => 4,
            CliError::Transport(_) => 5,
            CliError::Sched(e)
            | CliError::Engine(engine::EngineError::Recover(e) | engine::EngineError::Cancel(e))
                if e.is_unreachable() =>
            {
                5
            }
            CliError::Interrupted => 130,
            _ => 1,
        }
    }
}

impl From<SpecError> for CliError {
    fn from(e: SpecError) -> Self {
        CliError::Spec(Box::new(e))
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let what = what.into();
    move |source| CliError::Io { what, source }
}

/// Parses arguments, runs the command, prints errors with their causes; returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    if let Command::InternalMeasure { file, command } = &cli.command {
        // Before the runtime: it runs around every local job, so it stays small and plain.
        return measure_cmd(file, command);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(()) => 0,
        Err(CliError::Interrupted) => 130,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            e.exit_code()
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let home = Home::new(cli.home.clone().unwrap_or_else(Home::default_root))
        .with_ssh_config(cli.ssh_config.clone());
    let quiet = cli.quiet;
    match cli.command {
        Command::Plan {
            file,
            all,
            json,
            yes,
        } => plan(&home, &file, all, json, yes),
        Command::Launch {
            file,
            detach,
            yes,
            place,
        } => launch(&home, &file, detach, yes, quiet, &place).await,
        Command::Login { host, check, close } => login(&home, &host, check, close),
        Command::Doctor { file, place } => doctor(&home, &file, &place).await,
        Command::Status { sweep, json, watch } => status(&home, sweep, json, watch).await,
        Command::List { json } => list(&home, json),
        Command::Resume {
            sweep,
            detach,
            spec,
        } => {
            let store = open_to_follow(&home, &sweep, "resume", spec, quiet).await?;
            follow(&home, store, detach, quiet, |_| 0).await
        }
        Command::Cancel { sweep } => cancel(&home, &sweep).await,
        Command::Retry {
            sweep,
            detach,
            spec,
            ..
        } => {
            let store = open_to_follow(&home, &sweep, "retry", spec, quiet).await?;
            follow(&home, store, detach, quiet, |e| e.retry_failed()).await
        }
        Command::Logs {
            sweep,
            index,
            stderr,
            lines,
            raw,
        } => logs(&home, &sweep, index, stderr, lines, raw).await,
        Command::Collect { sweep, output } => collect_cmd(&home, &sweep, output).await,
        Command::Delete { sweep, force } => delete(&home, &sweep, force),
        Command::Recover { sweep } => recover(&home, &sweep, quiet).await,
        Command::Debug(DebugCommand::Parse {
            kind,
            file,
            stderr,
            exit,
        }) => debug_parse(kind, file, stderr, exit),
        // `run` handles it before the runtime starts; nothing else dispatches commands.
        Command::InternalMeasure { .. } => Err(CliError::Usage(
            "internal-measure runs before the async runtime, not through dispatch".into(),
        )),
        Command::Completions { shell } => {
            let mut cmd = completion_command();
            clap_complete::generate(shell, &mut cmd, "bsweep", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// The command line completions offer: clap_complete's generators also offer hidden
/// subcommands (clap-rs/clap#1335), and clap cannot remove one, so the root is assembled again
/// from its own arguments and visible subcommands.
fn completion_command() -> clap::Command {
    let full = Cli::command();
    let mut cmd = clap::Command::new("bsweep")
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

/// `internal-measure FILE -- PROGRAM ARGS...`; returns PROGRAM's exit code.
fn measure_cmd(file: &Path, command: &[OsString]) -> i32 {
    match command.split_first() {
        Some((program, args)) => crate::sched::measure::measure(file, program, args),
        None => 2, // clap requires a program; nothing to run
    }
}

/// Refuses a grid that is huge before exclusions without `--yes`, before anything walks it.
fn check_bound(spec: &Spec, yes: bool) -> Result<(), CliError> {
    let bound = spec.upper_bound();
    if bound > LARGE_GRID && !yes {
        return Err(CliError::Usage(format!(
            "the grid has up to {bound} points before exclusions (more than {LARGE_GRID}); check the file, then pass --yes to confirm"
        )));
    }
    Ok(())
}

fn check_size(count: u64, yes: bool) -> Result<(), CliError> {
    if count > LARGE_GRID && !yes {
        return Err(CliError::Usage(format!(
            "the grid has {count} points (more than {LARGE_GRID}); check the grid in the sweep file, then pass --yes to confirm"
        )));
    }
    if count == 0 {
        return Err(CliError::Usage("the sweep has no points".into()));
    }
    Ok(())
}

fn target_labels(spec: &Spec) -> Vec<String> {
    match spec.backend {
        BackendKind::Local => vec!["local".into()],
        BackendKind::Lsf => spec.lsf.targets.iter().map(Target::label).collect(),
    }
}

fn plan(home: &Home, file: &Path, all: bool, json: bool, yes: bool) -> Result<(), CliError> {
    let spec = Spec::load(file)?;
    check_bound(&spec, yes)?;
    let count = spec.count();
    check_size(count, yes)?;
    let targets = engine::targets_of(&spec);
    let labels = target_labels(&spec);
    let dist = engine::distribution(&spec, count);
    // A sweep for a cluster over SSH keeps its files there: show the remote layout (the
    // remote home is only known once connected, so `~` stands for it).
    let remote = spec.cluster.as_ref().map(|c| {
        let base = c.remote_dir.clone().unwrap_or_else(|| "~/.bsweep".into());
        PathBuf::from(base).join(&spec.name)
    });
    let sweep_dir = remote.clone().unwrap_or_else(|| home.sweep_dir(&spec.name));
    let workdir_base = remote.as_ref().map(|_| PathBuf::from("~"));
    let shown = if all { count } else { count.min(3) };
    // The real id is drawn at launch; the plan shows a stand-in so names have their true shape.
    let id = "xxxxxx";
    // Buffered: `--all` on a large grid writes millions of lines, one syscall each otherwise.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let render = |p: &crate::spec::Point| {
        let t = (p.index % targets.len() as u64) as usize;
        let name = script::job_name(id, p.index, 1);
        let od = engine::out_dir(&sweep_dir, p.index);
        let text = script::render(
            &spec,
            p,
            &ScriptCtx {
                sweep_name: &spec.name,
                sweep_id: id,
                job_name: &name,
                attempt: 1,
                out_dir: &od,
                target: &targets[t],
                workdir_base: workdir_base.as_deref(),
            },
        );
        (t, name, text)
    };
    if json {
        // Each point is turned into JSON as it is written, never all at once: `--all` on a
        // million points stays as small as the plain plan.
        let points = spec.points().take(shown as usize).map(|p| {
            let (t, name, text) = render(&p);
            serde_json::json!({
                "index": p.index,
                "params": p.params.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
                "target": labels[t],
                "job_name": name,
                "script": text,
            })
        });
        let head = serde_json::json!({
            "sweep": spec.name,
            "count": count,
            "backend": spec.backend,
            "params": spec.param_names(),
            "distribution": dist,
        });
        let doc = JsonWithPoints {
            head,
            points: std::cell::RefCell::new(Some(points)),
        };
        let stdout_err = |e: serde_json::Error| io("stdout")(e.into());
        serde_json::to_writer_pretty(&mut out, &doc).map_err(stdout_err)?;
        writeln!(out).map_err(io("stdout"))?;
        return out.flush().map_err(io("stdout"));
    }
    let policy = match spec.backend {
        BackendKind::Local => format!("at most {} at a time", spec.local.concurrency),
        BackendKind::Lsf => match spec.lsf.policy {
            crate::spec::Policy::RoundRobin => "round-robin".to_string(),
            crate::spec::Policy::Weighted => "weighted".to_string(),
            crate::spec::Policy::LeastPending => "least-pending, decided at launch".to_string(),
        },
    };
    let mut dist: Vec<_> = dist.into_iter().collect();
    dist.sort();
    let w = |out: &mut std::io::BufWriter<std::io::StdoutLock<'_>>, s: String| {
        writeln!(out, "{s}").map_err(io("stdout"))
    };
    w(
        &mut out,
        format!(
            "sweep {}: {count} points, backend {:?}",
            spec.name, spec.backend
        )
        .replace("Local", "local")
        .replace("Lsf", "lsf"),
    )?;
    w(
        &mut out,
        format!("parameters: {}", spec.param_names().join(", ")),
    )?;
    w(
        &mut out,
        format!(
            "targets ({policy}): {}",
            dist.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;
    if let (Some(c), Some(dir)) = (&spec.cluster, &remote) {
        w(
            &mut out,
            format!(
                "cluster: {} over SSH; files under {} there (`~` stands for the remote home, read at launch)",
                c.host,
                dir.display()
            ),
        )?;
    }
    for p in spec.points().take(shown as usize) {
        let (_, name, text) = render(&p);
        w(
            &mut out,
            format!("\n# ---- point {} ({name}) ----", p.index),
        )?;
        write!(out, "{text}").map_err(io("stdout"))?;
    }
    if shown < count {
        w(
            &mut out,
            format!(
                "\n# ... {} more (bsweep plan --all shows every script)",
                count - shown
            ),
        )?;
    }
    out.flush().map_err(io("stdout"))
}

/// An object's fields (`head`), then `"points"`: an array serialised from the iterator as it
/// goes, never collected.
struct JsonWithPoints<I> {
    head: serde_json::Value,
    points: std::cell::RefCell<Option<I>>,
}

impl<I: Iterator<Item = serde_json::Value>> serde::Serialize for JsonWithPoints<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Points<'a, I>(&'a std::cell::RefCell<Option<I>>);
        impl<I: Iterator<Item = serde_json::Value>> serde::Serialize for Points<'_, I> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(None)?;
                for v in self.0.borrow_mut().take().into_iter().flatten() {
                    seq.serialize_element(&v)?;
                }
                seq.end()
            }
        }
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.head.as_object().into_iter().flatten() {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("points", &Points(&self.points))?;
        map.end()
    }
}

fn new_sweep_id() -> String {
    // A random 24-bit id: std's RandomState is seeded from the OS.
    let h = std::collections::hash_map::RandomState::new()
        .hash_one((std::process::id(), engine::now().to_bits()));
    format!("{:06x}", h & 0xff_ffff)
}

async fn launch(
    home: &Home,
    file: &Path,
    detach: bool,
    yes: bool,
    quiet: bool,
    place: &Place,
) -> Result<(), CliError> {
    let spec = Spec::load(file)?;
    check_bound(&spec, yes)?;
    let count = spec.count();
    check_size(count, yes)?;
    let host = place.host(&spec);
    if host.is_some() && spec.backend == BackendKind::Local {
        return Err(CliError::Usage(format!(
            "{}: backend \"local\" runs points on this machine; a cluster host needs backend = \"lsf\" (or pass --here)",
            file.display()
        )));
    }
    // Said before the cluster is asked anything (Store::create checks again under the lock).
    if home.sweep_dir(&spec.name).join("db").exists() {
        return Err(StoreError::Exists(spec.name.clone()).into());
    }
    // What the cluster can refuse (no connection, no LSF, a queue it does not have) is found
    // before the sweep is recorded: fixing it and running the same launch again is enough.
    let (mut remote_home, mut cluster_dir, mut bjobs_mode) = (None, None, None);
    if spec.backend == BackendKind::Lsf {
        let t = match &host {
            Some(h) => connect(home, h, &spec).await?,
            None => AnyTransport::Local(LocalTransport::new()),
        };
        if host.is_some() {
            let (home_dir, dir) = remote_dirs(&t, &spec).await?;
            (remote_home, cluster_dir) = (Some(home_dir), Some(dir));
        }
        let probe = lsf::probe(&t, &queues_of(&spec)).await?;
        if let Some((queue, said)) = probe.missing_queues.first() {
            let next = "launch again (nothing was recorded)";
            return Err(missing_queue(&spec, &t.place(), queue, said, &probe, next).into());
        }
        bjobs_mode = Some(probe.mode);
    }
    let spec_text =
        fs::read_to_string(file).map_err(io(format!("cannot read {}", file.display())))?;
    let meta = SweepMeta {
        name: spec.name.clone(),
        id: new_sweep_id(),
        created: engine::now(),
        source: std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
        spec_text,
        backend: spec.backend,
        count,
        param_names: spec.param_names(),
        targets: target_labels(&spec),
        host,
        remote_home,
        cluster_dir,
    };
    let points = spec.points().map(|p| PointRec {
        index: p.index,
        params: p.params,
        attempts: Vec::new(),
    });
    let store = Store::create(home, meta, points, "launch")?;
    if let Some(mode) = bjobs_mode {
        store.put_setting(
            "bjobs_mode",
            &serde_json::to_string(&mode).unwrap_or_default(),
        )?;
    }
    if !quiet {
        eprintln!(
            "recorded sweep {} ({} points) in {}",
            spec.name,
            count,
            store.dir().display()
        );
    }
    follow(home, store, detach, quiet, |_| 0).await
}

/// Opens a sweep for `command` (resume, retry), switching it to the sweep file `spec` if given.
async fn open_to_follow(
    home: &Home,
    sweep: &str,
    command: &str,
    spec: Option<PathBuf>,
    quiet: bool,
) -> Result<Store, CliError> {
    let mut store = Store::open(home, sweep, command)?;
    if let Some(file) = spec {
        swap_spec(home, &mut store, &file, quiet).await?;
    }
    Ok(store)
}

/// Makes an opened sweep follow the edited sweep file `file` from now on, after checking that
/// it describes the same sweep: name, backend, cluster and every point's parameters unchanged,
/// targets that have had jobs in their places (attempts refer to targets by position). For LSF its queues
/// are checked like at launch. Jobs already submitted keep what they were submitted with.
async fn swap_spec(
    home: &Home,
    store: &mut Store,
    file: &Path,
    quiet: bool,
) -> Result<(), CliError> {
    let new = Spec::load(file)?;
    let meta = store.meta().clone();
    let old = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let refuse = |field: &str, message: String| -> CliError {
        SpecError {
            path: file.to_path_buf(),
            line: None,
            col: None,
            field: Some(field.to_string()),
            message: format!("{message}; that needs a new sweep (`bsweep launch`)"),
        }
        .into()
    };
    if new.name != old.name {
        return Err(refuse(
            "name",
            format!("is `{}`, but this is sweep `{}`", new.name, old.name),
        ));
    }
    if new.backend != old.backend {
        return Err(refuse(
            "backend",
            format!("differs from the sweep's ({:?})", old.backend).to_lowercase(),
        ));
    }
    let where_ = |s: &Spec| {
        s.cluster
            .as_ref()
            .map(|c| (c.host.clone(), c.remote_dir.clone()))
    };
    if where_(&new) != where_(&old) {
        return Err(refuse(
            "cluster",
            "names another host or remote_dir than the sweep's jobs use".into(),
        ));
    }
    if new.count() != meta.count {
        return Err(refuse(
            "grid",
            format!("gives {} points, the sweep has {}", new.count(), meta.count),
        ));
    }
    if let Some((a, b)) = old
        .points()
        .zip(new.points())
        .find(|(a, b)| a.params != b.params)
    {
        let show =
            |p: &crate::spec::Point| p.params.iter().map(|(k, v)| format!("{k}={v}")).join(" ");
        return Err(refuse(
            "grid",
            format!(
                "point {} would change from `{}` to `{}`",
                a.index,
                show(&a),
                show(&b)
            ),
        ));
    }
    // Attempts refer to targets by position: a target that has had a job keeps its place. One
    // that never got one (LSF refused it) may be replaced, and new ones may follow.
    let (had, now) = (target_labels(&old), target_labels(&new));
    let mut used = vec![false; had.len()];
    for p in store.load_points()? {
        for a in &p.attempts {
            // An open intent may have a job LSF has not named yet.
            if (a.job_id.is_some() || a.state == State::Unsubmitted)
                && let Some(u) = used.get_mut(a.target)
            {
                *u = true;
            }
        }
    }
    let moved = (0..had.len()).find(|&i| used[i] && now.get(i) != Some(&had[i]));
    if let Some(i) = moved {
        return Err(refuse(
            "lsf",
            format!(
                "has the targets {}, but target {} of the sweep, `{}`, has had jobs and must stay at that place (targets that never got a job may be replaced; new ones may follow)",
                now.join(", "),
                i + 1,
                had[i]
            ),
        ));
    }
    if now.len() < had.len() {
        return Err(refuse(
            "lsf",
            format!(
                "has {} targets, the sweep {}; targets may be replaced or added, not removed",
                now.len(),
                had.len()
            ),
        ));
    }
    if new.backend == BackendKind::Lsf {
        let t = match &meta.host {
            Some(h) => connect(home, h, &new).await?,
            None => AnyTransport::Local(LocalTransport::new()),
        };
        let probe = lsf::probe(&t, &queues_of(&new)).await?;
        if let Some((queue, said)) = probe.missing_queues.first() {
            let next = "try again (the sweep is unchanged)";
            return Err(missing_queue(&new, &t.place(), queue, said, &probe, next).into());
        }
    }
    let text = fs::read_to_string(file).map_err(io(format!("cannot read {}", file.display())))?;
    let source = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    store.replace_spec(source, text, now)?;
    if !quiet {
        eprintln!(
            "sweep {} follows {} from now on (jobs already submitted keep their settings; the file it replaces is in {})",
            meta.name,
            file.display(),
            store.dir().join("spec-history").display()
        );
    }
    Ok(())
}

/// The queues a sweep file names, each once.
fn queues_of(spec: &Spec) -> Vec<String> {
    spec.lsf
        .targets
        .iter()
        .filter_map(|t| t.queue.clone())
        .unique()
        .collect()
}

/// A queue LSF says it does not have, as an error in the sweep file where it names the queue;
/// `next` ends "Fix the sweep file and ...".
fn missing_queue(
    spec: &Spec,
    place: &str,
    queue: &str,
    said: &str,
    probe: &lsf::Probe,
    next: &str,
) -> SpecError {
    let mut msg = format!("LSF on {place} has no queue `{queue}` (bqueues: \"{said}\")");
    let others: Vec<&str> = probe
        .missing_queues
        .iter()
        .skip(1)
        .map(|(q, _)| q.as_str())
        .collect();
    if !others.is_empty() {
        msg.push_str(&format!(", nor {}", others.join(", ")));
    }
    if !probe.all_queues.is_empty() {
        msg.push_str(&format!("; its queues: {}", probe.all_queues.join(", ")));
    }
    msg.push_str(&format!(". Fix the sweep file and {next}"));
    spec.queue_error(queue, msg)
}

/// Builds the engine of an opened sweep with the scheduler its backend names. For LSF, the
/// bjobs mode is probed once and remembered in the sweep's store.
async fn open_engine(store: Store, quiet: bool) -> Result<Engine<AnySched>, CliError> {
    let sched = match store.meta().backend {
        BackendKind::Local => {
            // Without its own path bsweep still runs jobs, just without their peak memory.
            let sched = match std::env::current_exe() {
                Ok(exe) => LocalScheduler::new().measured_by(exe),
                Err(_) => LocalScheduler::new(),
            };
            AnySched::Local(sched)
        }
        BackendKind::Lsf => {
            let meta = store.meta().clone();
            let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
            let transport = match &meta.host {
                Some(h) => connect(store.home(), h, &spec).await?,
                None => AnyTransport::Local(LocalTransport::new()),
            };
            let known = store
                .setting("bjobs_mode")?
                .and_then(|m| serde_json::from_str::<BjobsMode>(&m).ok());
            let mode = match known {
                Some(m) => m,
                None => {
                    let mode = lsf::probe(&transport, &[]).await?.mode;
                    store.put_setting(
                        "bjobs_mode",
                        &serde_json::to_string(&mode).unwrap_or_default(),
                    )?;
                    mode
                }
            };
            let sweep_dir = meta
                .cluster_dir
                .clone()
                .unwrap_or_else(|| store.dir().to_string_lossy().into_owned());
            let mut lsf =
                LsfScheduler::new(transport, mode, &meta.id, &sweep_dir, spec.lsf.submit_rate);
            if meta.cluster_dir.is_some() {
                lsf = lsf.uploading(&sweep_dir);
            }
            lsf.settle_seconds = spec.lsf.settle;
            lsf.lost_after_seconds = spec.lsf.lost_after;
            AnySched::Lsf(Box::new(lsf))
        }
    };
    Ok(Engine::new(store, sched, quiet)?)
}

/// Runs the engine on an opened sweep with the backend its spec names.
async fn follow(
    home: &Home,
    store: Store,
    detach: bool,
    quiet: bool,
    prepare: impl FnOnce(&mut Engine<AnySched>) -> usize,
) -> Result<(), CliError> {
    let mut engine = open_engine(store, quiet).await?;
    let queued = prepare(&mut engine);
    if queued > 0 && !quiet {
        eprintln!("retrying {queued} failed point(s)");
    }
    drive(home, engine, detach).await
}

async fn drive(home: &Home, mut engine: Engine<AnySched>, detach: bool) -> Result<(), CliError> {
    let outcome = engine.follow(detach).await?;
    let name = engine.store().meta().name.clone();
    let counts = report::counts(engine.points());
    let line = report::summary_line(&counts);
    match outcome {
        Outcome::Finished => {
            let bad = counts.get("failed").copied().unwrap_or(0)
                + counts.get("cancelled").copied().unwrap_or(0);
            eprintln!("sweep {name} finished: {line}");
            eprintln!("next: bsweep collect {name}");
            if bad > 0 {
                return Err(CliError::Unfinished(format!(
                    "{bad} point(s) did not finish successfully; see `bsweep status {name}`, then `bsweep retry {name} --failed`"
                )));
            }
            Ok(())
        }
        Outcome::Detached => {
            let waiting = engine.waiting();
            drop(engine); // releases the sweep so the background follower can take it
            if waiting > 0 {
                let pid = spawn_follower(home, &name)?;
                eprintln!(
                    "{line}; {waiting} point(s) wait for a free slot: bsweep (pid {pid}) follows them in the background"
                );
            } else {
                eprintln!("{line}; every point is submitted");
            }
            eprintln!("check with: bsweep status {name}");
            Ok(())
        }
        Outcome::Interrupted => {
            eprintln!("stopped following sweep {name} ({line}); no job was killed");
            eprintln!("pick up where it was with: bsweep resume {name}");
            Err(CliError::Interrupted)
        }
    }
}

/// Starts `bsweep resume NAME` detached from this terminal, logging to the sweep directory.
fn spawn_follower(home: &Home, name: &str) -> Result<u32, CliError> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(io("cannot find the bsweep executable"))?;
    let log_path = home.sweep_dir(name).join("follow.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(format!("cannot open {}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(io("cannot duplicate the log handle"))?;
    let mut cmd = Process::new(exe);
    if let Some(cfg) = home.ssh_config() {
        cmd.arg("--ssh-config").arg(cfg);
    }
    let child = cmd
        .arg("--home")
        .arg(home.root())
        .arg("--quiet")
        .arg("resume")
        .arg(name)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // A session of its own: closing the terminal does not stop it.
        .process_group(0)
        .spawn()
        .map_err(io("cannot start the background follower"))?;
    Ok(child.id())
}

/// Opens a sweep to look at it. When another bsweep holds it, reads that holder's snapshot.
enum Look {
    Owned(Box<Store>),
    Snapshot(report::StatusView, String),
}

fn look(home: &Home, name: &str) -> Result<Look, CliError> {
    match Store::open(home, name, "status") {
        Ok(store) => Ok(Look::Owned(Box::new(store))),
        Err(StoreError::InUse { pid, .. }) => {
            let dir = home.sweep_dir(name);
            let path = dir.join("status.json");
            let text = fs::read_to_string(&path).map_err(io(format!(
                "sweep {name} is followed by pid {pid}, and its status snapshot {} cannot be read",
                path.display()
            )))?;
            let view = serde_json::from_str(&text).map_err(|e| CliError::Io {
                what: format!("status snapshot {} is unreadable", path.display()),
                source: std::io::Error::other(e),
            })?;
            Ok(Look::Snapshot(view, pid))
        }
        Err(e) => Err(e.into()),
    }
}

async fn status_once(home: &Home, name: &str, json: bool) -> Result<bool, CliError> {
    let (view, note) = match look(home, name)? {
        Look::Owned(store) => {
            let mut engine = open_engine(*store, true).await?;
            engine.poll_once().await?;
            // One view for the snapshot and the answer (100,000 points make it costly).
            let view = report::status_view(engine.store().meta(), engine.points());
            engine.write_view(&view);
            (view, None)
        }
        Look::Snapshot(view, pid) => (
            view,
            Some(format!(
                "(as reported by bsweep pid {pid}, which follows this sweep)"
            )),
        ),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&view).unwrap_or_default()
        );
    } else {
        print!("{}", report::status_text(&view));
        if let Some(note) = note {
            println!("  {note}");
        }
    }
    let open = view.points.iter().any(|p| !p.state.is_final());
    Ok(open)
}

async fn status(
    home: &Home,
    sweep: Option<String>,
    json: bool,
    watch: bool,
) -> Result<(), CliError> {
    let Some(name) = sweep else {
        return list(home, json);
    };
    loop {
        let open = status_once(home, &name, json).await?;
        if !watch || !open {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        println!();
    }
}

fn list(home: &Home, json: bool) -> Result<(), CliError> {
    let mut rows = Vec::new();
    for name in home.sweep_names() {
        let row = match look(home, &name) {
            Ok(Look::Owned(store)) => {
                let points = match store.load_points() {
                    Ok(p) => p,
                    Err(e) => {
                        rows.push(serde_json::json!({"sweep": name, "error": e.to_string()}));
                        continue;
                    }
                };
                let v = report::status_view(store.meta(), &points);
                serde_json::json!({"sweep": v.sweep, "id": v.id, "backend": v.backend, "total": v.total, "counts": v.counts, "followed_by": null})
            }
            Ok(Look::Snapshot(v, pid)) => {
                serde_json::json!({"sweep": v.sweep, "id": v.id, "backend": v.backend, "total": v.total, "counts": v.counts, "followed_by": pid})
            }
            Err(e) => serde_json::json!({"sweep": name, "error": e.to_string()}),
        };
        rows.push(row);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no sweeps yet (bsweep launch FILE records one)");
    }
    for r in rows {
        let name = r["sweep"].as_str().unwrap_or("?");
        if let Some(err) = r.get("error").and_then(|e| e.as_str()) {
            println!("{name:<24} error: {err}");
            continue;
        }
        let counts: std::collections::BTreeMap<String, u64> =
            serde_json::from_value(r["counts"].clone()).unwrap_or_default();
        let follow = r["followed_by"]
            .as_str()
            .map(|p| format!(" (followed by pid {p})"))
            .unwrap_or_default();
        println!(
            "{name:<24} {:>7} points  {}{follow}",
            r["total"],
            report::summary_line(&counts)
        );
    }
    Ok(())
}

async fn cancel(home: &Home, name: &str) -> Result<(), CliError> {
    match Store::open(home, name, "cancel") {
        Ok(store) => {
            let mut engine = open_engine(store, true).await?;
            engine.poll_once().await?;
            let n = engine.cancel_all().await?;
            println!("cancelled {n} point(s) of sweep {name}");
            Ok(())
        }
        Err(StoreError::InUse { pid, .. }) => {
            let path = home.sweep_dir(name).join(engine::CANCEL_REQUEST);
            fs::write(&path, b"").map_err(io(format!("cannot write {}", path.display())))?;
            println!("asked bsweep pid {pid}, which follows sweep {name}, to cancel it");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Bytes from the end of an output file that `bsweep logs` reads: enough for LSF's report (with
/// the echoed job script) and a screenful of the job's own lines.
const LOG_TAIL_BYTES: u64 = 256 * 1024;

/// `bsweep logs`: the last `lines` lines of a point's stdout (or stderr), LSF's reports in it
/// (or in its array's report file) shown as one line unless `raw`. Works beside a following
/// bsweep: the job name comes from the status snapshot then.
async fn logs(
    home: &Home,
    name: &str,
    index: u64,
    stderr: bool,
    lines: usize,
    raw: bool,
) -> Result<(), CliError> {
    if !home.sweep_dir(name).join("db").is_dir() {
        return Err(StoreError::NotFound(name.to_string()).into());
    }
    let meta = Store::read_record(home, name)?;
    if index >= meta.count {
        return Err(CliError::Usage(format!(
            "sweep {name} has points 0 to {}; there is no point {index}",
            meta.count.saturating_sub(1)
        )));
    }
    let file = if stderr {
        script::STDERR_FILE
    } else {
        script::STDOUT_FILE
    };
    // An array element's LSF report is in a file of the array's, named by its job name.
    let job_name = last_job_name(home, name, index)?;
    let sweep_dir = meta
        .cluster_dir
        .clone()
        .map_or_else(|| home.sweep_dir(name), PathBuf::from);
    let out_path = engine::out_dir(&sweep_dir, index).join(file);
    let report_path = job_name
        .as_deref()
        .filter(|n| n.ends_with(']') && !stderr)
        .map(|n| engine::report_file(&sweep_dir, index, n));
    let paths: Vec<&Path> = std::iter::once(out_path.as_path())
        .chain(report_path.as_deref())
        .collect();
    let texts: Vec<Option<String>> = match &meta.host {
        Some(host) if meta.cluster_dir.is_some() => {
            let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
            let t = connect(home, host, &spec).await?;
            let cmds: Vec<String> = paths
                .iter()
                .map(|p| {
                    format!(
                        "tail -c {LOG_TAIL_BYTES} -- {}",
                        crate::shell::quote(&p.to_string_lossy())
                    )
                })
                .collect();
            let out = t
                .run(&crate::transport::batch_script(&cmds, None), b"")
                .await?;
            crate::transport::parse_batch(&out.stdout, cmds.len())
                .into_iter()
                .map(|f| (f.code == Some(0)).then_some(f.stdout))
                .collect()
        }
        _ => paths
            .iter()
            .map(|p| match tail_bytes(p, LOG_TAIL_BYTES) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io(format!("cannot read {}", p.display()))(e)),
            })
            .collect::<Result<_, _>>()?,
    };
    let Some(text) = texts[0].clone() else {
        eprintln!("bsweep: no {file} yet ({})", out_path.display());
        return Ok(());
    };
    let (output, mut reports) = if raw {
        (text, Vec::new())
    } else {
        lsf::parse::split_reports(&text)
    };
    if let (Some(Some(report)), Some(name), false) = (texts.get(1), &job_name, raw) {
        reports.push(lsf::parse::parse_trailer_of(report, name));
    }
    let all: Vec<&str> = output.lines().collect();
    for l in &all[all.len().saturating_sub(lines)..] {
        println!("{l}");
    }
    if let Some(last) = reports.last() {
        println!("{}", report_line(last.as_ref()));
    }
    if let (Some(p), true) = (&report_path, raw) {
        eprintln!(
            "bsweep: LSF's report of this array element is in {}",
            p.display()
        );
    }
    Ok(())
}

/// The job name of a point's last submitted attempt: from the store, or from the status
/// snapshot while another bsweep follows the sweep.
fn last_job_name(home: &Home, name: &str, index: u64) -> Result<Option<String>, CliError> {
    Ok(match look(home, name)? {
        Look::Owned(store) => store
            .load_points()?
            .into_iter()
            .find(|p| p.index == index)
            .and_then(|p| {
                p.attempts
                    .into_iter()
                    .rev()
                    .find(|a| a.job_id.is_some())
                    .map(|a| a.job_name)
            }),
        Look::Snapshot(view, _) => view
            .points
            .into_iter()
            .find(|p| p.index == index)
            .and_then(|p| p.job_name),
    })
}

/// LSF's report on one line: how the job ended and what it used.
fn report_line(t: Option<&lsf::parse::Trailer>) -> String {
    let Some(t) = t else {
        return "[LSF report: unreadable; --raw shows it]".into();
    };
    let outcome = match &t.outcome {
        lsf::parse::Outcome::Done => "successfully completed".to_string(),
        lsf::parse::Outcome::Exited { code } => format!("exited with code {code}"),
        lsf::parse::Outcome::Term { reason, code } => match code {
            Some(c) => format!("{reason} (exit code {c})"),
            None => reason.clone(),
        },
    };
    let mut s = format!("[LSF report: {outcome}");
    if let Some(r) = t.run_seconds {
        s.push_str(&format!("; run time {r} s"));
    }
    if let Some(m) = t.max_mem_mb {
        s.push_str(&format!("; max memory {m} MB"));
    }
    if let Some(id) = &t.job_id {
        s.push_str(&format!("; job {id}"));
    }
    s.push_str("; --raw shows it whole]");
    s
}

/// The last `n` bytes of a file (a job's output can be gigabytes), without a partial first line.
fn tail_bytes(path: &Path, n: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(n)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(match (len > n, text.find('\n')) {
        (true, Some(i)) => text[i + 1..].to_string(),
        _ => text,
    })
}

async fn collect_cmd(home: &Home, name: &str, output: Option<PathBuf>) -> Result<(), CliError> {
    let store = Store::open(home, name, "collect")?;
    let meta = store.meta().clone();
    let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let points = store.load_points()?;
    if let (Some(host), Some(dir)) = (&meta.host, &meta.cluster_dir) {
        fetch_outputs(home, host, dir, &spec, &store, &points).await?;
    }
    let output = output.unwrap_or_else(|| PathBuf::from(format!("{name}.csv")));
    let reports = collect::read_reports(&meta, store.dir(), &points);
    let times = report_epochs(home, &meta, &spec, &collect::report_times(&reports)).await;
    let r = collect::write_csv(
        &meta,
        &spec.collect,
        store.dir(),
        &points,
        &reports,
        &times,
        &output,
    )?;
    for (index, why) in r.problems.iter().take(10) {
        eprintln!("point {index}: no metrics: {why}");
    }
    if r.problems.len() > 10 {
        eprintln!(
            "... and {} more points without metrics",
            r.problems.len() - 10
        );
    }
    eprintln!(
        "wrote {} ({} rows, {} metric columns)",
        output.display(),
        r.rows,
        r.metric_columns
    );
    let not_done = points.iter().filter(|p| p.state() != State::Done).count();
    if not_done > 0 {
        eprintln!("note: {not_done} point(s) are not done; their rows have no or partial metrics");
    }
    Ok(())
}

fn delete(home: &Home, name: &str, force: bool) -> Result<(), CliError> {
    let store = match Store::open(home, name, "delete") {
        Ok(store) => store,
        // A damaged store can still be forgotten on purpose.
        Err(StoreError::Damaged { .. }) if force => {
            let dir = home.sweep_dir(name);
            fs::remove_dir_all(&dir).map_err(io(format!("cannot remove {}", dir.display())))?;
            println!("deleted sweep {name} (its store was damaged)");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let points = store.load_points()?;
    let live = points.iter().filter(|p| p.state().in_flight()).count();
    if live > 0 && !force {
        return Err(CliError::Usage(format!(
            "sweep {name} has {live} point(s) in flight; `bsweep cancel {name}` first, or pass --force"
        )));
    }
    let dir = store.dir().to_path_buf();
    drop(store);
    fs::remove_dir_all(&dir).map_err(io(format!("cannot remove {}", dir.display())))?;
    println!("deleted sweep {name}");
    Ok(())
}

/// Reads a capture; a file from bsweep's test corpus (`# source:` header, `# ---`) is read
/// from its body.
fn read_capture(file: Option<&Path>) -> Result<String, CliError> {
    let text = match file {
        Some(f) => fs::read_to_string(f).map_err(io(format!("cannot read {}", f.display())))?,
        None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(io("cannot read standard input"))?;
            s
        }
    };
    if text.starts_with("# source:")
        && let Some(at) = text.find("\n# ---\n")
    {
        return Ok(text[at + "\n# ---\n".len()..].to_string());
    }
    Ok(text)
}

fn debug_parse(
    kind: ParseKind,
    file: Option<PathBuf>,
    stderr: Option<PathBuf>,
    exit: Option<i32>,
) -> Result<(), CliError> {
    use crate::sched::lsf::parse as p;
    let out = read_capture(file.as_deref())?;
    let err = match &stderr {
        Some(f) => read_capture(Some(f))?,
        None => String::new(),
    };
    let v = match kind {
        ParseKind::Bsub => serde_json::to_value(p::parse_bsub(&out, &err, exit)),
        ParseKind::BjobsJson => serde_json::to_value(p::parse_bjobs_json(&out, &err)),
        ParseKind::BjobsDelim => serde_json::to_value(p::parse_bjobs_delimited(
            &out,
            &err,
            p::BJOBS_FIELDS,
            p::BJOBS_DELIMITER,
        )),
        ParseKind::BjobsTable => serde_json::to_value(p::parse_bjobs_table(&out, &err)),
        ParseKind::Bkill => serde_json::to_value(p::parse_bkill(&out, &err)),
        ParseKind::Bqueues => serde_json::to_value(p::parse_bqueues(&out)),
        ParseKind::Bhist => serde_json::to_value(p::parse_bhist_long(&out)),
        ParseKind::Lsid => serde_json::to_value(p::parse_lsid(&out)),
        ParseKind::Trailer => serde_json::to_value(p::parse_trailer(&out)),
    }
    .map_err(|e| CliError::Io {
        what: "cannot print the reading".into(),
        source: std::io::Error::other(e),
    })?;
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

/// Connects to a cluster's login host: attaches to the connection `bsweep login` opened, or
/// (key-based hosts) opens one without ever prompting.
async fn connect(home: &Home, host: &str, spec: &Spec) -> Result<AnyTransport, CliError> {
    let opts = SshOpts {
        init: spec.cluster.as_ref().and_then(|c| c.init.clone()),
        config_file: home.ssh_config().map(Path::to_path_buf),
        ..SshOpts::default()
    };
    let t = SshTransport::connect(host, &home.root().join("ssh"), opts).await?;
    Ok(AnyTransport::Ssh(Box::new(t)))
}

/// The remote home and the sweep's directory on the cluster (`[cluster] remote_dir`, default
/// `~/.bsweep`, then the sweep's name), both absolute.
async fn remote_dirs(t: &AnyTransport, spec: &Spec) -> Result<(String, String), CliError> {
    let out = t.run("printf '%s' \"$HOME\"", b"").await?;
    let home_dir = out.stdout.trim().to_string();
    if out.code != Some(0) || !home_dir.starts_with('/') {
        return Err(CliError::Cluster(format!(
            "cannot read the home directory on {}: {}",
            t.place(),
            out.stderr.trim()
        )));
    }
    let base = spec
        .cluster
        .as_ref()
        .and_then(|c| c.remote_dir.clone())
        .unwrap_or_else(|| "~/.bsweep".into());
    let base = if base == "~" {
        home_dir.clone()
    } else if let Some(rest) = base.strip_prefix("~/") {
        format!("{home_dir}/{rest}")
    } else if base.starts_with('/') {
        base
    } else {
        format!("{home_dir}/{base}")
    };
    let dir = format!("{}/{}", base.trim_end_matches('/'), spec.name);
    Ok((home_dir, dir))
}

fn login(home: &Home, host: &str, check: bool, close: bool) -> Result<(), CliError> {
    let dir = home.root().join("ssh");
    if close {
        let closed = ssh::close_master(host, &dir)?;
        if closed {
            println!("closed the connection to {host}");
        } else {
            println!("no open connection to {host}");
        }
        return Ok(());
    }
    let live = ssh::check_master(host, &dir);
    if check {
        if live {
            println!("a live connection to {host} is open; bsweep commands reuse it");
            return Ok(());
        }
        return Err(CliError::Transport(
            crate::transport::TransportError::NeedsLogin {
                host: host.to_string(),
            },
        ));
    }
    if live {
        println!("a live connection to {host} is already open; bsweep commands reuse it");
        return Ok(());
    }
    let mut cmd = ssh::login_command_with(host, &dir, home.ssh_config())?;
    eprintln!("opening a connection to {host} (type your password and one-time code if asked)");
    let status = cmd.status().map_err(io("cannot run ssh"))?;
    if !status.success() || !ssh::check_master(host, &dir) {
        return Err(CliError::Cluster(format!(
            "ssh to {host} failed (exit {:?}); check the host name, your password and code, then try again",
            status.code()
        )));
    }
    println!(
        "connected to {host}; bsweep commands reuse this connection while it lasts (`bsweep login {host} --close` ends it)"
    );
    Ok(())
}

/// Checks what a sweep needs from its cluster and prints what to fix.
async fn doctor(home: &Home, file: &Path, place: &Place) -> Result<(), CliError> {
    let spec = Spec::load(file)?;
    println!(
        "sweep file {}: ok ({} points)",
        file.display(),
        spec.count()
    );
    if spec.backend == BackendKind::Local {
        println!("backend local: points run on this machine; nothing else to check");
        return Ok(());
    }
    let mut problems = 0;
    let host = place.host(&spec);
    let t = match &host {
        Some(h) => match connect(home, h, &spec).await {
            Ok(t) => {
                println!("connection to {h}: ok");
                t
            }
            Err(e) => {
                println!("connection to {h}: FAILED: {e}");
                return Err(e);
            }
        },
        None => AnyTransport::Local(LocalTransport::new()),
    };
    let queues = queues_of(&spec);
    match lsf::probe(&t, &queues).await {
        Ok(probe) => {
            let version = probe
                .lsid
                .as_ref()
                .map(|l| format!("{} {}", l.product, l.version.clone().unwrap_or_default()))
                .unwrap_or_else(|| "unknown version".into());
            let how = match probe.mode {
                BjobsMode::Json => "-o ... -json",
                BjobsMode::Delimited => "-o ... delimiter (no -json)",
                BjobsMode::Table => "the plain -w table (no -o)",
            };
            println!("LSF: {version}; bjobs is read with {how}");
            for q in &queues {
                if let Some((_, said)) = probe.missing_queues.iter().find(|(m, _)| m == q) {
                    problems += 1;
                    println!("queue {q}: NOT FOUND ({said})");
                    println!(
                        "  fix: {}",
                        match probe.all_queues.is_empty() {
                            true => "`bqueues` on the cluster lists the queues you may use".into(),
                            false => format!("use one of: {}", probe.all_queues.join(", ")),
                        }
                    );
                } else if probe.all_queues.contains(q) {
                    println!("queue {q}: ok");
                } else {
                    println!("queue {q}: not checked (bqueues gave no answer bsweep can read)");
                }
            }
        }
        Err(e) => {
            problems += 1;
            println!("LSF: FAILED: {}", crate::error_chain(&e));
            println!(
                "  fix: make bsub/bjobs reachable in a login shell there, or set [cluster] init (e.g. \"source /etc/profile.d/lsf.sh\")"
            );
        }
    }
    for h in spec.lsf.targets.iter().filter_map(|t| t.hosts.clone()) {
        let out = t
            .run(&crate::transport::command_line(&["bmgroup", "-w", &h]), b"")
            .await?;
        match out.code {
            Some(0) if out.stdout.contains(&h) => println!("host group {h}: ok"),
            Some(127) => println!("host group {h}: not checked (no bmgroup on the cluster)"),
            _ => {
                problems += 1;
                println!("host group {h}: NOT FOUND ({})", out.stderr.trim());
                println!("  fix: `bmgroup` on the cluster lists the host groups");
            }
        }
    }
    let dir = match &host {
        Some(_) => remote_dirs(&t, &spec).await?.1,
        None => home.sweep_dir(&spec.name).to_string_lossy().into_owned(),
    };
    let probe_file = format!("{dir}/.bsweep-doctor");
    let script = format!(
        "mkdir -p -- {d} && touch -- {f} && rm -f -- {f}",
        d = crate::shell::quote(&dir),
        f = crate::shell::quote(&probe_file)
    );
    let out = t.run(&script, b"").await?;
    if out.code == Some(0) {
        println!("sweep directory {dir}: writable");
    } else {
        problems += 1;
        println!("sweep directory {dir}: NOT WRITABLE: {}", out.stderr.trim());
        println!("  fix: set [cluster] remote_dir to a directory you can write");
    }
    if problems > 0 {
        return Err(CliError::Unfinished(format!("{problems} problem(s) found")));
    }
    println!("all checks passed");
    Ok(())
}

/// LSF's report times (the cluster's local time, no zone) as seconds since the epoch, read by
/// the cluster's own `date` in one round trip: it knows its time zone and summer time. Empty,
/// with a note, when that fails; the CSV then has the times bsweep observed.
async fn report_epochs(
    home: &Home,
    meta: &SweepMeta,
    spec: &Spec,
    texts: &[String],
) -> std::collections::HashMap<String, f64> {
    if texts.is_empty() {
        return Default::default();
    }
    let transport = match &meta.host {
        Some(h) => match connect(home, h, spec).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("note: start and end times are as bsweep saw them ({e})");
                return Default::default();
            }
        },
        None => AnyTransport::Local(LocalTransport::new()),
    };
    let stdin = texts.iter().map(|t| format!("{t}\n")).collect::<String>();
    let read = match transport.run("date -f - +%s", stdin.as_bytes()).await {
        Ok(out) if out.code == Some(0) => {
            let secs: Vec<f64> = out
                .stdout
                .lines()
                .filter_map(|l| l.trim().parse::<i64>().ok())
                .map(|s| s as f64)
                .collect();
            // One answer per line, or none can be matched to its question.
            if secs.len() == texts.len() {
                Ok(secs)
            } else {
                Err(format!(
                    "`date` answered {} of {} times",
                    secs.len(),
                    texts.len()
                ))
            }
        }
        Ok(out) => Err(format!("`date -f -` failed: {}", out.stderr.trim())),
        Err(e) => Err(e.to_string()),
    };
    match read {
        Ok(secs) => texts.iter().cloned().zip(secs).collect(),
        Err(why) => {
            eprintln!("note: start and end times are as bsweep saw them ({why})");
            Default::default()
        }
    }
}

/// Brings each point's requested files (and what the CSV reads: metrics file, stdout, LSF
/// report) from the cluster into the local sweep directory, one round trip per 2,000 points.
/// A missing file is reported, not fatal: a failed point may have written nothing.
async fn fetch_outputs(
    home: &Home,
    host: &str,
    cluster_dir: &str,
    spec: &Spec,
    store: &Store,
    points: &[PointRec],
) -> Result<(), CliError> {
    let AnyTransport::Ssh(t) = connect(home, host, spec).await? else {
        return Ok(());
    };
    let c = &spec.collect;
    let mut per_point: Vec<String> = c.files.clone();
    per_point.extend(c.metrics_json.clone());
    if c.stdout_kv || c.stdout_regex.is_some() {
        per_point.push(script::STDOUT_FILE.to_string());
    }
    per_point.push(script::STDOUT_FILE.to_string());
    per_point.sort();
    per_point.dedup();
    let (mut fetched, mut missing) = (0usize, Vec::new());
    for chunk in points.chunks(2000) {
        let mut paths = Vec::new();
        for p in chunk
            .iter()
            .filter(|p| p.last().is_some_and(|a| a.job_id.is_some()))
        {
            paths.extend(per_point.iter().map(|f| format!("out/{:05}/{f}", p.index)));
            if let Some(a) = p.last()
                && let Some((array, k)) = a
                    .job_name
                    .strip_suffix(']')
                    .and_then(|n| n.rsplit_once('['))
            {
                paths.push(format!("arrays/{array}/{k}.out"));
            }
        }
        let r = t.download(cluster_dir, &paths, store.dir()).await?;
        fetched += r.fetched.len();
        missing.extend(r.missing);
        for bad in r.rejected {
            eprintln!(
                "refused to write {bad}: it would land outside {}",
                store.dir().display()
            );
        }
    }
    eprintln!("fetched {fetched} file(s) from {host}:{cluster_dir}");
    for m in missing.iter().take(10) {
        eprintln!("missing on the cluster: {m}");
    }
    if missing.len() > 10 {
        eprintln!("... and {} more missing files", missing.len() - 10);
    }
    Ok(())
}

async fn recover(home: &Home, name: &str, quiet: bool) -> Result<(), CliError> {
    let meta = Store::read_record(home, name)?;
    let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let points = spec.points().map(|p| PointRec {
        index: p.index,
        params: p.params,
        attempts: Vec::new(),
    });
    let store = Store::rebuild(home, meta, points, "recover")?;
    let mut engine = open_engine(store, quiet).await?;
    let (found, waiting) = engine.recover_attempts().await?;
    let counts = report::counts(engine.points());
    println!(
        "recovered sweep {name}: {found} point(s) have a job on the scheduler, {waiting} will be submitted by `bsweep resume {name}` ({})",
        report::summary_line(&counts)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measuring_step_parses_but_no_shell_completion_offers_it() {
        let cli = Cli::try_parse_from(["bsweep", "internal-measure", "m", "--", "bash", "-c", "x"])
            .unwrap();
        let Command::InternalMeasure { file, command } = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(file, PathBuf::from("m"));
        assert_eq!(command, ["bash", "-c", "x"]);
        use clap_complete::Shell;
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut completion_command(), "bsweep", &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("internal-measure"), "{shell}");
            assert!(
                text.contains("collect") && text.contains("ssh-config"),
                "{shell}"
            );
        }
    }
}
