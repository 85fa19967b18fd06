//! Slurm job scripts: the `#SBATCH` header a user writes by hand (`--job-name --partition
//! --account --qos --time --mem --cpus-per-task ... --output --error`), above the
//! backend-neutral body, for `sbatch < script`.

use std::path::Path;

use super::parse::{ArraySpec, Memory, SbatchOpts, sbatch_lines};
use crate::model::Overrides;
use crate::sched::script::{self, Array, Job};
use crate::spec::{Spec, Target};

/// The limits of one attempt: the sweep file's, or what a retry raises them to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub mem: Option<Memory>,
    pub time_seconds: Option<u64>,
    /// Nodes the attempt must avoid (`--exclude`).
    pub exclude: Vec<String>,
}

impl Limits {
    /// The limits the sweep file sets.
    pub fn of(spec: &Spec) -> Self {
        let s = &spec.slurm;
        Limits {
            mem: s
                .mem_mb
                .map(Memory::PerNodeMb)
                .or(s.mem_per_cpu_mb.map(Memory::PerCpuMb)),
            time_seconds: s.time_seconds,
            exclude: Vec::new(),
        }
    }

    /// These limits as an attempt's overrides (a retry that raised them) change them.
    pub fn raised_by(mut self, o: &Overrides) -> Self {
        if let Some(kb) = o.memory_kb {
            self.mem = Some(Memory::PerNodeMb(kb.div_ceil(1024)));
        }
        if let Some(m) = o.walltime_minutes {
            self.time_seconds = Some(u64::from(m) * 60);
        }
        if !o.exclude_hosts.is_empty() {
            self.exclude = o.exclude_hosts.clone();
        }
        self
    }
}

/// A path as a Slurm filename pattern: `%` is Slurm's escape there (`%j`), so a literal one is
/// written `%%`.
fn pattern(p: &Path) -> String {
    p.to_string_lossy().replace('%', "%%")
}

/// The options every job of a sweep shares on `target`, with `limits`, writing to `output`
/// and `error` (Slurm filename patterns).
pub fn sbatch_opts(
    spec: &Spec,
    target: &Target,
    limits: &Limits,
    job_name: &str,
    output: String,
    error: String,
) -> SbatchOpts {
    let s = &spec.slurm;
    let mut extra = Vec::with_capacity(s.extra.len() + 1);
    if !limits.exclude.is_empty() {
        extra.push(format!("--exclude={}", limits.exclude.join(",")));
    }
    extra.extend(s.extra.iter().cloned());
    SbatchOpts {
        job_name: Some(job_name.to_string()),
        output: Some(output),
        error: Some(error),
        partition: target.queue.clone(),
        account: s.account.clone(),
        qos: s.qos.clone(),
        time_limit_seconds: limits.time_seconds,
        memory: limits.mem,
        cpus_per_task: s.cpus_per_task,
        ntasks: s.ntasks,
        gpus: s.gpus.clone(),
        gres: s.gres.clone(),
        constraint: s.constraint.clone(),
        array: None,
        extra,
    }
}

/// `#!/bin/bash` and the `#SBATCH` lines (sbatch stops reading them at the first command, so
/// they come first). Validation keeps every value writable; should one not be, the script says
/// why and carries an option sbatch refuses, so nothing runs without it.
fn header(opts: &SbatchOpts) -> String {
    let mut s = String::with_capacity(512);
    s.push_str("#!/bin/bash\n");
    match sbatch_lines(opts) {
        Ok(lines) => {
            for l in lines {
                s.push_str(&l);
                s.push('\n');
            }
        }
        Err(e) => {
            s.push_str(&format!("# bsweep: cannot write an option: {e}\n"));
            s.push_str("#SBATCH --bsweep-could-not-write-an-option\n");
        }
    }
    s
}

/// The job script of one attempt: `#SBATCH` lines, then what the job does.
pub fn job_script(spec: &Spec, job: &Job<'_>) -> String {
    job_script_with(spec, job, &Limits::of(spec).raised_by(job.overrides))
}

/// The job script of one attempt with its own limits (a retry that raises them).
pub fn job_script_with(spec: &Spec, job: &Job<'_>, limits: &Limits) -> String {
    let opts = sbatch_opts(
        spec,
        job.target,
        limits,
        job.job_name,
        pattern(&job.out_dir.join(crate::layout::STDOUT_FILE)),
        pattern(&job.out_dir.join(crate::layout::STDERR_FILE)),
    );
    let mut s = header(&opts);
    s.push_str(&script::body(spec, job));
    s
}

/// The driver of a job array `--array=1-N%K`: each element's own output goes to its point's
/// files, what Slurm itself writes to `arrays/<name>/<k>.out` and `.err`.
pub fn array_script(spec: &Spec, array: &Array<'_>) -> String {
    let reports = array.jobs.array_reports(array.array_name);
    let mut opts = sbatch_opts(
        spec,
        array.target,
        &Limits::of(spec).raised_by(array.overrides),
        array.array_name,
        format!("{}/%a.out", pattern(&reports)),
        format!("{}/%a.err", pattern(&reports)),
    );
    let limit = match (array.limit, spec.slurm.array_parallel) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    opts.array = Some(ArraySpec {
        first: 1,
        last: u32::try_from(array.indices.len())
            .unwrap_or(u32::MAX)
            .max(1),
        max_running: limit,
    });
    let mut s = header(&opts);
    s.push_str(&script::array_body(array, "SLURM_ARRAY_TASK_ID"));
    s
}

/// The value of an `#SBATCH --name=value` line, as sbatch reads it back (`--name="v w"`
/// quotes and backslashes undone).
fn option_in(script: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    script.lines().find_map(|l| {
        let value = l.strip_prefix("#SBATCH ")?.trim().strip_prefix(&prefix)?;
        let Some(inner) = value.strip_prefix('"').and_then(|w| w.strip_suffix('"')) else {
            return Some(value.to_string());
        };
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            out.push(if c == '\\' { chars.next()? } else { c });
        }
        Some(out)
    })
}

/// The job name a script gives its job; an element script carries its element's name,
/// `array[k]`.
pub fn job_name_in(script: &str) -> Option<String> {
    option_in(script, "--job-name")
}

/// Which target a job script was written for, from its `--partition` line.
pub fn target_in(script: &str, targets: &[Target]) -> Option<usize> {
    let p = option_in(script, "--partition");
    targets.iter().position(|t| t.queue == p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::JobPaths;
    use crate::spec::Point;

    fn spec(slurm: &str) -> Spec {
        let src = format!(
            "name = \"s\"\nbackend = \"slurm\"\ncommand = \"echo {{x}}\"\n[grid]\nx = [1, 2, 3]\n[slurm]\n{slurm}"
        );
        Spec::from_toml(&src, Path::new("/w/s.toml")).expect("spec")
    }

    #[test]
    fn a_job_script_carries_every_option_then_the_body() {
        let s = spec(
            "partitions = [\"short\", \"long\"]\naccount = \"bsweep\"\nqos = \"q\"\ntime = \"1:30:00\"\n\
             mem = \"2G\"\ncpus_per_task = 2\ngpus = \"a100:1\"\nextra = [\"--comment=my run\"]\n",
        );
        let point = Point {
            index: 7,
            params: vec![("x".into(), crate::spec::Value::Int(1))],
        };
        let out = Path::new("/r/100%/out/00007");
        let text = job_script(
            &s,
            &Job {
                sweep_name: "s",
                sweep_id: "abc123",
                job_name: "bsw-abc123-00007-1",
                attempt: 1,
                point: &point,
                out_dir: out,
                target: &s.slurm.targets[1],
                workdir_base: None,
                overrides: &Overrides::default(),
            },
        );
        let head: Vec<&str> = text.lines().take(12).collect();
        assert_eq!(
            head,
            [
                "#!/bin/bash",
                "#SBATCH --job-name=bsw-abc123-00007-1",
                "#SBATCH --output=/r/100%%/out/00007/stdout.txt",
                "#SBATCH --error=/r/100%%/out/00007/stderr.txt",
                "#SBATCH --partition=long",
                "#SBATCH --account=bsweep",
                "#SBATCH --qos=q",
                "#SBATCH --time=0-01:30:00",
                "#SBATCH --mem=2048M",
                "#SBATCH --cpus-per-task=2",
                "#SBATCH --gpus=a100:1",
                "#SBATCH --comment=\"my run\"",
            ]
        );
        assert!(text.contains("\necho 1\n"), "{text}");
        assert_eq!(job_name_in(&text).as_deref(), Some("bsw-abc123-00007-1"));
        assert_eq!(target_in(&text, &s.slurm.targets), Some(1));
    }

    #[test]
    fn raised_limits_replace_the_files_and_exclude_nodes() {
        let s = spec("mem_per_cpu = 100\ntime = 5\n");
        let limits = Limits {
            mem: Some(Memory::PerNodeMb(4096)),
            time_seconds: Some(600),
            exclude: vec!["n1".into(), "n2".into()],
        };
        assert_eq!(
            Limits::of(&s),
            Limits {
                mem: Some(Memory::PerCpuMb(100)),
                time_seconds: Some(300),
                exclude: vec![],
            }
        );
        let o = sbatch_opts(
            &s,
            &s.slurm.targets[0],
            &limits,
            "j",
            "o".into(),
            "e".into(),
        );
        let lines = sbatch_lines(&o).expect("lines");
        assert!(
            lines.contains(&"#SBATCH --mem=4096M".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"#SBATCH --time=0-00:10:00".to_string()));
        assert!(lines.contains(&"#SBATCH --exclude=n1,n2".to_string()));
        assert!(
            !lines.iter().any(|l| l.contains("--partition")),
            "site default"
        );
    }

    #[test]
    fn an_array_driver_runs_its_elements_through_their_scripts() {
        let s = spec("partition = \"short\"\narray = true\narray_parallel = 3\n");
        let jobs = JobPaths::new("/h/sweeps/s".into());
        let text = array_script(
            &s,
            &Array {
                sweep_name: "s",
                sweep_id: "abc123",
                array_name: "bsw-abc123-a00000-1",
                indices: &[0, 1, 2, 5],
                attempt: 1,
                limit: Some(8),
                jobs: &jobs,
                target: &s.slurm.targets[0],
                overrides: &Overrides::default(),
            },
        );
        assert!(text.contains("#SBATCH --array=1-4%3\n"), "{text}");
        assert!(text.contains("#SBATCH --output=/h/sweeps/s/arrays/bsw-abc123-a00000-1/%a.out\n"));
        assert!(text.contains("$((SLURM_ARRAY_TASK_ID - 1))"), "{text}");
        assert!(text.contains("0 1 2 5"), "{text}");
        assert_eq!(job_name_in(&text).as_deref(), Some("bsw-abc123-a00000-1"));
    }

    #[test]
    fn quoted_values_read_back() {
        let s = "#!/bin/bash\n#SBATCH --job-name=\"a \\\"b\\\"\"\n#SBATCH --partition=gpu\n";
        assert_eq!(job_name_in(s).as_deref(), Some("a \"b\""));
        assert_eq!(job_name_in("#!/bin/bash\necho\n"), None);
    }
}
