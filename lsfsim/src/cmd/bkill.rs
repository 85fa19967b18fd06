//! bkill: terminate (or signal) jobs, whole arrays or single elements; `0` means all my jobs.

use crate::args::Spec;
use crate::cmd::{name_matches, parse_job_id};
use crate::sched;
use crate::state::{Stat, State, Term};
use crate::sys;
use crate::{Ctx, Out};

const USAGE: &str = "Usage: bkill [-h] [-V] [-l] [-b] [-r] [-d] [-s signal_value | -s signal_name]\n             [-q queue_name] [-m host_name] [-u user_name | -u all] [-J job_name]\n             [jobId | \"jobId[index_list]\" ...]";

const VALUED: &[&str] = &[
    "s", "J", "q", "u", "m", "g", "sla", "app", "C", "stat", "Lp",
];
const FLAGS: &[&str] = &["b", "r", "d", "l", "h", "V"];

/// Signals that end a job (the others are just delivered).
fn terminating(sig: &str) -> Option<i32> {
    match sig.trim_start_matches("SIG").to_ascii_uppercase().as_str() {
        "KILL" | "9" => Some(libc::SIGKILL),
        "TERM" | "15" => Some(libc::SIGTERM),
        "INT" | "2" => Some(libc::SIGINT),
        _ => None,
    }
}

fn other_signal(sig: &str) -> Option<i32> {
    Some(
        match sig.trim_start_matches("SIG").to_ascii_uppercase().as_str() {
            "STOP" => libc::SIGSTOP,
            "CONT" => libc::SIGCONT,
            "USR1" => libc::SIGUSR1,
            "USR2" => libc::SIGUSR2,
            "HUP" => libc::SIGHUP,
            "QUIT" => libc::SIGQUIT,
            "TSTP" => libc::SIGTSTP,
            n => n.parse().ok()?,
        },
    )
}

pub fn run(ctx: &mut Ctx, st: &mut State, argv: &[String]) -> Out {
    let spec = Spec {
        valued: VALUED,
        flags: FLAGS,
        stop_at_positional: false,
    };
    let p = match super::parse_or_usage(ctx, argv, &spec, USAGE) {
        Ok(p) => p,
        Err(out) => return *out,
    };
    if p.has("l") {
        let mut o = Out::default();
        o.line("HUP INT QUIT ILL TRAP ABRT EMT FPE KILL BUS SEGV SYS PIPE ALRM TERM URG STOP TSTP CONT CHLD TTIN TTOU IO XCPU XFSZ VTALRM PROF WINCH USR1 USR2");
        return o;
    }
    // Plain bkill terminates; -s with another signal only delivers it ("is being signaled").
    let (verb, deliver) = match p.value("s") {
        None => ("terminated", None),
        Some(s) => match (terminating(s), other_signal(s)) {
            (Some(_), _) => ("signaled", None),
            (None, Some(sig)) => ("signaled", Some(sig)),
            (None, None) => return Out::fail(format!("{s}: Illegal signal value")),
        },
    };
    let mut out = Out::default();
    if ctx.rng.chance(ctx.cfg.faults.bkill_fail) {
        out.faults.push("bkill_fail");
        out.err("batch system daemon not responding ... still trying");
        out.err("batch system daemon not responding ... still trying");
        out.exit = 255;
        return out;
    }
    let mut targets: Vec<(u64, Option<u32>, String)> = Vec::new();
    let mut by_filter = p.positional.is_empty() || p.positional.iter().any(|a| a == "0");
    for a in &p.positional {
        if a == "0" {
            continue;
        }
        match parse_job_id(a) {
            Some((id, idx)) => targets.push((id, idx, a.clone())),
            None => {
                out.err(format!("{a}: Illegal job ID."));
                out.exit = 255;
            }
        }
    }
    if p.positional.is_empty() && p.value("J").is_none() {
        // bkill with neither ids nor -J is a usage error in LSF.
        by_filter = false;
        if targets.is_empty() && out.exit == 0 {
            return Out::fail("Job ID or job name must be specified. Operation aborted.");
        }
    }
    if by_filter {
        let user_ok = match p.value("u") {
            None | Some("all") => true,
            Some(u) => u == ctx.user,
        };
        let mut any = false;
        for j in st.jobs.values().filter(|_| user_ok) {
            if p.value("q").is_some_and(|q| q != j.queue) {
                continue;
            }
            let live: Vec<u32> = j
                .elems
                .iter()
                .filter(|e| !e.forgotten && !e.stat.finished())
                .filter(|e| p.value("J").is_none_or(|n| name_matches(n, j, e)))
                .map(|e| e.index)
                .collect();
            for idx in live {
                any = true;
                let label = if j.is_array() {
                    format!("{}[{idx}]", j.id)
                } else {
                    j.id.to_string()
                };
                targets.push((j.id, Some(idx), label));
            }
        }
        if !any {
            match p.value("J") {
                Some(n) => out.err(format!("Job <{n}>: No matching job found")),
                None => out.err("No unfinished job found"),
            }
            out.exit = 255;
        }
    }
    for (id, idx, label) in targets {
        let Some(job) = st.jobs.get_mut(&id) else {
            out.err(format!("Job <{label}>: No matching job found"));
            out.exit = 255;
            continue;
        };
        let is_array = job.is_array();
        let elems: Vec<usize> = job
            .elems
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.forgotten)
            .filter(|(_, e)| match idx {
                // A plain job is addressed by its id alone; its only element has index 0.
                Some(i) if is_array => e.index == i,
                _ => true,
            })
            .map(|(i, _)| i)
            .collect();
        if elems.is_empty() || (idx.is_some() && !is_array && idx != Some(0)) {
            out.err(format!("Job <{label}>: No matching job found"));
            out.exit = 255;
            continue;
        }
        let mut live = false;
        for i in elems {
            let e = &mut job.elems[i];
            if e.stat.finished() {
                continue;
            }
            live = true;
            if let Some(sig) = deliver {
                if let Some(pgid) = e.job_pid {
                    sys::kill_group(pgid, sig);
                }
                continue;
            }
            match e.stat {
                Stat::Pend => {
                    e.stat = Stat::Exit;
                    e.finish_ms = Some(ctx.now);
                    e.kill_ms = Some(ctx.now);
                    e.term = Some(Term::Owner);
                }
                _ => {
                    // The runner escalates to SIGTERM and SIGKILL and records the end; if it
                    // has not started bash yet it sees kill_ms and never starts it.
                    if e.kill_ms.is_none() {
                        e.kill_ms = Some(ctx.now);
                    }
                    let marker = sched::marker_path(&ctx.dir, id, e.index);
                    let _ = std::fs::write(&marker, ctx.now.to_string());
                    if let Some(pgid) = e.job_pid {
                        sys::kill_group(pgid, libc::SIGINT);
                    }
                }
            }
        }
        if live && is_array && idx.is_none() && ctx.cfg.openlava() {
            // OpenLava answers a whole array with an error, and kills its elements all the same.
            out.err(format!("Job <{label}>: Operation is in progress"));
            out.exit = 255;
            if !out.jobs.contains(&id) {
                out.jobs.push(id);
            }
        } else if live {
            out.line(format!("Job <{label}> is being {verb}"));
            if !out.jobs.contains(&id) {
                out.jobs.push(id);
            }
        } else {
            out.err(format!("Job <{label}>: Job has already finished"));
            out.exit = 255;
        }
    }
    out
}
