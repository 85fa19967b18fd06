//! Job scripts: one bash script per point attempt, shaped like the one a user writes by hand
//! (`#BSUB` lines, setup lines, `cd`, the command).

use std::fmt::Write as _;
use std::path::Path;

use crate::shell;
use crate::spec::{Builtins, Point, Spec, Target};

/// File names of a job's standard streams inside its out_dir (both backends use them).
pub const STDOUT_FILE: &str = "stdout.txt";
pub const STDERR_FILE: &str = "stderr.txt";

/// Everything a script needs besides the spec and the point.
pub struct ScriptCtx<'a> {
    pub sweep_name: &'a str,
    pub sweep_id: &'a str,
    pub job_name: &'a str,
    pub attempt: u32,
    pub out_dir: &'a Path,
    pub target: &'a Target,
    /// What a relative `workdir` is relative to, when not the sweep file's directory (the
    /// remote home on a cluster reached over SSH).
    pub workdir_base: Option<&'a Path>,
}

/// The job name of one attempt: sweep id, point index and attempt, so any job found on a
/// cluster can be matched back to its point, even one the store never heard of.
pub fn job_name(sweep_id: &str, index: u64, attempt: u32) -> String {
    format!("bsw-{sweep_id}-{index:05}-{attempt}")
}

/// The job name of a job array whose first element is point `first` (elements are
/// `name[1]`, `name[2]`, …).
pub fn array_name(sweep_id: &str, first: u64, attempt: u32) -> String {
    format!("bsw-{sweep_id}-a{first:05}-{attempt}")
}

/// Reads a job name back into (sweep id, point index, attempt).
pub fn parse_job_name(name: &str) -> Option<(&str, u64, u32)> {
    let rest = name.strip_prefix("bsw-")?;
    let mut parts = rest.rsplitn(3, '-');
    let attempt = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    let id = parts.next()?;
    Some((id, index, attempt))
}

/// A `#BSUB` option value: bare when it is plainly safe, otherwise in double quotes, which is
/// what LSF's `#BSUB` parser understands (validation keeps `"` and newlines out of values).
fn bsub_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        v.to_string()
    } else {
        format!("\"{v}\"")
    }
}

/// The `#BSUB` lines every job of a sweep shares (queue, hosts, resources, output files).
fn bsub_options(s: &mut String, spec: &Spec, target: &Target, stdout: &Path, stderr: &Path) {
    let mut bsub = |opt: &str, val: &str| {
        let _ = writeln!(s, "#BSUB {opt} {}", bsub_value(val));
    };
    if let Some(q) = &target.queue {
        bsub("-q", q);
    }
    if let Some(h) = &target.hosts {
        bsub("-m", h);
    }
    let lsf = &spec.lsf;
    if let Some(n) = lsf.cores {
        bsub("-n", &n.to_string());
    }
    if let Some(g) = &lsf.gpu {
        bsub("-gpu", g);
    }
    if let Some(w) = &lsf.walltime {
        bsub("-W", w);
    }
    if let Some(m) = &lsf.memory {
        bsub("-M", m);
    }
    if let Some(r) = &lsf.resources {
        bsub("-R", r);
    }
    bsub("-o", &stdout.to_string_lossy());
    bsub("-e", &stderr.to_string_lossy());
    for extra in &lsf.extra {
        let _ = writeln!(s, "#BSUB {extra}");
    }
}

/// Everything the driver script of a job array needs.
pub struct ArrayCtx<'a> {
    pub sweep_name: &'a str,
    pub sweep_id: &'a str,
    pub array_name: &'a str,
    /// Point indices: element k (1-based) runs point `indices[k-1]`.
    pub indices: &'a [u64],
    pub attempt: u32,
    /// At most this many elements run at once (`%k`).
    pub limit: Option<u32>,
    pub sweep_dir: &'a Path,
    /// Where LSF writes each element's report (`%I.out`, `%I.err`).
    pub report_dir: &'a Path,
    pub target: &'a Target,
}

/// Renders the driver of a job array: element `LSB_JOBINDEX` runs its point's own job script
/// (written beside it as for a single job) with the point's stdout and stderr files, so a point
/// looks the same whether it ran alone or in an array.
pub fn render_array(spec: &Spec, ctx: &ArrayCtx<'_>) -> String {
    let mut s = String::with_capacity(256 + ctx.indices.len() * 7);
    s.push_str("#!/bin/bash\n");
    let limit = ctx.limit.map(|k| format!("%{k}")).unwrap_or_default();
    let _ = writeln!(
        s,
        "#BSUB -J \"{}[1-{}]{limit}\"",
        ctx.array_name,
        ctx.indices.len()
    );
    bsub_options(
        &mut s,
        spec,
        ctx.target,
        &ctx.report_dir.join("%I.out"),
        &ctx.report_dir.join("%I.err"),
    );
    let _ = writeln!(
        s,
        "# bsweep: sweep {} ({}), job array of {} points, attempt {}",
        ctx.sweep_name,
        ctx.sweep_id,
        ctx.indices.len(),
        ctx.attempt
    );
    let _ = writeln!(
        s,
        "\nsweep={}",
        shell::quote(&ctx.sweep_dir.to_string_lossy())
    );
    s.push_str("points=(");
    for (k, i) in ctx.indices.iter().enumerate() {
        if k % 16 == 0 {
            s.push_str("\n ");
        }
        let _ = write!(s, " {i}");
    }
    s.push_str("\n)\n");
    let _ = writeln!(
        s,
        "p=$(printf %05d \"${{points[$((LSB_JOBINDEX - 1))]}}\")\n\
         out=\"$sweep/out/$p\"\n\
         mkdir -p \"$out\"\n\
         bash \"$sweep/scripts/$p-{}.sh\" > \"$out/{STDOUT_FILE}\" 2> \"$out/{STDERR_FILE}\"",
        ctx.attempt
    );
    s
}

/// Renders the job script of one attempt of one point.
pub fn render(spec: &Spec, point: &Point, ctx: &ScriptCtx<'_>) -> String {
    let out_dir = ctx.out_dir.to_string_lossy();
    let builtins = Builtins {
        sweep: ctx.sweep_name,
        index: point.index,
        out_dir: &out_dir,
        job_name: ctx.job_name,
        attempt: ctx.attempt,
    };
    let mut s = String::with_capacity(512);
    s.push_str("#!/bin/bash\n");
    let _ = writeln!(s, "#BSUB -J {}", bsub_value(ctx.job_name));
    bsub_options(
        &mut s,
        spec,
        ctx.target,
        &ctx.out_dir.join(STDOUT_FILE),
        &ctx.out_dir.join(STDERR_FILE),
    );
    let _ = writeln!(
        s,
        "# bsweep: sweep {} ({}), point {}, attempt {}",
        ctx.sweep_name, ctx.sweep_id, point.index, ctx.attempt
    );
    if !point.params.is_empty() {
        s.push_str("# params:");
        for (k, v) in &point.params {
            // Newlines in a value would end the comment; the value itself is quoted below.
            let shown = v.to_string().replace(['\n', '\r'], " ");
            let _ = write!(s, " {k}={}", shell::quote(&shown));
        }
        s.push('\n');
    }
    s.push('\n');
    for line in &spec.setup {
        s.push_str(line);
        s.push('\n');
    }
    let workdir = match ctx.workdir_base {
        Some(base) => spec.render_workdir_in(point, &builtins, base),
        None => spec.render_workdir(point, &builtins),
    };
    let _ = writeln!(
        s,
        "cd {} || exit 1",
        shell::quote(&workdir.to_string_lossy())
    );
    s.push_str(spec.render_command(point, &builtins).trim_end_matches('\n'));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_round_trip() {
        let n = job_name("3f9a1c", 42, 1);
        assert_eq!(n, "bsw-3f9a1c-00042-1");
        assert_eq!(parse_job_name(&n), Some(("3f9a1c", 42, 1)));
        assert_eq!(
            parse_job_name("bsw-3f9a1c-123456-12"),
            Some(("3f9a1c", 123456, 12))
        );
        assert_eq!(parse_job_name("train_model"), None);
    }

    #[test]
    fn bsub_values_are_quoted_only_when_needed() {
        assert_eq!(
            bsub_value("num=1:mode=shared:mps=no"),
            "num=1:mode=shared:mps=no"
        );
        assert_eq!(bsub_value("span[hosts=1]"), "\"span[hosts=1]\"");
        assert_eq!(bsub_value("/a b/stdout.txt"), "\"/a b/stdout.txt\"");
    }
}
