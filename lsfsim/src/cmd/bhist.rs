//! bhist: job history, including jobs bjobs has forgotten (`-l` long records, or the summary of
//! seconds spent per state).

use crate::args::Spec;
use crate::cmd::long::{self, Flavor};
use crate::cmd::{name_matches, parse_job_id};
use crate::state::{Elem, Job, Stat, State};
use crate::{Ctx, Out};

const USAGE: &str = "Usage: bhist [-h] [-V] [-l [-aff] [-hostfile]] [-b] [-w] [-a] [-d] [-e] [-p] [-s] [-r]\n             [-J job_name] [-q queue_name] [-u user_name | -u all] [jobId ...]";

const VALUED: &[&str] = &[
    "J", "u", "q", "n", "C", "D", "S", "T", "m", "N", "f", "P", "G", "Lp",
];
const FLAGS: &[&str] = &[
    "l", "a", "d", "p", "r", "s", "w", "b", "e", "t", "h", "V", "UF",
];

/// LSF's TRUNC_STR at `len`: keep the end behind a '*'.
fn trunc(s: &str, len: usize) -> String {
    let n = s.chars().count();
    if n > len {
        let tail: String = s.chars().skip(n - (len - 1)).collect();
        format!("*{tail}")
    } else {
        s.to_string()
    }
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
    let mut out = Out::default();
    let mut rows: Vec<(&Job, &Elem)> = Vec::new();
    if !p.positional.is_empty() {
        for a in &p.positional {
            let Some((id, idx)) = parse_job_id(a) else {
                out.err(format!("{a}: Illegal job ID."));
                out.exit = 255;
                return out;
            };
            let found: Vec<(&Job, &Elem)> = st
                .jobs
                .get(&id)
                .map(|j| {
                    j.elems
                        .iter()
                        .filter(|e| idx.is_none_or(|i| e.index == i))
                        .map(|e| (j, e))
                        .collect()
                })
                .unwrap_or_default();
            if found.is_empty() {
                out.err("No matching job found");
            }
            rows.extend(found);
        }
    } else {
        let user_ok = match p.value("u") {
            None | Some("all") => true,
            Some(u) => u == ctx.user,
        };
        let (a, d, pend, r) = (p.has("a"), p.has("d"), p.has("p"), p.has("r"));
        let want = |s: Stat| {
            if a {
                true
            } else if d || pend || r {
                (d && s.finished()) || (pend && s == Stat::Pend) || (r && s == Stat::Run)
            } else {
                !s.finished()
            }
        };
        for j in st.jobs.values().filter(|_| user_ok) {
            if p.value("q").is_some_and(|q| q != j.queue) {
                continue;
            }
            for e in j.elems.iter().filter(|e| want(e.stat)) {
                if p.value("J").is_none_or(|n| name_matches(n, j, e)) {
                    rows.push((j, e));
                }
            }
        }
        if rows.is_empty() {
            out.err("No matching job found");
        }
    }
    if rows.is_empty() {
        out.exit = 255;
        return out;
    }
    if ctx.cfg.openlava() && p.has("l") {
        out.stdout
            .push_str(&long::openlava_records(ctx, &rows, Flavor::Bhist, false));
        return out;
    }
    if p.has("l") || p.has("UF") {
        for (i, (j, e)) in rows.iter().enumerate() {
            if i > 0 {
                out.line(long::SEPARATOR);
            }
            out.stdout
                .push_str(&long::record(ctx, j, e, Flavor::Bhist, p.has("UF")));
        }
        return out;
    }
    let wide = p.has("w");
    let openlava = ctx.cfg.openlava();
    out.line("Summary of time in seconds spent in various states:");
    out.line("JOBID   USER    JOB_NAME  PEND    PSUSP   RUN     USUSP   SSUSP   UNKWN   TOTAL");
    for (j, e) in rows {
        let (pend, run) = long::times(ctx, j, e);
        let name = j.elem_name(e);
        // OpenLava pads TOTAL too (to 10) and ends the table with a blank line.
        let total = if openlava {
            format!("{:<10}", pend + run)
        } else {
            (pend + run).to_string()
        };
        out.line(format!(
            "{:<7} {:<7} {:<9} {:<7} {:<7} {:<7} {:<7} {:<7} {:<7} {total}",
            j.elem_id(e),
            if wide {
                j.user.clone()
            } else {
                trunc(&j.user, 7)
            },
            if wide { name } else { trunc(&name, 8) },
            pend,
            0,
            run,
            0,
            0,
            0,
        ));
    }
    if openlava {
        out.line("");
    }
    out
}
