//! lsfsim: an LSF simulator for bsweep's tests, called as bsub/bjobs/bkill/bqueues/bhist/lsid/
//! bmgroup.
//!
//! One multi-call binary: it dispatches on the name it was called by, or on its first argument
//! (`lsfsim bjobs -a`). There is no daemon: every call locks `LSFSIM_DIR`, runs a scheduling pass,
//! does its work, runs another pass, saves, appends to the call log, and prints.

mod args;
mod calllog;
mod cmd;
mod config;
mod faults;
mod jsonout;
mod report;
mod runner;
mod sched;
mod state;
mod sys;
mod timefmt;

use config::Config;
use faults::Rng;
use std::path::PathBuf;

pub const COMMANDS: [&str; 7] = [
    "bsub", "bjobs", "bkill", "bqueues", "bhist", "lsid", "bmgroup",
];

/// Everything a command needs besides the state.
pub struct Ctx {
    pub dir: PathBuf,
    pub cfg: Config,
    pub now: u64,
    pub rng: Rng,
    pub user: String,
    pub host: String,
    /// argv[0] as called, for usage messages.
    pub argv0: String,
}

/// What a command produced; printed after the lock is released.
#[derive(Default)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub exit: i32,
    pub jobs: Vec<u64>,
    pub names: Vec<String>,
    pub faults: Vec<&'static str>,
}

impl Out {
    pub fn line(&mut self, s: impl AsRef<str>) {
        self.stdout.push_str(s.as_ref());
        self.stdout.push('\n');
    }

    pub fn err(&mut self, s: impl AsRef<str>) {
        self.stderr.push_str(s.as_ref());
        self.stderr.push('\n');
    }

    /// An error that ends the command with LSF's usual 255.
    pub fn fail(msg: impl AsRef<str>) -> Out {
        let mut o = Out {
            exit: 255,
            ..Out::default()
        };
        o.err(msg);
        o
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let (cmd, rest, argv0) = if COMMANDS.contains(&prog.as_str()) {
        (prog.clone(), argv[1..].to_vec(), argv[0].clone())
    } else if argv.len() > 1 {
        (argv[1].clone(), argv[2..].to_vec(), argv[1].clone())
    } else {
        usage();
    };
    let code = match cmd.as_str() {
        "install" => install(&rest),
        "__run" => runner::main(&rest),
        "__peak_rss" => peak_rss(&rest),
        c if COMMANDS.contains(&c) => run_command(c, &rest, argv0),
        _ => usage(),
    };
    std::process::exit(code);
}

fn usage() -> ! {
    eprintln!(
        "usage: lsfsim install DIR            symlink bsub, bjobs, bkill, bqueues, bhist, lsid, bmgroup in DIR\n       \
         lsfsim <command> [args...]     run one command (also: call the symlinks)\n\
         State lives in $LSFSIM_DIR (required); see LSFSIM_DIR/config.toml."
    );
    std::process::exit(2);
}

fn install(args: &[String]) -> i32 {
    let [dir] = args else {
        usage();
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("lsfsim: cannot find my own executable: {e}");
            return 1;
        }
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("lsfsim: {}: {e}", dir.display());
        return 1;
    }
    for name in COMMANDS {
        let link = dir.join(name);
        // Replace stale links from an older build.
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
            eprintln!("lsfsim: {}: {e}", link.display());
            return 1;
        }
    }
    0
}

/// `lsfsim __peak_rss OUT CMD ARGS...`, for bsweep's memory tests: runs CMD (same stdio) and
/// writes its peak resident memory in KiB (`ru_maxrss`) to OUT. A child's `ru_maxrss` includes
/// the RSS of the process that spawned it (Linux keeps the old image's high-water mark across
/// exec), so a big test process cannot measure its child directly; this small one can.
fn peak_rss(args: &[String]) -> i32 {
    let [out, cmd, rest @ ..] = args else {
        usage();
    };
    let child = match std::process::Command::new(cmd).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lsfsim: {cmd}: {e}");
            return 127;
        }
    };
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, which nothing else waits for.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        eprintln!("lsfsim: wait4: {}", std::io::Error::last_os_error());
        return 1;
    }
    // Reaped: std must not wait for it again.
    std::mem::forget(child);
    if let Err(e) = std::fs::write(out, format!("{}\n", usage.ru_maxrss)) {
        eprintln!("lsfsim: {out}: {e}");
        return 1;
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// `LSFSIM_DIR`, created if missing.
pub fn state_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("LSFSIM_DIR")
        .filter(|d| !d.is_empty())
        .ok_or(
            "LSFSIM_DIR is not set: point it at a directory for the simulated cluster's state",
        )?;
    let dir = PathBuf::from(dir);
    for sub in ["", "jobs", "mail"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(dir)
}

fn run_command(cmd: &str, args: &[String], argv0: String) -> i32 {
    let t = sys::now_ms();
    let dir = match state_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lsfsim: {e}");
            return 2;
        }
    };
    let cfg = match Config::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lsfsim: {e}");
            return 2;
        }
    };
    // bsub reads its script (or job pack) before taking the lock: a slow writer must not stall
    // the cluster.
    let pack = (cmd == "bsub" && cmd::pack::is_pack(args))
        .then(|| cmd::pack::prepare(args, cfg.openlava()));
    let pre = (cmd == "bsub" && pack.is_none()).then(|| cmd::bsub::prepare(args));
    if cfg.faults.latency_ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(cfg.faults.latency_ms));
    }
    let mut locked = match state::Locked::open(&dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lsfsim: {e}");
            return 2;
        }
    };
    let st = &mut locked.state;
    st.calls += 1;
    let mut ctx = Ctx {
        rng: Rng::new(cfg.faults.seed, st.calls),
        user: cfg.user.clone().unwrap_or_else(sys::username),
        host: cfg.submit_host.clone().unwrap_or_else(sys::hostname),
        dir: dir.clone(),
        cfg,
        now: t,
        argv0,
    };
    sched::pass(&ctx, st);
    let mut stdin_bytes = 0;
    let out = match cmd {
        "bsub" => match (pack, pre) {
            (Some(pack), _) => cmd::pack::run(&mut ctx, st, pack),
            (None, Some(pre)) => {
                stdin_bytes = pre.stdin_bytes;
                cmd::bsub::run(&mut ctx, st, pre)
            }
            (None, None) => Out::fail("lsfsim: bsub was not prepared"),
        },
        "bjobs" => cmd::bjobs::run(&mut ctx, st, args),
        "bkill" => cmd::bkill::run(&mut ctx, st, args),
        "bqueues" => cmd::bqueues::run(&mut ctx, st, args),
        "bhist" => cmd::bhist::run(&mut ctx, st, args),
        "bmgroup" => cmd::bmgroup::run(&mut ctx, st, args),
        _ => cmd::lsid::run(&mut ctx, st, args),
    };
    ctx.now = sys::now_ms();
    sched::pass(&ctx, st);
    if let Err(e) = locked.save() {
        eprintln!("lsfsim: cannot save state: {e}");
        return 2;
    }
    let call = calllog::Call {
        t,
        cmd,
        args,
        exit: out.exit,
        jobs: &out.jobs,
        names: &out.names,
        stdin_bytes,
        faults: &out.faults,
    };
    if let Err(e) = calllog::append(&dir, &call) {
        eprintln!("lsfsim: cannot append to calls.jsonl: {e}");
    }
    drop(locked);
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    out.exit
}
