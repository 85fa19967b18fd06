//! The scheduler and output options of a sweep file: `[lsf]`, `[local]`, `[cluster]`, `[collect]`.

use toml::de::DeValue;

use super::keys::{CLUSTER_KEYS, COLLECT_KEYS, LOCAL_KEYS, LSF_KEYS};
use super::targets::{default_target, parse_targets, queue_sites};
use super::{Cx, MAX_OPTION_BYTES, Range, Res, Tbl, Val, describe_control, group};
use crate::spec::{ClusterOpts, CollectOpts, LocalOpts, LsfOpts, Policy};

/// Bounds of the [lsf] numbers: wide enough for any site, narrow enough that every value is a
/// sane `Duration`, rate or count (1e300 seconds overflowed `Duration`; 1e-300 submissions per
/// second waited forever after the first job).
pub(super) const POLL: Range = Range {
    min: 0.05,
    max: 86_400.0,
    unit: "seconds",
    note: " (1 day)",
};
pub(super) const SETTLE: Range = Range {
    min: 0.05,
    max: 3_600.0,
    unit: "seconds",
    note: " (1 hour)",
};
pub(super) const LOST_AFTER: Range = Range {
    min: 1.0,
    max: 604_800.0,
    unit: "seconds",
    note: " (7 days)",
};
pub(super) const SUBMIT_RATE: Range = Range {
    min: 0.001,
    max: 1_000.0,
    unit: "submissions per second",
    note: "",
};
pub(super) const MAX_CORES: i64 = 1_000_000;
/// `bsub` calls at once by default: a few overlap the scheduler's own latency without
/// crowding a login node or mbatchd.
const DEFAULT_SUBMIT_PARALLEL: u32 = 4;
/// More than a submission batch (64) at once gains nothing.
const MAX_SUBMIT_PARALLEL: i64 = 64;
pub(super) const MAX_COUNT: i64 = 1_000_000;
pub(super) const MAX_WEIGHT: i64 = 1_000;
const MAX_CONCURRENCY: i64 = 10_000;
/// Longest run limit accepted, in minutes: a year. No site runs a job longer; a larger number is
/// a slip (minutes taken for seconds), and LSF's limit fields are 32-bit.
pub(super) const MAX_WALLTIME_MINUTES: u64 = 365 * 24 * 60;
/// Largest number LSF reads in a limit: its limit fields are 32-bit.
pub(super) const MAX_LIMIT_NUMBER: f64 = 2_147_483_647.0;
/// Largest memory limit, in KB: 2^31 MB (2048 TB), what a 32-bit limit holds in MB, the unit
/// sites with large limits set (LSF_UNIT_FOR_LIMITS).
pub(super) const MAX_MEMORY_KB: f64 = 2_147_483_648.0 * 1024.0;

/// LSF `-W [hours:]minutes` as minutes; minutes stay below 60 once hours are given. `None` when
/// the text has another form.
pub(super) fn walltime_minutes(s: &str) -> Option<u64> {
    let digits = |p: &str| {
        (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u64>().ok())
            .flatten()
    };
    match s.split_once(':') {
        None => digits(s),
        Some((h, m)) => {
            let (h, m) = (digits(h)?, digits(m)?);
            (m < 60).then_some(h * 60 + m)
        }
    }
}

/// LSF `-M`: a number with an optional KB/MB/GB/TB unit, as (number, KB per unit). `None` when
/// the text has another form.
pub(super) fn memory_amount(s: &str) -> Option<(f64, f64)> {
    let (num, unit_kb) = [
        ("KB", 1.0),
        ("MB", 1024.0),
        ("GB", 1024.0 * 1024.0),
        ("TB", 1024.0 * 1024.0 * 1024.0),
    ]
    .iter()
    .find_map(|(u, kb)| s.strip_suffix(u).map(|n| (n, *kb)))
    // Without a unit LSF reads KB (unless the site sets LSF_UNIT_FOR_LIMITS larger).
    .unwrap_or((s, 1.0));
    let (int, frac) = num.split_once('.').unwrap_or((num, "0"));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(digits(int) && digits(frac)) {
        return None;
    }
    Some((num.parse().ok()?, unit_kb))
}

/// A path inside the point's out_dir, normalised (`./metrics.json` is `metrics.json`, `a//b` is
/// `a/b`): relative, never climbing out, and plain text. `Err` says what is wrong.
pub(super) fn collect_path(s: &str) -> Result<String, String> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!("contains {}", describe_control(c)));
    }
    if s.starts_with('/') {
        return Err("is absolute".into());
    }
    if s.len() > MAX_OPTION_BYTES {
        return Err(format!("is longer than {MAX_OPTION_BYTES} bytes"));
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("contains `..`".into()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("names no file (it is the out_dir itself)".into());
    }
    Ok(parts.join("/"))
}

/// What is wrong with a `remote_dir`, if anything: it must be `~`, `~/…`, absolute, or relative
/// to the remote home, and it becomes part of `#BSUB -o` paths.
fn bad_remote_dir(s: &str) -> Option<String> {
    if s.starts_with('~') && s != "~" && !s.starts_with("~/") {
        return Some(format!(
            "`{s}` uses the `~user` form, which bsweep does not expand (it would become a \
             directory named `{}` in your home); write `~/…`, an absolute path, or a path \
             relative to your remote home",
            s.split('/').next().unwrap_or(s)
        ));
    }
    if s.contains('%') {
        return Some(
            "must not contain `%`: LSF expands `%J` and `%I` in output paths, so the jobs' \
             outputs would go elsewhere; choose a directory without `%`"
                .into(),
        );
    }
    if s.contains('"') {
        return Some(
            "must not contain `\"`: it becomes part of #BSUB -o paths, which LSF reads up to the \
             next `\"`; choose a directory without quotes"
                .into(),
        );
    }
    if s.contains("  ") || s.trim() != s {
        return Some(
            "must not start or end with spaces or hold several in a row: LSF joins the words of a \
             #BSUB value with single spaces, so the output paths would change"
                .into(),
        );
    }
    None
}

pub(super) fn parse_lsf(cx: &Cx<'_>, v: Option<&Val<'_>>) -> Res<LsfOpts> {
    let mut lsf = lsf_defaults();
    let Some(v) = v else {
        lsf.targets.push(default_target(None));
        return Ok(lsf);
    };
    let tb = cx.table(v, "lsf", LSF_KEYS, "[lsf] queue = \"short\"")?;
    if let Some(v) = tb.get("policy") {
        lsf.policy = parse_policy(cx, v)?;
    }
    parse_job_options(cx, tb, &mut lsf)?;
    parse_submission(cx, tb, &mut lsf)?;
    parse_timings(cx, tb, &mut lsf)?;
    lsf.targets = parse_targets(cx, tb, lsf.max_in_flight)?;
    lsf.queue_sites = queue_sites(cx, tb);
    Ok(lsf)
}

/// The [lsf] options of a file that leaves them out.
fn lsf_defaults() -> LsfOpts {
    LsfOpts {
        targets: Vec::new(),
        queue_sites: Vec::new(),
        policy: Policy::RoundRobin,
        cores: None,
        gpu: None,
        walltime: None,
        memory: None,
        resources: None,
        extra: Vec::new(),
        array: false,
        max_array_size: 1000,
        max_in_flight: None,
        submit_rate: None,
        submit_parallel: DEFAULT_SUBMIT_PARALLEL,
        poll_min: 10.0,
        poll_max: 180.0,
        settle: 10.0,
        lost_after: 600.0,
    }
}

/// `policy`: how jobs are spread over the targets.
fn parse_policy(cx: &Cx<'_>, v: &Val<'_>) -> Res<Policy> {
    let s = cx.string(v, "lsf.policy", "policy = \"round-robin\"")?;
    match s.as_str() {
        "round-robin" => Ok(Policy::RoundRobin),
        "weighted" => Ok(Policy::Weighted),
        "least-pending" => Ok(Policy::LeastPending),
        other => Err(cx.err(
            v.span().start,
            "lsf.policy",
            format!(
                "unknown policy `{other}`; use \"round-robin\", \"weighted\" or \
                 \"least-pending\""
            ),
        )),
    }
}

/// What each job asks of LSF: cores, GPUs, run limit, memory, resources and extra options.
fn parse_job_options(cx: &Cx<'_>, tb: Tbl<'_, '_>, lsf: &mut LsfOpts) -> Res<()> {
    if let Some(v) = tb.get("cores") {
        lsf.cores = Some(cx.int_in(v, "lsf.cores", 1, MAX_CORES, "cores = 4")?);
    }
    if let Some(v) = tb.get("gpu") {
        lsf.gpu = Some(cx.bsub_text(v, "lsf.gpu", "gpu = \"num=1:mode=shared:mps=no\"")?);
    }
    if let Some(v) = tb.get("walltime") {
        lsf.walltime = Some(walltime(cx, v)?);
    }
    if let Some(v) = tb.get("memory") {
        lsf.memory = Some(memory(cx, v)?);
    }
    if let Some(v) = tb.get("resources") {
        lsf.resources = Some(cx.bsub_text(v, "lsf.resources", "resources = \"span[hosts=1]\"")?);
    }
    if let Some(v) = tb.get("extra") {
        let ex = "extra = [\"-P myproject\"]";
        for (i, e) in cx.list(v, "lsf.extra", ex)?.iter().enumerate() {
            let field = format!("lsf.extra[{i}]");
            lsf.extra.push(extra(cx, e, &field, ex)?);
        }
    }
    Ok(())
}

/// How bsweep submits: job arrays, jobs in flight, submission rate and parallel `bsub` calls.
fn parse_submission(cx: &Cx<'_>, tb: Tbl<'_, '_>, lsf: &mut LsfOpts) -> Res<()> {
    if let Some(v) = tb.get("array") {
        lsf.array = cx.boolean(v, "lsf.array", "array = true")?;
    }
    if let Some(v) = tb.get("max_array_size") {
        lsf.max_array_size = cx.int_in(
            v,
            "lsf.max_array_size",
            1,
            MAX_COUNT,
            "max_array_size = 1000",
        )?;
    }
    if let Some(v) = tb.get("max_in_flight") {
        lsf.max_in_flight =
            Some(cx.int_in(v, "lsf.max_in_flight", 1, MAX_COUNT, "max_in_flight = 100")?);
    }
    if let Some(v) = tb.get("submit_rate") {
        lsf.submit_rate =
            Some(cx.number_in(v, "lsf.submit_rate", &SUBMIT_RATE, "submit_rate = 5.0")?);
    }
    if let Some(v) = tb.get("submit_parallel") {
        lsf.submit_parallel = cx.int_in(
            v,
            "lsf.submit_parallel",
            1,
            MAX_SUBMIT_PARALLEL,
            "submit_parallel = 4",
        )?;
    }
    Ok(())
}

/// How often bsweep polls, how long it lets LSF settle, and when a job counts as lost.
fn parse_timings(cx: &Cx<'_>, tb: Tbl<'_, '_>, lsf: &mut LsfOpts) -> Res<()> {
    for (key, slot, range, ex) in [
        ("poll_min", &mut lsf.poll_min, &POLL, "poll_min = 10.0"),
        ("poll_max", &mut lsf.poll_max, &POLL, "poll_max = 180.0"),
        ("settle", &mut lsf.settle, &SETTLE, "settle = 10.0"),
        (
            "lost_after",
            &mut lsf.lost_after,
            &LOST_AFTER,
            "lost_after = 600.0",
        ),
    ] {
        if let Some(v) = tb.get(key) {
            *slot = cx.number_in(v, &format!("lsf.{key}"), range, ex)?;
        }
    }
    if lsf.poll_max < lsf.poll_min {
        return Err(cx.err(
            tb.get("poll_max")
                .or(tb.get("poll_min"))
                .map_or(0, |v| v.span().start),
            "lsf.poll_max",
            "must not be smaller than lsf.poll_min".to_string(),
        ));
    }
    Ok(())
}

/// `walltime`: `[hours:]minutes` (or plain minutes unquoted), more than 0 and at most a year.
fn walltime(cx: &Cx<'_>, v: &Val<'_>) -> Res<String> {
    let ex = "walltime = \"4:00\"";
    let field = "lsf.walltime";
    let s = match v.get_ref() {
        // Plain minutes are common enough to accept unquoted.
        DeValue::Integer(_) => cx.int(v, field, ex)?.to_string(),
        _ => cx.string(v, field, ex)?,
    };
    let Some(minutes) = walltime_minutes(&s) else {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{}` is not an LSF run limit; write [hours:]minutes with minutes below 60 after \
                 hours, e.g. \"4:00\" or \"90\"",
                s.escape_debug()
            ),
        ));
    };
    if minutes == 0 || minutes > MAX_WALLTIME_MINUTES {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{s}` is {} minutes; a run limit must be between 1 minute and {} hours (a \
                 year); write e.g. \"4:00\"",
                group(minutes as i64),
                group((MAX_WALLTIME_MINUTES / 60) as i64)
            ),
        ));
    }
    Ok(s)
}

/// `memory`: a number with an optional unit, more than 0 and within LSF's 32-bit limit fields.
fn memory(cx: &Cx<'_>, v: &Val<'_>) -> Res<String> {
    let ex = "memory = \"8GB\"";
    let field = "lsf.memory";
    let s = match v.get_ref() {
        DeValue::Integer(_) => cx
            .int_in::<i64>(v, field, 1, MAX_LIMIT_NUMBER as i64, ex)?
            .to_string(),
        _ => cx.string(v, field, ex)?,
    };
    let Some((number, unit_kb)) = memory_amount(&s) else {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{}` is not a memory limit; write a number with an optional unit KB, MB, GB or \
                 TB, e.g. \"8GB\" or \"512MB\"",
                s.escape_debug()
            ),
        ));
    };
    if !(number > 0.0 && number <= MAX_LIMIT_NUMBER && number * unit_kb <= MAX_MEMORY_KB) {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{s}` is out of range: a memory limit must be more than 0 and at most 2048TB, \
                 with a number of at most {} (LSF keeps limits in 32-bit fields); write e.g. \
                 \"8GB\"",
                group(MAX_LIMIT_NUMBER as i64)
            ),
        ));
    }
    Ok(s)
}

/// One `extra` entry: the user's own `#BSUB` option text, written as it is.
fn extra(cx: &Cx<'_>, e: &Val<'_>, field: &str, ex: &str) -> Res<String> {
    let s = cx.one_line(e, field, ex)?;
    if !s.starts_with('-') {
        return Err(cx.err(
            e.span().start,
            field,
            format!(
                "`{s}` is not a bsub option: each entry must start with `-`, e.g. \"-P myproject\""
            ),
        ));
    }
    if s.contains('"') {
        // LSF pairs a `"` with the next one on the line, with no escape: an unpaired or nested
        // quote turns the rest into other options. Single quotes group words as well.
        return Err(cx.err(
            e.span().start,
            field,
            "must not contain `\"` (LSF reads a #BSUB value up to the next `\"`, with no escape); \
             group words with single quotes instead, e.g. \"-Jd 'my run'\"",
        ));
    }
    if s.ends_with('\\') {
        return Err(cx.err(
            e.span().start,
            field,
            "must not end with `\\`: LSF would join the next #BSUB line to this one; remove it",
        ));
    }
    Ok(s)
}

pub(super) fn parse_local(cx: &Cx<'_>, v: Option<&Val<'_>>) -> Res<LocalOpts> {
    let default = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(v) = v else {
        return Ok(LocalOpts {
            concurrency: default,
        });
    };
    let tb = cx.table(v, "local", LOCAL_KEYS, "[local] concurrency = 4")?;
    let concurrency = match tb.get("concurrency") {
        None => default,
        Some(c) => cx.int_in(
            c,
            "local.concurrency",
            1,
            MAX_CONCURRENCY,
            "concurrency = 4",
        )?,
    };
    Ok(LocalOpts { concurrency })
}

pub(super) fn parse_cluster(cx: &Cx<'_>, v: &Val<'_>) -> Res<ClusterOpts> {
    let tb = cx.table(
        v,
        "cluster",
        CLUSTER_KEYS,
        "[cluster] host = \"user@login.example.org\"",
    )?;
    let ex = "host = \"user@access.nju.edu.cn\"";
    let hv = tb.get("host").ok_or_else(|| cx.missing(tb, "host", ex))?;
    let host = cx.one_line(hv, "cluster.host", ex)?;
    // `[user@]host`, or an ssh config alias: short (a DNS name is at most 253 bytes).
    if host.starts_with('-') || host.contains(char::is_whitespace) || host.len() > 300 {
        return Err(cx.err(
            hv.span().start,
            "cluster.host",
            format!(
                "`{host}` is not an SSH destination; write [user@]host without spaces, e.g. \
                 \"user@access.nju.edu.cn\""
            ),
        ));
    }
    let init = tb
        .get("init")
        .map(|v| cx.string(v, "cluster.init", "init = \"source /etc/profile.d/lsf.sh\""))
        .transpose()?;
    let remote_dir = tb
        .get("remote_dir")
        .map(|v| {
            let field = "cluster.remote_dir";
            let s = cx.one_line(v, field, "remote_dir = \"~/.bsweep\"")?;
            match bad_remote_dir(&s) {
                Some(why) => Err(cx.err(v.span().start, field, why)),
                None => Ok(s),
            }
        })
        .transpose()?;
    Ok(ClusterOpts {
        host,
        init,
        remote_dir,
    })
}

pub(super) fn parse_collect(cx: &Cx<'_>, v: Option<&Val<'_>>) -> Res<CollectOpts> {
    let mut c = CollectOpts {
        files: Vec::new(),
        metrics_json: None,
        stdout_kv: false,
        stdout_regex: None,
        warn_mb: crate::spec::DEFAULT_WARN_MB,
    };
    let Some(v) = v else {
        return Ok(c);
    };
    let tb = cx.table(
        v,
        "collect",
        COLLECT_KEYS,
        "[collect] metrics_json = \"metrics.json\"",
    )?;
    // One rule for every file name collect reads or brings back.
    let check_path = |s: &str, at: usize, field: &str| -> Res<String> {
        collect_path(s).map_err(|why| {
            cx.err(
                at,
                field,
                format!(
                    "`{}` {why}; give a path relative to the point's out_dir, e.g. \
                     \"metrics.json\"",
                    s.escape_debug()
                ),
            )
        })
    };
    if let Some(v) = tb.get("files") {
        for (i, (s, at)) in cx
            .string_list(v, "collect.files", "files = [\"metrics.json\"]")?
            .into_iter()
            .enumerate()
        {
            c.files
                .push(check_path(&s, at, &format!("collect.files[{i}]"))?);
        }
    }
    if let Some(v) = tb.get("metrics_json") {
        let s = cx.string(v, "collect.metrics_json", "metrics_json = \"metrics.json\"")?;
        c.metrics_json = Some(check_path(&s, v.span().start, "collect.metrics_json")?);
    }
    if let Some(v) = tb.get("stdout_kv") {
        c.stdout_kv = cx.boolean(v, "collect.stdout_kv", "stdout_kv = true")?;
    }
    if let Some(v) = tb.get("warn_mb") {
        // Up to 10 TB: a larger figure is a slip (bytes taken for MB).
        c.warn_mb = cx.int_in(v, "collect.warn_mb", 1, 10_000_000, "warn_mb = 4096")?;
    }
    if let Some(v) = tb.get("stdout_regex") {
        let ex = "stdout_regex = 'loss=(?P<loss>[0-9.]+)'";
        let s = cx.string(v, "collect.stdout_regex", ex)?;
        let re = regex::Regex::new(&s).map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or("").trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            cx.err(
                v.span().start,
                "collect.stdout_regex",
                format!("is not a valid regex ({last}); fix it, e.g. `{ex}`"),
            )
        })?;
        if re.capture_names().flatten().next().is_none() {
            return Err(cx.err(
                v.span().start,
                "collect.stdout_regex",
                format!(
                    "has no named group, so it would yield no column; name the groups, e.g. \
                     `{ex}`"
                ),
            ));
        }
        c.stdout_regex = Some(s);
    }
    Ok(c)
}
