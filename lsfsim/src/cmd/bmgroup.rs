//! bmgroup: the host groups of `[[hostgroup]]` (what `bsub -m` accepts besides host names).

use crate::config::HostGroup;
use crate::state::State;
use crate::{Ctx, Out};

/// `prtGroups` of OpenLava's bmgroup.c (LSF's layout too): the name padded to 12, then each
/// host followed by a space.
fn table(groups: &[&HostGroup]) -> Out {
    let mut out = Out::default();
    out.line(format!("{:<12}  HOSTS", "GROUP_NAME"));
    for g in groups {
        let mut line = format!("{:<12.12} ", g.name);
        for h in &g.hosts {
            line.push_str(h);
            line.push(' ');
        }
        out.line(line);
    }
    out
}

/// The groups asked for (all when none is named), or the error the lookup gives.
fn lookup<'a>(ctx: &'a Ctx, names: &[String]) -> Result<Vec<&'a HostGroup>, Box<Out>> {
    if ctx.cfg.hostgroups.is_empty() {
        return Err(Box::new(Out::fail(
            "host group: No host group defined in the system",
        )));
    }
    if names.is_empty() {
        return Ok(ctx.cfg.hostgroups.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            ctx.cfg
                .hostgroup(n)
                .ok_or_else(|| Box::new(Out::fail(format!("{n}: No such user/host group"))))
        })
        .collect()
}

pub fn run(ctx: &mut Ctx, _st: &mut State, argv: &[String]) -> Out {
    if ctx.cfg.openlava() {
        return openlava(ctx, argv);
    }
    // LSF 10's bmgroup also knows -w (wide) and -l (long); the table is the same here.
    let spec = crate::args::Spec {
        valued: &[],
        flags: &["h", "V", "l", "r", "w"],
        stop_at_positional: false,
    };
    let usage = "Usage: bmgroup [-h] [-V] [-r] [-l] [-w] [group_name ...]";
    let p = match super::parse_or_usage(ctx, argv, &spec, usage) {
        Ok(p) => p,
        Err(out) => return *out,
    };
    if p.has("h") {
        return Out::fail(usage);
    }
    match lookup(ctx, &p.positional) {
        Ok(groups) => table(&groups),
        Err(out) => *out,
    }
}

/// OpenLava's bmgroup: getopt "Vhrs" only (so `-w` is an invalid option), usage without the
/// word "Usage:", and `-s` printing each group as GROUP_NAME/HOSTS lines.
fn openlava(ctx: &Ctx, argv: &[String]) -> Out {
    let usage = |msg: Option<String>| {
        let mut o = Out::fail(format!(
            "{} [-h] [-V] [-r] [-s] [group_name ...]",
            ctx.argv0
        ));
        if let Some(m) = msg {
            o.stderr = format!("{m}\n{}", o.stderr);
        }
        o
    };
    let (opts, names) = match crate::args::getopt(argv, "Vhrs") {
        Ok(x) => x,
        Err(e) => return usage(Some(e.message(&ctx.argv0))),
    };
    let has = |c: char| opts.iter().any(|(o, _)| *o == c);
    if has('V') {
        return Out::fail(crate::cmd::lsid::OPENLAVA_BANNER);
    }
    if has('h') {
        return usage(None);
    }
    let groups = match lookup(ctx, &names) {
        Ok(g) => g,
        Err(out) => return *out,
    };
    if !has('s') {
        return table(&groups);
    }
    let mut out = Out::default();
    for g in groups {
        out.line(format!("{:<12} {}", "GROUP_NAME", g.name));
        out.line(format!("{:<12} {}", "HOSTS", g.hosts.join(" ")));
    }
    out
}
