//! LSF job scripts: the `#BSUB` header a user writes by hand (`-J -q -m -n -gpu -W -M -R -o -e`),
//! above the backend-neutral body, for `bsub < script`.

use std::fmt::Write as _;
use std::path::Path;

use crate::sched::script::{self, Array, Job};
use crate::spec::{Spec, Target};

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

/// The job script of one attempt: `#BSUB` lines, then what the job does.
pub fn job_script(spec: &Spec, job: &Job<'_>) -> String {
    let mut s = String::with_capacity(768);
    s.push_str("#!/bin/bash\n");
    let _ = writeln!(s, "#BSUB -J {}", bsub_value(job.job_name));
    bsub_options(
        &mut s,
        spec,
        job.target,
        &job.out_dir.join(crate::layout::STDOUT_FILE),
        &job.out_dir.join(crate::layout::STDERR_FILE),
    );
    s.push_str(&script::body(spec, job));
    s
}

/// The driver of a job array `-J "name[1-N]%k"`: each element's report goes to
/// `arrays/<name>/%I.out`, its output to its point's own files.
pub fn array_script(spec: &Spec, array: &Array<'_>) -> String {
    let mut s = String::with_capacity(256 + array.indices.len() * 7);
    s.push_str("#!/bin/bash\n");
    let limit = array.limit.map(|k| format!("%{k}")).unwrap_or_default();
    let _ = writeln!(
        s,
        "#BSUB -J \"{}[1-{}]{limit}\"",
        array.array_name,
        array.indices.len()
    );
    let reports = array.jobs.array_reports(array.array_name);
    bsub_options(
        &mut s,
        spec,
        array.target,
        &reports.join("%I.out"),
        &reports.join("%I.err"),
    );
    s.push_str(&script::array_body(array, "LSB_JOBINDEX"));
    s
}

/// The value of a `#BSUB FLAG` line of a script, unquoted.
fn option_in(script: &str, flag: &str) -> Option<String> {
    script.lines().find_map(|l| {
        l.strip_prefix("#BSUB ")?
            .strip_prefix(flag)?
            .strip_prefix(' ')
            .map(|v| v.trim().trim_matches('"').to_string())
    })
}

/// The job name a script gives its job (`#BSUB -J`); an element script carries its element's
/// name, `array[k]`.
pub fn job_name_in(script: &str) -> Option<String> {
    option_in(script, "-J")
}

/// Which target a job script was written for, from its `-q`/`-m` lines.
pub fn target_in(script: &str, targets: &[Target]) -> Option<usize> {
    let (q, m) = (option_in(script, "-q"), option_in(script, "-m"));
    targets.iter().position(|t| t.queue == q && t.hosts == m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsub_values_are_quoted_only_when_needed() {
        assert_eq!(
            bsub_value("num=1:mode=shared:mps=no"),
            "num=1:mode=shared:mps=no"
        );
        assert_eq!(bsub_value("span[hosts=1]"), "\"span[hosts=1]\"");
        assert_eq!(bsub_value("/a b/stdout.txt"), "\"/a b/stdout.txt\"");
    }

    #[test]
    fn scripts_name_their_job_and_target() {
        let s = "#!/bin/bash\n#BSUB -J bsw-x-00001-2\n#BSUB -q short\n#BSUB -m \"a b\"\n";
        assert_eq!(job_name_in(s).as_deref(), Some("bsw-x-00001-2"));
        let t = |q: Option<&str>, h: Option<&str>| Target {
            queue: q.map(Into::into),
            hosts: h.map(Into::into),
            weight: 1,
            max_in_flight: None,
        };
        let targets = [t(Some("short"), None), t(Some("short"), Some("a b"))];
        assert_eq!(target_in(s, &targets), Some(1));
        assert_eq!(target_in("#!/bin/bash\n", &targets), None);
    }
}
