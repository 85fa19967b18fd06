//! How results read in a terminal: status, list, plan, doctor checks, a scheduler's report.

use std::fmt::Write as _;
use std::io::Write;

use crate::app::doctor::{Check, Outcome};
use crate::app::list::Row;
use crate::app::plan::{Plan, PlannedJob};
use crate::app::status::{Source, Status};
use crate::app::{AppError, Ctx};
use crate::model::{Cause, State, memory_text, walltime_text};
use crate::sched::{JobReport, ReportOutcome};
use crate::spec::BackendKind;
use crate::view::{PROBLEMS_SHOWN, PointView, json_value};

pub fn backend_name(b: BackendKind) -> &'static str {
    match b {
        BackendKind::Local => "local",
        BackendKind::Lsf => "lsf",
        BackendKind::Slurm => "slurm",
    }
}

/// `n point` / `n points`.
pub fn points(n: u64) -> String {
    if n == 1 {
        "1 point".to_string()
    } else {
        format!("{n} points")
    }
}

/// How long ago `t` (unix seconds) was, in words.
pub fn ago(t: f64) -> String {
    let s = (crate::model::now() - t).max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h {} min ago", s / 3600, s % 3600 / 60),
        _ => format!("{} days ago", s / 86400),
    }
}

/// One line about a point that did not end well: `point 3 (lr=0.1 layers=2): failed, exit 1,
/// job 1234 on short: TERM_MEMLIMIT: ...`.
fn problem_line(p: &PointView) -> String {
    let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut s = match params.is_empty() {
        true => format!("point {}: {}", p.index, p.state),
        false => format!("point {} ({}): {}", p.index, params.join(" "), p.state),
    };
    if let Some(c) = p.cause.filter(|c| !matches!(c, Cause::Exit)) {
        let _ = write!(s, " ({c})");
    }
    if let Some(c) = p.exit_code {
        let _ = write!(s, ", exit {c}");
    }
    if let Some(id) = &p.job_id {
        let _ = write!(s, ", job {id}");
    }
    if let Some(q) = &p.queue {
        let _ = write!(s, " on {q}");
    }
    if p.attempts > 1 {
        let _ = write!(s, ", attempt {}", p.attempts);
    }
    let asked: Vec<String> = [
        p.overrides
            .memory_kb
            .map(|kb| format!("memory {}", memory_text(kb))),
        p.overrides
            .walltime_minutes
            .map(|m| format!("walltime {}", walltime_text(m))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !asked.is_empty() {
        let _ = write!(s, " with {}", asked.join(", "));
    }
    if let Some(e) = &p.error {
        let _ = write!(s, ": {}", e.lines().next().unwrap_or_default());
    }
    s
}

/// The text `status` prints: totals, one line per target, the points that failed or were lost
/// (the first few) with how to see their output, and where the figures come from.
pub fn status_text(s: &Status) -> String {
    let o = &s.overview;
    let mut t = format!(
        "sweep {} ({}, {}, {} backend)\n  {}\n",
        s.sweep,
        s.id,
        points(s.total),
        backend_name(s.backend),
        o.counts
    );
    for (label, c) in &o.targets {
        let _ = writeln!(t, "  {label}: {c}");
    }
    if !o.excluded_hosts.is_empty() {
        let _ = writeln!(
            t,
            "  hosts left out after failing jobs: {}",
            o.excluded_hosts.join(", ")
        );
    }
    if let Some(first) = o.problems.first() {
        t.push_str("  not done:\n");
        for p in o.problems.iter().take(PROBLEMS_SHOWN) {
            let _ = writeln!(t, "    {}", problem_line(p));
        }
        if o.problem_count > PROBLEMS_SHOWN {
            let _ = writeln!(
                t,
                "    ... and {} more (`bsweep status {} --json` lists every point)",
                o.problem_count - PROBLEMS_SHOWN,
                s.sweep
            );
        }
        let _ = writeln!(
            t,
            "  a point's output: bsweep logs {} {} [--stderr]",
            s.sweep, first.index
        );
    }
    let as_of = s
        .as_of
        .map(|t| format!("as of the last answer of the scheduler, {}", ago(t)))
        .unwrap_or_else(|| "the scheduler has not answered about this sweep yet".into());
    match &s.source {
        Source::Live => {}
        Source::Settled => {
            if s.backend != BackendKind::Local && s.settled() {
                t.push_str(
                    "  (every point has ended: read from the record, the cluster was not asked)\n",
                );
            }
        }
        Source::Followed { pid } => {
            let _ = writeln!(
                t,
                "  (as reported by bsweep pid {pid}, which follows this sweep)"
            );
        }
        Source::Stale { error } => {
            let _ = writeln!(
                t,
                "  (offline: {as_of}; {})",
                crate::error_chain(error.as_ref())
            );
        }
    }
    if !s.settled()
        && crate::app::status::waits_for_follower(s)
        && o.counts.get(State::Unsubmitted) + o.counts.get(State::Failed) > 0
        && !matches!(s.source, Source::Stale { .. })
    {
        let _ = writeln!(
            t,
            "  nothing follows this sweep: `bsweep resume {}` submits what waits",
            s.sweep
        );
    }
    t
}

/// The `list` table, columns aligned.
pub fn list_text(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no sweeps yet (`bsweep launch FILE` records one)\n".into();
    }
    let name_w = rows.iter().map(|r| r.sweep.len()).max().unwrap_or(0).max(5);
    let total_w = rows
        .iter()
        .filter_map(|r| r.entry.as_ref().ok())
        .map(|e| e.total.to_string().len())
        .max()
        .unwrap_or(1);
    let mut t = String::new();
    for r in rows {
        match &r.entry {
            Err(e) => {
                let _ = writeln!(t, "{:<name_w$}  error: {}", r.sweep, crate::error_chain(e));
            }
            Ok(e) => {
                let follow = e
                    .followed_by
                    .map(|p| format!(" (followed by pid {p})"))
                    .unwrap_or_default();
                let _ = writeln!(
                    t,
                    "{:<name_w$}  {:>total_w$} {}  {}{follow}",
                    r.sweep,
                    e.total,
                    if e.total == 1 { "point " } else { "points" },
                    e.counts
                );
            }
        }
    }
    t
}

pub fn list_json(rows: &[Row]) -> serde_json::Value {
    rows.iter()
        .map(|r| match &r.entry {
            Ok(e) => serde_json::json!({
                "sweep": r.sweep, "id": e.id, "backend": e.backend, "total": e.total,
                "counts": e.counts, "followed_by": e.followed_by,
            }),
            Err(e) => serde_json::json!({"sweep": r.sweep, "error": crate::error_chain(e)}),
        })
        .collect()
}

/// `plan` as text: the summary, then the shown scripts, written as they are rendered.
pub fn plan_text(ctx: &Ctx, plan: &Plan, shown: u64, out: &mut dyn Write) -> Result<(), AppError> {
    let _ = ctx;
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(AppError::Stdout);
    let spec = &plan.spec;
    let policy = match spec.backend {
        BackendKind::Local => format!("at most {} at a time", spec.local.concurrency),
        BackendKind::Lsf | BackendKind::Slurm => match plan.profile.policy {
            crate::spec::Policy::RoundRobin => "round-robin".to_string(),
            crate::spec::Policy::Weighted => "weighted".to_string(),
            crate::spec::Policy::LeastPending => "least-pending, decided at launch".to_string(),
        },
    };
    w(
        out,
        format!(
            "sweep {}: {}, backend {}",
            spec.name,
            points(plan.count),
            backend_name(spec.backend)
        ),
    )?;
    w(
        out,
        format!("parameters: {}", spec.param_names().join(", ")),
    )?;
    w(
        out,
        format!(
            "targets ({policy}): {}",
            plan.distribution
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;
    if let Some(line) = retry_line(spec) {
        w(out, line)?;
    }
    if let (Some(c), Some(dir)) = (&spec.cluster, &plan.remote) {
        w(
            out,
            format!(
                "cluster: {} over SSH; files under {} there (`~` stands for the remote home, read at launch)",
                c.host,
                dir.display()
            ),
        )?;
    }
    for j in plan.jobs(shown) {
        w(
            out,
            format!("\n# ---- point {} ({}) ----", j.index, j.job_name),
        )?;
        write!(out, "{}", j.script).map_err(AppError::Stdout)?;
    }
    if shown < plan.count {
        w(
            out,
            format!(
                "\n# ... {} more (`bsweep plan {} --all` shows every script)",
                plan.count - shown,
                spec.source.display()
            ),
        )?;
    }
    out.flush().map_err(AppError::Stdout)
}

/// What the sweep file's retry rules do, on one line (`None` with one attempt per point).
fn retry_line(spec: &crate::spec::Spec) -> Option<String> {
    use crate::spec::{Grow, Step};
    if spec.max_attempts <= 1 {
        return None;
    }
    let r = &spec.retry;
    let grow = |g: &Grow, show: &dyn Fn(u64) -> String| {
        let step = match g.step {
            Step::Times(f) => format!("x{f}"),
            Step::Plus(n) => format!("+{}", show(n)),
            Step::To(n) => format!("to {}", show(n)),
        };
        format!("{step} up to {}", show(g.max))
    };
    let when = match &r.on_exit {
        None => "any non-zero exit".to_string(),
        Some(codes) => format!(
            "exit {}",
            codes
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut parts = vec![format!(
        "up to {} attempts per point, after {when}",
        spec.max_attempts
    )];
    if let Some(g) = &r.on_memlimit {
        let show = |kb: u64| memory_text(kb);
        parts.push(format!(
            "memory {} after a memory-limit kill",
            grow(g, &show)
        ));
    }
    if let Some(g) = &r.on_runlimit {
        let show = |m: u64| walltime_text(u32::try_from(m).unwrap_or(u32::MAX));
        parts.push(format!(
            "run limit {} after a run-limit kill",
            grow(g, &show)
        ));
    }
    if let Some(n) = r.exclude_hosts_after {
        parts.push(format!(
            "a host is left out once jobs of {n} point(s) failed there"
        ));
    }
    Some(format!("retries: {}", parts.join("; ")))
}

/// `plan --json`: the summary fields, then `points` written one at a time.
pub fn plan_json(plan: &Plan, shown: u64, out: &mut dyn Write) -> Result<(), AppError> {
    let spec = &plan.spec;
    let dist: serde_json::Map<String, serde_json::Value> = plan
        .distribution
        .iter()
        .map(|(k, v)| (k.clone(), (*v).into()))
        .collect();
    let head = serde_json::json!({
        "sweep": spec.name,
        "count": plan.count,
        "backend": spec.backend,
        "params": spec.param_names(),
        "distribution": dist,
    });
    let text = serde_json::to_string_pretty(&head).map_err(|e| AppError::Stdout(e.into()))?;
    let open = text
        .trim_end()
        .strip_suffix('}')
        .unwrap_or(&text)
        .trim_end();
    write!(out, "{open},\n  \"points\": [").map_err(AppError::Stdout)?;
    let mut first = true;
    for j in plan.jobs(shown) {
        let PlannedJob {
            index,
            params,
            target,
            job_name,
            script,
        } = j;
        let v = serde_json::json!({
            "index": index,
            "params": params.iter().map(|(k, v)| (k.clone(), json_value(v))).collect::<serde_json::Map<_, _>>(),
            "target": target,
            "job_name": job_name,
            "script": script,
        });
        let sep = if first { "\n    " } else { ",\n    " };
        first = false;
        write!(out, "{sep}").map_err(AppError::Stdout)?;
        serde_json::to_writer(&mut *out, &v).map_err(|e| AppError::Stdout(e.into()))?;
    }
    let close = if first { "]\n}\n" } else { "\n  ]\n}\n" };
    write!(out, "{close}").map_err(AppError::Stdout)?;
    out.flush().map_err(AppError::Stdout)
}

/// One `doctor` check as it reads.
pub fn check_text(c: &Check) -> String {
    match &c.outcome {
        Outcome::Ok(d) => format!("{}: {d}", c.what),
        Outcome::Warning(w) => format!("warning: {w}"),
        Outcome::NotChecked(why) => format!("{}: not checked ({why})", c.what),
        Outcome::Problem { said, fix } => format!("{}: PROBLEM: {said}\n  fix: {fix}", c.what),
    }
}

/// A scheduler's report on one line: how the job ended and what it used.
pub fn report_line(backend: BackendKind, r: Option<&JobReport>) -> String {
    let who = match backend {
        BackendKind::Lsf => "LSF report",
        BackendKind::Local | BackendKind::Slurm => "report",
    };
    let Some(r) = r else {
        return format!("[{who}: unreadable; --raw shows it]");
    };
    let outcome = match &r.outcome {
        ReportOutcome::Done => "successfully completed".to_string(),
        ReportOutcome::Exited { code } => format!("exited with code {code}"),
        ReportOutcome::Killed { reason, code } => match code {
            Some(c) => format!("{reason} (exit code {c})"),
            None => reason.clone(),
        },
    };
    let mut s = format!("[{who}: {outcome}");
    if let Some(t) = r.run_seconds {
        let _ = write!(s, "; run time {t} s");
    }
    if let Some(m) = r.max_mem_mb {
        let _ = write!(s, "; max memory {m} MB");
    }
    if let Some(id) = &r.job_id {
        let _ = write!(s, "; job {id}");
    }
    s.push_str("; --raw shows it whole]");
    s
}

/// What `delete` says: the sweep forgotten, and what became of its directory on the cluster.
pub fn deleted_text(sweep: &str, d: &crate::app::delete::Deleted) -> String {
    use crate::app::delete::{Deleted, Kept, RemoteDir};
    let (damaged, remote) = match d {
        Deleted::Sweep { remote } => ("", remote),
        Deleted::Damaged { remote } => (" (its store was damaged)", remote),
    };
    let mut s = format!("deleted sweep {sweep}{damaged}\n");
    match remote {
        None => {}
        Some(RemoteDir::Removed { place, dir }) => {
            let _ = writeln!(s, "removed its directory {dir} on {place}");
        }
        Some(RemoteDir::Gone { place, dir }) => {
            let _ = writeln!(s, "its directory {dir} on {place} was already gone");
        }
        Some(RemoteDir::Kept { place, dir, why }) => {
            let why = match why {
                Kept::InFlight(n) => format!("{} still in flight write there", points(*n)),
                Kept::NotOurs => {
                    "it is not marked as this sweep's own (an older bsweep's directory may be shared by sweeps of the same name)".to_string()
                }
                Kept::Failed(e) => e.clone(),
            };
            let _ = writeln!(
                s,
                "kept its directory {dir} on {place}: {why}; remove it there yourself when nothing needs it"
            );
        }
    }
    s
}

/// Files and problems named at most this many times each, then counted.
const NOTES_SHOWN: usize = 10;

/// What `collect` says on stderr: what came back from the cluster and what did not (each file
/// once, with why), points without metrics, and where the CSV went.
pub fn collect_notes(c: &crate::app::collect::Collected) -> Vec<String> {
    let mut v = Vec::new();
    if c.fetched > 0 || !c.missing.is_empty() || !c.not_fetched.is_empty() {
        v.push(format!("fetched {} file(s) from the cluster", c.fetched));
    }
    if c.reconnected {
        v.push("the connection dropped during the transfer; the rest came over a new one (what had arrived was kept)".to_string());
    }
    listed(
        &mut v,
        c.missing
            .iter()
            .map(|m| format!("missing on the cluster: {m}"))
            .collect(),
        "missing files",
    );
    listed(
        &mut v,
        c.not_fetched
            .iter()
            .map(|(p, why)| format!("not fetched: {p}: {why}"))
            .collect(),
        "files not fetched",
    );
    listed(
        &mut v,
        c.large
            .iter()
            .map(|(p, size)| {
                format!(
                    "warning: {p} has {} MB (more than [collect] warn_mb = {})",
                    size >> 20,
                    c.warn_mb
                )
            })
            .collect(),
        "large files",
    );
    if let Some(why) = &c.times_note {
        v.push(format!(
            "note: start and end times are as bsweep saw them ({why})"
        ));
    }
    listed(
        &mut v,
        c.report
            .problems
            .iter()
            .map(|(index, why)| format!("point {index}: {why}"))
            .collect(),
        "points with incomplete metrics",
    );
    let target = match &c.output {
        Some(p) => p.display().to_string(),
        None => "the CSV to standard output".to_string(),
    };
    v.push(format!(
        "wrote {target} ({} rows, {} metric columns)",
        c.report.rows, c.report.metric_columns
    ));
    if c.not_done > 0 {
        v.push(format!(
            "note: {} are not done; their rows have no or partial metrics",
            points(c.not_done as u64)
        ));
    }
    v
}

/// The first [`NOTES_SHOWN`] of `items` into `v`, then how many more `what` there are.
fn listed(v: &mut Vec<String>, items: Vec<String>, what: &str) {
    let n = items.len();
    v.extend(items.into_iter().take(NOTES_SHOWN));
    if n > NOTES_SHOWN {
        v.push(format!("... and {} more {what}", n - NOTES_SHOWN));
    }
}
