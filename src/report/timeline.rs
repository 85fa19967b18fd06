//! The jobs' timeline (a Gantt chart of queue waits and runs, by target) and run time and memory
//! per target (histograms). At most [`MAX_JOBS`] jobs are drawn.

use super::svg::{Scale, Svg, fmt_clock, tick_label, time_ticks};
use super::{Facts, fmt_duration, fmt_int, fmt_utc, state_color, target_color, value_text};
use crate::model::State;
use crate::summary::{Row, SweepInfo, shorten};

/// Jobs the timeline draws at most.
pub(crate) const MAX_JOBS: usize = 800;

/// One job on the timeline.
struct Job<'a> {
    row: &'a Row,
    target: usize,
    submitted: f64,
    started: Option<f64>,
    ended: Option<f64>,
}

/// The timeline: every job (or up to [`MAX_JOBS`] of them: the failed ones, the slowest and
/// longest waiting, and an even sample of the rest) as a waiting bar (submitted → started) and
/// a running bar (started → ended), coloured by final state and grouped by target.
pub(crate) fn timeline(info: &SweepInfo, rows: &[Row], facts: &Facts) -> String {
    let Some(t0) = facts.first_submit else {
        return "<p class=\"note\">No job has been submitted yet.</p>".into();
    };
    let tmax = rows
        .iter()
        .flat_map(|r| [finite(r.submitted), finite(r.started), finite(r.ended)])
        .flatten()
        .fold(t0, f64::max);
    let (targets, jobs) = submitted_jobs(info, rows);
    let total = jobs.len();
    let jobs = sample_jobs(jobs, tmax);
    let shown = jobs.len();
    let mut by_target: Vec<Vec<&Job>> = vec![Vec::new(); targets.len()];
    for j in &jobs {
        by_target[j.target].push(j);
    }
    for list in &mut by_target {
        list.sort_by(|a, b| {
            a.submitted
                .total_cmp(&b.submitted)
                .then(a.row.index.cmp(&b.row.index))
        });
    }
    let blocks: Vec<(usize, &Vec<&Job>)> = by_target
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let svg = draw_timeline(&targets, &blocks, shown, t0, tmax);
    format!("{svg}{}", timeline_legend(&jobs, shown, total))
}

/// A time, unless it is missing or not a number.
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|t| t.is_finite())
}

/// Every submitted (or started) point as a job, and the targets: the sweep's, then any other a
/// job ran in, in order of first appearance.
fn submitted_jobs<'a>(info: &SweepInfo, rows: &'a [Row]) -> (Vec<String>, Vec<Job<'a>>) {
    let mut targets: Vec<String> = info.targets.clone();
    let mut jobs: Vec<Job> = Vec::new();
    for r in rows {
        let Some(sub) = finite(r.submitted).or(finite(r.started)) else {
            continue;
        };
        let target = match targets.iter().position(|t| *t == r.target) {
            Some(i) => i,
            None => {
                targets.push(r.target.clone());
                targets.len() - 1
            }
        };
        jobs.push(Job {
            row: r,
            target,
            // A local job may be seen started a moment before its submission is recorded.
            submitted: sub.min(finite(r.started).unwrap_or(sub)),
            started: finite(r.started),
            ended: finite(r.ended),
        });
    }
    (targets, jobs)
}

/// How the timeline places jobs: time on `xs` (seconds since `t0`; open bars end at `tmax`),
/// one lane of `row_h` pixels per job with a bar `bar` high.
struct Lanes {
    xs: Scale,
    t0: f64,
    tmax: f64,
    row_h: f64,
    bar: f64,
}

/// The timeline's SVG: the time grid and axis, and one block of lanes per target (`blocks`:
/// target index and its jobs in submission order) with `shown` jobs in all.
fn draw_timeline(
    targets: &[String],
    blocks: &[(usize, &Vec<&Job>)],
    shown: usize,
    t0: f64,
    tmax: f64,
) -> String {
    let row_h = (720.0 / shown.max(1) as f64).clamp(1.0, 12.0);
    let (w, l, r, t, b) = (1040.0, 130.0, 16.0, 8.0, 46.0);
    let gap = 18.0;
    let h = t + b + blocks.len() as f64 * gap + shown as f64 * row_h;
    let mut svg = Svg::new(
        Some("timeline-plot"),
        "plot plot-timeline",
        w,
        h,
        "timeline of the jobs",
    );
    let span = (tmax - t0).max(1e-3);
    let xs = Scale::new(0.0, span, l, w - r, false);
    let (at, step) = time_ticks(0.0, span, 8);
    let ticks: Vec<(f64, String)> = at
        .iter()
        .map(|&k| (xs.map(k), fmt_clock(k, step)))
        .collect();
    for (x, _) in &ticks {
        svg.line(*x, t, *x, h - b, "grid");
    }
    let lanes = Lanes {
        xs,
        t0,
        tmax,
        row_h,
        bar: if row_h >= 3.0 { row_h * 0.75 } else { row_h },
    };
    let mut y = t;
    for (ti, list) in blocks {
        y += gap;
        y = lanes.block(&mut svg, y, *ti, &targets[*ti], list);
    }
    svg.x_axis(
        h - b,
        l,
        w - r,
        &ticks,
        &format!("time since the first submission ({})", fmt_utc(t0)),
    );
    svg.finish()
}

impl Lanes {
    /// Draws one target's band, label and jobs from `y` down; returns the `y` below them.
    fn block(&self, svg: &mut Svg, mut y: f64, ti: usize, target: &str, list: &[&Job]) -> f64 {
        let (xs, t0, tmax, row_h, bar) = (&self.xs, self.t0, self.tmax, self.row_h, self.bar);
        let block_h = list.len() as f64 * row_h;
        svg.rect(
            2.0,
            y - 2.0,
            4.0,
            block_h + 4.0,
            "target-band",
            target_color(ti),
            "",
        );
        svg.text(
            12.0,
            y + block_h / 2.0 - 2.0,
            "start",
            "target-label",
            &shorten(target, 16),
        );
        svg.text(
            12.0,
            y + block_h / 2.0 + 11.0,
            "start",
            "target-count",
            &format!("{} jobs", fmt_int(list.len() as u64)),
        );
        for j in list.iter() {
            let color = state_color(j.row.state);
            let start_or_now = j.started.unwrap_or(tmax);
            let title = job_title(j);
            svg.rect(
                xs.map(j.submitted - t0),
                y,
                xs.map(start_or_now - t0) - xs.map(j.submitted - t0),
                bar,
                "wait",
                color,
                "",
            );
            if let Some(st) = j.started {
                let end = j.ended.unwrap_or(tmax);
                let x0 = xs.map(st - t0);
                // At least a pixel, so a short job is still seen.
                let wd = (xs.map(end - t0) - x0).max(1.0);
                let class = if j.ended.is_some() { "run" } else { "run open" };
                svg.rect(x0, y, wd, bar, class, color, &title);
            }
            y += row_h;
        }
        y
    }
}

/// The line under the timeline: the colour of each state drawn, the pale waiting bars, and how
/// many jobs were drawn when not all were.
fn timeline_legend(jobs: &[Job], shown: usize, total: usize) -> String {
    let mut note = String::from("<p class=\"legend\">");
    let mut states: Vec<State> = jobs.iter().map(|j| j.row.state).collect();
    states.sort();
    states.dedup();
    for s in states {
        note.push_str(&format!(
            "<span class=\"key\" style=\"background:{}\"></span>{} ",
            state_color(s),
            s.as_str()
        ));
    }
    note.push_str(
        "<span class=\"key key-wait\"></span>pale: waiting in the queue (submitted → started)",
    );
    if shown < total {
        note.push_str(&format!(
            ". {} of {} jobs drawn: failed ones, the slowest and longest waiting, and an even \
             sample of the rest",
            fmt_int(shown as u64),
            fmt_int(total as u64)
        ));
    }
    note.push_str("</p>");
    note
}

fn job_title(j: &Job) -> String {
    let r = j.row;
    let params: Vec<String> = r
        .params
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect();
    let mut s = format!("#{} {} · {}", r.index, params.join(" "), r.state.as_str());
    if let Some(st) = j.started {
        s.push_str(&format!(" · waited {}", fmt_duration(st - j.submitted)));
        if let Some(e) = j.ended {
            s.push_str(&format!(", ran {}", fmt_duration(e - st)));
        }
    }
    if r.attempts > 1 {
        s.push_str(&format!(" · attempt {}", r.attempts));
    }
    s
}

/// At most [`MAX_JOBS`]: failed first (up to a quarter), then the longest running and the
/// longest waiting (up to an eighth each), then an even sample of the rest.
fn sample_jobs(jobs: Vec<Job>, tmax: f64) -> Vec<Job> {
    if jobs.len() <= MAX_JOBS {
        return jobs;
    }
    /// Marks up to `limit` of `order` not yet kept; how many it marked.
    fn take(order: impl Iterator<Item = usize>, limit: usize, keep: &mut [bool]) -> usize {
        let mut n = 0;
        for i in order {
            if n >= limit {
                break;
            }
            if !keep[i] {
                keep[i] = true;
                n += 1;
            }
        }
        n
    }
    let mut keep = vec![false; jobs.len()];
    // Failed ones spread over the sweep, not just its first.
    let failed: Vec<usize> = (0..jobs.len())
        .filter(|&i| jobs[i].row.state == State::Failed)
        .collect();
    let every = failed.len().div_ceil(MAX_JOBS / 4).max(1);
    let mut kept = take(failed.into_iter().step_by(every), MAX_JOBS / 4, &mut keep);
    let mut by_run: Vec<usize> = (0..jobs.len()).collect();
    let run = |j: &Job| j.started.map_or(0.0, |s| j.ended.unwrap_or(tmax) - s);
    by_run.sort_by(|&a, &b| run(&jobs[b]).total_cmp(&run(&jobs[a])));
    kept += take(by_run.into_iter(), MAX_JOBS / 8, &mut keep);
    let mut by_wait: Vec<usize> = (0..jobs.len()).collect();
    let wait = |j: &Job| j.started.unwrap_or(tmax) - j.submitted;
    by_wait.sort_by(|&a, &b| wait(&jobs[b]).total_cmp(&wait(&jobs[a])));
    kept += take(by_wait.into_iter(), MAX_JOBS / 8, &mut keep);
    let rest: Vec<usize> = (0..jobs.len()).filter(|&i| !keep[i]).collect();
    // Evenly spaced over the rest, exactly filling the room.
    let room = (MAX_JOBS - kept).min(rest.len());
    for k in 0..room {
        keep[rest[k * rest.len() / room]] = true;
    }
    jobs.into_iter()
        .zip(keep)
        .filter_map(|(j, k)| k.then_some(j))
        .collect()
}

/// Run time and peak memory per target: one histogram per target over shared bins.
pub(crate) fn resources(info: &SweepInfo, rows: &[Row]) -> String {
    let mut out = String::from("<div class=\"two\">");
    for (what, id, unit) in [
        ("run time", "runtime-plot", "s"),
        ("peak memory", "memory-plot", "MB"),
    ] {
        let mut targets: Vec<String> = info.targets.clone();
        let mut per: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        for r in rows {
            let v = if unit == "s" {
                r.run_seconds
            } else {
                r.max_mem_mb
            };
            let Some(v) = v.filter(|v| v.is_finite() && *v >= 0.0) else {
                continue;
            };
            let i = match targets.iter().position(|t| *t == r.target) {
                Some(i) => i,
                None => {
                    targets.push(r.target.clone());
                    per.push(Vec::new());
                    targets.len() - 1
                }
            };
            per[i].push(v);
        }
        out.push_str("<figure>");
        out.push_str(&histograms(what, id, unit, &targets, &per));
        out.push_str("</figure>");
    }
    out.push_str("</div>");
    out
}

/// Bins of a histogram.
const BINS: usize = 24;

/// One histogram of `what` per target (`per`: each target's values) over bins shared by all, so
/// the targets compare at a glance.
fn histograms(what: &str, id: &str, unit: &str, targets: &[String], per: &[Vec<f64>]) -> String {
    let all = per.iter().flatten().copied();
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if !lo.is_finite() {
        return format!("<p class=\"note\">No {what} recorded yet.</p>");
    }
    let log = lo > 0.0 && hi / lo >= 100.0;
    let shown: Vec<usize> = (0..targets.len()).filter(|&i| !per[i].is_empty()).collect();
    let (w, l, r, t, b) = (510.0, 16.0, 16.0, 8.0, 46.0);
    let (strip, gap) = (54.0, 26.0);
    let h = t + b + shown.len() as f64 * (strip + gap);
    let mut svg = Svg::new(
        Some(id),
        "plot plot-hist",
        w,
        h,
        &format!("{what} per target"),
    );
    let hist = Hist {
        xs: Scale::new(lo, hi, l, w - r, log),
        x0: l,
        x1: w - r,
        strip,
        unit,
    };
    let mut y = t;
    for &i in &shown {
        y += gap;
        hist.strip(&mut svg, y, i, &targets[i], &per[i]);
        y += strip;
    }
    let labels = hist.labels(lo, hi, log);
    let title = format!(
        "{what} ({}{})",
        if unit == "s" { "per job" } else { "MB" },
        if log { ", log scale" } else { "" }
    );
    svg.x_axis(h - b, hist.x0, hist.x1, &labels, &title);
    svg.finish()
}

/// The shared geometry of a set of histograms: values on `xs` between pixels `x0` and `x1`,
/// strips `strip` high, values in `unit` (`s` or `MB`).
struct Hist<'a> {
    xs: Scale,
    x0: f64,
    x1: f64,
    strip: f64,
    unit: &'a str,
}

impl Hist<'_> {
    /// A value as the histograms label it: a duration, or megabytes.
    fn fmt(&self, v: f64) -> String {
        if self.unit == "s" {
            fmt_duration(v)
        } else {
            format!("{} MB", crate::summary::fmt_sig(v, 3))
        }
    }

    /// Draws target `i`'s strip at `y`: a label with its count, median and max, and its bars.
    fn strip(&self, svg: &mut Svg, y: f64, i: usize, target: &str, values: &[f64]) {
        let (xs, l, x1, strip) = (&self.xs, self.x0, self.x1, self.strip);
        let bin_of = |x: f64| {
            let f = (xs.map(x) - l) / (x1 - l) * BINS as f64;
            (f.floor().max(0.0) as usize).min(BINS - 1)
        };
        let bw = (x1 - l) / BINS as f64;
        let mut counts = [0u64; BINS];
        for &v in values {
            counts[bin_of(v)] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        svg.text(
            l,
            y - 6.0,
            "start",
            "strip-label",
            &format!(
                "{} · {} jobs · median {} · max {}",
                shorten(target, 24),
                fmt_int(values.len() as u64),
                self.fmt(median),
                self.fmt(sorted[sorted.len() - 1])
            ),
        );
        svg.line(l, y + strip, x1, y + strip, "axis");
        for (k, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let bh = (c as f64 / max * strip).max(1.0);
            let x = l + k as f64 * bw;
            let (a, z) = (bin_value(xs, x, l, x1), bin_value(xs, x + bw, l, x1));
            svg.rect(
                x + 0.5,
                y + strip - bh,
                bw - 1.0,
                bh,
                "bar",
                target_color(i),
                &format!("{} to {}: {c} jobs", self.fmt(a), self.fmt(z)),
            );
        }
    }

    /// The axis labels over `lo..hi`: clock times for run times on a linear scale (not `log`),
    /// else round values.
    fn labels(&self, lo: f64, hi: f64, log: bool) -> Vec<(f64, String)> {
        let xs = &self.xs;
        if self.unit == "s" && !log {
            let (at, step) = time_ticks(lo, hi, 6);
            at.iter()
                .map(|&v| (xs.map(v), fmt_clock(v, step)))
                .collect()
        } else {
            let ticks = xs.ticks(6);
            ticks
                .iter()
                .filter(|&&v| v >= lo && v <= hi)
                .map(|&v| {
                    let label = if self.unit == "s" {
                        fmt_duration(v)
                    } else {
                        tick_label(v, &ticks)
                    };
                    (xs.map(v), label)
                })
                .collect()
        }
    }
}

/// The data value at pixel `x` of a scale spanning `r0..r1`.
fn bin_value(s: &Scale, x: f64, r0: f64, r1: f64) -> f64 {
    let d = s.d0 + (x - r0) / (r1 - r0) * (s.d1 - s.d0);
    if s.log { 10f64.powf(d) } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Value;

    fn row(index: u64, state: State, wait: f64, run: f64) -> Row {
        let submitted = 1.8e9 + index as f64;
        Row {
            index,
            params: vec![("k".into(), Value::Int(index as i64))],
            state,
            job_id: None,
            target: if index.is_multiple_of(2) { "a" } else { "b" }.into(),
            attempts: 1,
            exit_code: None,
            reason: None,
            submitted: Some(submitted),
            started: Some(submitted + wait),
            ended: Some(submitted + wait + run),
            run_seconds: Some(run),
            max_mem_mb: None,
            metrics: Vec::new(),
            stderr_tail: None,
        }
    }

    #[test]
    fn a_large_sweep_keeps_stragglers_long_waits_and_failures_from_all_of_it() {
        let mut rows: Vec<Row> = (0..5000)
            .map(|i| {
                let state = if i % 50 == 7 {
                    State::Failed
                } else {
                    State::Done
                };
                row(i, state, 10.0, 100.0)
            })
            .collect();
        rows[4242] = row(4242, State::Done, 10.0, 90_000.0);
        rows[123] = row(123, State::Done, 50_000.0, 100.0);
        let info = SweepInfo {
            name: "s".into(),
            file: "s.toml".into(),
            backend: "lsf".into(),
            targets: vec!["a".into(), "b".into()],
            count: 5000,
            param_names: vec!["k".into()],
        };
        let facts = Facts::of(&rows);
        let svg = timeline(&info, &rows, &facts);
        let drawn = svg.matches("class=\"wait\"").count();
        assert_eq!(drawn, MAX_JOBS);
        assert!(svg.contains("<title>#4242 "), "the straggler");
        assert!(svg.contains("<title>#123 "), "the longest wait");
        // 100 failed points, all drawn (fewer than a quarter of the room), early and late.
        assert!(svg.contains("<title>#7 ") && svg.contains("<title>#4957 "));
        assert!(svg.contains("800 of 5,000 jobs drawn"));
        assert!(svg.contains(">a</text>") && svg.contains(">b</text>"));
    }
}
