//! Where `[lsf]` sends jobs: `queue`, `queues`, `hosts` or `[[lsf.targets]]`, as a list of targets.

use toml::de::DeValue;

use super::keys::TARGET_KEYS;
use super::options::{MAX_COUNT, MAX_WEIGHT};
use super::{Cx, Res, Tbl, Val, array_of_tables};
use crate::spec::{Site, Target};

/// A target with where it is written (offset, field; 0 and "" for one the file implies), for
/// the duplicate check.
type Placed = (Target, usize, String);

pub(super) fn default_target(max_in_flight: Option<u32>) -> Target {
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
pub(super) fn queue_sites(cx: &Cx<'_>, tb: Tbl<'_, '_>) -> Vec<(String, Site)> {
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
pub(super) fn parse_targets(
    cx: &Cx<'_>,
    tb: Tbl<'_, '_>,
    max_in_flight: Option<u32>,
) -> Res<Vec<Target>> {
    let queue_v = tb.get("queue");
    let queues_v = tb.get("queues");
    let hosts_v = tb.get("hosts");
    let targets_v = tb.get("targets");
    check_target_keys(cx, queue_v, queues_v, hosts_v, targets_v)?;

    let queue = queue_v
        .map(|v| target_name(cx, v, "lsf.queue", "queue = \"short\"", true))
        .transpose()?;
    let targets = if let Some(v) = queues_v {
        queues_targets(cx, v, max_in_flight)?
    } else if let Some(v) = hosts_v {
        hosts_targets(cx, v, queue, max_in_flight)?
    } else if let Some(q) = queue {
        let only = Target {
            queue: Some(q),
            ..default_target(max_in_flight)
        };
        vec![(only, 0, String::new())]
    } else if let Some(v) = targets_v {
        tables_targets(cx, v, max_in_flight)?
    } else {
        vec![(default_target(max_in_flight), 0, String::new())]
    };
    reject_duplicates(cx, &targets)?;
    Ok(targets.into_iter().map(|(t, _, _)| t).collect())
}

/// The ways of naming targets that exclude each other.
fn check_target_keys(
    cx: &Cx<'_>,
    queue_v: Option<&Val<'_>>,
    queues_v: Option<&Val<'_>>,
    hosts_v: Option<&Val<'_>>,
    targets_v: Option<&Val<'_>>,
) -> Res<()> {
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
    Ok(())
}

/// `queues = [...]`: one target per queue.
fn queues_targets(cx: &Cx<'_>, v: &Val<'_>, max_in_flight: Option<u32>) -> Res<Vec<Placed>> {
    let ex = "queues = [\"short\", \"normal\"]";
    let items = cx.list(v, "lsf.queues", ex)?;
    if items.is_empty() {
        return Err(cx.err(
            v.span().start,
            "lsf.queues",
            format!("is an empty list; name at least one queue, e.g. `{ex}`"),
        ));
    }
    let mut targets = Vec::new();
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
    Ok(targets)
}

/// `hosts = "group"` or `hosts = [...]`: one target per host group, all in `queue` if given.
fn hosts_targets(
    cx: &Cx<'_>,
    v: &Val<'_>,
    queue: Option<String>,
    max_in_flight: Option<u32>,
) -> Res<Vec<Placed>> {
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
    Ok(items
        .into_iter()
        .map(|(h, at, f)| {
            let t = Target {
                queue: queue.clone(),
                hosts: Some(h),
                ..default_target(max_in_flight)
            };
            (t, at, f)
        })
        .collect())
}

/// `[[lsf.targets]]`: one target per table.
fn tables_targets(cx: &Cx<'_>, v: &Val<'_>, max_in_flight: Option<u32>) -> Res<Vec<Placed>> {
    let ex = "[[lsf.targets]] queue = \"gpu\"";
    let tables = array_of_tables(cx, v, "lsf.targets", ex)?;
    if tables.is_empty() {
        return Err(cx.err(
            v.span().start,
            "lsf.targets",
            format!("is an empty list; add at least one target, e.g. `{ex}`"),
        ));
    }
    tables
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let field = format!("lsf.targets[{i}]");
            let t = target_table(cx, e, &field, ex, max_in_flight)?;
            Ok((t, e.span().start, field))
        })
        .collect()
}

/// One `[[lsf.targets]]` table: a queue, a host group or both, with its weight and limit.
fn target_table(
    cx: &Cx<'_>,
    e: &Val<'_>,
    field: &str,
    ex: &str,
    max_in_flight: Option<u32>,
) -> Res<Target> {
    let t = cx.table(e, field, TARGET_KEYS, ex)?;
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
            field,
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
    Ok(Target {
        queue,
        hosts,
        weight,
        max_in_flight: mif,
    })
}

/// The same queue/host pair twice would only skew the spread; it is always a slip.
fn reject_duplicates(cx: &Cx<'_>, targets: &[Placed]) -> Res<()> {
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
    Ok(())
}
