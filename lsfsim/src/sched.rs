//! The scheduling pass every call runs: reap jobs whose runner vanished, forget jobs past
//! CLEAN_PERIOD, and dispatch pending jobs to free slots (first come, first served per queue).

use crate::Ctx;
use crate::state::{Elem, Job, Stat, State, Term};
use crate::sys;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

pub fn pass(ctx: &Ctx, st: &mut State) {
    reap(ctx, st);
    forget(ctx, st);
    dispatch(ctx, st);
}

/// Exit code recorded for a job whose runner disappeared: we SIGKILL what is left of it.
pub const LOST_EXIT_CODE: i32 = 137;

fn reap(ctx: &Ctx, st: &mut State) {
    for job in st.jobs.values_mut() {
        for e in job.elems.iter_mut() {
            if e.stat != Stat::Run {
                continue;
            }
            let alive = e
                .runner_pid
                .is_some_and(|pid| sys::runner_alive(pid, job.id, e.index));
            if alive {
                continue;
            }
            // Nobody will report this job's end: kill what may still run and close it as LSF
            // closes a job lost with its host.
            if let Some(pgid) = e.job_pid {
                sys::kill_group(pgid, libc::SIGKILL);
            }
            e.stat = Stat::Exit;
            e.exit_code = Some(LOST_EXIT_CODE);
            e.finish_ms = Some(ctx.now);
            e.term = Some(Term::Lost);
            remove_marker(&ctx.dir, job.id, e.index);
        }
    }
}

fn forget(ctx: &Ctx, st: &mut State) {
    let horizon = ctx.cfg.clean_period.saturating_mul(1000);
    for job in st.jobs.values_mut() {
        for e in job.elems.iter_mut() {
            if !e.forgotten && e.stat.finished() && e.finish_ms.unwrap_or(0) + horizon <= ctx.now {
                e.forgotten = true;
            }
        }
    }
}

fn dispatch(ctx: &Ctx, st: &mut State) {
    let slot_of = |j: &Job| j.opts.slots.max(1);
    let mut used: HashMap<String, u32> = HashMap::new();
    let mut host_load: HashMap<String, u32> = HashMap::new();
    for j in st.jobs.values() {
        for e in j.elems.iter().filter(|e| e.stat == Stat::Run) {
            *used.entry(j.queue.clone()).or_default() += slot_of(j);
            for h in &e.exec_hosts {
                *host_load.entry(h.clone()).or_default() += 1;
            }
        }
    }
    let ids: Vec<u64> = st
        .jobs
        .values()
        .filter(|j| j.elems.iter().any(|e| e.stat == Stat::Pend))
        .map(|j| j.id)
        .collect();
    for id in ids {
        let job = st.jobs.get_mut(&id).expect("id listed above");
        let Some(queue) = ctx.cfg.queue(&job.queue) else {
            continue;
        };
        let slots = slot_of(job);
        let hosts = eligible_hosts(ctx, job);
        let mut running = job.elems.iter().filter(|e| e.stat == Stat::Run).count() as u32;
        for i in 0..job.elems.len() {
            if job.elems[i].stat != Stat::Pend {
                continue;
            }
            let q_used = used.get(&job.queue).copied().unwrap_or(0);
            if q_used + slots > queue.slots {
                break;
            }
            if job.array_limit.is_some_and(|k| running >= k) {
                break;
            }
            // Least loaded eligible host; ties go to the first listed.
            let Some(host) = hosts
                .iter()
                .min_by_key(|h| host_load.get(*h).copied().unwrap_or(0))
                .cloned()
            else {
                break;
            };
            let index = job.elems[i].index;
            match spawn_runner(&ctx.dir, id, index) {
                Ok(pid) => {
                    let e: &mut Elem = &mut job.elems[i];
                    e.stat = Stat::Run;
                    e.start_ms = Some(ctx.now);
                    e.runner_pid = Some(pid as i32);
                    e.exec_hosts = vec![host.clone(); slots as usize];
                    *used.entry(job.queue.clone()).or_default() += slots;
                    *host_load.entry(host).or_default() += slots;
                    running += 1;
                }
                Err(e) => {
                    eprintln!("lsfsim: cannot start runner for job {id}: {e}");
                    return;
                }
            }
        }
    }
}

/// Hosts a job may run on: its -m request (groups expanded) or its queue's hosts, less those
/// its -R strings rule out with `hname!=HOST`.
pub fn eligible_hosts(ctx: &Ctx, job: &Job) -> Vec<String> {
    let excluded = excluded_hosts(&job.opts.resreq);
    let mut hosts = requested_hosts(ctx, job);
    hosts.retain(|h| !excluded.contains(h));
    hosts
}

/// The hosts `hname!=HOST` terms of resource requirement strings leave out.
pub fn excluded_hosts(resreq: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in resreq {
        for (i, _) in r.match_indices("hname!=") {
            let name: String = r[i + "hname!=".len()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn requested_hosts(ctx: &Ctx, job: &Job) -> Vec<String> {
    if job.opts.hosts_req.is_empty() {
        return ctx.cfg.queue_hosts(&job.queue);
    }
    let mut out = Vec::new();
    for name in &job.opts.hosts_req {
        let hosts = match ctx.cfg.hostgroup(name) {
            Some(g) => g.hosts.clone(),
            None => vec![name.clone()],
        };
        for h in hosts {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    out
}

fn spawn_runner(dir: &Path, id: u64, index: u32) -> std::io::Result<u32> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("__run")
        .arg(dir)
        .arg(id.to_string())
        .arg(index.to_string());
    sys::spawn_detached(&mut cmd)
}

/// bkill leaves this file for the runner, which escalates SIGINT to SIGTERM and SIGKILL.
pub fn marker_path(dir: &Path, id: u64, index: u32) -> std::path::PathBuf {
    dir.join("jobs").join(format!("{id}.{index}.kill"))
}

pub fn remove_marker(dir: &Path, id: u64, index: u32) {
    let _ = std::fs::remove_file(marker_path(dir, id, index));
}

/// Live usage the runner samples while the job runs (for bjobs MEM/CPU_USED/PIDS).
pub fn usage_path(dir: &Path, id: u64, index: u32) -> std::path::PathBuf {
    dir.join("jobs").join(format!("{id}.{index}.usage"))
}

pub fn script_path(dir: &Path, id: u64) -> std::path::PathBuf {
    dir.join("jobs").join(format!("{id}.sh"))
}

pub fn env_path(dir: &Path, id: u64) -> std::path::PathBuf {
    dir.join("jobs").join(format!("{id}.env.json"))
}
