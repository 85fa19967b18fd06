//! The job report LSF appends to the `-o` file (shape of `joboutput-trailer-done.txt`), and the
//! memory renderings shared with bjobs/bhist.

use crate::state::{Elem, Job, Stat, Term};
use crate::timefmt;

pub struct Report<'a> {
    pub job: &'a Job,
    pub elem: &'a Elem,
    pub cluster: &'a str,
    pub home: &'a str,
    pub script: &'a str,
    /// Set when -e sent stderr elsewhere (LSF then adds a "PS:" pointer to it).
    pub err_file: Option<&'a str>,
}

const DASHES: &str = "------------------------------------------------------------";

/// `"    CPU time :" + padding`: values start in column 49 as in the real report.
fn usage_line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("    {:<45}{}\n", format!("{label} :"), value));
}

/// The TERM_* line LSF prints before the exit line, if any.
pub fn term_line(term: Option<Term>) -> Option<&'static str> {
    match term {
        Some(Term::Owner) => Some("TERM_OWNER: job killed by owner."),
        // As in the job output of `shared/lsf/joboutput-term-memlimit-snippet.txt`.
        Some(Term::MemLimit) => {
            Some("TERM_MEMLIMIT: job killed after reaching LSF memory usage limit.")
        }
        // IBM's words for TERM_RUNLIMIT, in the form of the TERM_MEMLIMIT line.
        Some(Term::RunLimit) => {
            Some("TERM_RUNLIMIT: job killed after reaching LSF run time limit.")
        }
        Some(Term::Lost) => None,
        None => None,
    }
}

pub fn render(r: &Report) -> String {
    let (job, e) = (r.job, r.elem);
    let name = job.elem_name(e);
    let start = e.start_ms.unwrap_or(job.submit_ms);
    let finish = e.finish_ms.unwrap_or(start);
    let done = e.stat == Stat::Done;
    let mut s = String::new();
    s.push_str(DASHES);
    s.push('\n');
    s.push_str(&format!(
        "Sender: LSF System <lsfadmin@{}>\n",
        first_host(e)
    ));
    s.push_str(&format!(
        "Subject: Job {}: <{}> in cluster <{}> {}\n\n",
        job.elem_id(e),
        name,
        r.cluster,
        if done { "Done" } else { "Exited" }
    ));
    s.push_str(&format!(
        "Job <{}> was submitted from host <{}> by user <{}> in cluster <{}> at {}\n",
        name,
        job.from_host,
        job.user,
        r.cluster,
        timefmt::ctime(job.submit_ms)
    ));
    s.push_str(&format!(
        "Job was executed on host(s) <{}>, in queue <{}>, as user <{}> in cluster <{}> at {}\n",
        short_hosts(&e.exec_hosts),
        job.queue,
        job.user,
        r.cluster,
        timefmt::ctime(start)
    ));
    s.push_str(&format!("<{}> was used as the home directory.\n", r.home));
    s.push_str(&format!(
        "<{}> was used as the working directory.\n",
        job.cwd
    ));
    s.push_str(&format!("Started at {}\n", timefmt::ctime(start)));
    s.push_str(&format!("Terminated at {}\n", timefmt::ctime(finish)));
    s.push_str(&format!(
        "Results reported at {}\n\n",
        timefmt::ctime(finish)
    ));
    s.push_str("Your job looked like:\n\n");
    s.push_str(DASHES);
    s.push_str("\n# LSBATCH: User input\n");
    s.push_str(r.script.trim_end_matches('\n'));
    s.push_str("\n\n");
    s.push_str(DASHES);
    s.push_str("\n\n");
    if let Some(t) = term_line(e.term) {
        s.push_str(t);
        s.push('\n');
    }
    if done {
        s.push_str("Successfully completed.\n");
    } else {
        s.push_str(&format!(
            "Exited with exit code {}.\n",
            e.exit_code.unwrap_or(1)
        ));
    }
    s.push_str("\nResource usage summary:\n\n");
    let max_mb = kb_to_mb_ceil(e.max_rss_kb);
    let avg_mb = e.avg_rss_kb as f64 / 1024.0;
    usage_line(&mut s, "CPU time", &format!("{:.2} sec.", e.cpu_secs));
    usage_line(&mut s, "Max Memory", &format!("{max_mb} MB"));
    usage_line(&mut s, "Average Memory", &format!("{avg_mb:.2} MB"));
    match job.opts.mem_limit_mb {
        Some(req) => {
            usage_line(&mut s, "Total Requested Memory", &format!("{req:.2} MB"));
            usage_line(
                &mut s,
                "Delta Memory",
                &format!("{:.2} MB", req - max_mb as f64),
            );
        }
        None => {
            usage_line(&mut s, "Total Requested Memory", "-");
            usage_line(&mut s, "Delta Memory", "-");
        }
    }
    usage_line(&mut s, "Max Swap", "-");
    usage_line(&mut s, "Max Processes", &e.max_procs.max(1).to_string());
    usage_line(&mut s, "Max Threads", &e.max_threads.max(1).to_string());
    usage_line(
        &mut s,
        "Run time",
        &format!("{} sec.", finish.saturating_sub(start) / 1000),
    );
    usage_line(
        &mut s,
        "Turnaround time",
        &format!("{} sec.", finish.saturating_sub(job.submit_ms) / 1000),
    );
    s.push_str("\nThe output (if any) is above this job summary.\n\n");
    if let Some(err) = r.err_file {
        s.push_str(&format!(
            "\n\nPS:\n\nRead file <{err}> for stderr output of this job.\n\n"
        ));
    }
    s
}

/// OpenLava's report (sbd.job.c), which comes BEFORE the job's output: the sender and subject
/// without a cluster, no `Terminated at`, and only CPU time, Max Memory, Max Swap and Max
/// Processes; it ends with "The output (if any) follows:" and a blank line, and the runner
/// appends the output (and the "PS:" naming the stderr file) after it.
pub fn render_openlava(r: &Report, master: &str, from_stdin: bool) -> String {
    let (job, e) = (r.job, r.elem);
    let start = e.start_ms.unwrap_or(job.submit_ms);
    let finish = e.finish_ms.unwrap_or(start);
    let done = e.stat == Stat::Done;
    let name = job.submitted_name();
    let mut s = String::new();
    s.push_str(&format!("Sender: OpenLava System <openlava@{master}>\n"));
    s.push_str(&format!(
        "Subject: Job {}: <{name}> {}\n\n",
        job.elem_id(e),
        if done { "Done" } else { "Exited" }
    ));
    s.push_str(&format!(
        "Job <{name}> was submitted from host <{}> by user <{}>.\n",
        job.from_host, job.user
    ));
    let mut hosts: Vec<(String, usize)> = Vec::new();
    for h in &e.exec_hosts {
        match hosts.iter_mut().find(|(n, _)| n == h) {
            Some((_, c)) => *c += 1,
            None => hosts.push((h.clone(), 1)),
        }
    }
    let first = match hosts.as_slice() {
        [(h, 1)] => h.clone(),
        [(h, c), ..] => format!("{c}*{h}"),
        [] => first_host(e).to_string(),
    };
    s.push_str(&format!(
        "Job was executed on host(s) <{first}>, in queue <{}>, as user <{}>.\n",
        job.queue, job.user
    ));
    if hosts.len() > 1 || hosts.first().is_some_and(|(_, c)| *c > 1) {
        for (h, c) in hosts.iter().skip(1) {
            s.push_str(&format!("                            <{c}*{h}>\n"));
        }
    }
    s.push_str(&format!("<{}> was used as the home directory.\n", r.home));
    s.push_str(&format!(
        "<{}> was used as the working directory.\n",
        job.cwd
    ));
    s.push_str(&format!("Started at {}\n", timefmt::ctime(start)));
    s.push_str(&format!("Results reported at {}\n", timefmt::ctime(finish)));
    s.push_str("\nYour job looked like:\n\n");
    s.push_str(DASHES);
    s.push_str("\n# LSBATCH: User input\n");
    s.push_str(r.script.trim_end_matches('\n'));
    // A spooled script is echoed with the blank line its job file has after it.
    s.push_str(if from_stdin { "\n\n" } else { "\n" });
    s.push_str(DASHES);
    s.push_str("\n\n");
    // OpenLava's CPU time includes its job starter, so even `true` shows 0.01 s; with none at
    // all it would print a bare "Exited" and no usage summary, which a simulated job whose CPU
    // time rounds to nothing must not imitate.
    let cpu = e.cpu_secs.max(0.01);
    match (done, e.signal) {
        (true, _) => s.push_str("Successfully completed"),
        (false, Some(sig)) => s.push_str(&format!(
            "Exited with signal termination: {}",
            signal_name(sig)
        )),
        (false, None) => s.push_str(&format!(
            "Exited with exit code {}",
            e.exit_code.unwrap_or(1)
        )),
    }
    s.push_str(".\n\nResource usage summary:\n\n");
    s.push_str(&format!("    CPU time   :{cpu:10.2} sec.\n"));
    let kb = |k: u64, label: &str, pad: &str| match k {
        0 => String::new(),
        k if k > 1024 => format!("    {label}{pad}:{:10} MB\n", (k + 512) / 1024),
        k => format!("    {label}{pad}:{k:10} KB\n"),
    };
    s.push_str(&kb(e.max_rss_kb, "Max Memory", " "));
    let swap = kb(e.max_swap_kb, "Max Swap", "   ");
    if !swap.is_empty() {
        s.push_str(&swap);
        s.push('\n');
    }
    s.push_str(&format!("    Max Processes  :{:10}\n", e.max_procs.max(1)));
    s.push_str("\nThe output (if any) follows:\n\n");
    s
}

/// strsignal(3)'s words for the signals a job dies of.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "Hangup".into(),
        libc::SIGINT => "Interrupt".into(),
        libc::SIGQUIT => "Quit".into(),
        libc::SIGABRT => "Aborted".into(),
        libc::SIGKILL => "Killed".into(),
        libc::SIGSEGV => "Segmentation fault".into(),
        libc::SIGPIPE => "Broken pipe".into(),
        libc::SIGTERM => "Terminated".into(),
        libc::SIGUSR1 => "User defined signal 1".into(),
        libc::SIGUSR2 => "User defined signal 2".into(),
        n => format!("Unknown signal {n}"),
    }
}

fn first_host(e: &Elem) -> &str {
    e.exec_hosts
        .first()
        .map(String::as_str)
        .unwrap_or("localhost")
}

/// `host` or `N*host` per distinct host, the way LSF abbreviates slot lists in reports.
pub fn short_hosts(hosts: &[String]) -> String {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for h in hosts {
        match groups.iter_mut().find(|(n, _)| n == h) {
            Some((_, c)) => *c += 1,
            None => groups.push((h.clone(), 1)),
        }
    }
    groups
        .iter()
        .map(|(h, c)| {
            if *c > 1 {
                format!("{c}*{h}")
            } else {
                h.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

pub fn kb_to_mb_ceil(kb: u64) -> u64 {
    kb.div_ceil(1024)
}

/// bjobs-style memory: "522 Kbytes", "2 Mbytes", "5.2 Gbytes"; empty when unknown.
pub fn mem_str(kb: u64) -> String {
    if kb == 0 {
        String::new()
    } else if kb < 1024 {
        format!("{kb} Kbytes")
    } else if kb < 1024 * 1024 {
        format!("{} Mbytes", (kb as f64 / 1024.0).round() as u64)
    } else {
        format!("{:.1} Gbytes", kb as f64 / (1024.0 * 1024.0))
    }
}
