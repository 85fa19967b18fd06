//! The backend-neutral part of job scripts: what a job does (setup lines, `cd`, the command) and
//! how an array element finds its point. Each backend puts its own header (`#BSUB`, ...) above.

use std::fmt::Write as _;
use std::path::Path;

use crate::layout::JobPaths;
use crate::model::Overrides;
use crate::shell;
use crate::spec::{Builtins, Point, Spec, Target};

/// One attempt of one point, as its script needs it.
pub struct Job<'a> {
    pub sweep_name: &'a str,
    pub sweep_id: &'a str,
    pub job_name: &'a str,
    pub attempt: u32,
    pub point: &'a Point,
    /// Where the job writes (`{out_dir}`), as the side that runs it sees it.
    pub out_dir: &'a Path,
    pub target: &'a Target,
    /// What a relative `workdir` is relative to, when not the sweep file's directory (the
    /// remote home on a cluster reached over SSH).
    pub workdir_base: Option<&'a Path>,
    /// What this attempt asks for instead of the sweep file's limits (a retry's memory and
    /// run limit, hosts left out); the backend's header writes it, the body does not change.
    pub overrides: &'a Overrides,
}

/// A job array: element k (1-based) runs point `indices[k-1]`.
pub struct Array<'a> {
    pub sweep_name: &'a str,
    pub sweep_id: &'a str,
    pub array_name: &'a str,
    pub indices: &'a [u64],
    pub attempt: u32,
    /// At most this many elements run at once.
    pub limit: Option<u32>,
    /// The sweep's directory as the side that runs it sees it.
    pub jobs: &'a JobPaths,
    pub target: &'a Target,
    /// As for [`Job`]: first attempts only ever leave hosts out.
    pub overrides: &'a Overrides,
}

/// The part of a job script below the backend's header: a comment naming the point, the setup
/// lines, `cd` to the workdir, the command.
pub fn body(spec: &Spec, job: &Job<'_>) -> String {
    let out_dir = job.out_dir.to_string_lossy();
    let point = job.point;
    let builtins = Builtins {
        sweep: job.sweep_name,
        index: point.index,
        out_dir: &out_dir,
        job_name: job.job_name,
        attempt: job.attempt,
    };
    let mut s = String::with_capacity(512);
    let _ = writeln!(
        s,
        "# bsweep: sweep {} ({}), point {}, attempt {}",
        job.sweep_name, job.sweep_id, point.index, job.attempt
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
    let workdir = match job.workdir_base {
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

/// The part of an array's driver script below the backend's header: element `index_var` (the
/// scheduler's 1-based element number) runs its point's own job script, written beside it as
/// for a single job, with the point's stdout and stderr, so a point looks the same whether it
/// ran alone or in an array.
pub fn array_body(array: &Array<'_>, index_var: &str) -> String {
    let mut s = String::with_capacity(128 + array.indices.len() * 7);
    let _ = writeln!(
        s,
        "# bsweep: sweep {} ({}), job array of {} points, attempt {}",
        array.sweep_name,
        array.sweep_id,
        array.indices.len(),
        array.attempt
    );
    let _ = writeln!(
        s,
        "\nsweep={}",
        shell::quote(&array.jobs.base().to_string_lossy())
    );
    s.push_str("points=(");
    for (k, i) in array.indices.iter().enumerate() {
        if k % 16 == 0 {
            s.push_str("\n ");
        }
        let _ = write!(s, " {i}");
    }
    s.push_str("\n)\n");
    s.push_str(&JobPaths::element_lines(
        "sweep",
        &format!("${{points[$(({index_var} - 1))]}}"),
        array.attempt,
    ));
    s
}
