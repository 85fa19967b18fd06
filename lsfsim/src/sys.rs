//! Thin wrappers over the OS: clocks, detached processes, signals, rusage, /proc sampling, names.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts `cmd` in its own session with stdio on /dev/null and does not wait for it, so the
/// calling command (bsub, bjobs) returns at once and its pipes close. SIGINT and SIGQUIT go
/// back to their defaults: LSF's daemons start jobs that way, while a bsub run from a
/// background shell (`cmd &`) has them ignored, and its jobs would then outlive bkill's SIGINT.
pub fn spawn_detached(cmd: &mut Command) -> std::io::Result<u32> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid and signal are async-signal-safe and touch no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id())
}

/// Is `pid` still the runner of this job element? Checks the command line, not just the pid, so a
/// recycled pid does not keep a dead job RUN forever.
pub fn runner_alive(pid: i32, job: u64, index: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => {
            // argv is: lsfsim __run DIR JOBID INDEX
            let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            args.len() >= 5
                && args[1] == b"__run"
                && args[3] == job.to_string().as_bytes()
                && args[4] == index.to_string().as_bytes()
                && !is_zombie(pid)
        }
        // No /proc (not Linux): fall back to a plain existence check.
        Err(_) if !std::path::Path::new("/proc/self").exists() => {
            // SAFETY: signal 0 only checks for existence.
            unsafe { libc::kill(pid, 0) == 0 }
        }
        Err(_) => false,
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Sends `sig` to the process group `pgid`; errors (group already gone) are ignored.
pub fn kill_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: plain syscall; a negative pid addresses the process group.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// CPU seconds and max RSS (KB) of all waited-for children of this process.
pub fn rusage_children() -> (f64, u64) {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return (0.0, 0);
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (
        secs(ru.ru_utime) + secs(ru.ru_stime),
        ru.ru_maxrss.max(0) as u64,
    )
}

/// One look at a job's processes: those whose process group is `pgid`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sample {
    pub procs: u32,
    pub threads: u32,
    pub rss_kb: u64,
    /// Virtual memory of the processes together: what OpenLava reports as "Swap".
    pub vsize_kb: u64,
    pub cpu_secs: f64,
}

pub fn sample_group(pgid: i32) -> (Sample, Vec<i32>) {
    let mut s = Sample::default();
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (s, pids);
    };
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page_kb = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) / 1024) as u64;
    for ent in dir.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command name; the name may hold spaces.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // f[0]=state f[2]=pgrp f[11]=utime f[12]=stime f[13]=cutime f[14]=cstime f[17]=threads
        // f[20]=vsize (bytes) f[21]=rss (pages)
        if f.len() < 22 || f[2].parse::<i32>().ok() != Some(pgid) || f[0] == "Z" {
            continue;
        }
        let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        s.procs += 1;
        s.threads += n(17) as u32;
        s.rss_kb += n(21) * page_kb;
        s.vsize_kb += n(20) / 1024;
        s.cpu_secs += (n(11) + n(12) + n(13) + n(14)) as f64 / tick;
        pids.push(pid);
    }
    pids.sort_unstable();
    (s, pids)
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is ours and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let full = String::from_utf8_lossy(&buf[..end]).into_owned();
    // LSF shows short host names in bjobs.
    full.split('.').next().unwrap_or("localhost").to_string()
}

pub fn username() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    "lsfuser".into()
}

pub fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/".into())
}
