//! The scheduler and output options of a sweep file: `[lsf]`, `[local]`, `[cluster]`, `[collect]`.

use toml::de::DeValue;

use super::keys::{CLUSTER_KEYS, COLLECT_KEYS, LOCAL_KEYS, LSF_KEYS, TARGET_KEYS};
use super::{Cx, MAX_OPTION_BYTES, Range, Res, Tbl, Val, array_of_tables, describe_control, group};
use crate::spec::{ClusterOpts, CollectOpts, LocalOpts, LsfOpts, Policy, Site, Target};

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
    let mut lsf = LsfOpts {
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
    };
    let Some(v) = v else {
        lsf.targets.push(default_target(None));
        return Ok(lsf);
    };
    let tb = cx.table(v, "lsf", LSF_KEYS, "[lsf] queue = \"short\"")?;

    if let Some(v) = tb.get("policy") {
        let s = cx.string(v, "lsf.policy", "policy = \"round-robin\"")?;
        lsf.policy = match s.as_str() {
            "round-robin" => Policy::RoundRobin,
            "weighted" => Policy::Weighted,
            "least-pending" => Policy::LeastPending,
            other => {
                return Err(cx.err(
                    v.span().start,
                    "lsf.policy",
                    format!(
                        "unknown policy `{other}`; use \"round-robin\", \"weighted\" or \
                         \"least-pending\""
                    ),
                ));
            }
        };
    }
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

    lsf.targets = parse_targets(cx, tb, lsf.max_in_flight)?;
    lsf.queue_sites = queue_sites(cx, tb);
    Ok(lsf)
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

fn default_target(max_in_flight: Option<u32>) -> Target {
    Target {
        queue: None,
        hosts: None,
        weight: 1,
        max_in_flight,
    }
}

/// A queue or host-group name: one word for `-q`, a single line for `-m`.
fn target_name(
    cx: &Cx<'_>,
    v: &Val<'_>,
    field: &str,
    example: &str,
    one_word: bool,
) -> Res<String> {
    let s = cx.bsub_text(v, field, example)?;
    if one_word && s.contains(char::is_whitespace) {
        return Err(cx.err(
            v.span().start,
            field,
            format!("`{s}` is not a queue name (it contains spaces); give one queue per entry"),
        ));
    }
    if s.starts_with('-') {
        return Err(cx.err(
            v.span().start,
            field,
            format!("`{s}` starts with `-` and would be read as an option; give a name"),
        ));
    }
    Ok(s)
}

/// Where each queue name of a valid [lsf] table is written: `queue`, `queues[i]` or
/// `targets[i].queue`.
fn queue_sites(cx: &Cx<'_>, tb: Tbl<'_, '_>) -> Vec<(String, Site)> {
    let mut found: Vec<(&Val<'_>, String)> = Vec::new();
    if let Some(v) = tb.get("queue") {
        found.push((v, "lsf.queue".into()));
    }
    if let Some(DeValue::Array(a)) = tb.get("queues").map(|v| v.get_ref()) {
        found.extend(
            a.iter()
                .enumerate()
                .map(|(i, e)| (e, format!("lsf.queues[{i}]"))),
        );
    }
    if let Some(DeValue::Array(a)) = tb.get("targets").map(|v| v.get_ref()) {
        for (i, e) in a.iter().enumerate() {
            if let DeValue::Table(t) = e.get_ref()
                && let Some(v) = t.get("queue")
            {
                found.push((v, format!("lsf.targets[{i}].queue")));
            }
        }
    }
    found
        .into_iter()
        .filter_map(|(v, field)| {
            let DeValue::String(q) = v.get_ref() else {
                return None;
            };
            let (line, col) = cx.line_col(v.span().start);
            Some((q.trim().to_string(), Site { field, line, col }))
        })
        .collect()
}

/// `queue`, `queues`, `hosts` or `[[lsf.targets]]`, turned into the list of targets.
fn parse_targets(cx: &Cx<'_>, tb: Tbl<'_, '_>, max_in_flight: Option<u32>) -> Res<Vec<Target>> {
    let queue_v = tb.get("queue");
    let queues_v = tb.get("queues");
    let hosts_v = tb.get("hosts");
    let targets_v = tb.get("targets");

    if let (Some(_), Some(qs)) = (queue_v, queues_v) {
        return Err(cx.err(
            qs.span().start,
            "lsf.queues",
            "set either `queue` (one queue) or `queues` (several), not both",
        ));
    }
    if let (Some(_), Some(h)) = (queues_v, hosts_v) {
        return Err(cx.err(
            h.span().start,
            "lsf.hosts",
            "`hosts` cannot be combined with `queues`; use [[lsf.targets]] tables to pair queues \
             with host groups",
        ));
    }
    if let Some(t) = targets_v {
        let other = [("queue", queue_v), ("queues", queues_v), ("hosts", hosts_v)]
            .into_iter()
            .find_map(|(k, v)| v.map(|_| k));
        if let Some(k) = other {
            return Err(cx.err(
                t.span().start,
                "lsf.targets",
                format!(
                    "[[lsf.targets]] cannot be mixed with lsf.{k}; move every queue and host \
                     group into [[lsf.targets]] tables"
                ),
            ));
        }
    }

    let mut targets = Vec::new();
    let queue = queue_v
        .map(|v| target_name(cx, v, "lsf.queue", "queue = \"short\"", true))
        .transpose()?;
    if let Some(v) = queues_v {
        let ex = "queues = [\"short\", \"normal\"]";
        let items = cx.list(v, "lsf.queues", ex)?;
        if items.is_empty() {
            return Err(cx.err(
                v.span().start,
                "lsf.queues",
                format!("is an empty list; name at least one queue, e.g. `{ex}`"),
            ));
        }
        for (i, e) in items.iter().enumerate() {
            let q = target_name(cx, e, &format!("lsf.queues[{i}]"), ex, true)?;
            targets.push((
                Target {
                    queue: Some(q),
                    ..default_target(max_in_flight)
                },
                e.span().start,
                format!("lsf.queues[{i}]"),
            ));
        }
    } else if let Some(v) = hosts_v {
        let ex = "hosts = [\"734090ib\", \"734090eth\"]";
        let items: Vec<(String, usize, String)> = match v.get_ref() {
            DeValue::String(_) => vec![(
                target_name(cx, v, "lsf.hosts", ex, false)?,
                v.span().start,
                "lsf.hosts".to_string(),
            )],
            DeValue::Array(a) => {
                if a.is_empty() {
                    return Err(cx.err(
                        v.span().start,
                        "lsf.hosts",
                        format!("is an empty list; name at least one host group, e.g. `{ex}`"),
                    ));
                }
                a.iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let f = format!("lsf.hosts[{i}]");
                        Ok((target_name(cx, e, &f, ex, false)?, e.span().start, f))
                    })
                    .collect::<Res<_>>()?
            }
            _ => return Err(cx.wrong_type(v, "lsf.hosts", "a list of host groups", ex)),
        };
        for (h, at, f) in items {
            targets.push((
                Target {
                    queue: queue.clone(),
                    hosts: Some(h),
                    ..default_target(max_in_flight)
                },
                at,
                f,
            ));
        }
    } else if let Some(q) = queue {
        targets.push((
            Target {
                queue: Some(q),
                ..default_target(max_in_flight)
            },
            0,
            String::new(),
        ));
    } else if let Some(v) = targets_v {
        let ex = "[[lsf.targets]] queue = \"gpu\"";
        let tables = array_of_tables(cx, v, "lsf.targets", ex)?;
        if tables.is_empty() {
            return Err(cx.err(
                v.span().start,
                "lsf.targets",
                format!("is an empty list; add at least one target, e.g. `{ex}`"),
            ));
        }
        for (i, e) in tables.iter().enumerate() {
            let field = format!("lsf.targets[{i}]");
            let t = cx.table(e, &field, TARGET_KEYS, ex)?;
            let queue = t
                .get("queue")
                .map(|v| target_name(cx, v, &t.sub("queue"), "queue = \"gpu\"", true))
                .transpose()?;
            let hosts = t
                .get("hosts")
                .map(|v| target_name(cx, v, &t.sub("hosts"), "hosts = \"734090ib\"", false))
                .transpose()?;
            if queue.is_none() && hosts.is_none() {
                return Err(cx.err(
                    e.span().start,
                    &field,
                    "a target needs `queue`, `hosts` or both; add e.g. `queue = \"gpu\"`",
                ));
            }
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
            targets.push((
                Target {
                    queue,
                    hosts,
                    weight,
                    max_in_flight: mif,
                },
                e.span().start,
                field,
            ));
        }
    } else {
        targets.push((default_target(max_in_flight), 0, String::new()));
    }

    // The same queue/host pair twice would only skew the spread; it is always a slip.
    for (i, (t, at, f)) in targets.iter().enumerate() {
        if targets[..i]
            .iter()
            .any(|(o, _, _)| o.queue == t.queue && o.hosts == t.hosts)
        {
            return Err(cx.err(
                *at,
                f,
                format!(
                    "target `{}` is listed twice; remove the duplicate",
                    t.label()
                ),
            ));
        }
    }
    Ok(targets.into_iter().map(|(t, _, _)| t).collect())
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
