//! `lsfsim __run DIR JOBID INDEX`: the detached process that plays sbatchd for one job element.
//! It runs the script with bash, escalates bkill's signals, appends the LSF report to the -o
//! file, records the end state and runs a scheduling pass so pending jobs start.

use crate::config::Config;
use crate::faults::Rng;
use crate::report::{self, Report};
use crate::sched;
use crate::state::{Elem, Job, Locked, Stat, Term};
use crate::{Ctx, sys};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn main(args: &[String]) -> i32 {
    let [dir, id, index] = args else {
        eprintln!("lsfsim __run: expected DIR JOBID INDEX");
        return 2;
    };
    let (Ok(id), Ok(index)) = (id.parse::<u64>(), index.parse::<u32>()) else {
        eprintln!("lsfsim __run: bad job id");
        return 2;
    };
    match run(Path::new(dir), id, index) {
        Ok(()) => 0,
        Err(e) => {
            // Our stderr is /dev/null; leave the reason where a debugging human will look.
            let line = format!("lsfsim __run {id} {index}: {e}\n");
            let _ = OpenOptions::new()
                .create(true)
                .append(true)
                .open(Path::new(dir).join("runner.log"))
                .and_then(|mut f| f.write_all(line.as_bytes()));
            1
        }
    }
}

/// Substitutes %J and %I and anchors relative paths at the job's cwd.
pub fn resolve_path(spec: &str, job: &Job, index: u32, default_name: &str) -> PathBuf {
    let s = spec
        .replace("%J", &job.id.to_string())
        .replace("%I", &index.to_string());
    let mut p = PathBuf::from(&s);
    if p.is_relative() {
        p = Path::new(&job.cwd).join(p);
    }
    // LSF writes into a directory given as -o/-e, named after the job.
    if s.ends_with('/') || p.is_dir() {
        p = p.join(
            default_name
                .replace("%J", &job.id.to_string())
                .replace("%I", &index.to_string()),
        );
    }
    p
}

fn open_out(path: &Path, overwrite: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true);
    if overwrite {
        o.write(true).truncate(true);
    } else {
        o.append(true);
    }
    o.open(path)
}

fn mail_path(dir: &Path, job: &Job, index: u32) -> PathBuf {
    dir.join("mail").join(format!("{}.{}.txt", job.id, index))
}

struct Started {
    child: Option<Child>,
    out_path: PathBuf,
    err_note: Option<String>,
    job: Job,
    script: String,
    /// Exit code when the job could not even start (bash missing, killed while dispatching).
    early_exit: Option<(i32, bool)>,
    /// OpenLava: where the job's stdout (and stderr, without -e) and its -e stderr are spooled
    /// until the job ends; the report goes first, then they are copied.
    spool: Option<Spool>,
}

struct Spool {
    out: PathBuf,
    err: Option<(PathBuf, PathBuf)>,
}

fn spool_path(dir: &Path, job: &Job, index: u32, what: &str) -> PathBuf {
    dir.join("jobs")
        .join(format!("{}.{}.spool.{what}", job.id, index))
}

/// OpenLava's job file: the shell traps TERM, USR1, USR2, INT and HUP (`$LSB_TRAPSIGS` is
/// `trap # 15 10 12 2 1`), so those signals kill only what it runs. A one-line command runs in
/// that shell itself (it outlives a signal to its commands and goes on); a script of several
/// lines runs as a child shell, which such a signal ends; the job file then prints the signal's
/// name and exits 128 + its number (140 for the run limit's SIGUSR2).
fn openlava_job_file(script_path: &Path, script: &str) -> String {
    let mut s = String::from("trap '#' 15 10 12 2 1\n");
    if script.trim_end_matches('\n').contains('\n') {
        let quoted = format!(
            "'{}'",
            script_path.display().to_string().replace('\'', r"'\''")
        );
        s.push_str(&format!("bash {quoted}\nsaveExit=$?\n(exit $saveExit)\n"));
    } else {
        s.push_str(script);
        s.push('\n');
    }
    s
}

fn run(dir: &Path, id: u64, index: u32) -> Result<(), String> {
    let cfg = Config::load(dir).unwrap_or_default();
    let me = std::process::id() as i32;
    let started = {
        let mut locked = Locked::open(dir)?;
        let Some(job) = locked.state.jobs.get(&id).cloned() else {
            return Ok(());
        };
        let Some(pos) = job.elems.iter().position(|e| e.index == index) else {
            return Ok(());
        };
        let e = &job.elems[pos];
        if e.stat != Stat::Run || e.runner_pid != Some(me) {
            return Ok(());
        }
        let started = start(dir, &cfg, &job, pos)?;
        if let Some(child) = &started.child {
            let e = &mut locked
                .state
                .jobs
                .get_mut(&id)
                .expect("job read above")
                .elems[pos];
            e.job_pid = Some(child.id() as i32);
            locked.save()?;
        }
        started
    };
    finish(dir, &cfg, id, index, started)
}

/// Opens the output files and starts bash in its own process group (so bkill can signal the
/// whole job without hitting this runner). Called with the state lock held, so a bkill either
/// sees the job's pid or leaves a kill request this function honours.
fn start(dir: &Path, cfg: &Config, job: &Job, pos: usize) -> Result<Started, String> {
    let e = &job.elems[pos];
    let index = e.index;
    let script = std::fs::read_to_string(sched::script_path(dir, job.id)).unwrap_or_default();
    let mail = mail_path(dir, job, index);
    let out_path = match &job.opts.out {
        Some(o) => resolve_path(o, job, index, "%J.out"),
        None => mail.clone(),
    };
    // LSF falls back to mail when it cannot write the -o file; so do we.
    let (out, out_path) = match open_out(&out_path, job.opts.out_overwrite) {
        Ok(f) => (f, out_path),
        Err(_) => (open_out(&mail, false).map_err(|e| e.to_string())?, mail),
    };
    let (err, err_note) = match &job.opts.err {
        Some(spec) => {
            let p = resolve_path(spec, job, index, "%J.err");
            match open_out(&p, job.opts.err_overwrite) {
                Ok(f) => (f, Some(p.display().to_string())),
                Err(_) => (out.try_clone().map_err(|e| e.to_string())?, None),
            }
        }
        None => (out.try_clone().map_err(|e| e.to_string())?, None),
    };
    let openlava = cfg.openlava();
    let mut st = Started {
        child: None,
        out_path,
        err_note,
        job: job.clone(),
        script,
        early_exit: None,
        spool: None,
    };
    // OpenLava writes the output into the -o file only when the job has ended, after its
    // report: until then it goes to spool files.
    let (out, err) = if openlava {
        let spool_out = spool_path(dir, job, index, "out");
        let so = open_out(&spool_out, true).map_err(|e| e.to_string())?;
        let (se, spool_err) = match (&job.opts.err, &st.err_note) {
            (Some(_), Some(err_file)) => {
                let p = spool_path(dir, job, index, "err");
                let f = open_out(&p, true).map_err(|e| e.to_string())?;
                (f, Some((p, PathBuf::from(err_file))))
            }
            _ => (so.try_clone().map_err(|e| e.to_string())?, None),
        };
        st.spool = Some(Spool {
            out: spool_out,
            err: spool_err,
        });
        (so, se)
    } else {
        (out, err)
    };
    if e.kill_ms.is_some() {
        // bkill arrived between dispatch and now: the job never starts.
        st.early_exit = Some((130, true));
        return Ok(st);
    }
    if let Some(h) = e
        .exec_hosts
        .first()
        .filter(|h| cfg.faults.failing_hosts.contains(h))
    {
        // The `failing_hosts` fault: this host fails every job before its script runs.
        let mut err = err;
        let _ = writeln!(err, "lsfsim: host {h} failed the job (fault failing_hosts)");
        st.early_exit = Some((1, false));
        return Ok(st);
    }
    let mut cmd = job_command(dir, job, e, &st.script, openlava);
    cmd.stdout(out).stderr(err);
    match cmd.spawn() {
        Ok(c) => st.child = Some(c),
        Err(err) => {
            if let Ok(mut f) = OpenOptions::new().append(true).open(&st.out_path) {
                let _ = writeln!(f, "lsfsim: cannot start bash: {err}");
            }
            st.early_exit = Some((127, false));
        }
    }
    Ok(st)
}

/// The command that runs element `e` of `job`: bash on its script (OpenLava: in a job file),
/// in its directory, with the submitter's environment and LSF's `LSB_*` variables.
fn job_command(dir: &Path, job: &Job, e: &Elem, script: &str, openlava: bool) -> Command {
    let index = e.index;
    let env: BTreeMap<String, String> = std::fs::read(sched::env_path(dir, job.id))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let cwd = if Path::new(&job.cwd).is_dir() {
        PathBuf::from(&job.cwd)
    } else {
        std::env::temp_dir()
    };
    let hosts = e.exec_hosts.join(" ");
    let mut cmd = Command::new(find_bash(&env));
    if openlava {
        cmd.arg("-c")
            .arg(openlava_job_file(&sched::script_path(dir, job.id), script));
    } else {
        cmd.arg(sched::script_path(dir, job.id));
    }
    cmd.current_dir(cwd)
        .env_clear()
        .envs(&env)
        .env("LSB_JOBID", job.id.to_string())
        .env("LSB_JOBINDEX", index.to_string())
        .env("LSB_BATCH_JID", job.elem_id(e))
        .env("LSB_JOBNAME", job.elem_name(e))
        .env("LSB_QUEUE", &job.queue)
        .env("LSB_HOSTS", &hosts)
        .env("LSB_MCPU_HOSTS", mcpu_hosts(&e.exec_hosts))
        .env("LSB_DJOB_NUMPROC", e.exec_hosts.len().to_string())
        .env("LSB_MAX_NUM_PROCESSORS", e.exec_hosts.len().to_string())
        .env("LSB_SUB_HOST", &job.from_host)
        .env(
            "LSB_PROJECT_NAME",
            job.opts.project.as_deref().unwrap_or("default"),
        )
        .env("LS_SUBCWD", &job.cwd)
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(o) = &job.opts.out {
        cmd.env("LSB_OUTPUTFILE", o);
    }
    if let Some(er) = &job.opts.err {
        cmd.env("LSB_ERRORFILE", er);
    }
    cmd
}

/// OpenLava's end of a job: the report, then the spooled output, then (with -e) the "PS:"
/// naming the stderr file, all appended to the -o file; the spooled stderr is appended to the
/// -e file.
fn write_openlava_report(cfg: &Config, r: &Report, spool: &Spool, out_path: &Path) {
    let mut text = report::render_openlava(r, &cfg.master(), r.job.stdin_script).into_bytes();
    text.extend(std::fs::read(&spool.out).unwrap_or_default());
    if let Some((spooled, err_file)) = &spool.err {
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(err_file) {
            let _ = f.write_all(&std::fs::read(spooled).unwrap_or_default());
        }
        text.extend_from_slice(
            format!(
                "\n\nPS:\n\nRead file <{}> for stderr output of this job.\n\n",
                err_file.display()
            )
            .as_bytes(),
        );
        let _ = std::fs::remove_file(spooled);
    }
    let _ = std::fs::remove_file(&spool.out);
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(out_path) {
        let _ = f.write_all(&text);
    }
}

/// bash from the job's PATH (the submitter's), else this process's, else /bin/bash; resolved
/// here because the job's environment replaces ours before the exec.
fn find_bash(env: &BTreeMap<String, String>) -> PathBuf {
    let paths = env
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    std::env::split_paths(&paths)
        .map(|d| d.join("bash"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/bash"))
}

fn mcpu_hosts(hosts: &[String]) -> String {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for h in hosts {
        match groups.iter_mut().find(|(n, _)| n == h) {
            Some((_, c)) => *c += 1,
            None => groups.push((h.clone(), 1)),
        }
    }
    groups
        .iter()
        .map(|(h, c)| format!("{h} {c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Default)]
struct Usage {
    samples: u64,
    rss_sum_kb: u64,
    max_rss_kb: u64,
    max_swap_kb: u64,
    max_procs: u32,
    max_threads: u32,
}

/// Samples the job's processes into `u` and the live usage file bjobs reads; returns their
/// memory now (KB).
fn sample(pgid: i32, u: &mut Usage, usage_file: &Path) -> u64 {
    let (s, pids) = sys::sample_group(pgid);
    if s.procs > 0 {
        u.samples += 1;
        u.rss_sum_kb += s.rss_kb;
        u.max_rss_kb = u.max_rss_kb.max(s.rss_kb);
        u.max_swap_kb = u.max_swap_kb.max(s.vsize_kb);
        u.max_procs = u.max_procs.max(s.procs);
        u.max_threads = u.max_threads.max(s.threads);
        let live = serde_json::json!({
            "mem_kb": s.rss_kb,
            "max_mem_kb": u.max_rss_kb,
            "avg_mem_kb": u.rss_sum_kb / u.samples,
            "cpu_secs": s.cpu_secs,
            "pids": pids,
        });
        let tmp = usage_file.with_extension("usage.tmp");
        if std::fs::write(&tmp, live.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, usage_file);
        }
    }
    s.rss_kb
}

/// How the job's shell ended: its exit code (128 + N for a signal), whether bkill ended it,
/// and the signal that killed the shell itself, if one did.
struct Ended {
    code: i32,
    killed: bool,
    signal: Option<i32>,
    /// Killed for going over its `-M` limit.
    memlimit: bool,
    /// Signalled at its run limit (LSF; OpenLava says nothing of it).
    runlimit: bool,
}

/// Waits for the job, escalating a bkill (its marker file) to SIGTERM and then SIGKILL, and
/// sampling memory for bjobs while it runs. OpenLava: at the job's run limit the job gets
/// SIGUSR2 (a warning its job file survives), and ten limit-minutes later (WARN_TIME) SIGKILL.
/// LSF: a job whose memory goes over its `-M` limit gets SIGINT, SIGTERM and SIGKILL, as
/// LSF 10 kills it when it enforces the limit per job (`LSB_JOB_MEMLIMIT=Y`); at its run limit
/// SIGUSR2 as OpenLava's, then SIGKILL ten limit-minutes later, without a job file that traps it.
fn wait(
    dir: &Path,
    cfg: &Config,
    job: &Job,
    index: u32,
    child: &mut Child,
    u: &mut Usage,
) -> Ended {
    let pgid = child.id() as i32;
    let started = Instant::now();
    let limit = cfg
        .runlimit_ms(&job.queue, job.opts.runlimit_min)
        .map(Duration::from_millis);
    let warn_time = Duration::from_millis(cfg.runlimit_minute_ms.saturating_mul(10));
    let mut warned: Option<Instant> = None;
    let mut limit_killed = false;
    let marker = sched::marker_path(dir, job.id, index);
    let usage_file = sched::usage_path(dir, job.id, index);
    let grace = Duration::from_millis(cfg.kill_grace_ms);
    let mut kill_seen: Option<Instant> = None;
    let (mut termed, mut killed) = (false, false);
    let mem_limit_kb = job
        .opts
        .mem_limit_mb
        .filter(|_| !cfg.openlava())
        .map(|mb| (mb * 1024.0) as u64);
    let mut memlimit = false;
    let mut delay = Duration::from_millis(2);
    // The first sample comes at once: a short job may be gone before a second one.
    let mut last_sample = Instant::now()
        .checked_sub(Duration::from_millis(200))
        .unwrap_or_else(Instant::now);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        if kill_seen.is_none() && marker.exists() {
            kill_seen = Some(Instant::now());
        }
        if let Some(l) = limit
            && started.elapsed() >= l
        {
            match warned {
                None => {
                    sys::kill_group(pgid, libc::SIGUSR2);
                    warned = Some(Instant::now());
                }
                Some(w) if !limit_killed && w.elapsed() >= warn_time => {
                    sys::kill_group(pgid, libc::SIGKILL);
                    limit_killed = true;
                }
                Some(_) => {}
            }
        }
        if let Some(t) = kill_seen {
            if !termed && t.elapsed() >= Duration::from_millis(500).min(grace) {
                sys::kill_group(pgid, libc::SIGTERM);
                termed = true;
            }
            if !killed && t.elapsed() >= grace {
                sys::kill_group(pgid, libc::SIGKILL);
                killed = true;
            }
        }
        if last_sample.elapsed() >= Duration::from_millis(200) {
            last_sample = Instant::now();
            let rss_kb = sample(pgid, u, &usage_file);
            if mem_limit_kb.is_some_and(|l| rss_kb > l) && kill_seen.is_none() {
                sys::kill_group(pgid, libc::SIGINT);
                kill_seen = Some(Instant::now());
                memlimit = true;
            }
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    };
    // LSF cleans up what the job left running in the background.
    sys::kill_group(pgid, libc::SIGKILL);
    let (code, signal) = match status {
        Some(s) => match s.code() {
            Some(c) => (c, None),
            None => {
                let sig = s.signal().unwrap_or(9);
                (128 + sig, Some(sig))
            }
        },
        None => (1, None),
    };
    Ended {
        code,
        killed: kill_seen.is_some() || marker.exists(),
        signal,
        memlimit,
        runlimit: warned.is_some() && !cfg.openlava(),
    }
}

fn finish(dir: &Path, cfg: &Config, id: u64, index: u32, mut s: Started) -> Result<(), String> {
    let mut u = Usage::default();
    let ended = match (s.child.as_mut(), s.early_exit) {
        (_, Some((code, killed))) => Ended {
            code,
            killed,
            signal: None,
            memlimit: false,
            runlimit: false,
        },
        (Some(child), None) => wait(dir, cfg, &s.job, index, child, &mut u),
        (None, None) => Ended {
            code: 1,
            killed: false,
            signal: None,
            memlimit: false,
            runlimit: false,
        },
    };
    let Ended {
        code,
        killed,
        signal,
        memlimit,
        runlimit,
    } = ended;
    let (cpu, maxrss) = sys::rusage_children();
    let now = sys::now_ms();
    let pos = s
        .job
        .elems
        .iter()
        .position(|e| e.index == index)
        .expect("element checked at start");
    {
        let e = &mut s.job.elems[pos];
        e.finish_ms = Some(now);
        if code == 0 && !killed {
            e.stat = Stat::Done;
            e.exit_code = None;
        } else {
            e.stat = Stat::Exit;
            // A job that shrugs off the signal and exits 0 still counts as killed.
            e.exit_code = Some(if code == 0 { 130 } else { code });
        }
        e.term = if memlimit {
            Some(Term::MemLimit)
        } else if runlimit && e.stat == Stat::Exit {
            Some(Term::RunLimit)
        } else {
            killed.then_some(Term::Owner)
        };
        e.cpu_secs = cpu;
        e.max_rss_kb = maxrss.max(u.max_rss_kb);
        e.avg_rss_kb = u.rss_sum_kb.checked_div(u.samples).unwrap_or(e.max_rss_kb);
        e.max_procs = u.max_procs.max(1);
        e.max_threads = u.max_threads.max(1);
        // A job over before its first sample has no virtual size: its peak RSS stands in.
        e.max_swap_kb = if u.samples > 0 {
            u.max_swap_kb
        } else {
            e.max_rss_kb
        };
        e.signal = signal.filter(|_| e.stat == Stat::Exit);
    }
    // The report goes in before the state says DONE/EXIT, so whoever sees the end state can
    // already read the trailer.
    let home = sys::home();
    let r = Report {
        job: &s.job,
        elem: &s.job.elems[pos],
        cluster: &cfg.cluster_name,
        home: &home,
        script: &s.script,
        err_file: s.err_note.as_deref(),
    };
    match &s.spool {
        Some(spool) => write_openlava_report(cfg, &r, spool, &s.out_path),
        None => {
            let report = report::render(&r);
            if let Ok(mut f) = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&s.out_path)
            {
                let needs_nl = std::fs::read(&s.out_path)
                    .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
                    .unwrap_or(false);
                let _ = f.write_all(if needs_nl { b"\n" } else { b"" });
                let _ = f.write_all(report.as_bytes());
            }
        }
    }
    let mut locked = Locked::open(dir)?;
    let me = std::process::id() as i32;
    if let Some(job) = locked.state.jobs.get_mut(&id)
        && let Some(e) = job.elems.iter_mut().find(|e| e.index == index)
        && e.runner_pid == Some(me)
        && e.stat == Stat::Run
    {
        let done = &s.job.elems[pos];
        e.stat = done.stat;
        e.exit_code = done.exit_code;
        e.finish_ms = done.finish_ms;
        e.term = done.term;
        e.cpu_secs = done.cpu_secs;
        e.max_rss_kb = done.max_rss_kb;
        e.avg_rss_kb = done.avg_rss_kb;
        e.max_procs = done.max_procs;
        e.max_threads = done.max_threads;
    }
    sched::remove_marker(dir, id, index);
    let _ = std::fs::remove_file(sched::usage_path(dir, id, index));
    let ctx = Ctx {
        dir: dir.to_path_buf(),
        rng: Rng::new(cfg.faults.seed, 0),
        user: cfg.user.clone().unwrap_or_else(sys::username),
        host: cfg.submit_host.clone().unwrap_or_else(sys::hostname),
        cfg: cfg.clone(),
        now: sys::now_ms(),
        argv0: "lsfsim".into(),
    };
    sched::pass(&ctx, &mut locked.state);
    locked.save()
}
