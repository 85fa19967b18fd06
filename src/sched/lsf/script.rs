//! LSF job scripts: the `#BSUB` header a user writes by hand (`-J -q -m -n -gpu -W -M -R -o -e`),
//! above the backend-neutral body, for `bsub < script`. An attempt's overrides replace `-W` and
//! `-M` and leave hosts out through the `-R` select string.

use std::fmt::Write as _;
use std::path::Path;

use crate::model::{Overrides, memory_text, walltime_text};
use crate::sched::script::{self, Array, Job};
use crate::spec::{Spec, Target};

/// The sections of an LSF resource requirement string.
const SECTIONS: [&str; 7] = [
    "select[",
    "order[",
    "rusage[",
    "span[",
    "same[",
    "cu[",
    "affinity[",
];

/// A host name bsweep writes into a select string: what host names are made of, nothing that
/// could end the string or the expression.
fn plain_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Where the `]` closing the section whose `[` is just before `from` is, brackets nested.
fn closing(s: &str, from: usize) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in s[from..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(from + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The `-R` strings of a job: the user's resource requirement, with `hname!=HOST` for each
/// host left out joined to its select section (or a select section of its own in front). A
/// string with alternatives (`||`, `{…}`) keeps its shape and the hosts go in a second `-R`,
/// whose select LSF joins to the first one's.
fn resources(user: Option<&str>, exclude: &[String]) -> Vec<String> {
    // The user's string as written: LSF reads it, not bsweep.
    let user = user.filter(|u| !u.trim().is_empty());
    let not: Vec<String> = exclude
        .iter()
        .filter(|h| plain_host(h))
        .map(|h| format!("hname!={h}"))
        .collect();
    if not.is_empty() {
        return user.map(String::from).into_iter().collect();
    }
    let not = not.join(" && ");
    let Some(user) = user else {
        return vec![format!("select[{not}]")];
    };
    let simple = !user.contains("||") && !user.contains('{');
    let selects = user.matches("select[").count();
    if simple && selects == 1 {
        let open = user.find("select[").expect("counted") + "select[".len();
        if let Some(close) = closing(user, open) {
            let expr = match user[open..close].trim() {
                "" => not,
                e => format!("({e}) && {not}"),
            };
            return vec![format!("{}{expr}{}", &user[..open], &user[close..])];
        }
    }
    if simple && selects == 0 {
        // LSF reads a leading expression without a section keyword as the select section.
        let first = SECTIONS
            .iter()
            .filter_map(|k| user.find(k))
            .min()
            .unwrap_or(user.len());
        let (expr, rest) = (user[..first].trim(), user[first..].trim());
        let select = if expr.is_empty() {
            format!("select[{not}]")
        } else {
            format!("select[({expr}) && {not}]")
        };
        return vec![[select.as_str(), rest].join(" ").trim().to_string()];
    }
    vec![user.to_string(), format!("select[{not}]")]
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

/// The `#BSUB` lines of a job (queue, hosts, limits, resources, output files): the sweep file's,
/// with the attempt's overrides in place of its limits.
fn bsub_options(
    s: &mut String,
    spec: &Spec,
    target: &Target,
    o: &Overrides,
    stdout: &Path,
    stderr: &Path,
) {
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
    let walltime = o.walltime_minutes.map(walltime_text);
    if let Some(w) = walltime.as_ref().or(lsf.walltime.as_ref()) {
        bsub("-W", w);
    }
    // A bare number is in the site's unit: chosen limits keep the form the file uses.
    let memory = o.memory_kb.map(|kb| match spec.retry.bare_memory {
        true => kb.to_string(),
        false => memory_text(kb),
    });
    if let Some(m) = memory.as_ref().or(lsf.memory.as_ref()) {
        bsub("-M", m);
    }
    for r in resources(lsf.resources.as_deref(), &o.exclude_hosts) {
        bsub("-R", &r);
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
        job.overrides,
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
        array.overrides,
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
    fn hosts_left_out_join_the_users_select_section() {
        let hosts = ["n1".to_string(), "n-2.x".to_string()];
        let r = |u: Option<&str>| resources(u, &hosts);
        assert_eq!(r(None), ["select[hname!=n1 && hname!=n-2.x]"]);
        assert_eq!(
            r(Some("select[mem>1000] rusage[mem=1000]")),
            ["select[(mem>1000) && hname!=n1 && hname!=n-2.x] rusage[mem=1000]"]
        );
        assert_eq!(
            r(Some("span[hosts=1] select[defined(gpu)]")),
            ["span[hosts=1] select[(defined(gpu)) && hname!=n1 && hname!=n-2.x]"]
        );
        // A leading expression without its keyword is the select section.
        assert_eq!(
            r(Some("type==X86_64 rusage[mem=10]")),
            ["select[(type==X86_64) && hname!=n1 && hname!=n-2.x] rusage[mem=10]"]
        );
        assert_eq!(
            r(Some("rusage[mem=10]")),
            ["select[hname!=n1 && hname!=n-2.x] rusage[mem=10]"]
        );
        // Alternatives keep their shape; the hosts go in a second -R that LSF joins.
        let alt = "{select[a] span[hosts=1]} || {select[b]}";
        assert_eq!(r(Some(alt)), [alt, "select[hname!=n1 && hname!=n-2.x]"]);
        // Nothing to leave out: the user's string as written; odd names are never written.
        assert_eq!(resources(Some("select[x]"), &[]), ["select[x]"]);
        let odd = ["a]b".to_string(), "c d".to_string(), String::new()];
        assert!(resources(None, &odd).is_empty());
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
