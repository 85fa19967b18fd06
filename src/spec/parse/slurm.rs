//! The `[slurm]` table: partitions as targets (spread like `[lsf]` queues), the `#SBATCH`
//! resources (account, QOS, time, memory, CPUs, GPUs), arrays and pacing, every value checked
//! and every number range-checked, with errors at `file:line:col`.

use toml::de::DeValue;

use super::keys::{SLURM_KEYS, SLURM_TARGET_KEYS};
use super::options::{LOST_AFTER, MAX_CORES, MAX_COUNT, MAX_WEIGHT, POLL, SETTLE, SUBMIT_RATE};
use super::{Cx, Res, Tbl, Val, array_of_tables, group};
use crate::spec::{Policy, Site, SlurmOpts, Target};

/// Longest time limit accepted: a year, in seconds. Longer is a slip (seconds taken for
/// minutes), and no site runs a job that long.
const MAX_TIME_SECONDS: u64 = 365 * 86_400;
/// Largest memory accepted, in MB: 1 PB, far above any node.
const MAX_MEM_MB: u64 = 1 << 30;
/// Largest job array accepted: Slurm's own MaxArraySize cannot exceed 4,000,001.
const MAX_ARRAY: i64 = 4_000_000;

fn defaults() -> SlurmOpts {
    SlurmOpts {
        targets: Vec::new(),
        sites: Vec::new(),
        policy: Policy::RoundRobin,
        account: None,
        qos: None,
        time_seconds: None,
        mem_mb: None,
        mem_per_cpu_mb: None,
        cpus_per_task: None,
        ntasks: None,
        gpus: None,
        gres: None,
        constraint: None,
        extra: Vec::new(),
        array: false,
        max_array_size: None,
        array_parallel: None,
        max_in_flight: None,
        submit_rate: None,
        // Sites dislike tight squeue loops as much as bjobs loops.
        poll_min: 10.0,
        poll_max: 180.0,
        // sacct lags the controller by about 5 s.
        settle: 10.0,
        lost_after: 600.0,
    }
}

fn default_target(max_in_flight: Option<u32>) -> Target {
    Target {
        queue: None,
        hosts: None,
        weight: 1,
        max_in_flight,
    }
}

pub(super) fn parse_slurm(cx: &Cx<'_>, v: Option<&Val<'_>>) -> Res<SlurmOpts> {
    let mut s = defaults();
    let Some(v) = v else {
        s.targets.push(default_target(None));
        return Ok(s);
    };
    let tb = cx.table(v, "slurm", SLURM_KEYS, "[slurm] partition = \"short\"")?;
    if let Some(v) = tb.get("policy") {
        s.policy = policy(cx, v)?;
    }
    resources(cx, tb, &mut s)?;
    if let Some(v) = tb.get("extra") {
        let ex = "extra = [\"--exclusive\", \"--mail-type=END\"]";
        for (i, e) in cx.list(v, "slurm.extra", ex)?.iter().enumerate() {
            s.extra
                .push(extra(cx, e, &format!("slurm.extra[{i}]"), ex)?);
        }
    }
    pacing(cx, tb, &mut s)?;
    s.targets = targets(cx, tb, s.max_in_flight)?;
    s.sites = sites(cx, tb);
    Ok(s)
}

fn policy(cx: &Cx<'_>, v: &Val<'_>) -> Res<Policy> {
    Ok(
        match cx
            .string(v, "slurm.policy", "policy = \"round-robin\"")?
            .as_str()
        {
            "round-robin" => Policy::RoundRobin,
            "weighted" => Policy::Weighted,
            "least-pending" => Policy::LeastPending,
            other => {
                return Err(cx.err(
                    v.span().start,
                    "slurm.policy",
                    format!(
                        "unknown policy `{other}`; use \"round-robin\", \"weighted\" or \
                         \"least-pending\""
                    ),
                ));
            }
        },
    )
}

/// account, qos, time, mem / mem_per_cpu, cpus_per_task, ntasks, gpus, gres, constraint.
fn resources(cx: &Cx<'_>, tb: Tbl<'_, '_>, s: &mut SlurmOpts) -> Res<()> {
    if let Some(v) = tb.get("account") {
        s.account = Some(word(
            cx,
            v,
            "slurm.account",
            "account = \"myproject\"",
            "an account",
        )?);
    }
    if let Some(v) = tb.get("qos") {
        s.qos = Some(word(cx, v, "slurm.qos", "qos = \"normal\"", "a QOS")?);
    }
    if let Some(v) = tb.get("time") {
        s.time_seconds = Some(time(cx, v)?);
    }
    if let (Some(_), Some(v)) = (tb.get("mem"), tb.get("mem_per_cpu")) {
        return Err(cx.err(
            v.span().start,
            "slurm.mem_per_cpu",
            "set either `mem` (per node) or `mem_per_cpu`, not both: Slurm refuses both at once",
        ));
    }
    if let Some(v) = tb.get("mem") {
        s.mem_mb = Some(mem(cx, v, "slurm.mem", "mem = \"8G\"", 0)?);
    }
    if let Some(v) = tb.get("mem_per_cpu") {
        s.mem_per_cpu_mb = Some(mem(cx, v, "slurm.mem_per_cpu", "mem_per_cpu = \"2G\"", 1)?);
    }
    if let Some(v) = tb.get("cpus_per_task") {
        s.cpus_per_task =
            Some(cx.int_in(v, "slurm.cpus_per_task", 1, MAX_CORES, "cpus_per_task = 4")?);
    }
    if let Some(v) = tb.get("ntasks") {
        s.ntasks = Some(cx.int_in(v, "slurm.ntasks", 1, MAX_CORES, "ntasks = 1")?);
    }
    if let Some(v) = tb.get("gpus") {
        s.gpus = Some(match v.get_ref() {
            // `gpus = 2` is the common form.
            DeValue::Integer(_) => cx
                .int_in::<u32>(v, "slurm.gpus", 1, MAX_CORES, "gpus = 1")?
                .to_string(),
            _ => text(cx, v, "slurm.gpus", "gpus = \"a100:2\"")?,
        });
    }
    if let Some(v) = tb.get("gres") {
        s.gres = Some(text(cx, v, "slurm.gres", "gres = \"gpu:2\"")?);
    }
    if let Some(v) = tb.get("constraint") {
        s.constraint = Some(text(cx, v, "slurm.constraint", "constraint = \"skylake\"")?);
    }
    Ok(())
}

/// array, max_array_size, array_parallel, max_in_flight, submit_rate and the poll timings.
fn pacing(cx: &Cx<'_>, tb: Tbl<'_, '_>, s: &mut SlurmOpts) -> Res<()> {
    if let Some(v) = tb.get("array") {
        s.array = cx.boolean(v, "slurm.array", "array = true")?;
    }
    if let Some(v) = tb.get("max_array_size") {
        s.max_array_size = Some(cx.int_in(
            v,
            "slurm.max_array_size",
            1,
            MAX_ARRAY,
            "max_array_size = 1000",
        )?);
    }
    if let Some(v) = tb.get("array_parallel") {
        s.array_parallel = Some(cx.int_in(
            v,
            "slurm.array_parallel",
            1,
            MAX_COUNT,
            "array_parallel = 50",
        )?);
    }
    if let Some(v) = tb.get("max_in_flight") {
        s.max_in_flight = Some(cx.int_in(
            v,
            "slurm.max_in_flight",
            1,
            MAX_COUNT,
            "max_in_flight = 100",
        )?);
    }
    if let Some(v) = tb.get("submit_rate") {
        s.submit_rate =
            Some(cx.number_in(v, "slurm.submit_rate", &SUBMIT_RATE, "submit_rate = 5.0")?);
    }
    for (key, slot, range, ex) in [
        ("poll_min", &mut s.poll_min, &POLL, "poll_min = 10.0"),
        ("poll_max", &mut s.poll_max, &POLL, "poll_max = 180.0"),
        ("settle", &mut s.settle, &SETTLE, "settle = 10.0"),
        (
            "lost_after",
            &mut s.lost_after,
            &LOST_AFTER,
            "lost_after = 600.0",
        ),
    ] {
        if let Some(v) = tb.get(key) {
            *slot = cx.number_in(v, &format!("slurm.{key}"), range, ex)?;
        }
    }
    if s.poll_max < s.poll_min {
        return Err(cx.err(
            tb.get("poll_max")
                .or(tb.get("poll_min"))
                .map_or(0, |v| v.span().start),
            "slurm.poll_max",
            "must not be smaller than slurm.poll_min",
        ));
    }
    Ok(())
}

/// A single line of text for an `#SBATCH` value (bsweep quotes it as sbatch reads it).
fn text(cx: &Cx<'_>, v: &Val<'_>, field: &str, example: &str) -> Res<String> {
    let s = cx.one_line(v, field, example)?;
    if s.starts_with('-') {
        return Err(cx.err(
            v.span().start,
            field,
            format!("`{s}` starts with `-` and would be read as an option; give a value"),
        ));
    }
    Ok(s)
}

/// A partition, account or QOS name: one word without commas (Slurm reads a comma as a list).
fn word(cx: &Cx<'_>, v: &Val<'_>, field: &str, example: &str, what: &str) -> Res<String> {
    let s = text(cx, v, field, example)?;
    if s.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{s}` is not {what} name (it contains a space or a comma); give one name per \
                 entry, e.g. `{example}`"
            ),
        ));
    }
    Ok(s)
}

/// Seconds of a Slurm time limit: `minutes`, `minutes:seconds`, `hours:minutes:seconds`,
/// `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds`. `None` for another form.
pub(crate) fn time_seconds(s: &str) -> Option<u64> {
    let num = |p: &str| {
        (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u64>().ok())
            .flatten()
    };
    let below_60 = |p: &str| num(p).filter(|n| *n < 60);
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (h, m, sec) = match (days, parts.as_slice()) {
        (None, [m]) => (0, num(m)?, 0),
        (None, [m, s]) => (0, num(m)?, below_60(s)?),
        (_, [h, m, s]) => (num(h)?, below_60(m)?, below_60(s)?),
        (Some(_), [h]) => (num(h)?, 0, 0),
        (Some(_), [h, m]) => (num(h)?, below_60(m)?, 0),
        _ => return None,
    };
    Some(days.unwrap_or(0) * 86_400 + h * 3600 + m * 60 + sec)
}

fn time(cx: &Cx<'_>, v: &Val<'_>) -> Res<u64> {
    let field = "slurm.time";
    let ex = "time = \"4:00:00\"";
    let (text, secs) = match v.get_ref() {
        // Plain minutes, as sbatch reads a bare number.
        DeValue::Integer(_) => {
            let m = cx.int(v, field, ex)?;
            (
                m.to_string(),
                u64::try_from(m).ok().map(|m| m.saturating_mul(60)),
            )
        }
        _ => {
            let s = cx.string(v, field, ex)?;
            let secs = time_seconds(s.trim());
            (s, secs)
        }
    };
    let Some(secs) = secs else {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{}` is not a Slurm time limit; write minutes, \"hours:minutes:seconds\" or \
                 \"days-hours:minutes:seconds\", e.g. \"4:00:00\", \"90\" or \"2-00:00:00\"",
                text.escape_debug()
            ),
        ));
    };
    if secs == 0 || secs > MAX_TIME_SECONDS {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{text}` is {} seconds; a time limit must be between 1 second and 365 days; \
                 write e.g. \"4:00:00\" (or remove the key for the partition's default)",
                group(secs as i64)
            ),
        ));
    }
    Ok(secs)
}

/// MB of a Slurm memory size: a number with an optional unit K, M, G or T (`B` after it is
/// tolerated); a bare number is MB, as sbatch reads it. `None` for another form.
pub(crate) fn mem_mb(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t
        .strip_suffix(['B', 'b'])
        .filter(|r| r.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(t);
    let (num, kb) = match t.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => {
            let kb: u64 = match c.to_ascii_uppercase() {
                'K' => 1,
                'M' => 1 << 10,
                'G' => 1 << 20,
                'T' => 1 << 30,
                _ => return None,
            };
            (&t[..i], kb)
        }
        _ => (t, 1 << 10),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |p: &str| p.len() <= 12 && p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (num.contains('.') && frac.is_empty()) {
        return None;
    }
    let x: f64 = num.parse().ok()?;
    // Whole MB, rounded up: a request is never made smaller than written.
    Some((x * kb as f64 / 1024.0).ceil() as u64)
}

fn mem(cx: &Cx<'_>, v: &Val<'_>, field: &str, example: &str, min: u64) -> Res<u64> {
    let (text, mb) = match v.get_ref() {
        DeValue::Integer(_) => {
            let n = cx.int(v, field, example)?;
            (n.to_string(), u64::try_from(n).ok())
        }
        _ => {
            let s = cx.string(v, field, example)?;
            let mb = mem_mb(&s);
            (s, mb)
        }
    };
    let Some(mb) = mb else {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{}` is not a memory size; write a number with an optional unit K, M, G or T \
                 (a bare number is MB), e.g. {example}",
                text.escape_debug()
            ),
        ));
    };
    if mb < min || mb > MAX_MEM_MB {
        let least = if min == 0 {
            "0 (all of a node's memory)"
        } else {
            "1M"
        };
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{text}` is out of range: a memory size must be between {least} and 1024T; \
                 write e.g. {example}"
            ),
        ));
    }
    Ok(mb)
}

/// One `extra` entry: one sbatch option word, its value after `=` (`--mail-type=END`).
fn extra(cx: &Cx<'_>, e: &Val<'_>, field: &str, ex: &str) -> Res<String> {
    let s = cx.one_line(e, field, ex)?;
    if !s.starts_with('-') || s == "--" || s == "-" {
        return Err(cx.err(
            e.span().start,
            field,
            format!("`{s}` is not an sbatch option: each entry must start with `-`, e.g. {ex}"),
        ));
    }
    let name = s.split_once('=').map_or(s.as_str(), |(n, _)| n);
    if name.contains(char::is_whitespace) {
        return Err(cx.err(
            e.span().start,
            field,
            format!(
                "`{s}` holds several words: give one option per entry with its value after `=`, \
                 e.g. \"--mail-type=END\" (or \"-N2\")"
            ),
        ));
    }
    Ok(s)
}

/// `partition`, `partitions` or `[[slurm.targets]]`, turned into the list of targets.
fn targets(cx: &Cx<'_>, tb: Tbl<'_, '_>, max_in_flight: Option<u32>) -> Res<Vec<Target>> {
    let given: Vec<&str> = ["partition", "partitions", "targets"]
        .into_iter()
        .filter(|k| tb.get(k).is_some())
        .collect();
    if let [first, second, ..] = given.as_slice() {
        return Err(cx.err(
            tb.get(second).map_or(tb.at, |v| v.span().start),
            &format!("slurm.{second}"),
            format!(
                "set one of `partition` (one), `partitions` (several) or [[slurm.targets]], not \
                 both `{first}` and `{second}`"
            ),
        ));
    }
    let part =
        |v: &Val<'_>, field: &str| word(cx, v, field, "partition = \"short\"", "a partition");
    let mut out: Vec<(Target, usize, String)> = Vec::new();
    if let Some(v) = tb.get("partition") {
        out.push((
            Target {
                queue: Some(part(v, "slurm.partition")?),
                ..default_target(max_in_flight)
            },
            v.span().start,
            "slurm.partition".into(),
        ));
    } else if let Some(v) = tb.get("partitions") {
        let ex = "partitions = [\"short\", \"long\"]";
        let items = cx.list(v, "slurm.partitions", ex)?;
        if items.is_empty() {
            return Err(cx.err(
                v.span().start,
                "slurm.partitions",
                format!("is an empty list; name at least one partition, e.g. `{ex}`"),
            ));
        }
        for (i, e) in items.iter().enumerate() {
            let f = format!("slurm.partitions[{i}]");
            out.push((
                Target {
                    queue: Some(part(e, &f)?),
                    ..default_target(max_in_flight)
                },
                e.span().start,
                f,
            ));
        }
    } else if let Some(v) = tb.get("targets") {
        out = target_tables(cx, v, max_in_flight)?;
    } else {
        out.push((default_target(max_in_flight), tb.at, String::new()));
    }
    for (i, (t, at, f)) in out.iter().enumerate() {
        if out[..i].iter().any(|(o, _, _)| o.queue == t.queue) {
            return Err(cx.err(
                *at,
                f,
                format!(
                    "partition `{}` is listed twice; remove the duplicate",
                    t.label()
                ),
            ));
        }
    }
    Ok(out.into_iter().map(|(t, _, _)| t).collect())
}

/// `[[slurm.targets]]`: a partition each, with a weight and a cap of its own.
fn target_tables(
    cx: &Cx<'_>,
    v: &Val<'_>,
    max_in_flight: Option<u32>,
) -> Res<Vec<(Target, usize, String)>> {
    let ex = "[[slurm.targets]] partition = \"gpu\"";
    let tables = array_of_tables(cx, v, "slurm.targets", ex)?;
    if tables.is_empty() {
        return Err(cx.err(
            v.span().start,
            "slurm.targets",
            format!("is an empty list; add at least one target, e.g. `{ex}`"),
        ));
    }
    let mut out = Vec::new();
    for (i, e) in tables.iter().enumerate() {
        let field = format!("slurm.targets[{i}]");
        let t = cx.table(e, &field, SLURM_TARGET_KEYS, ex)?;
        let Some(pv) = t.get("partition") else {
            return Err(cx.missing(t, "partition", "partition = \"gpu\""));
        };
        let partition = word(
            cx,
            pv,
            &t.sub("partition"),
            "partition = \"gpu\"",
            "a partition",
        )?;
        let weight = match t.get("weight") {
            None => 1,
            Some(v) => cx.int_in(v, &t.sub("weight"), 1, MAX_WEIGHT, "weight = 2")?,
        };
        let mif = match t.get("max_in_flight") {
            None => max_in_flight,
            Some(v) => Some(cx.int_in(
                v,
                &t.sub("max_in_flight"),
                1,
                MAX_COUNT,
                "max_in_flight = 50",
            )?),
        };
        out.push((
            Target {
                queue: Some(partition),
                hosts: None,
                weight,
                max_in_flight: mif,
            },
            e.span().start,
            field,
        ));
    }
    Ok(out)
}

/// Where each partition, the account, the QOS and the time of a valid table are written.
fn sites(cx: &Cx<'_>, tb: Tbl<'_, '_>) -> Vec<(String, Site)> {
    let mut found: Vec<(&Val<'_>, String)> = Vec::new();
    for key in ["partition", "account", "qos", "time"] {
        if let Some(v) = tb.get(key) {
            found.push((v, format!("slurm.{key}")));
        }
    }
    if let Some(DeValue::Array(a)) = tb.get("partitions").map(|v| v.get_ref()) {
        found.extend(
            a.iter()
                .enumerate()
                .map(|(i, e)| (e, format!("slurm.partitions[{i}]"))),
        );
    }
    if let Some(DeValue::Array(a)) = tb.get("targets").map(|v| v.get_ref()) {
        for (i, e) in a.iter().enumerate() {
            if let DeValue::Table(t) = e.get_ref()
                && let Some(v) = t.get("partition")
            {
                found.push((v, format!("slurm.targets[{i}].partition")));
            }
        }
    }
    found
        .into_iter()
        .map(|(v, field)| {
            let value = match v.get_ref() {
                DeValue::String(s) => s.trim().to_string(),
                DeValue::Integer(i) => i.as_str().to_string(),
                _ => String::new(),
            };
            let (line, col) = cx.line_col(v.span().start);
            (value, Site { field, line, col })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{mem_mb, time_seconds};
    use crate::spec::Spec;
    use std::path::Path;

    fn load(body: &str) -> Result<Spec, String> {
        let src = format!(
            "name = \"s\"\nbackend = \"slurm\"\ncommand = \"echo {{x}}\"\n[grid]\nx = [1, 2]\n{body}"
        );
        Spec::from_toml(&src, Path::new("s.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn time_limits_in_every_slurm_form() {
        for (text, secs) in [
            ("90", 5400),
            ("5:30", 330),
            ("4:00:00", 14_400),
            ("2-12", 216_000),
            ("1-01:30", 91_800),
            ("1-00:00:01", 86_401),
        ] {
            assert_eq!(time_seconds(text), Some(secs), "{text}");
        }
        for bad in [
            "", "1:60", "1:2:3:4", "x", "1-", "-1", "1-2:3:60", "1h", "1:-2",
        ] {
            assert_eq!(time_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn memory_sizes_in_mb() {
        for (text, mb) in [
            ("512", 512),
            ("512M", 512),
            ("8G", 8192),
            ("8gb", 8192),
            ("1T", 1 << 20),
            ("1536K", 2),
            ("1.5G", 1536),
            ("0", 0),
        ] {
            assert_eq!(mem_mb(text), Some(mb), "{text}");
        }
        for bad in ["", "G", "8X", "-1G", "1.G", "8 G", "1e3M"] {
            assert_eq!(mem_mb(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_full_table_reads() {
        let s = load(
            "[slurm]\npartitions = [\"short\", \"long\"]\naccount = \"bsweep\"\nqos = \"bsweep\"\n\
             time = \"0:05:00\"\nmem = \"1G\"\ncpus_per_task = 2\nntasks = 1\ngpus = 1\n\
             constraint = \"x86\"\nextra = [\"--exclusive\", \"--comment=my run\"]\narray = true\n\
             max_array_size = 50\narray_parallel = 4\nmax_in_flight = 8\nsubmit_rate = 2.0\n\
             poll_min = 1\npoll_max = 5\nsettle = 6\nlost_after = 60\n",
        )
        .expect("loads");
        let o = &s.slurm;
        let parts: Vec<_> = o.targets.iter().map(|t| t.label()).collect();
        assert_eq!(parts, ["short", "long"]);
        assert_eq!(o.targets[0].max_in_flight, Some(8));
        assert_eq!((o.time_seconds, o.mem_mb), (Some(300), Some(1024)));
        assert_eq!(o.gpus.as_deref(), Some("1"));
        assert_eq!(o.extra, ["--exclusive", "--comment=my run"]);
        assert_eq!((o.max_array_size, o.array_parallel), (Some(50), Some(4)));
        assert_eq!(o.settle, 6.0);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    }

    #[test]
    fn mistakes_are_located_and_say_what_to_do() {
        for (body, want) in [
            (
                "[slurm]\npartition = \"a b\"\n",
                "s.toml:7:13: slurm.partition: `a b` is not a partition name",
            ),
            (
                "[slurm]\npartitions = [\"a\", \"a\"]\n",
                "s.toml:7:20: slurm.partitions[1]: partition `a` is listed twice",
            ),
            (
                "[slurm]\npartition = \"a\"\npartitions = [\"b\"]\n",
                "s.toml:8:14: slurm.partitions: set one of",
            ),
            (
                "[slurm]\ntime = \"1:99\"\n",
                "s.toml:7:8: slurm.time: `1:99` is not a Slurm time limit",
            ),
            (
                "[slurm]\ntime = 0\n",
                "s.toml:7:8: slurm.time: `0` is 0 seconds",
            ),
            (
                "[slurm]\nmem = \"8X\"\n",
                "s.toml:7:7: slurm.mem: `8X` is not a memory size",
            ),
            (
                "[slurm]\nmem = \"1G\"\nmem_per_cpu = \"1G\"\n",
                "s.toml:8:15: slurm.mem_per_cpu: set either",
            ),
            (
                "[slurm]\nmem_per_cpu = 0\n",
                "slurm.mem_per_cpu: `0` is out of range",
            ),
            (
                "[slurm]\ncpus_per_task = 0\n",
                "slurm.cpus_per_task: must be between 1 and",
            ),
            (
                "[slurm]\nextra = [\"--mail-type END\"]\n",
                "slurm.extra[0]: `--mail-type END` holds several words",
            ),
            (
                "[slurm]\nextra = [\"exclusive\"]\n",
                "slurm.extra[0]: `exclusive` is not an sbatch option",
            ),
            ("[slurm]\nsettle = 0\n", "slurm.settle: must be between"),
            (
                "[slurm]\npoll_min = 5\npoll_max = 1\n",
                "slurm.poll_max: must not be smaller",
            ),
            ("[slurm]\nqueue = \"x\"\n", "unknown key `queue` in [slurm]"),
            (
                "[[slurm.targets]]\nweight = 2\n",
                "slurm.targets[0].partition: missing required key `partition`",
            ),
            (
                "[slurm]\naccount = \"-A\"\n",
                "slurm.account: `-A` starts with `-`",
            ),
        ] {
            let e = load(body).expect_err(body);
            assert!(e.contains(want), "{body:?}\n got: {e}\nwant: {want}");
        }
    }

    #[test]
    fn partition_errors_point_at_the_partition() {
        let s = load("[[slurm.targets]]\npartition = \"gpu\"\nweight = 3\n").expect("loads");
        assert_eq!(s.slurm.targets[0].weight, 3);
        let e = s.slurm_error("partition", "gpu", "no such partition".into());
        assert_eq!(
            e.to_string(),
            "s.toml:7:13: slurm.targets[0].partition: no such partition"
        );
    }

    #[test]
    fn other_backends_tables_are_said_to_be_ignored() {
        let s = load("[lsf]\nqueue = \"x\"\n[slurm]\npartition = \"short\"\n").expect("loads");
        assert_eq!(s.warnings().len(), 1);
        assert!(
            s.warnings()[0]
                .to_string()
                .contains("[lsf] is ignored: backend is \"slurm\"; set backend = \"lsf\"")
        );
    }
}
