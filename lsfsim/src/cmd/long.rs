//! Long, event-style job records: `bhist -l` and `bjobs -l`/`-UF`, wrapped at 79 columns with
//! LSF's 21-space continuation indent (tokens split mid-word, as the real commands do).

use crate::Ctx;
use crate::cmd::fields::{self, Row};
use crate::report::{mem_str, short_hosts, term_line};
use crate::state::{Elem, Job, Stat};
use crate::timefmt;

pub const SEPARATOR: &str =
    "------------------------------------------------------------------------------";
const WIDTH: usize = 79;
const INDENT: usize = 21;

/// Hard-wraps one logical line the way LSF does.
pub fn wrap(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= WIDTH {
        return format!("{line}\n");
    }
    let mut out: String = chars[..WIDTH].iter().collect();
    out.push('\n');
    for chunk in chars[WIDTH..].chunks(WIDTH - INDENT) {
        out.push_str(&" ".repeat(INDENT));
        out.extend(chunk);
        out.push('\n');
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Bhist,
    Bjobs,
}

fn cwd_display(cwd: &str) -> String {
    let home = crate::sys::home();
    if home.len() > 1 && (cwd == home || cwd.starts_with(&format!("{home}/"))) {
        format!("$HOME{}", &cwd[home.len()..])
    } else {
        cwd.to_string()
    }
}

/// One job element's record, starting with the blank line LSF prints before each.
pub fn record(ctx: &Ctx, job: &Job, e: &Elem, flavor: Flavor, unwrapped: bool) -> String {
    let emit = |out: &mut String, line: String| {
        if unwrapped {
            out.push_str(&line);
            out.push('\n');
        } else {
            out.push_str(&wrap(&line));
        }
    };
    let mut out = String::from("\n");
    let mut head = format!("Job <{}>, ", job.elem_id(e));
    if job.named {
        head.push_str(&format!("Job Name <{}>, ", job.elem_name(e)));
    }
    head.push_str(&format!(
        "User <{}>, Project <{}>, ",
        job.user,
        job.opts.project.as_deref().unwrap_or("default")
    ));
    if flavor == Flavor::Bjobs {
        head.push_str(&format!(
            "Status <{}>, Queue <{}>, Command <{}>, Share group charged </{}>",
            e.stat.as_str(),
            job.queue,
            job.command,
            job.user
        ));
    } else {
        head.push_str(&format!("Command <{}>", job.command));
    }
    emit(&mut out, head);

    let mut sub = format!(
        "{}: Submitted from host <{}>, ",
        timefmt::event(job.submit_ms),
        job.from_host
    );
    if flavor == Flavor::Bhist {
        sub.push_str(&format!("to Queue <{}>, ", job.queue));
    }
    sub.push_str(&format!("CWD <{}>", cwd_display(&job.cwd)));
    if let Some(o) = &job.opts.out {
        sub.push_str(&format!(", Output File <{o}>"));
    }
    if let Some(er) = &job.opts.err {
        sub.push_str(&format!(", Error File <{er}>"));
    }
    if !job.opts.resreq.is_empty() {
        sub.push_str(&format!(
            ", Requested Resources <{}>",
            job.opts.resreq.join(" ")
        ));
    }
    if !job.opts.hosts_req.is_empty() {
        let hosts: Vec<String> = job
            .opts
            .hosts_req
            .iter()
            .map(|h| format!("<{h}>"))
            .collect();
        sub.push_str(&format!(", Specified Hosts {}", hosts.join(", ")));
    }
    sub.push(';');
    emit(&mut out, sub);

    let home = crate::sys::home();
    let ran = e.start_ms.is_some();
    if let Some(start) = e.start_ms {
        let t = timefmt::event(start);
        let n = e.exec_hosts.len();
        let hosts = short_hosts(&e.exec_hosts);
        if flavor == Flavor::Bhist {
            emit(
                &mut out,
                format!(
                    "{t}: Dispatched {n} Task(s) on Host(s) <{hosts}>, Allocated {n} Slot(s) on Host(s) <{hosts}>, Effective RES_REQ <{}>;",
                    fields::value(
                        ctx,
                        &Row {
                            job,
                            elem: e,
                            live: None
                        },
                        "EFFECTIVE_RESREQ",
                        false,
                        None
                    )
                ),
            );
            if let Some(pid) = e.job_pid {
                emit(&mut out, format!("{t}: Starting (Pid {pid});"));
                emit(
                    &mut out,
                    format!(
                        "{t}: Running with execution home <{home}>, Execution CWD <{}>, Execution Pid <{pid}>;",
                        job.cwd
                    ),
                );
            }
        } else {
            emit(
                &mut out,
                format!(
                    "{t}: Started {n} Task(s) on Host(s) <{hosts}>, Allocated {n} Slot(s) on Host(s) <{hosts}>, Execution Home <{home}>, Execution CWD <{}>;",
                    job.cwd
                ),
            );
        }
    }
    if flavor == Flavor::Bhist
        && let Some(k) = e.kill_ms
    {
        emit(
            &mut out,
            format!(
                "{}: Signal <KILL> requested by user or administrator <{}>;",
                timefmt::event(k),
                job.user
            ),
        );
    }
    let end = if flavor == Flavor::Bhist { ';' } else { '.' };
    if e.stat == Stat::Run && flavor == Flavor::Bjobs {
        let row = Row::new(ctx, job, e);
        let mem = fields::value(ctx, &row, "MEM", false, None);
        let pids = fields::value(ctx, &row, "PIDS", false, None);
        emit(
            &mut out,
            format!(
                "{}: Resource usage collected. The CPU time used is {} seconds. MEM: {}; PGID: {}; PIDs: {}",
                timefmt::event(ctx.now),
                row.live
                    .as_ref()
                    .map(|l| l.cpu_secs.round() as u64)
                    .unwrap_or(0),
                if mem.is_empty() {
                    "0 Mbytes".into()
                } else {
                    mem
                },
                e.job_pid.map(|p| p.to_string()).unwrap_or_default(),
                pids.replace(',', " ")
            ),
        );
    }
    if let Some(f) = e.finish_ms {
        let t = timefmt::event(f);
        match (e.stat, e.exit_code) {
            (Stat::Done, _) => emit(
                &mut out,
                format!(
                    "{t}: Done successfully. The CPU time used is {:.1} seconds{end}",
                    e.cpu_secs
                ),
            ),
            (_, Some(c)) if ran => emit(
                &mut out,
                format!(
                    "{t}: Exited with exit code {c}. The CPU time used is {:.1} seconds{end}",
                    e.cpu_secs
                ),
            ),
            _ => {}
        }
        // The TERM_ line of an end LSF caused (bkill, a limit); a lost job has none.
        let owner = term_line(e.term);
        match (flavor, owner) {
            (_, Some(l)) => emit(&mut out, format!("{t}: Completed <exit>; {l}")),
            (Flavor::Bjobs, None) if e.stat == Stat::Exit => {
                emit(&mut out, format!("{t}: Completed <exit>."))
            }
            _ => {}
        }
        if flavor == Flavor::Bhist && ran {
            emit(
                &mut out,
                format!("{t}: Post job process done successfully;"),
            );
        }
    }
    match flavor {
        Flavor::Bhist => bhist_tail(ctx, job, e, &mut out),
        Flavor::Bjobs => bjobs_tail(job, e, &mut out),
    }
    out
}

fn bhist_tail(ctx: &Ctx, job: &Job, e: &Elem, out: &mut String) {
    if e.stat.finished() && e.start_ms.is_some() && e.max_rss_kb > 0 {
        let max = mem_str(e.max_rss_kb);
        let avg = mem_str(e.avg_rss_kb);
        out.push_str("\n\nMEMORY USAGE:\n");
        out.push_str(&format!(
            "MAX MEM: {};  AVG MEM: {}; MEM Efficiency: 0.00%\n",
            if max.is_empty() {
                "0 Mbytes".into()
            } else {
                max
            },
            if avg.is_empty() {
                "0 Mbytes".into()
            } else {
                avg
            }
        ));
        out.push_str("\nCPU USAGE:\n");
        out.push_str("CPU PEAK: 0.00 ;  CPU PEAK DURATION: 0 second(s)\n");
        out.push_str("CPU AVERAGE EFFICIENCY: 0.00% ;  CPU PEAK EFFICIENCY: 0.00%\n");
    }
    let by = e.finish_ms.unwrap_or(ctx.now);
    let (pend, run) = times(ctx, job, e);
    out.push_str(&format!(
        "\nSummary of time in seconds spent in various states by  {}\n",
        timefmt::event(by)
    ));
    out.push_str("  PEND     PSUSP    RUN      USUSP    SSUSP    UNKWN    TOTAL\n");
    out.push_str(&format!(
        "  {:<9}{:<9}{:<9}{:<9}{:<9}{:<9}{}\n",
        pend,
        0,
        run,
        0,
        0,
        0,
        pend + run
    ));
}

/// Seconds pending and running so far.
pub fn times(ctx: &Ctx, job: &Job, e: &Elem) -> (u64, u64) {
    let end = e.finish_ms.unwrap_or(ctx.now);
    match e.start_ms {
        Some(s) => (
            s.saturating_sub(job.submit_ms) / 1000,
            end.saturating_sub(s) / 1000,
        ),
        None => (end.saturating_sub(job.submit_ms) / 1000, 0),
    }
}

fn bjobs_tail(job: &Job, e: &Elem, out: &mut String) {
    if e.stat == Stat::Pend {
        out.push_str("\n PENDING REASONS:\n");
        out.push_str(&format!(" {}\n", fields::pend_reason(job)));
    }
    if e.stat.finished() && e.start_ms.is_some() && e.max_rss_kb > 0 {
        let max = mem_str(e.max_rss_kb);
        let avg = mem_str(e.avg_rss_kb);
        out.push_str("\n MEMORY USAGE:\n");
        out.push_str(&format!(" MAX MEM: {max};  AVG MEM: {avg}\n"));
    }
    out.push_str("\n SCHEDULING PARAMETERS:\n");
    out.push_str(
        "           r15s   r1m  r15m   ut      pg    io   ls    it    tmp    swp    mem\n",
    );
    out.push_str(
        " loadSched   -     -     -     -       -     -    -     -     -      -      -  \n",
    );
    out.push_str(
        " loadStop    -     -     -     -       -     -    -     -     -      -      -  \n",
    );
}

/// OpenLava's `prtLine` (cmd.misc.c): text goes out through one cursor over the whole
/// output. Before a character in column 80 it breaks the line and indents the rest by 21
/// spaces, dropping a space that would start the new line; a newline resets the cursor. Text
/// OpenLava prints with plain printf (the RUNLIMIT table, the state summary) bypasses it and
/// leaves the cursor alone.
struct Prt {
    out: String,
    cursor: usize,
    /// `-UF`: no wrapping at all.
    unwrapped: bool,
}

impl Prt {
    fn new(unwrapped: bool) -> Prt {
        Prt {
            out: String::new(),
            cursor: 0,
            unwrapped,
        }
    }

    fn line(&mut self, text: &str) {
        if self.unwrapped {
            self.out.push_str(text);
            return;
        }
        let chars: Vec<char> = text.chars().collect();
        if chars.first() == Some(&'\n') {
            self.cursor = 0;
        }
        let mut i = 0;
        while i < chars.len() {
            if self.cursor == 80 {
                self.out.push('\n');
                self.out.push_str(&" ".repeat(21));
                self.cursor = 22;
                if chars[i] == ' ' {
                    i += 1;
                    if i == chars.len() {
                        break;
                    }
                }
            }
            self.out.push(chars[i]);
            if chars[i] == '\n' {
                self.cursor = 0;
            }
            self.cursor += 1;
            i += 1;
        }
    }

    fn raw(&mut self, text: &str) {
        self.out.push_str(text);
    }
}

/// The `RUNLIMIT` table OpenLava prints under the submission (`prtResourceLimit`) for a job
/// with `bsub -W`; a queue's limit is not shown. The limit is shown in real minutes, as the
/// simulator enforces it (`runlimit_minute_ms`): a job killed at its limit then shows a run as
/// long as the limit, as on OpenLava (with 6000 ms a limit-minute, `-W 1` prints `0.1 min`).
fn openlava_limits(job: &Job, e: &Elem, minute_ms: u64) -> String {
    let Some(min) = job.opts.runlimit_min else {
        return String::new();
    };
    let host = e.exec_hosts.first().unwrap_or(&job.from_host);
    let real = min as f64 * minute_ms as f64 / 60_000.0;
    let value = format!(" {real:.1} min of {host}");
    format!("\n {:<24}\n{value:<25}\n", "RUNLIMIT")
}

/// OpenLava's `bhist -l` or `bjobs -l`/`-UF` records of `rows`, as one output (the wrapping
/// cursor runs through all of them): bhist.c `printEvent`, cmd.job.c `displayLong`.
pub fn openlava_records(ctx: &Ctx, rows: &[(&Job, &Elem)], flavor: Flavor, uf: bool) -> String {
    let mut p = Prt::new(uf);
    for (i, (job, e)) in rows.iter().enumerate() {
        if i > 0 {
            p.line(&format!("{SEPARATOR}\n"));
        }
        match flavor {
            Flavor::Bhist => openlava_bhist(ctx, job, e, &mut p),
            Flavor::Bjobs => openlava_bjobs(ctx, job, e, &mut p),
        }
    }
    match flavor {
        Flavor::Bhist => p.raw("\n"),
        Flavor::Bjobs if uf => p.raw("\n"),
        Flavor::Bjobs => p.line("\n"),
    }
    p.out
}

fn openlava_head(job: &Job, e: &Elem, p: &mut Prt, word: &str) {
    p.line(&format!("\n{word} <{}>", job.elem_id(e)));
    if job.named {
        p.line(&format!(", Job Name <{}>", job.elem_name(e)));
    }
    p.line(&format!(
        ", User <{}>, Project <{}>",
        job.user,
        job.opts.project.as_deref().unwrap_or("default")
    ));
}

fn openlava_files(job: &Job, p: &mut Prt) {
    p.line(&format!(", CWD <{}>", cwd_display(&job.cwd)));
    if let Some(o) = &job.opts.out {
        p.line(&format!(", Output File <{o}>"));
    }
    if let Some(er) = &job.opts.err {
        p.line(&format!(", Error File <{er}>"));
    }
    p.line(";\n");
}

/// " <h1> <h2>", after " N Hosts/Processors" when there are several.
fn openlava_hosts(e: &Elem) -> String {
    let mut s = String::new();
    if e.exec_hosts.len() > 1 {
        s.push_str(&format!(" {} Hosts/Processors", e.exec_hosts.len()));
    }
    for h in &e.exec_hosts {
        s.push_str(&format!(" <{h}>"));
    }
    s
}

fn openlava_bhist(ctx: &Ctx, job: &Job, e: &Elem, p: &mut Prt) {
    openlava_head(job, e, p, "Job Id");
    p.line(&format!(", Command <{}>\n", job.command));
    p.line(&format!(
        "{}: Submitted from host <{}> to Queue <{}>",
        timefmt::event(job.submit_ms),
        job.from_host,
        job.queue
    ));
    openlava_files(job, p);
    p.raw(&openlava_limits(job, e, ctx.cfg.runlimit_minute_ms));
    let home = crate::sys::home();
    if let Some(start) = e.start_ms {
        let t = timefmt::event(start);
        p.line(&format!("{t}: Dispatched to{};\n", openlava_hosts(e)));
        if let Some(pid) = e.job_pid {
            p.line(&format!("{t}: Starting (Pid {pid});\n"));
            p.line(&format!(
                "{t}: Running with execution home <{home}>, Execution CWD <{}>, Execution Pid <{pid}>;\n",
                job.cwd
            ));
        }
    }
    if let Some(k) = e.kill_ms {
        p.line(&format!(
            "{}: Signal <KILL> requested by user or administrator <{}>;\n",
            timefmt::event(k),
            job.user
        ));
    }
    if let Some(f) = e.finish_ms {
        let t = timefmt::event(f);
        let cpu = format!(". The CPU time used is {:.1} seconds;\n", e.cpu_secs);
        match (e.stat, e.exit_code, e.signal) {
            (Stat::Done, _, _) => {
                p.line(&format!("{t}: Done successfully{cpu}"));
                p.line(&format!("{t}: Post job process done successfully;\n"));
            }
            _ if e.start_ms.is_none() => p.line(&format!("{t}: Exited;\n")),
            (_, _, Some(sig)) => p.line(&format!("{t}: Exited by signal {sig}{cpu}")),
            (_, Some(c), None) => p.line(&format!("{t}: Exited with exit code {c}{cpu}")),
            (_, None, None) => p.line(&format!("{t}: Exited;\n")),
        }
    }
    let by = e.finish_ms.unwrap_or(ctx.now);
    let (pend, run) = times(ctx, job, e);
    p.raw(&format!(
        "\nSummary of time in seconds spent in various states by  {}\n",
        timefmt::event(by)
    ));
    p.raw("  PEND     PSUSP    RUN      USUSP    SSUSP    UNKWN    TOTAL\n");
    p.raw(&format!(
        "  {:<9}{:<9}{:<9}{:<9}{:<9}{:<9}{:<12}\n",
        pend,
        0,
        run,
        0,
        0,
        0,
        pend + run
    ));
}

fn openlava_bjobs(ctx: &Ctx, job: &Job, e: &Elem, p: &mut Prt) {
    let uf = p.unwrapped;
    openlava_head(job, e, p, if uf { "Job" } else { "Job Id" });
    p.line(&format!(
        ", Status <{}>, Queue <{}>, Command <{}>\n",
        e.stat.as_str(),
        job.queue,
        job.command
    ));
    p.line(&format!(
        "{}: Submitted from host <{}>",
        timefmt::event(job.submit_ms),
        job.from_host
    ));
    openlava_files(job, p);
    p.raw(&openlava_limits(job, e, ctx.cfg.runlimit_minute_ms));
    if e.stat == Stat::Pend {
        p.raw(&format!(
            " PENDING REASONS:\n {}\n",
            fields::pend_reason(job)
        ));
    }
    let home = crate::sys::home();
    if let (Some(start), false) = (e.start_ms, e.exec_hosts.is_empty()) {
        p.line(&format!(
            "{}: Started on{}, Execution Home <{home}>, Execution CWD <{}>;\n",
            timefmt::event(start),
            openlava_hosts(e),
            job.cwd
        ));
    }
    if e.stat == Stat::Run {
        let row = Row::new(ctx, job, e);
        let mb = |kb: u64| (kb + 512) / 1024;
        let (mem, swap, pids) = match &row.live {
            Some(l) => (
                mb(l.mem_kb),
                mb(l.max_mem_kb.max(l.mem_kb)),
                l.pids
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            None => (0, 0, String::new()),
        };
        let pgid = e.job_pid.map(|p| p.to_string()).unwrap_or_default();
        let t = timefmt::event(ctx.now);
        if uf {
            p.line(&format!(
                "{t}: Resource usage collected. MEM: {mem} Mbytes; SWAP: {swap} Mbytes; PGID: {pgid}; PIDs: {pids};\n"
            ));
            p.raw("\n MEMORY USAGE:\n MAX MEM: N/A MBytes;  AVG MEM: N/A MBytes\n");
        } else {
            p.line(&format!("{t}: Resource usage collected.\n"));
            p.line(&format!(
                "                     MEM: {mem} Mbytes;  SWAP: {swap} Mbytes\n"
            ));
            p.line(&format!(
                "                     PGID: {pgid};  PIDs: {pids} \n\n"
            ));
        }
    }
    if let Some(f) = e.finish_ms {
        let t = timefmt::event(f);
        let cpu = format!(". The CPU time used is {:.1} seconds.\n", e.cpu_secs);
        match (e.stat, e.exit_code, e.signal) {
            (Stat::Done, _, _) => p.line(&format!("{t}: Done successfully{cpu}")),
            _ if e.start_ms.is_none() => p.line(&format!("{t}: Exited.\n")),
            (_, _, Some(sig)) => p.line(&format!("{t}: Exited by signal {sig}{cpu}")),
            (_, Some(c), None) => p.line(&format!("{t}: Exited with exit code {c}{cpu}")),
            (_, None, None) => p.line(&format!("{t}: Exited.\n")),
        }
    }
    p.raw("\n SCHEDULING PARAMETERS:\n");
    p.raw("           r15s   r1m  r15m   ut      pg    io   ls    it    tmp    swp    mem\n");
    p.raw(" loadSched   -     -     -     -       -     -    -     -     -      -      -  \n");
    p.raw(" loadStop    -     -     -     -       -     -    -     -     -      -      -  \n");
    if uf {
        p.raw("\n RESOURCE REQUIREMENT DETAILS:\n Combined: \n Effective: \n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_like_lsf() {
        let line = "Tue Dec  2 21:39:11: Submitted from host <ip-11-21-111-198.ec2.internal>, to Queue <normal>, CWD <$HOME>;";
        let w = wrap(line);
        let lines: Vec<&str> = w.lines().collect();
        assert_eq!(
            lines[0],
            "Tue Dec  2 21:39:11: Submitted from host <ip-11-21-111-198.ec2.internal>, to Qu"
        );
        assert_eq!(lines[1], "                     eue <normal>, CWD <$HOME>;");
        assert_eq!(wrap("short"), "short\n");
    }

    /// OpenLava's cursor: 79 characters on the first line, 58 after the 21-space indent, a
    /// space at a break dropped, and a newline that falls on column 80 leaves an indent-only
    /// line (all as in shared/lsf/openlava/16_bhist_l_exit_job.txt and 46's `sleep`/`120`).
    #[test]
    fn wraps_like_openlava() {
        let mut p = Prt::new(false);
        p.line("\nJob Id <102>, Job Name <lab_exit3>, User <root>, Project <default>, Command <ec");
        p.line("ho about to fail; exit 3>\n");
        p.line("Tue Dec  1 07:08:28: Exited with exit code 3. The CPU time used is 0.0 seconds;\n");
        let lines: Vec<&str> = p.out.lines().collect();
        assert_eq!(
            lines[1],
            "Job Id <102>, Job Name <lab_exit3>, User <root>, Project <default>, Command <ec"
        );
        assert_eq!(
            lines[2],
            format!("{}ho about to fail; exit 3>", " ".repeat(21))
        );
        assert_eq!(lines[4], " ".repeat(21));
        let mut p = Prt::new(false);
        p.line(&format!("\n{} 120", "x".repeat(79)));
        assert_eq!(
            p.out,
            format!("\n{}\n{}120", "x".repeat(79), " ".repeat(21))
        );
    }
}
