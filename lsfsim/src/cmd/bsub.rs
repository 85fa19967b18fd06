//! bsub: submit a job from the command line or from stdin (`bsub < job.sh`, with `#BSUB` lines).

use crate::args::{self, ArgError, Parsed, Spec};
use crate::sched;
use crate::state::{Elem, Job, JobOpts, State};
use crate::{Ctx, Out};
use std::collections::BTreeMap;
use std::io::Read;

/// bsub options that take a value (so their value is not mistaken for the command).
const VALUED: &[&str] = &[
    "J",
    "q",
    "m",
    "n",
    "gpu",
    "W",
    "M",
    "R",
    "o",
    "e",
    "oo",
    "eo",
    "P",
    "a",
    "app",
    "b",
    "C",
    "c",
    "cwd",
    "D",
    "E",
    "Ep",
    "eptl",
    "ext",
    "F",
    "f",
    "g",
    "G",
    "i",
    "is",
    "jsdl",
    "jsdl_strict",
    "k",
    "L",
    "Lp",
    "ln_mem",
    "ln_slots",
    "mig",
    "network",
    "nnodes",
    "outdir",
    "p",
    "pack",
    "ptl",
    "Q",
    "rcacct",
    "rnc",
    "S",
    "s",
    "sla",
    "sp",
    "stage",
    "T",
    "t",
    "U",
    "u",
    "v",
    "w",
    "We",
    "wa",
    "wt",
    "alloc_flags",
    "data",
    "datagrp",
    "env",
    "freq",
    "hostfile",
    "Jd",
    "csm",
    "smt",
    "step_cgroup",
    "core_isolation",
    "cn_cu",
    "cn_mem",
    "clusters",
];

const FLAGS: &[&str] = &[
    "x", "B", "H", "I", "Ip", "Is", "IS", "ISp", "ISs", "IX", "K", "N", "r", "rn", "ul", "tty",
    "hl", "h", "V", "Ne", "XF", "Zs",
];

fn spec() -> Spec<'static> {
    Spec {
        valued: VALUED,
        flags: FLAGS,
        stop_at_positional: true,
    }
}

/// What bsub learned before taking the lock: options, the script and the environment.
pub struct Prepared {
    /// #BSUB options first, then the command line's, so later (command-line) values win.
    opts: Vec<(String, Option<String>)>,
    script: String,
    /// LSF's "Command <...>" text.
    command: String,
    from_stdin: bool,
    pub stdin_bytes: usize,
    cwd: String,
    env: BTreeMap<String, String>,
    error: Option<String>,
}

impl Prepared {
    fn parsed(&self) -> Parsed {
        Parsed {
            opts: self.opts.clone(),
            positional: Vec::new(),
        }
    }
}

/// Parses the command line and reads the script from stdin when no command was given.
pub fn prepare(argv: &[String]) -> Prepared {
    prepare_from(argv, true)
}

/// One request of a job pack (`bsub -pack`): a command line that must name its command.
pub fn prepare_request(argv: &[String]) -> Prepared {
    prepare_from(argv, false)
}

fn prepare_from(argv: &[String], stdin: bool) -> Prepared {
    let mut p = Prepared {
        opts: Vec::new(),
        script: String::new(),
        command: String::new(),
        from_stdin: false,
        stdin_bytes: 0,
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| crate::sys::home()),
        env: std::env::vars().collect(),
        error: None,
    };
    let mut argv = argv.to_vec();
    let cli = loop {
        match args::parse(&argv, &spec()) {
            Ok(c) => break c,
            // A permissive site: an unknown option is dropped as if it were a flag.
            Err(ArgError::Unknown(o)) => drop_first(&mut argv, &format!("-{o}")),
            Err(ArgError::MissingValue(o)) => {
                p.error = Some(format!("-{o}: option requires an argument{NOT_SUBMITTED}"));
                return p;
            }
        }
    };
    if !stdin && cli.positional.is_empty() {
        p.error = Some(format!("Empty job{NOT_SUBMITTED}"));
        return p;
    }
    finish_prepare(cli, p)
}

fn drop_first(words: &mut Vec<String>, w: &str) {
    if let Some(i) = words.iter().position(|x| x == w) {
        words.remove(i);
    }
}

fn finish_prepare(cli: Parsed, mut p: Prepared) -> Prepared {
    if cli.positional.is_empty() {
        let mut buf = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut buf);
        p.stdin_bytes = buf.len();
        p.script = String::from_utf8_lossy(&buf).into_owned();
        p.from_stdin = true;
        p.opts = bsub_lines(&p.script);
        let body: Vec<&str> = p.script.lines().filter(|l| !l.trim().is_empty()).collect();
        // LSF shows a spooled script's lines joined with ';' as its command.
        p.command = body.join(";");
    } else {
        p.command = cli.positional.join(" ");
        p.script = format!("{}\n", p.command);
    }
    p.opts.extend(cli.opts);
    p
}

/// `#BSUB` options from the top of a script: they end at the first line that is neither blank
/// nor a comment.
fn bsub_lines(script: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for line in script.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("#BSUB") {
            let spec = Spec {
                valued: VALUED,
                flags: FLAGS,
                stop_at_positional: false,
            };
            let mut words = args::shell_words(rest);
            loop {
                match args::parse(&words, &spec) {
                    Ok(p) => {
                        out.extend(p.opts);
                        break;
                    }
                    Err(ArgError::Unknown(o)) => drop_first(&mut words, &format!("-{o}")),
                    Err(ArgError::MissingValue(_)) => break,
                }
            }
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        break;
    }
    out
}

/// `name[1-10:2,15]%3` → ("name", "1-10:2,15", [indices], Some(3)).
type ArraySpec = (String, Option<String>, Vec<u32>, Option<u32>);

fn parse_array(spec: &str, max: u32) -> Result<ArraySpec, &'static str> {
    let Some(open) = spec.find('[') else {
        return Ok((spec.to_string(), None, vec![0], None));
    };
    let close = spec.rfind(']').ok_or("Bad job name")?;
    if close < open {
        return Err("Bad job name");
    }
    let name = &spec[..open];
    let list = &spec[open + 1..close];
    let tail = &spec[close + 1..];
    let limit = if tail.is_empty() {
        None
    } else {
        let k: u32 = tail
            .strip_prefix('%')
            .and_then(|k| k.parse().ok())
            .ok_or("Job array index error")?;
        if k == 0 {
            return Err("Job array index error");
        }
        Some(k)
    };
    let mut idx = Vec::new();
    for item in list.split(',').map(str::trim) {
        let (range, step) = match item.split_once(':') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| "Job array index error")?),
            None => (item, 1),
        };
        let (a, b) = match range.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>(), b.trim().parse::<u32>()),
            None => (range.trim().parse::<u32>(), range.trim().parse::<u32>()),
        };
        let (Ok(a), Ok(b)) = (a, b) else {
            return Err("Job array index error");
        };
        if a == 0 || b < a || step == 0 {
            return Err("Job array index error");
        }
        if b > max {
            return Err("Job array index too large");
        }
        let mut i = a;
        while i <= b {
            idx.push(i);
            if idx.len() > max as usize {
                return Err("Job array index too large");
            }
            i += step;
        }
    }
    idx.sort_unstable();
    idx.dedup();
    if idx.is_empty() {
        return Err("Job array index error");
    }
    Ok((name.to_string(), Some(list.to_string()), idx, limit))
}

/// -W: `[hours:]minutes`.
fn parse_runlimit(s: &str) -> Option<u64> {
    match s.split_once(':') {
        Some((h, m)) => Some(h.parse::<u64>().ok()? * 60 + m.parse::<u64>().ok()?),
        None => s.parse().ok(),
    }
}

/// -M: a number with an optional unit; bare numbers are MB (LSF_UNIT_FOR_LIMITS=MB, common).
fn parse_mem_mb(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..split].parse().ok()?;
    let f = match s[split..].to_ascii_uppercase().trim_end_matches('B') {
        "" | "M" => 1.0,
        "K" => 1.0 / 1024.0,
        "G" => 1024.0,
        "T" => 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * f)
}

const NOT_SUBMITTED: &str = ". Job not submitted.";

pub fn run(ctx: &mut Ctx, st: &mut State, pre: Prepared) -> Out {
    let mut out = Out::default();
    let faults = ctx.cfg.faults.clone();
    // Roll every die up front, in a fixed order, so one fault's setting never shifts another's.
    let please_wait = ctx.rng.chance(faults.please_wait);
    let waits = ctx.rng.between(1, 3);
    let transient = ctx.rng.chance(faults.bsub_transient_fail);
    let after_submit = ctx.rng.chance(faults.bsub_fail_after_submit);
    if please_wait {
        out.faults.push("please_wait");
        for _ in 0..waits {
            out.line("Cannot connect to LSF. Please wait ...");
        }
    }
    if transient {
        out.faults.push("bsub_transient_fail");
        return reject(
            out,
            "Failed in an LSF library call: LIM is down; try later. Job not submitted.",
        );
    }
    if let Some(e) = &pre.error {
        return reject(out, e);
    }
    let opts = pre.parsed();
    let (queue, default_q) = match opts.value("q") {
        Some(q) => (q.to_string(), false),
        None => (ctx.cfg.default_queue().to_string(), true),
    };
    let Some(qcfg) = ctx.cfg.queue(&queue) else {
        return reject(out, &format!("{queue}: No such queue{NOT_SUBMITTED}"));
    };
    let qslots = qcfg.slots;
    if pre.script.trim().is_empty() {
        return reject(out, &format!("Empty job{NOT_SUBMITTED}"));
    }
    let mut hosts_req = Vec::new();
    if let Some(m) = opts.value("m") {
        for word in m.split_whitespace() {
            // "group+2" is a host preference; the name is before the '+'.
            let name = word.split('+').next().unwrap_or(word);
            let known = ctx.cfg.hostgroup(name).is_some()
                || ctx.cfg.hosts.iter().any(|h| h == name)
                || name == "others";
            if !known {
                return reject(
                    out,
                    &format!(
                        "{name}: Bad host name, host group name or cluster name{NOT_SUBMITTED}"
                    ),
                );
            }
            if name != "others" {
                hosts_req.push(name.to_string());
            }
        }
    }
    let slots = match opts.value("n") {
        Some(n) => match n
            .split(',')
            .next()
            .and_then(|x| x.trim().parse::<u32>().ok())
        {
            Some(0) | None => return reject(out, &format!("Bad argument{NOT_SUBMITTED}")),
            Some(n) => n,
        },
        None => 1,
    };
    // LSF would leave such a job pending forever; with a fixed simulated cluster we refuse it.
    if slots > qslots {
        return reject(
            out,
            &format!("Too many processors requested{NOT_SUBMITTED}"),
        );
    }
    let name_spec = opts.value("J").map(str::to_string);
    let (name, array_spec, indices, array_limit) = match &name_spec {
        Some(j) => match parse_array(j, ctx.cfg.max_array_size) {
            Ok(a) => a,
            Err(msg) => return reject(out, &format!("{msg}{NOT_SUBMITTED}")),
        },
        None => {
            let first = if pre.from_stdin {
                pre.script.lines().next().unwrap_or("").to_string()
            } else {
                pre.command.clone()
            };
            (first, None, vec![0], None)
        }
    };
    let (out_spec, out_over) = file_opt(&opts, "o", "oo");
    let (err_spec, err_over) = file_opt(&opts, "e", "eo");
    let id = st.next_id;
    st.next_id += 1;
    let job = Job {
        id,
        name: name.clone(),
        named: name_spec.is_some(),
        array_spec,
        array_limit,
        queue: queue.clone(),
        user: ctx.user.clone(),
        from_host: ctx.host.clone(),
        cwd: pre.cwd.clone(),
        submit_ms: ctx.now,
        command: pre.command.clone(),
        stdin_script: pre.from_stdin,
        opts: JobOpts {
            out: out_spec,
            err: err_spec,
            out_overwrite: out_over,
            err_overwrite: err_over,
            slots,
            hosts_req,
            project: opts.value("P").map(str::to_string),
            runlimit_min: opts.value("W").and_then(parse_runlimit),
            mem_limit_mb: opts.value("M").and_then(parse_mem_mb),
            resreq: opts
                .opts
                .iter()
                .filter(|(n, _)| n == "R")
                .filter_map(|(_, v)| v.clone())
                .collect(),
            gpu: opts.value("gpu").map(str::to_string),
            exclusive: opts.has("x"),
        },
        elems: indices.into_iter().map(Elem::new).collect(),
    };
    if let Err(e) = write_job_files(ctx, &job, &pre) {
        st.next_id -= 1;
        return reject(out, &format!("lsfsim: {e}{NOT_SUBMITTED}"));
    }
    st.jobs.insert(id, job);
    out.jobs.push(id);
    out.names.push(name);
    if after_submit {
        // The job is in, but the client never learns its id: the case a crash-safe client has
        // to reconcile by job name.
        out.faults.push("bsub_fail_after_submit");
        return reject(
            out,
            "Contacting batch daemon: Communication timeout. Job not submitted.",
        );
    }
    for line in &faults.esub_chatter {
        out.line(line);
    }
    out.line(format!(
        "Job <{id}> is submitted to {}queue <{queue}>.",
        if default_q { "default " } else { "" }
    ));
    out
}

/// -o/-oo (or -e/-eo): the one given last wins; the second value says "overwrite".
fn file_opt(p: &Parsed, append: &str, overwrite: &str) -> (Option<String>, bool) {
    p.opts
        .iter()
        .rev()
        .find(|(n, _)| n == append || n == overwrite)
        .map(|(n, v)| (v.clone(), n == overwrite))
        .unwrap_or((None, false))
}

fn reject(mut out: Out, msg: &str) -> Out {
    out.err(msg);
    out.exit = 255;
    out
}

fn write_job_files(ctx: &Ctx, job: &Job, pre: &Prepared) -> Result<(), String> {
    let script = sched::script_path(&ctx.dir, job.id);
    std::fs::write(&script, &pre.script).map_err(|e| format!("{}: {e}", script.display()))?;
    let env = sched::env_path(&ctx.dir, job.id);
    let bytes = serde_json::to_vec(&pre.env).map_err(|e| e.to_string())?;
    std::fs::write(&env, bytes).map_err(|e| format!("{}: {e}", env.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays() {
        let (n, spec, idx, lim) = parse_array("sw[1-10]%2", 1000).unwrap();
        assert_eq!(
            (n.as_str(), spec.as_deref(), idx.len(), lim),
            ("sw", Some("1-10"), 10, Some(2))
        );
        let (_, _, idx, _) = parse_array("a[1-10:2,20]", 1000).unwrap();
        assert_eq!(idx, vec![1, 3, 5, 7, 9, 20]);
        assert_eq!(parse_array("plain", 10).unwrap().2, vec![0]);
        assert_eq!(
            parse_array("a[1-11]", 10).unwrap_err(),
            "Job array index too large"
        );
        assert_eq!(
            parse_array("a[0-3]", 10).unwrap_err(),
            "Job array index error"
        );
        assert_eq!(
            parse_array("a[x]", 10).unwrap_err(),
            "Job array index error"
        );
        assert_eq!(
            parse_array("a[1-3]%0", 10).unwrap_err(),
            "Job array index error"
        );
    }

    #[test]
    fn bsub_lines_stop_at_first_command() {
        let s = "#!/bin/bash\n#BSUB -J x\n#BSUB -q short -n 2 # comment\n\n# plain\n#BSUB -o out.%J\necho hi\n#BSUB -q late\n";
        let o = bsub_lines(s);
        let names: Vec<&str> = o.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["J", "q", "n", "o"]);
    }

    #[test]
    fn units() {
        assert_eq!(parse_mem_mb("4G"), Some(4096.0));
        assert_eq!(parse_mem_mb("1000"), Some(1000.0));
        assert_eq!(parse_mem_mb("512KB"), Some(0.5));
        assert_eq!(parse_runlimit("1:30"), Some(90));
    }
}
