//! Long, event-style job records: `bhist -l` and `bjobs -l`/`-UF`, wrapped at 79 columns with
//! LSF's 21-space continuation indent (tokens split mid-word, as the real commands do).

use crate::Ctx;
use crate::cmd::fields::{self, Row};
use crate::report::{mem_str, short_hosts, term_line};
use crate::state::{Elem, Job, Stat, Term};
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
        let owner = term_line(e.term).filter(|_| e.term == Some(Term::Owner));
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
}
