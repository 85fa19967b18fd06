//! bjobs: the default/-w/-W tables, `-o` (delimited, -noheader), `-json`, and `-l`/`-UF`.

use crate::args::{self, ArgError, Spec};
use crate::cmd::fields::{self, Row};
use crate::cmd::long::{self, Flavor};
use crate::cmd::{name_matches, old_bjobs_usage, parse_job_id};
use crate::config::Version;
use crate::jsonout::{self, Record};
use crate::report::short_hosts;
use crate::state::{Elem, Job, Stat, State};
use crate::timefmt;
use crate::{Ctx, Out};

const HEADER: &str =
    "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME";
const W_HEADER: &str = "  PROJ_NAME CPU_USED MEM SWAP PIDS START_TIME FINISH_TIME";

/// Options of the old (OpenLava-lineage) bjobs: getopt string "VladpsrwWRAhJ:q:u:m:N:P:SU:g:".
const OLD_FLAGS: &[&str] = &[
    "V", "l", "a", "d", "p", "s", "r", "w", "W", "R", "A", "h", "S", "UF",
];
const OLD_VALUED: &[&str] = &["J", "q", "u", "m", "N", "P", "g"];
const OLD_OPTSTRING: &str = "VladpsrwWRAhJqumNPSUg";

const NEW_FLAGS: &[&str] = &[
    "V", "l", "a", "d", "p", "s", "r", "w", "W", "R", "A", "h", "S", "UF", "noheader", "json",
    "hms", "x", "X", "WL", "WF", "WP", "aff", "aps", "psum", "sum", "pe", "pi", "pei", "env",
    "script",
];
const NEW_VALUED: &[&str] = &[
    "J", "q", "u", "m", "N", "P", "g", "o", "G", "Jd", "app", "sla", "Lp", "U",
];

struct OField {
    key: &'static str,
    width: Option<usize>,
    right: bool,
    unit: Option<char>,
}

struct OFormat {
    fields: Vec<OField>,
    delim: String,
}

fn parse_o(spec: &str) -> Result<OFormat, String> {
    let mut fields = Vec::new();
    let mut delim = " ".to_string();
    for tok in args::shell_words(spec) {
        if let Some(d) = tok.strip_prefix("delimiter=") {
            delim = d.trim_matches(|c| c == '\'' || c == '"').to_string();
            continue;
        }
        let mut parts = tok.split(':');
        let name = parts.next().unwrap_or("");
        let key = fields::canonical(name).ok_or_else(|| format!("{name}: Illegal field name."))?;
        let (mut width, mut right, mut unit) = (None, false, None);
        if let Some(w) = parts.next()
            && !w.is_empty()
        {
            let (w, r) = match w.strip_prefix('-') {
                Some(rest) => (rest, true),
                None => (w, false),
            };
            width = Some(
                w.parse::<usize>()
                    .map_err(|_| format!("{tok}: Illegal field width."))?,
            );
            right = r;
        }
        if let Some(u) = parts.next() {
            unit = u.chars().next();
        }
        fields.push(OField {
            key,
            width,
            right,
            unit,
        });
    }
    // The JSON parser in LSF splits on spaces too; an empty list is an error there as well.
    if fields.is_empty() {
        return Err("No field name is specified.".into());
    }
    Ok(OFormat { fields, delim })
}

/// Width-limited -o values: JOB_NAME keeps its end behind a '*', others lose their end.
fn fit(key: &str, v: &str, width: usize, right: bool) -> String {
    let n = v.chars().count();
    let cut: String = if n <= width {
        v.to_string()
    } else if key == "JOB_NAME" && width > 1 {
        let tail: String = v.chars().skip(n - (width - 1)).collect();
        format!("*{tail}")
    } else {
        v.chars().take(width).collect()
    };
    if right {
        format!("{cut:>width$}")
    } else {
        format!("{cut:<width$}")
    }
}

/// LSF's TRUNC_STR for the non-wide table: a long JOB_NAME keeps its last 9 chars after '*'.
fn trunc_name(name: &str) -> String {
    let n = name.chars().count();
    if n > 10 {
        let tail: String = name.chars().skip(n - 9).collect();
        format!("*{tail}")
    } else {
        name.to_string()
    }
}

enum Target {
    Job(u64),
    Elem(u64, u32),
}

/// OpenLava's bjobs usage text (bjobs.c `usage()`).
pub fn openlava_usage(cmd: &str) -> String {
    format!(
        "Usage: {cmd} [-h] [-V] [-w |-l] [-W] [-a] [-d] [-p] [-s] [-r] [-g job_group]\n             \
         [-A] [-m host_name] [-q queue_name] [-u user_name | -u all]\n             \
         [-P project_name] [-N host_spec] [-J name_spec] [-UF] [-WL|-WP|-WF] [-noheader]\n             \
         [jobId | \"jobId[idxList]\" ...]\n"
    )
}

/// OpenLava's bjobs options (getopt "VladpsrwW::RAhJ:q:u:m:n:N:P:SU:g:") as the names the rest
/// of `run` reads (`-noheader` is `-n oheader`, `-UF` is `-U F`, `-WL` is `-W L`), or what it
/// prints instead: getopt's complaint and the usage, or the usage alone for a bad combination.
fn openlava_options(ctx: &Ctx, argv: &[String]) -> Result<args::Parsed, Box<Out>> {
    let usage = |msg: Option<String>| {
        let mut o = Out {
            exit: 255,
            ..Out::default()
        };
        if let Some(m) = msg {
            o.err(m);
        }
        o.stderr.push_str(&openlava_usage(&ctx.argv0));
        Box::new(o)
    };
    let (opts, positional) = args::getopt(argv, "VladpsrwW::RAhJ:q:u:m:n:N:P:SU:g:")
        .map_err(|e| usage(Some(e.message(&ctx.argv0))))?;
    let mut p = args::Parsed {
        opts: Vec::new(),
        positional,
    };
    for (c, v) in opts {
        let name = match (c, v.as_deref()) {
            ('n', Some("oheader")) => "noheader".to_string(),
            ('U', Some("F")) => "UF".to_string(),
            ('W', None) => "W".to_string(),
            ('W', Some(f @ ("L" | "P" | "F"))) => format!("W{f}"),
            ('n' | 'U' | 'W', _) | ('h', _) => return Err(usage(None)),
            (c, _) => c.to_string(),
        };
        let value = v.filter(|_| "JqumNPg".contains(c));
        p.opts.push((name, value));
    }
    if p.has("w") && (p.has("l") || p.has("UF")) {
        return Err(usage(None));
    }
    Ok(p)
}

pub fn run(ctx: &mut Ctx, st: &mut State, argv: &[String]) -> Out {
    let out = Out::default();
    let openlava = ctx.cfg.openlava();
    if openlava {
        let p = match openlava_options(ctx, argv) {
            Ok(p) => p,
            Err(out) => return *out,
        };
        if p.has("V") {
            let mut o = Out::default();
            o.err(crate::cmd::lsid::OPENLAVA_BANNER);
            return o;
        }
        return select_and_print(ctx, st, p, out);
    }
    let old = ctx.cfg.version == Version::Old;
    let spec = if old {
        Spec {
            valued: OLD_VALUED,
            flags: OLD_FLAGS,
            stop_at_positional: false,
        }
    } else {
        Spec {
            valued: NEW_VALUED,
            flags: NEW_FLAGS,
            stop_at_positional: false,
        }
    };
    let p = match args::parse(argv, &spec) {
        Ok(p) => p,
        Err(ArgError::Unknown(o)) | Err(ArgError::MissingValue(o)) => {
            return bad_option(ctx, &o, old);
        }
    };
    if p.has("h") {
        return Out {
            stderr: old_bjobs_usage(&ctx.argv0),
            exit: 255,
            ..Out::default()
        };
    }
    if p.has("V") {
        let mut o = Out::default();
        o.err(version_banner(ctx));
        return o;
    }
    select_and_print(ctx, st, p, out)
}

/// The jobs the options and ids select, printed in the format asked for.
fn select_and_print(ctx: &mut Ctx, st: &mut State, p: args::Parsed, mut out: Out) -> Out {
    let openlava = ctx.cfg.openlava();
    let faults = ctx.cfg.faults.clone();
    let please_wait = ctx.rng.chance(faults.please_wait);
    let waits = ctx.rng.between(1, 3);
    let fail = ctx.rng.chance(faults.bjobs_fail);
    if please_wait {
        out.faults.push("please_wait");
        for _ in 0..waits {
            out.line("LSF is processing your request. Please wait ...");
        }
    }
    if fail {
        out.faults.push("bjobs_fail");
        out.err("batch system daemon not responding ... still trying");
        out.err("batch system daemon not responding ... still trying");
        out.exit = 255;
        return out;
    }
    let oformat = match p.value("o").map(parse_o) {
        Some(Err(e)) => {
            out.err(e);
            out.exit = 255;
            return out;
        }
        Some(Ok(f)) => Some(f),
        None => None,
    };
    if let Some(q) = p.value("q")
        && ctx.cfg.queue(q).is_none()
    {
        out.err(format!("{q}: No such queue"));
        out.exit = 255;
        return out;
    }

    // A just-submitted job is unknown to bjobs for a moment (mbatchd lag), if so configured.
    let delay = faults.visibility_delay_ms;
    let visible = |j: &Job| ctx.now >= j.submit_ms + delay;
    let mut rows: Vec<(&Job, &Elem)> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    if !p.positional.is_empty() {
        for a in &p.positional {
            let target = match parse_job_id(a) {
                Some((id, None)) => Target::Job(id),
                Some((id, Some(i))) => Target::Elem(id, i),
                None => {
                    out.err(format!("{a}: Illegal job ID."));
                    out.exit = 255;
                    return out;
                }
            };
            let (id, idx) = match target {
                Target::Job(id) => (id, None),
                Target::Elem(id, i) => (id, Some(i)),
            };
            let found: Vec<(&Job, &Elem)> = match st.jobs.get(&id).filter(|j| visible(j)) {
                Some(j) => j
                    .elems
                    .iter()
                    .filter(|e| !e.forgotten && idx.is_none_or(|i| e.index == i))
                    .map(|e| (j, e))
                    .collect(),
                None => Vec::new(),
            };
            if found.is_empty() {
                missing.push(a.clone());
            }
            rows.extend(found);
        }
    } else {
        let user_ok = match p.value("u") {
            None | Some("all") => true,
            Some(u) => u == ctx.user,
        };
        let (a, d, r, pnd, s) = (p.has("a"), p.has("d"), p.has("r"), p.has("p"), p.has("s"));
        let want = |stat: Stat| -> bool {
            if a {
                return true;
            }
            if d || r || pnd || s {
                return (d && stat.finished())
                    || (r && stat == Stat::Run)
                    || (pnd && stat == Stat::Pend);
            }
            !stat.finished()
        };
        if user_ok {
            for j in st.jobs.values().filter(|j| visible(j)) {
                if p.value("q").is_some_and(|q| q != j.queue) {
                    continue;
                }
                for e in j.elems.iter().filter(|e| !e.forgotten && want(e.stat)) {
                    if p.value("J").is_some_and(|n| !name_matches(n, j, e)) {
                        continue;
                    }
                    rows.push((j, e));
                }
            }
        }
        // Running (and suspended) first, then pending, then finished; FIFO within each.
        rows.sort_by_key(|(j, e)| {
            let rank = match e.stat {
                Stat::Run => 0,
                Stat::Pend => 1,
                _ => 2,
            };
            (rank, j.id, e.index)
        });
        if rows.is_empty() {
            let msg = if let Some(n) = p.value("J") {
                format!("Job <{n}> is not found")
            } else {
                let what = if a {
                    "No job found"
                } else if d {
                    "No DONE/EXIT job found"
                } else if r && !pnd {
                    "No running job found"
                } else if pnd && !r {
                    "No pending job found"
                } else if s && !r && !pnd {
                    "No suspended job found"
                } else {
                    "No unfinished job found"
                };
                match p.value("q") {
                    Some(q) => format!("{what} in queue <{q}>"),
                    None => what.to_string(),
                }
            };
            if p.has("json") && oformat.is_some() {
                out.stdout
                    .push_str(&jsonout::document("bjobs", "JOBS", &[]));
            }
            out.err(msg);
            // OpenLava exits 255 whenever it shows no job.
            if openlava {
                out.exit = 255;
            }
            return out;
        }
    }
    if openlava {
        // mbatchd's order: running jobs, then pending ones, by queue priority and age; then
        // finished ones as they ended.
        let prio = |j: &Job| ctx.cfg.queue(&j.queue).map_or(0, |q| q.priority);
        rows.sort_by_key(|(j, e)| match e.stat {
            Stat::Run => (0, u32::MAX - prio(j), j.id, 0, e.index),
            Stat::Pend => (1, u32::MAX - prio(j), j.id, 0, e.index),
            _ => (2, 0, e.finish_ms.unwrap_or(0), j.id, e.index),
        });
    }

    let rows: Vec<Row> = rows.into_iter().map(|(j, e)| Row::new(ctx, j, e)).collect();
    let hms = p.has("hms");
    if let (Some(fmt), true) = (&oformat, p.has("json")) {
        let mut records: Vec<Record> = rows
            .iter()
            .map(|r| {
                fmt.fields
                    .iter()
                    .map(|f| (f.key.to_string(), fields::value(ctx, r, f.key, hms, f.unit)))
                    .collect()
            })
            .collect();
        for m in &missing {
            records.push(vec![
                ("JOBID".into(), m.clone()),
                ("ERROR".into(), format!("Job <{m}> is not found")),
            ]);
        }
        out.stdout
            .push_str(&jsonout::document("bjobs", "JOBS", &records));
    } else if let Some(fmt) = &oformat {
        if !p.has("noheader") && !rows.is_empty() {
            let head: Vec<String> = fmt
                .fields
                .iter()
                .map(|f| match f.width {
                    Some(w) => fit("", f.key, w, f.right),
                    None => f.key.to_string(),
                })
                .collect();
            out.line(head.join(&fmt.delim));
        }
        for r in &rows {
            let vals: Vec<String> = fmt
                .fields
                .iter()
                .map(|f| {
                    let v = fields::value(ctx, r, f.key, hms, f.unit);
                    let v = if v.is_empty() { "-".to_string() } else { v };
                    match f.width {
                        Some(w) => fit(f.key, &v, w, f.right),
                        None => v,
                    }
                })
                .collect();
            out.line(vals.join(&fmt.delim));
        }
    } else if openlava && (p.has("l") || p.has("UF")) {
        let refs: Vec<(&Job, &Elem)> = rows.iter().map(|r| (r.job, r.elem)).collect();
        out.stdout.push_str(&long::openlava_records(
            ctx,
            &refs,
            Flavor::Bjobs,
            p.has("UF"),
        ));
    } else if p.has("l") || p.has("UF") {
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                out.line(long::SEPARATOR);
            }
            out.stdout.push_str(&long::record(
                ctx,
                r.job,
                r.elem,
                Flavor::Bjobs,
                p.has("UF"),
            ));
        }
        if !rows.is_empty() {
            out.stdout.push('\n');
        }
    } else if openlava {
        openlava_table(&rows, &p, &mut out);
    } else {
        table(&rows, &p, &mut out);
    }
    for m in &missing {
        if !(p.has("json") && oformat.is_some()) {
            out.err(format!("Job <{m}> is not found"));
        }
    }
    // Real LSF: a lone unknown id exits 0; some found and some not exits 255. OpenLava exits
    // 255 whenever an id is not found.
    if !missing.is_empty() && (openlava || !rows.is_empty()) {
        out.exit = 255;
    }
    out
}

/// OpenLava's table (bjobs.c `displayJobs`): without -w every column is cut to its width, a
/// long JOB_NAME keeps `*` and its last 9 characters, SUBMIT_TIME is padded to 14 (so rows end
/// in two spaces), a pending job's EXEC_HOST is blank and further hosts follow on lines of
/// their own; with -w nothing is cut and a job without hosts shows `   -    `.
fn openlava_table(rows: &[Row], p: &args::Parsed, out: &mut Out) {
    let wide_w = p.has("W");
    let wide = p.has("w") || wide_w;
    if !p.has("noheader") && !rows.is_empty() {
        out.line(if wide_w {
            format!("{HEADER}{W_HEADER}")
        } else {
            HEADER.to_string()
        });
    }
    let cut = |s: &str, n: usize| -> String { s.chars().take(n).collect() };
    for r in rows {
        let (j, e) = (r.job, r.elem);
        let pending = e.stat == Stat::Pend;
        let name = j.elem_name(e);
        if wide {
            let exec = if pending {
                "   -    ".to_string()
            } else if e.exec_hosts.is_empty() {
                "   -   ".to_string()
            } else {
                e.exec_hosts.join(":")
            };
            let submit = if wide_w {
                format!("{:<14}", timefmt::wide(j.submit_ms))
            } else {
                timefmt::short(j.submit_ms)
            };
            out.line(format!(
                "{:<7} {:<7} {:<5} {:<10} {:<11} {:<11} {:<10} {submit}",
                j.id,
                j.user,
                e.stat.as_str(),
                j.queue,
                j.from_host,
                exec,
                name,
            ));
        } else {
            let exec = if pending {
                String::new()
            } else {
                e.exec_hosts
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "   -   ".to_string())
            };
            out.line(format!(
                "{:<7} {:<7} {:<5} {:<10} {:<11} {:<11} {:<10} {:<14}",
                j.id,
                cut(&j.user, 7),
                e.stat.as_str(),
                cut(&j.queue, 10),
                cut(&j.from_host, 11),
                cut(&exec, 11),
                trunc_name(&name),
                timefmt::short(j.submit_ms)
            ));
            if !pending {
                for h in e.exec_hosts.iter().skip(1) {
                    out.line(format!("{:45}{h}", ""));
                }
            }
        }
        if p.has("p") && pending {
            out.line(format!(" {}", fields::pend_reason(j)));
        }
    }
}

fn table(rows: &[Row], p: &args::Parsed, out: &mut Out) {
    let wide_w = p.has("W");
    let wide = p.has("w") || wide_w;
    if !p.has("noheader") && !rows.is_empty() {
        out.line(if wide_w {
            format!("{HEADER}{W_HEADER}")
        } else {
            HEADER.to_string()
        });
    }
    for r in rows {
        let (j, e) = (r.job, r.elem);
        let pending = e.stat == Stat::Pend || e.exec_hosts.is_empty();
        let name = j.elem_name(e);
        let user = &j.user;
        let stat = e.stat.as_str();
        if wide {
            let exec = if pending {
                String::new()
            } else {
                e.exec_hosts.join(":")
            };
            // -W prints the long time in a padded column, followed by more columns.
            let submit = if wide_w {
                format!("{:<14}", timefmt::wide(j.submit_ms))
            } else {
                timefmt::short(j.submit_ms)
            };
            let mut line = format!(
                "{:<7} {:<7} {:<5} {:<10} {:<11} {:<11} {:<10} {submit}",
                j.id, user, stat, j.queue, j.from_host, exec, name,
            );
            if wide_w {
                let cpu = match (&r.live, e.stat) {
                    (Some(l), Stat::Run) => l.cpu_secs,
                    _ => e.cpu_secs,
                };
                let (mem_kb, pids) = match &r.live {
                    Some(l) => (
                        l.mem_kb,
                        l.pids
                            .iter()
                            .map(i32::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    None => (
                        e.max_rss_kb,
                        e.job_pid.map(|p| p.to_string()).unwrap_or_default(),
                    ),
                };
                line.push_str(&format!(
                    " {:<10} {:<10} {:<6} {:<6} ",
                    j.opts.project.as_deref().unwrap_or("default"),
                    cpu_timer(cpu),
                    mem_kb,
                    0
                ));
                line.push_str(if pids.is_empty() { " - " } else { &pids });
                match e.start_ms {
                    Some(s) => line.push_str(&format!(" {}", timefmt::wide(s))),
                    None => line.push_str(" - "),
                }
                match e.finish_ms {
                    Some(f) => line.push_str(&format!(" {}", timefmt::wide(f))),
                    None => line.push_str(" - "),
                }
            }
            out.line(line);
        } else {
            let exec = if pending {
                String::new()
            } else {
                short_hosts(&e.exec_hosts)
            };
            out.line(format!(
                "{:<7} {:<7} {:<5} {:<10} {:<11} {:<11} {:<10} {}",
                j.id,
                user,
                stat,
                j.queue,
                j.from_host,
                exec,
                trunc_name(&name),
                timefmt::short(j.submit_ms)
            ));
        }
    }
}

/// -W CPU_USED: "000:00:00.12".
fn cpu_timer(secs: f64) -> String {
    let whole = secs as u64;
    let hundredths = ((secs - whole as f64) * 100.0) as u64;
    format!(
        "{:03}:{:02}:{:02}.{:02}",
        whole / 3600,
        whole / 60 % 60,
        whole % 60,
        hundredths
    )
}

fn version_banner(ctx: &Ctx) -> String {
    match ctx.cfg.version {
        Version::Lsf10 => "IBM Spectrum LSF Community Edition 10.1.0.15, May 13 2025".into(),
        Version::Old => "LSF 3.0, Dec 10, 1996".into(),
        Version::Openlava => crate::cmd::lsid::OPENLAVA_BANNER.into(),
    }
}

/// What getopt and the usage function print for an option bjobs does not know. Old bjobs
/// (OpenLava lineage) has no -o, -json or -noheader, so bsweep lands here on such clusters.
fn bad_option(ctx: &Ctx, opt: &str, old: bool) -> Out {
    let mut o = Out {
        exit: 255,
        ..Out::default()
    };
    let bad = if old {
        opt.chars().find(|c| !OLD_OPTSTRING.contains(*c))
    } else {
        opt.chars().next()
    };
    if let Some(c) = bad {
        o.err(format!("{}: invalid option -- '{c}'", ctx.argv0));
    }
    o.stderr.push_str(&old_bjobs_usage(&ctx.argv0));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn o_format_parsing() {
        let f = parse_o("jobid stat exec_host delimiter='^'").unwrap();
        assert_eq!(f.delim, "^");
        let keys: Vec<&str> = f.fields.iter().map(|f| f.key).collect();
        assert_eq!(keys, vec!["JOBID", "STAT", "EXEC_HOST"]);
        let f = parse_o("id: name:10 max_mem:-8:G delimiter=\"|\"").unwrap();
        assert_eq!(f.delim, "|");
        assert_eq!(f.fields[0].width, None);
        assert_eq!(f.fields[1].width, Some(10));
        assert!(f.fields[2].right);
        assert_eq!(f.fields[2].unit, Some('G'));
        assert!(parse_o("nosuchfield").is_err());
    }

    #[test]
    fn truncation() {
        assert_eq!(trunc_name("helloarray[7]"), "*oarray[7]");
        assert_eq!(trunc_name("short"), "short");
        assert_eq!(fit("JOB_NAME", "helloarray[7]", 10, false), "*oarray[7]");
        assert_eq!(fit("QUEUE", "normal", 3, false), "nor");
        assert_eq!(fit("JOBID", "12", 4, true), "  12");
        assert_eq!(cpu_timer(0.12), "000:00:00.12");
    }
}
