//! bjobs field values (the `-o` vocabulary), rendered as LSF renders them; empty means "no value"
//! (printed `-` in -o text, `""` in -json).

use crate::Ctx;
use crate::report::{mem_str, short_hosts};
use crate::sched;
use crate::state::{Elem, Job, Stat, Term};
use crate::timefmt;

/// Live usage the runner samples for a running element.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Live {
    pub mem_kb: u64,
    pub max_mem_kb: u64,
    pub avg_mem_kb: u64,
    pub cpu_secs: f64,
    pub pids: Vec<i32>,
}

pub struct Row<'a> {
    pub job: &'a Job,
    pub elem: &'a Elem,
    pub live: Option<Live>,
}

impl<'a> Row<'a> {
    pub fn new(ctx: &Ctx, job: &'a Job, elem: &'a Elem) -> Row<'a> {
        let live = if elem.stat == Stat::Run {
            std::fs::read(sched::usage_path(&ctx.dir, job.id, elem.index))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
        } else {
            None
        };
        Row { job, elem, live }
    }
}

/// `-o` names and aliases (case-insensitive) → the canonical header / JSON key.
pub fn canonical(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "jobid" | "id" => "JOBID",
        "jobindex" => "JOBINDEX",
        "stat" => "STAT",
        "user" => "USER",
        "user_group" | "ugroup" => "USER_GROUP",
        "queue" => "QUEUE",
        "job_name" | "name" => "JOB_NAME",
        "job_description" | "description" => "JOB_DESCRIPTION",
        "proj_name" | "proj" | "project" => "PROJ_NAME",
        "application" | "app" => "APPLICATION",
        "service_class" | "sla" => "SERVICE_CLASS",
        "job_group" | "group" => "JOB_GROUP",
        "job_priority" | "priority" => "JOB_PRIORITY",
        "dependency" => "DEPENDENCY",
        "pend_reason" => "PEND_REASON",
        "command" | "cmd" => "COMMAND",
        "pids" => "PIDS",
        "exit_code" => "EXIT_CODE",
        "exit_reason" => "EXIT_REASON",
        "from_host" => "FROM_HOST",
        "first_host" => "FIRST_HOST",
        "exec_host" => "EXEC_HOST",
        "nexec_host" => "NEXEC_HOST",
        "alloc_slot" => "ALLOC_SLOT",
        "nalloc_slot" => "NALLOC_SLOT",
        "nreq_slot" => "NREQ_SLOT",
        "slots" => "SLOTS",
        "exclusive" => "EXCLUSIVE",
        "submit_time" => "SUBMIT_TIME",
        "start_time" => "START_TIME",
        "finish_time" => "FINISH_TIME",
        "time_left" => "TIME_LEFT",
        "%complete" => "%COMPLETE",
        "run_time" => "RUN_TIME",
        "cpu_used" => "CPU_USED",
        "ru_utime" => "RU_UTIME",
        "ru_stime" => "RU_STIME",
        "mem" => "MEM",
        "max_mem" => "MAX_MEM",
        "avg_mem" => "AVG_MEM",
        "memlimit" => "MEMLIMIT",
        "swap" => "SWAP",
        "swaplimit" => "SWAPLIMIT",
        "runtimelimit" => "RUNTIMELIMIT",
        "input_file" => "INPUT_FILE",
        "output_file" => "OUTPUT_FILE",
        "error_file" => "ERROR_FILE",
        "sub_cwd" => "SUB_CWD",
        "exec_home" => "EXEC_HOME",
        "exec_cwd" => "EXEC_CWD",
        "effective_resreq" | "eresreq" => "EFFECTIVE_RESREQ",
        "gpu_num" => "GPU_NUM",
        _ => return None,
    })
}

const DEFAULT_RESREQ: &str = "select[type == local] order[r15s:pg] ";

fn secs(ms: u64) -> u64 {
    ms / 1000
}

/// Why a pending element is still pending.
pub fn pend_reason(job: &Job) -> &'static str {
    let running = job.elems.iter().filter(|e| e.stat == Stat::Run).count() as u32;
    if job.array_limit.is_some_and(|k| running >= k) {
        return "The job array has reached its job slot limit;";
    }
    "The queue has reached its job slot limit;"
}

/// The value of field `key` for one row, or "" when LSF would show none.
pub fn value(ctx: &Ctx, row: &Row, key: &str, hms: bool, unit: Option<char>) -> String {
    let (job, e) = (row.job, row.elem);
    let ran = e.start_ms.is_some() && e.stat != Stat::Pend;
    let now = ctx.now;
    let run_secs = match (e.start_ms, e.finish_ms) {
        (Some(s), Some(f)) => secs(f.saturating_sub(s)),
        (Some(s), None) => secs(now.saturating_sub(s)),
        _ => 0,
    };
    let cpu = if e.stat == Stat::Run {
        row.live.as_ref().map(|l| l.cpu_secs).unwrap_or(0.0)
    } else {
        e.cpu_secs
    };
    let limit_ms = job.opts.runlimit_min.map(|m| m * 60_000);
    let mem = |kb: u64| match unit {
        Some(u) => mem_in_unit(kb, u),
        None => mem_str(kb),
    };
    match key {
        "JOBID" => job.id.to_string(),
        "JOBINDEX" => e.index.to_string(),
        "STAT" => e.stat.as_str().to_string(),
        "USER" => job.user.clone(),
        "QUEUE" => job.queue.clone(),
        "JOB_NAME" => job.elem_name(e),
        "PROJ_NAME" => job.opts.project.clone().unwrap_or_else(|| "default".into()),
        "PEND_REASON" if e.stat == Stat::Pend => pend_reason(job).to_string(),
        "COMMAND" => job.command.clone(),
        "PIDS" => match (&row.live, e.job_pid) {
            (Some(l), _) if !l.pids.is_empty() => l
                .pids
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            (_, Some(p)) if ran => p.to_string(),
            _ => String::new(),
        },
        "EXIT_CODE" if e.stat == Stat::Exit => {
            e.exit_code.map(|c| c.to_string()).unwrap_or_default()
        }
        "EXIT_REASON" => match e.term {
            Some(Term::Owner) => "Killed by owner".into(),
            Some(Term::Lost) => "Job lost with its execution host".into(),
            Some(Term::MemLimit) => "Killed after reaching LSF memory usage limit".into(),
            Some(Term::RunLimit) => "Killed after reaching LSF run time limit".into(),
            None => String::new(),
        },
        "FROM_HOST" => job.from_host.clone(),
        "FIRST_HOST" if ran => e.exec_hosts.first().cloned().unwrap_or_default(),
        "EXEC_HOST" if ran => e.exec_hosts.join(":"),
        "NEXEC_HOST" if ran => {
            let mut h = e.exec_hosts.clone();
            h.dedup();
            h.len().to_string()
        }
        "ALLOC_SLOT" if ran => short_hosts(&e.exec_hosts),
        "NALLOC_SLOT" if ran => e.exec_hosts.len().to_string(),
        "NREQ_SLOT" | "SLOTS" => job.opts.slots.max(1).to_string(),
        "EXCLUSIVE" => if job.opts.exclusive { "Y" } else { "N" }.into(),
        "SUBMIT_TIME" => timefmt::short(job.submit_ms),
        "START_TIME" if ran => timefmt::short(e.start_ms.unwrap_or(0)),
        "FINISH_TIME" => match (e.finish_ms, e.start_ms, limit_ms) {
            (Some(f), _, Some(_)) => format!("{} L", timefmt::short(f)),
            (Some(f), _, None) => timefmt::short(f),
            (None, Some(s), Some(l)) => format!("{} L", timefmt::short(s + l)),
            _ => String::new(),
        },
        "TIME_LEFT" if e.stat == Stat::Run => match (e.start_ms, limit_ms) {
            (Some(s), Some(l)) => {
                let left = secs((s + l).saturating_sub(now));
                if hms {
                    format!("{} L", timefmt::hms(left))
                } else {
                    // hours:minutes, unpadded ("0:1 L"), as LSF prints it
                    format!("{}:{} L", left / 3600, left / 60 % 60)
                }
            }
            _ => String::new(),
        },
        "%COMPLETE" if e.stat == Stat::Run => match (e.start_ms, limit_ms) {
            (Some(s), Some(l)) if l > 0 => {
                format!(
                    "{:.0}% L",
                    (now.saturating_sub(s) as f64 / l as f64 * 100.0).min(100.0)
                )
            }
            _ => String::new(),
        },
        "RUN_TIME" => {
            if hms {
                timefmt::hms(run_secs)
            } else {
                format!("{run_secs} second(s)")
            }
        }
        "CPU_USED" | "RU_UTIME" if ran => {
            if hms {
                timefmt::hms(cpu.ceil() as u64)
            } else {
                format!("{cpu:.1} second(s)")
            }
        }
        "RU_STIME" if ran => {
            if hms {
                timefmt::hms(0)
            } else {
                "0.0 second(s)".into()
            }
        }
        "MEM" if e.stat == Stat::Run => mem(row.live.as_ref().map(|l| l.mem_kb).unwrap_or(0)),
        "MAX_MEM" if ran => mem(match &row.live {
            Some(l) if e.stat == Stat::Run => l.max_mem_kb,
            _ => e.max_rss_kb,
        }),
        "AVG_MEM" if ran => mem(match &row.live {
            Some(l) if e.stat == Stat::Run => l.avg_mem_kb,
            _ => e.avg_rss_kb,
        }),
        "MEMLIMIT" => job
            .opts
            .mem_limit_mb
            .map(|mb| mem((mb * 1024.0) as u64))
            .unwrap_or_default(),
        "RUNTIMELIMIT" => limit_ms.map(|l| timefmt::hms(secs(l))).unwrap_or_default(),
        "OUTPUT_FILE" => job
            .opts
            .out
            .as_deref()
            .map(|o| subst(o, job, e))
            .unwrap_or_default(),
        "ERROR_FILE" => job
            .opts
            .err
            .as_deref()
            .map(|o| subst(o, job, e))
            .unwrap_or_default(),
        "SUB_CWD" => job.cwd.clone(),
        "EXEC_CWD" if ran => job.cwd.clone(),
        "EXEC_HOME" if ran => crate::sys::home(),
        "EFFECTIVE_RESREQ" => {
            if job.opts.resreq.is_empty() {
                DEFAULT_RESREQ.into()
            } else {
                format!("{DEFAULT_RESREQ}{} ", job.opts.resreq.join(" "))
            }
        }
        "GPU_NUM" => job
            .opts
            .gpu
            .as_deref()
            .and_then(|g| {
                g.split(':')
                    .find_map(|kv| kv.trim().strip_prefix("num="))
                    .map(str::to_string)
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn subst(spec: &str, job: &Job, e: &Elem) -> String {
    spec.replace("%J", &job.id.to_string())
        .replace("%I", &e.index.to_string())
}

/// `max_mem:10:G` style units: the number in that unit, one decimal, with the unit letter.
fn mem_in_unit(kb: u64, unit: char) -> String {
    if kb == 0 {
        return String::new();
    }
    let kb = kb as f64;
    let (v, u) = match unit.to_ascii_uppercase() {
        'K' => (kb, "K"),
        'M' => (kb / 1024.0, "M"),
        'G' => (kb / 1024.0 / 1024.0, "G"),
        'T' => (kb / 1024.0 / 1024.0 / 1024.0, "T"),
        _ => return mem_str(kb as u64),
    };
    format!("{v:.1} {u}")
}
