//! The status of a sweep as readers see it: counts per state and per target, the points that
//! did not end well, and every point (`status --json`, the holder's `status.json` snapshot).
//! Built in one pass over the store's points, written as it goes: memory is bounded by the
//! number of problems shown, not by the sweep.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::model::{AttemptRec, Cause, Counts, Overrides, PointRec, State};
use crate::spec::BackendKind;
use crate::store::{StoreError, SweepMeta};

/// How many failed points `status` names.
pub const PROBLEMS_SHOWN: usize = 10;

/// One point as `status --json` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PointView {
    pub index: u64,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub state: State,
    pub job_id: Option<String>,
    /// The last attempt's job name (`bsw-…-00042-2`, or `bsw-…-a00000-1[43]` in an array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    pub queue: Option<String>,
    pub exit_code: Option<i32>,
    pub attempts: usize,
    /// Why the last attempt failed, when bsweep knows more than the exit code (the
    /// scheduler's reason, a refused submission, a lost job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the last attempt failed (`memlimit`, `runlimit`, `exit`, …), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// What the last attempt asked for instead of the sweep file's limits.
    #[serde(default, skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
    /// The attempts before the last that had a job, oldest first: how each ended and what it
    /// asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<AttemptView>,
}

/// One earlier attempt of a point, as `status --json` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptView {
    pub attempt: u32,
    pub job_id: Option<String>,
    pub state: State,
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    #[serde(default, skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
}

impl AttemptView {
    fn of(a: &AttemptRec) -> Self {
        AttemptView {
            attempt: a.attempt,
            job_id: a.job_id.as_ref().map(|j| j.to_string()),
            state: a.state,
            exit_code: a.exit_code,
            cause: a.cause,
            overrides: a.overrides.clone(),
        }
    }
}

impl PointView {
    pub fn of(meta: &SweepMeta, p: &PointRec) -> Self {
        let last = p.last();
        PointView {
            index: p.index,
            params: p
                .params
                .iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect(),
            state: p.state(),
            job_id: last.and_then(|a| a.job_id.as_ref()).map(|j| j.to_string()),
            job_name: last
                .filter(|a| a.job_id.is_some())
                .map(|a| a.job_name.clone()),
            queue: where_label(meta, p),
            exit_code: last.and_then(|a| a.exit_code),
            attempts: p.jobs(),
            error: last.and_then(|a| a.error.clone()),
            cause: last.and_then(|a| a.cause),
            overrides: last.map(|a| a.overrides.clone()).unwrap_or_default(),
            earlier: p
                .attempts
                .iter()
                .take(p.attempts.len().saturating_sub(1))
                .filter(|a| a.job_id.is_some())
                .map(AttemptView::of)
                .collect(),
        }
    }

    /// Failed or lost: `status` names these.
    pub fn is_problem(&self) -> bool {
        matches!(self.state, State::Failed | State::Unknown)
    }
}

/// The whole status of a sweep: `status --json` prints exactly this (the snapshot too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusView {
    pub sweep: String,
    pub id: String,
    pub backend: BackendKind,
    pub total: u64,
    pub counts: Counts,
    #[serde(default)]
    pub points: Vec<PointView>,
    pub targets: BTreeMap<String, Counts>,
    /// The first failed or lost points, and how many there are.
    #[serde(default)]
    pub problems: Vec<PointView>,
    #[serde(default)]
    pub problem_count: usize,
    /// When bsweep last heard from the scheduler about this sweep (unix seconds), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<f64>,
}

/// A [`StatusView`] without its points: what `status` and `list` need of a snapshot, read
/// without holding a million points in memory.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusHead {
    pub sweep: String,
    pub id: String,
    pub backend: BackendKind,
    pub total: u64,
    pub counts: Counts,
    pub targets: BTreeMap<String, Counts>,
    #[serde(default)]
    pub problems: Vec<PointView>,
    #[serde(default)]
    pub problem_count: usize,
    #[serde(default)]
    pub excluded_hosts: Vec<String>,
    #[serde(default)]
    pub as_of: Option<f64>,
}

impl StatusHead {
    /// Reads a snapshot's head; the points are parsed but not kept.
    pub fn read(json: impl std::io::Read) -> serde_json::Result<Self> {
        #[derive(Deserialize)]
        struct Skipping {
            #[serde(flatten)]
            head: StatusHead,
            #[serde(default)]
            #[allow(dead_code)] // parsed to be skipped, never read
            points: serde::de::IgnoredAny,
        }
        serde_json::from_reader::<_, Skipping>(std::io::BufReader::new(json)).map(|s| s.head)
    }

    pub fn overview(&self) -> Overview {
        Overview {
            counts: self.counts.clone(),
            targets: self.targets.clone(),
            problems: self.problems.clone(),
            problem_count: self.problem_count,
            excluded_hosts: self.excluded_hosts.clone(),
        }
    }
}

/// Point `index` of a snapshot written by [`write_json`], found line by line (each point is on
/// a line of its own): one point is read, not the million around it.
pub fn snapshot_point(json: impl std::io::Read, index: u64) -> Option<PointView> {
    use std::io::BufRead;
    let prefix = format!("{{\"index\":{index},");
    std::io::BufReader::new(json)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            let l = l.trim().trim_end_matches(',');
            l.starts_with(&prefix)
                .then(|| serde_json::from_str(l).ok())
                .flatten()
        })
}

/// Every point of a snapshot written by [`write_json`], read line by line as the caller goes.
pub fn snapshot_points(json: impl std::io::Read) -> impl Iterator<Item = PointView> {
    use std::io::BufRead;
    std::io::BufReader::new(json)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let l = l.trim().trim_end_matches(',');
            l.starts_with("{\"index\":")
                .then(|| serde_json::from_str(l).ok())
                .flatten()
        })
}

/// What `status` shows without listing every point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    pub counts: Counts,
    pub targets: BTreeMap<String, Counts>,
    /// The first [`PROBLEMS_SHOWN`] failed or lost points, and how many there are in all.
    pub problems: Vec<PointView>,
    pub problem_count: usize,
    /// Hosts the sweep leaves out after they failed jobs (as its latest attempts do).
    pub excluded_hosts: Vec<String>,
}

impl Overview {
    fn add(&mut self, meta: &SweepMeta, p: &PointRec, view: Option<PointView>) {
        self.counts.add(p.state());
        if let Some(label) = where_label(meta, p) {
            self.targets.entry(label).or_default().add(p.state());
        }
        // The list only grows, and each new attempt carries it whole: the longest is the latest.
        if let Some(a) = p.last()
            && a.overrides.exclude_hosts.len() > self.excluded_hosts.len()
        {
            self.excluded_hosts = a.overrides.exclude_hosts.clone();
        }
        if matches!(p.state(), State::Failed | State::Unknown) {
            self.problem_count += 1;
            if self.problems.len() < PROBLEMS_SHOWN {
                self.problems
                    .push(view.unwrap_or_else(|| PointView::of(meta, p)));
            }
        }
    }

    /// One pass over the points.
    pub fn scan(
        meta: &SweepMeta,
        points: impl IntoIterator<Item = Result<PointRec, StoreError>>,
    ) -> Result<Self, StoreError> {
        let mut o = Overview::default();
        for p in points {
            o.add(meta, &p?, None);
        }
        check_count(meta, o.counts.total())?;
        Ok(o)
    }

    /// From a full view (a snapshot).
    pub fn of_view(v: &StatusView) -> Self {
        let problems: Vec<&PointView> = v.points.iter().filter(|p| p.is_problem()).collect();
        let excluded_hosts = v
            .points
            .iter()
            .map(|p| &p.overrides.exclude_hosts)
            .max_by_key(|h| h.len())
            .cloned()
            .unwrap_or_default();
        Overview {
            counts: v.counts.clone(),
            targets: v.targets.clone(),
            excluded_hosts,
            problem_count: problems.len(),
            problems: problems.into_iter().take(PROBLEMS_SHOWN).cloned().collect(),
        }
    }
}

/// A store that holds another number of points than its record says is damaged.
fn check_count(meta: &SweepMeta, seen: u64) -> Result<(), StoreError> {
    if seen != meta.count {
        return Err(StoreError::Damaged {
            name: meta.name.clone(),
            what: format!("{seen} point records, expected {}", meta.count),
        });
    }
    Ok(())
}

/// Why a view could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the status")]
    Write(#[source] io::Error),
}

/// Writes the full [`StatusView`] of a sweep as JSON to `out`, one point at a time, and returns
/// the overview it saw on the way.
pub fn write_json(
    meta: &SweepMeta,
    counts: &Counts,
    as_of: Option<f64>,
    points: impl IntoIterator<Item = Result<PointRec, StoreError>>,
    mut out: impl Write,
    pretty: bool,
) -> Result<Overview, ViewError> {
    let w = |e: serde_json::Error| ViewError::Write(e.into());
    let head = serde_json::json!({
        "sweep": meta.name,
        "id": meta.id,
        "backend": meta.backend,
        "total": meta.count,
        "counts": counts,
    });
    let (nl, ind) = if pretty { ("\n", "  ") } else { ("", "") };
    // Each point on a line of its own, whatever `pretty` says: `snapshot_point` relies on it.
    let text = if pretty {
        serde_json::to_string_pretty(&head)
    } else {
        serde_json::to_string(&head)
    }
    .map_err(w)?;
    // The head's fields, then "points" as an array written as the points are read.
    let open = text
        .trim_end()
        .strip_suffix('}')
        .unwrap_or(&text)
        .trim_end();
    write!(out, "{open},{nl}{ind}\"points\": [").map_err(ViewError::Write)?;
    let mut o = Overview::default();
    let mut first = true;
    for p in points {
        let p = p?;
        let v = PointView::of(meta, &p);
        let sep = if first { "" } else { "," };
        first = false;
        write!(out, "{sep}\n{ind}{ind}").map_err(ViewError::Write)?;
        serde_json::to_writer(&mut out, &v).map_err(w)?;
        o.add(meta, &p, Some(v));
    }
    check_count(meta, o.counts.total())?;
    let close = if first { "]" } else { "\n  ]" };
    write!(out, "{}", if pretty { close } else { "\n]" }).map_err(ViewError::Write)?;
    write!(out, ",{nl}{ind}\"targets\": ").map_err(ViewError::Write)?;
    serde_json::to_writer(&mut out, &o.targets).map_err(w)?;
    write!(out, ",{nl}{ind}\"problems\": ").map_err(ViewError::Write)?;
    serde_json::to_writer(&mut out, &o.problems).map_err(w)?;
    write!(out, ",{nl}{ind}\"problem_count\": {}", o.problem_count).map_err(ViewError::Write)?;
    write!(out, ",{nl}{ind}\"excluded_hosts\": ").map_err(ViewError::Write)?;
    serde_json::to_writer(&mut out, &o.excluded_hosts).map_err(w)?;
    if let Some(t) = as_of {
        write!(out, ",{nl}{ind}\"as_of\": {t}").map_err(ViewError::Write)?;
    }
    write!(out, "{nl}}}{nl}").map_err(ViewError::Write)?;
    out.flush().map_err(ViewError::Write)?;
    Ok(o)
}

/// The label of where a point's last attempt went: its target (`short`, `@hostgroup`,
/// `gpu@hostgroup`, `local`), or, for a sweep that leaves the queue to the site, the queue the
/// scheduler reported.
pub fn where_label(meta: &SweepMeta, p: &PointRec) -> Option<String> {
    let a = p.last()?;
    match meta.targets.get(a.target) {
        Some(label) if label != "default" => Some(label.clone()),
        label => a.queue.clone().or_else(|| label.cloned()),
    }
}

/// A parameter value as JSON (numbers as numbers, strings as strings).
pub fn json_value(v: &crate::spec::Value) -> serde_json::Value {
    v.to_json()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptRec, JobId};
    use crate::spec::Value;

    fn meta() -> SweepMeta {
        SweepMeta {
            name: "s".into(),
            id: "abc".into(),
            created: 0.0,
            source: "s.toml".into(),
            spec_text: String::new(),
            backend: BackendKind::Lsf,
            count: 3,
            param_names: vec!["a".into()],
            targets: vec!["short".into(), "long".into()],
            host: None,
            remote_home: None,
            cluster_dir: None,
        }
    }

    #[test]
    fn status_shows_each_attempts_cause_and_what_it_asked_for() {
        let m = meta();
        let mut pts: Vec<PointRec> = (0..3)
            .map(|i| PointRec::new(i, vec![("a".into(), Value::Int(i as i64))]))
            .collect();
        let mut first = AttemptRec::found(1, "bsw-abc-00000-1".into(), 0, JobId::new("7"));
        first.exit_code = Some(1);
        first.cause = Some(Cause::MemLimit);
        first.end(State::Failed, 2.0);
        let mut second = AttemptRec::found(2, "bsw-abc-00000-2".into(), 0, JobId::new("8"));
        second.overrides = Overrides {
            memory_kb: Some(4 << 20),
            exclude_hosts: vec!["n2".into()],
            ..Overrides::default()
        };
        second.end(State::Done, 3.0);
        pts[0].attempts = vec![first, second];
        let mut buf = Vec::new();
        let counts = Counts::of(&pts);
        let o = write_json(
            &m,
            &counts,
            None,
            pts.iter().cloned().map(Ok),
            &mut buf,
            false,
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        let p0 = &json["points"][0];
        assert_eq!(p0["overrides"]["memory_kb"], 4 << 20);
        assert_eq!(p0["earlier"][0]["cause"], "memlimit");
        assert_eq!(p0["earlier"][0]["job_id"], "7");
        assert!(
            p0.get("cause").is_none(),
            "the last attempt did not fail: {p0}"
        );
        // Points with one attempt and nothing changed carry none of it.
        let p1 = json["points"][1].as_object().unwrap();
        assert!(!p1.contains_key("earlier") && !p1.contains_key("overrides"));
        assert_eq!(o.excluded_hosts, ["n2"]);
        let v: StatusView = serde_json::from_slice(&buf).unwrap();
        assert_eq!(Overview::of_view(&v), o);
    }

    #[test]
    fn the_streamed_json_reads_back_as_the_view_with_its_overview() {
        let m = meta();
        let mut pts: Vec<PointRec> = (0..3)
            .map(|i| PointRec::new(i, vec![("a".into(), Value::from(0.5))]))
            .collect();
        let mut a = AttemptRec::intent(1, "bsw-abc-00001-1".into(), 1, 0.0);
        a.accept(JobId::element("9", 2), None, 1.0);
        a.exit_code = Some(3);
        a.end(State::Failed, 2.0);
        pts[1].attempts.push(a);
        let counts = Counts::of(&pts);
        for pretty in [true, false] {
            let mut buf = Vec::new();
            let o = write_json(
                &m,
                &counts,
                Some(5.0),
                pts.iter().cloned().map(Ok),
                &mut buf,
                pretty,
            )
            .unwrap();
            let v: StatusView = serde_json::from_slice(&buf).unwrap();
            assert_eq!(v.points.len(), 3);
            assert_eq!(v.counts, counts);
            assert_eq!(v.as_of, Some(5.0));
            assert_eq!(v.points[1].job_id.as_deref(), Some("9[2]"));
            assert_eq!(v.targets["long"].get(State::Failed), 1);
            assert_eq!(o.problem_count, 1);
            assert_eq!(Overview::of_view(&v), o);
            assert_eq!(v.points[0].params["a"], 0.5);
            let head = StatusHead::read(&buf[..]).unwrap();
            assert_eq!(head.overview(), o);
            assert_eq!(head.as_of, Some(5.0));
            let p1 = snapshot_point(&buf[..], 1).unwrap();
            assert_eq!(p1, v.points[1]);
            assert_eq!(snapshot_point(&buf[..], 9), None);
        }
        // A store missing points is damaged, not a shorter sweep.
        let two = pts[..2].iter().cloned().map(Ok);
        let e = write_json(&m, &counts, None, two, Vec::new(), false).unwrap_err();
        assert!(
            matches!(e, ViewError::Store(StoreError::Damaged { .. })),
            "{e:?}"
        );
        let empty = SweepMeta { count: 0, ..meta() };
        let mut buf = Vec::new();
        write_json(
            &empty,
            &Counts::default(),
            None,
            std::iter::empty(),
            &mut buf,
            true,
        )
        .unwrap();
        let v: StatusView = serde_json::from_slice(&buf).unwrap();
        assert!(v.points.is_empty());
    }
}
