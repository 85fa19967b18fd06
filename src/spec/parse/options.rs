//! The scheduler and output options of a sweep file: `[lsf]`, `[local]`, `[cluster]`, `[collect]`.

use std::path::{Component, Path};

use toml::de::DeValue;

use super::{Cx, Res, Tbl, Val, array_of_tables};
use crate::spec::{ClusterOpts, CollectOpts, LocalOpts, LsfOpts, Policy, Site, Target};

const LSF_KEYS: &[&str] = &[
    "queue",
    "queues",
    "hosts",
    "policy",
    "cores",
    "gpu",
    "walltime",
    "memory",
    "resources",
    "extra",
    "array",
    "max_array_size",
    "max_in_flight",
    "submit_rate",
    "poll_min",
    "poll_max",
    "settle",
    "lost_after",
    "targets",
];
const TARGET_KEYS: &[&str] = &["queue", "hosts", "weight", "max_in_flight"];

/// LSF `-W [hours:]minutes`; minutes stay below 60 once hours are given.
fn is_walltime(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once(':') {
        None => digits(s),
        Some((h, m)) => digits(h) && digits(m) && m.parse::<u32>().is_ok_and(|m| m < 60),
    }
}

/// LSF `-M`: a number with an optional KB/MB/GB/TB unit.
fn is_memory(s: &str) -> bool {
    let num = ["KB", "MB", "GB", "TB"]
        .iter()
        .find_map(|u| s.strip_suffix(u))
        .unwrap_or(s);
    let (int, frac) = num.split_once('.').unwrap_or((num, "0"));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
}

/// A path inside the point's out_dir: relative and never climbing out of it.
fn bad_collect_path(s: &str) -> Option<&'static str> {
    let p = Path::new(s);
    if s.is_empty() {
        Some("is empty")
    } else if p.is_absolute() || s.starts_with('/') {
        Some("is absolute")
    } else if p.components().any(|c| matches!(c, Component::ParentDir)) {
        Some("contains `..`")
    } else if s.contains('\n') {
        Some("contains a newline")
    } else {
        None
    }
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
    let u32_max = i64::from(u32::MAX);

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
        lsf.cores = Some(cx.int_in(v, "lsf.cores", 1, u32_max, "cores = 4")?);
    }
    if let Some(v) = tb.get("gpu") {
        lsf.gpu = Some(cx.one_line(v, "lsf.gpu", "gpu = \"num=1:mode=shared:mps=no\"")?);
    }
    if let Some(v) = tb.get("walltime") {
        let ex = "walltime = \"4:00\"";
        let s = match v.get_ref() {
            // Plain minutes are common enough to accept unquoted.
            DeValue::Integer(_) => cx
                .int_in::<i64>(v, "lsf.walltime", 1, u32_max, ex)?
                .to_string(),
            _ => cx.string(v, "lsf.walltime", ex)?,
        };
        if !is_walltime(&s) {
            return Err(cx.err(
                v.span().start,
                "lsf.walltime",
                format!(
                    "`{s}` is not an LSF run limit; write [hours:]minutes with minutes below 60 \
                     after hours, e.g. \"4:00\" or \"90\""
                ),
            ));
        }
        lsf.walltime = Some(s);
    }
    if let Some(v) = tb.get("memory") {
        let ex = "memory = \"8GB\"";
        let s = match v.get_ref() {
            DeValue::Integer(_) => cx
                .int_in::<i64>(v, "lsf.memory", 1, i64::MAX, ex)?
                .to_string(),
            _ => cx.string(v, "lsf.memory", ex)?,
        };
        if !is_memory(&s) {
            return Err(cx.err(
                v.span().start,
                "lsf.memory",
                format!(
                    "`{s}` is not a memory limit; write a number with an optional unit KB, MB, GB \
                     or TB, e.g. \"8GB\" or \"512MB\""
                ),
            ));
        }
        lsf.memory = Some(s);
    }
    if let Some(v) = tb.get("resources") {
        lsf.resources = Some(cx.one_line(v, "lsf.resources", "resources = \"span[hosts=1]\"")?);
    }
    if let Some(v) = tb.get("extra") {
        let ex = "extra = [\"-P myproject\"]";
        for (i, e) in cx.list(v, "lsf.extra", ex)?.iter().enumerate() {
            let field = format!("lsf.extra[{i}]");
            let s = cx.one_line(e, &field, ex)?;
            if !s.starts_with('-') {
                return Err(cx.err(
                    e.span().start,
                    &field,
                    format!(
                        "`{s}` is not a bsub option: each entry must start with `-`, e.g. \"-P \
                         myproject\""
                    ),
                ));
            }
            lsf.extra.push(s);
        }
    }
    if let Some(v) = tb.get("array") {
        lsf.array = cx.boolean(v, "lsf.array", "array = true")?;
    }
    if let Some(v) = tb.get("max_array_size") {
        lsf.max_array_size =
            cx.int_in(v, "lsf.max_array_size", 1, u32_max, "max_array_size = 1000")?;
    }
    if let Some(v) = tb.get("max_in_flight") {
        lsf.max_in_flight =
            Some(cx.int_in(v, "lsf.max_in_flight", 1, u32_max, "max_in_flight = 100")?);
    }
    if let Some(v) = tb.get("submit_rate") {
        let ex = "submit_rate = 5.0";
        let r = cx.number(v, "lsf.submit_rate", ex)?;
        if r <= 0.0 {
            return Err(cx.err(
                v.span().start,
                "lsf.submit_rate",
                format!("must be greater than 0 (submissions per second); write e.g. `{ex}`"),
            ));
        }
        lsf.submit_rate = Some(r);
    }
    for (key, slot, ex) in [
        ("poll_min", &mut lsf.poll_min, "poll_min = 10.0"),
        ("poll_max", &mut lsf.poll_max, "poll_max = 180.0"),
        ("settle", &mut lsf.settle, "settle = 10.0"),
        ("lost_after", &mut lsf.lost_after, "lost_after = 600.0"),
    ] {
        if let Some(v) = tb.get(key) {
            let field = format!("lsf.{key}");
            let r = cx.number(v, &field, ex)?;
            if !(r > 0.0 && r.is_finite()) {
                return Err(cx.err(
                    v.span().start,
                    &field,
                    format!("must be a positive number of seconds; write e.g. `{ex}`"),
                ));
            }
            *slot = r;
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
    let s = cx.one_line(v, field, example)?;
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
                Some(v) => cx.int_in(v, &t.sub("weight"), 1, i64::from(u32::MAX), "weight = 2")?,
            };
            let mif = match t.get("max_in_flight") {
                None => max_in_flight,
                Some(v) => Some(cx.int_in(
                    v,
                    &t.sub("max_in_flight"),
                    1,
                    i64::from(u32::MAX),
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
    let tb = cx.table(v, "local", &["concurrency"], "[local] concurrency = 4")?;
    let concurrency = match tb.get("concurrency") {
        None => default,
        Some(c) => cx.int_in(c, "local.concurrency", 1, 1 << 20, "concurrency = 4")?,
    };
    Ok(LocalOpts { concurrency })
}

pub(super) fn parse_cluster(cx: &Cx<'_>, v: &Val<'_>) -> Res<ClusterOpts> {
    let tb = cx.table(
        v,
        "cluster",
        &["host", "init", "remote_dir"],
        "[cluster] host = \"user@login.example.org\"",
    )?;
    let ex = "host = \"user@access.nju.edu.cn\"";
    let hv = tb.get("host").ok_or_else(|| cx.missing(tb, "host", ex))?;
    let host = cx.one_line(hv, "cluster.host", ex)?;
    if host.starts_with('-') || host.contains(char::is_whitespace) {
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
        .map(|v| cx.one_line(v, "cluster.remote_dir", "remote_dir = \"~/.bsweep\""))
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
    };
    let Some(v) = v else {
        return Ok(c);
    };
    let tb = cx.table(
        v,
        "collect",
        &["files", "metrics_json", "stdout_kv", "stdout_regex"],
        "[collect] metrics_json = \"metrics.json\"",
    )?;
    let check_path = |s: &str, at: usize, field: &str| -> Res<()> {
        match bad_collect_path(s) {
            Some(why) => Err(cx.err(
                at,
                field,
                format!(
                    "`{s}` {why}; give a path relative to the point's out_dir, e.g. \
                     \"metrics.json\""
                ),
            )),
            None => Ok(()),
        }
    };
    if let Some(v) = tb.get("files") {
        for (i, (s, at)) in cx
            .string_list(v, "collect.files", "files = [\"metrics.json\"]")?
            .into_iter()
            .enumerate()
        {
            check_path(&s, at, &format!("collect.files[{i}]"))?;
            c.files.push(s);
        }
    }
    if let Some(v) = tb.get("metrics_json") {
        let s = cx.string(v, "collect.metrics_json", "metrics_json = \"metrics.json\"")?;
        check_path(&s, v.span().start, "collect.metrics_json")?;
        c.metrics_json = Some(s);
    }
    if let Some(v) = tb.get("stdout_kv") {
        c.stdout_kv = cx.boolean(v, "collect.stdout_kv", "stdout_kv = true")?;
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
