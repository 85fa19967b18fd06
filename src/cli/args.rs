//! The command line's grammar: every command, argument and flag, with its help text.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "bsweep",
    version,
    about = "Parameter sweeps on LSF clusters and the local machine, that survive disconnects and crashes"
)]
pub struct Cli {
    /// Where bsweep keeps its state (or $BSWEEP_HOME; default: the XDG data dir,
    /// ~/.local/share/bsweep).
    #[arg(long, global = true, value_name = "DIR")]
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
        /// Report progress as JSON lines on stdout (one event per line).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: PlaceArgs,
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
        place: PlaceArgs,
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
        /// Return once everything that fits is submitted; a background bsweep follows the rest.
        #[arg(long)]
        detach: bool,
        /// Report progress as JSON lines on stdout (one event per line).
        #[arg(long)]
        json: bool,
        /// Follow an edited sweep file from now on (see `retry --spec`).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
    },
    /// Cancel every point not yet ended (running jobs are killed).
    Cancel { sweep: String },
    /// Run failed (or cancelled) points again as new attempts, then follow.
    #[command(group = clap::ArgGroup::new("which").required(true).multiple(true))]
    Retry {
        sweep: String,
        /// Retry the points whose last attempt failed (lost or killed jobs included).
        #[arg(long, group = "which")]
        failed: bool,
        /// Retry the points that were cancelled.
        #[arg(long, group = "which")]
        cancelled: bool,
        /// Return once everything that fits is submitted; a background bsweep follows the rest.
        #[arg(long)]
        detach: bool,
        /// Report progress as JSON lines on stdout (one event per line).
        #[arg(long)]
        json: bool,
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
        /// Output file (default: <sweep>.csv in the current directory; `-` for stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// What won: the points grouped by their parameters (all but those averaged over), each
    /// group's mean, std, min, max and 95 % interval of every metric, best first; then each
    /// parameter's effect. Collects the results first when they are missing or out of date.
    Summary {
        sweep: String,
        #[command(flatten)]
        rank: RankArgs,
        /// Groups the table shows (0: all; default: `[summary] top`, else 10).
        #[arg(long, value_name = "K")]
        top: Option<usize>,
        /// Every group and effect as JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// One CSV row per group.
        #[arg(long)]
        csv: bool,
    },
    /// Write one self-contained HTML page of the sweep: the summary, the parameters' effects,
    /// plots, a timeline of the jobs, run time and memory per target, the failed points.
    Report {
        sweep: String,
        /// Output file (default: <sweep>-report.html in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        rank: RankArgs,
    },
    /// Rebuild a sweep whose store is damaged, from its record, its job scripts, the scheduler
    /// (jobs found by name) and the jobs' outputs; then `resume` goes on from there.
    Recover { sweep: String },
    /// Forget a sweep: its record, scripts and local outputs, and its directory on the cluster
    /// when it is the sweep's own (else it says which it kept). Refuses while points are in
    /// flight.
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
pub struct PlaceArgs {
    /// Reach the scheduler on this login host over SSH (overrides `[cluster] host`).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Run scheduler commands on this machine even if the sweep file names a `[cluster] host`
    /// (when bsweep runs on the login node itself).
    #[arg(long, conflicts_with = "host")]
    pub here: bool,
}

/// How `summary` and `report` rank and group the points; each flag overrides the sweep file's
/// `[summary]` key.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RankArgs {
    /// The metric that ranks the groups (default: `[summary] metric`; without one, none).
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,
    /// Higher is better (the default, unless `[summary] goal` says "min" for its metric).
    #[arg(long, conflicts_with = "min")]
    pub max: bool,
    /// Lower is better.
    #[arg(long)]
    pub min: bool,
    /// Parameters averaged over instead of grouped by, comma-separated (default: `[summary]
    /// over`, else `repeat` when the sweep repeats its points); `--over ''` groups by every
    /// parameter.
    #[arg(long, value_name = "P,...", value_delimiter = ',')]
    pub over: Option<Vec<String>>,
}
