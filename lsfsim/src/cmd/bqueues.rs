//! bqueues: the default queue table with live job counts, plus `-o`/`-json` for LSF 10.

use crate::args::Spec;
use crate::config::{Queue, Version};
use crate::jsonout::{self, Record};
use crate::state::{Stat, State};
use crate::{Ctx, Out};

const USAGE: &str = "Usage: bqueues [-h] [-V] [-w | -l] [-m host_name | -m cluster_name] [-u user_name]\n               [queue_name ...]";

const HEADER: &str =
    "QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP ";

struct Counts {
    pend: u32,
    run: u32,
}

fn counts(st: &State, q: &Queue) -> Counts {
    let mut c = Counts { pend: 0, run: 0 };
    for j in st.jobs.values().filter(|j| j.queue == q.name) {
        // LSF counts slots, not jobs.
        let slots = j.opts.slots.max(1);
        for e in j.elems.iter().filter(|e| !e.forgotten) {
            match e.stat {
                Stat::Pend => c.pend += slots,
                Stat::Run => c.run += slots,
                _ => {}
            }
        }
    }
    c
}

fn field(q: &Queue, c: &Counts, key: &str) -> Option<String> {
    Some(match key {
        "queue_name" => q.name.clone(),
        "priority" | "prio" => q.priority.to_string(),
        "status" => "Open:Active".into(),
        "max" => q.slots.to_string(),
        "jl/u" | "jl/p" | "jl/h" => "-".into(),
        "njobs" => (c.pend + c.run).to_string(),
        "pend" => c.pend.to_string(),
        "run" => c.run.to_string(),
        "susp" | "ssusp" | "ususp" | "rsv" => "0".into(),
        _ => return None,
    })
}

/// OpenLava's bqueues (bqueues.c): getopt "Vhlwm:u:", its odd usage text, and its table.
fn openlava(ctx: &Ctx, st: &State, argv: &[String]) -> Out {
    let usage = |msg: Option<String>| {
        let mut o = Out {
            exit: 255,
            ..Out::default()
        };
        if let Some(m) = msg {
            o.err(m);
        }
        o.stderr.push_str(&format!(
            ": {} [-h] [-V] [-w | -l] [-m host_name | -m cluster_name]\n [-u user_name] [queue_name ...]\n",
            ctx.argv0
        ));
        o
    };
    let (opts, names) = match crate::args::getopt(argv, "Vhlwm:u:") {
        Ok(x) => x,
        Err(e) => return usage(Some(e.message(&ctx.argv0))),
    };
    let has = |c: char| opts.iter().any(|(o, _)| *o == c);
    if has('h') || (has('l') && has('w')) {
        return usage(None);
    }
    let mut out = Out::default();
    if has('V') {
        out.err(crate::cmd::lsid::OPENLAVA_BANNER);
        return out;
    }
    let mut queues: Vec<&Queue> = Vec::new();
    for name in &names {
        match ctx.cfg.queue(name) {
            Some(q) => queues.push(q),
            None => {
                out.err(format!("{name}: No such queue"));
                out.exit = 255;
            }
        }
    }
    if names.is_empty() {
        queues = ctx.cfg.queues.iter().collect();
    }
    if queues.is_empty() {
        return out;
    }
    out.line("QUEUE_NAME     PRIO      STATUS      MAX  JL/U JL/P JL/H NJOBS  PEND  RUN  SUSP");
    for q in queues {
        let c = counts(st, q);
        let name = if has('w') {
            q.name.clone()
        } else {
            q.name.chars().take(15).collect()
        };
        out.line(format!(
            "{name:<15} {:2}  {:<15}{:>5} {:>4} {:>4} {:>4} {:5} {:5} {:5} {:5} ",
            q.priority,
            "  Open:Active  ",
            q.slots,
            "-",
            "-",
            "-",
            c.pend + c.run,
            c.pend,
            c.run,
            0
        ));
    }
    out
}

pub fn run(ctx: &mut Ctx, st: &mut State, argv: &[String]) -> Out {
    if ctx.cfg.openlava() {
        return openlava(ctx, st, argv);
    }
    let old = ctx.cfg.version == Version::Old;
    let spec = Spec {
        valued: if old { &["m", "u"] } else { &["m", "u", "o"] },
        flags: if old {
            &["w", "l", "h", "V"]
        } else {
            &["w", "l", "h", "V", "json", "noheader"]
        },
        stop_at_positional: false,
    };
    let p = match super::parse_or_usage(ctx, argv, &spec, USAGE) {
        Ok(p) => p,
        Err(out) => return *out,
    };
    let mut out = Out::default();
    let mut queues: Vec<&Queue> = Vec::new();
    for name in &p.positional {
        match ctx.cfg.queue(name) {
            Some(q) => queues.push(q),
            None => {
                out.err(format!("{name}: No such queue"));
                out.exit = 255;
            }
        }
    }
    if p.positional.is_empty() {
        queues = ctx.cfg.queues.iter().collect();
    }
    if queues.is_empty() {
        return out;
    }
    if let Some(o) = p.value("o") {
        let keys: Vec<String> = o
            .split_whitespace()
            .filter(|t| !t.starts_with("delimiter="))
            .map(|t| t.split(':').next().unwrap_or("").to_ascii_lowercase())
            .collect();
        if let Some(bad) = keys
            .iter()
            .find(|k| field(queues[0], &Counts { pend: 0, run: 0 }, k).is_none())
        {
            return Out::fail(format!("{bad}: Illegal field name."));
        }
        let rows: Vec<Record> = queues
            .iter()
            .map(|q| {
                let c = counts(st, q);
                keys.iter()
                    .map(|k| (k.to_ascii_uppercase(), field(q, &c, k).unwrap_or_default()))
                    .collect()
            })
            .collect();
        if p.has("json") {
            out.stdout
                .push_str(&jsonout::document("bqueues", "QUEUES", &rows));
        } else {
            if !p.has("noheader") {
                out.line(
                    keys.iter()
                        .map(|k| k.to_ascii_uppercase())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
            for r in rows {
                out.line(r.into_iter().map(|(_, v)| v).collect::<Vec<_>>().join(" "));
            }
        }
        return out;
    }
    out.line(HEADER);
    let wide = p.has("w");
    for q in queues {
        let c = counts(st, q);
        let name = if wide || q.name.len() <= 15 {
            q.name.clone()
        } else {
            q.name[..15].to_string()
        };
        out.line(format!(
            "{:<15} {:>3}  {:>12} {:>6} {:>4} {:>4} {:>4} {:>5} {:>5} {:>5} {:>5}",
            name,
            q.priority,
            "Open:Active",
            q.slots,
            "-",
            "-",
            "-",
            c.pend + c.run,
            c.pend,
            c.run,
            0
        ));
    }
    out
}
