//! The report page: its style and script, the header, the tables and where each plot goes.

use std::fmt::Write as _;

use super::plots::{self, PlotMetric};
use super::timeline;
use super::{Facts, MAX_FAILED, esc, fmt_duration, fmt_int, fmt_utc, state_color, value_text};
use crate::model::State;
use crate::summary::{Group, Row, Summary, SweepInfo, fmt_mean_std, fmt_sig, shorten};

/// Groups the summary table lists at most (all of them are in `summary --json`).
const MAX_GROUPS: usize = 500;
/// The stderr kept of each failed point.
const STDERR_LINES: usize = 20;
const STDERR_CHARS: usize = 3000;

const STYLE: &str = r#"
:root { --ink: #212529; --muted: #6c757d; --line: #dee2e6; --soft: #f8f9fa; --accent: #e8590c; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 2px; letter-spacing: -0.01em; }
h2 { font-size: 18px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 16px; }
.sub code { font-size: 13px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 130px; background: var(--soft); }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .v small { font-size: 13px; font-weight: 400; color: var(--muted); }
.states { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0 0; padding: 0; list-style: none; }
.state { border-radius: 999px; padding: 2px 10px; color: #fff; font-size: 13px; font-weight: 600; }
.state.unsubmitted { color: var(--ink); }
.winner { border-left: 4px solid var(--accent); background: #fff4e6; padding: 10px 14px; border-radius: 4px; margin: 14px 0; }
.winner b { font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fff; position: sticky; top: 0; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable::after { content: " \2195"; color: #adb5bd; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.best td { background: #fff4e6; font-weight: 600; }
tr.best td:first-child { box-shadow: inset 3px 0 0 var(--accent); }
tr.novalue td { color: var(--muted); }
.scroll { max-height: 560px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll table th { border-bottom: 1px solid var(--line); }
.note, .legend { color: var(--muted); font-size: 12.5px; margin: 6px 0; }
.key { display: inline-block; width: 12px; height: 10px; border-radius: 2px; margin: 0 4px 0 10px; vertical-align: baseline; }
.key-wait { background: #adb5bd; opacity: .45; }
.pc-best-key { background: var(--accent); }
.pc-top-key { background: #f59f00; }
.pc-other-key { background: #ced4da; }
.grid-figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px 18px; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 12.5px; text-align: center; margin-top: 2px; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
svg.plot { width: 100%; height: auto; display: block; overflow: visible; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
.tick { font-size: 11px; fill: var(--muted); }
.axis-title { font-size: 12px; fill: var(--ink); font-weight: 600; }
.axis { stroke: #868e96; stroke-width: 1; }
.grid { stroke: #f1f3f5; stroke-width: 1; }
.dot { fill: #4263eb; fill-opacity: .45; }
.dot.best { fill: var(--accent); fill-opacity: .9; }
.mean line { stroke: var(--ink); stroke-width: 1.6; }
.mean rect { fill: var(--ink); }
.pc-line { fill: none; stroke: #ced4da; stroke-width: 1; stroke-opacity: .7; }
.pc-top { stroke: #f59f00; stroke-width: 2.2; stroke-opacity: .9; }
.pc-best { stroke: var(--accent); stroke-width: 3.2; stroke-opacity: 1; }
.pc-axis { stroke: #495057; stroke-width: 1.2; }
.pc-label { font-size: 11px; fill: var(--ink); paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.wait { fill-opacity: .28; }
.run { fill-opacity: .95; }
.run.open { fill-opacity: .6; }
.target-label { font-size: 12px; font-weight: 600; fill: var(--ink); }
.target-count, .strip-label { font-size: 11px; fill: var(--muted); }
.bar { fill-opacity: .85; }
.forest { width: 220px; height: 14px; vertical-align: middle; }
.forest line { stroke: var(--ink); stroke-width: 1.4; }
.forest circle { fill: var(--accent); }
.forest .base { stroke: var(--line); }
pre.stderr { margin: 4px 0 0; padding: 6px 8px; background: #fff5f5; border: 1px solid #ffc9c9; border-radius: 4px;
  font-size: 12px; max-height: 180px; overflow: auto; white-space: pre-wrap; word-break: break-word; }
.nowrap { white-space: nowrap; }
.reason { font-weight: 600; }
.reason:empty { display: none; }
.params { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
#reasons-table { width: auto; min-width: 50%; margin-bottom: 14px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media screen and (max-width: 760px) { .two { grid-template-columns: 1fr; } main { padding: 12px; } }
@media print {
  @page { margin: 12mm; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  .grid-figs { grid-template-columns: repeat(3, 1fr); }
  .two { grid-template-columns: 1fr 1fr; }
  h2 { break-after: avoid; }
  figure, .card, tr, .winner { break-inside: avoid; }
  .scroll { max-height: none; overflow: visible; border: 0; }
  pre.stderr { max-height: none; overflow: visible; }
  th { position: static; }
  th.sortable::after { content: ""; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// Sorting by a click on a column header (numbers by their `data-v`), and a mark that the
/// script ran (the browser test checks it).
const SCRIPT: &str = r#"
(function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th.sortable").forEach(function (th, col) {
      var dir = 1;
      th.addEventListener("click", function () {
        var rows = Array.prototype.slice.call(body.rows);
        var num = th.classList.contains("num");
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          if (num) {
            var p = parseFloat(x.dataset.v), q = parseFloat(y.dataset.v);
            if (isNaN(p)) return 1; if (isNaN(q)) return -1;
            return (p - q) * dir;
          }
          return x.textContent.localeCompare(y.textContent, undefined, {numeric: true}) * dir;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        dir = -dir;
      });
    });
  });
  document.documentElement.setAttribute("data-ready", "1");
})();
"#;

/// The whole page: the header, then one section per view of the sweep, then the script.
pub(super) fn page(info: &SweepInfo, rows: &[Row], s: &Summary, facts: &Facts) -> String {
    let metric = PlotMetric::of(rows, s);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>bsweep report: {}</title><style>{STYLE}</style></head><body><main>",
        esc(&info.name)
    );
    header(&mut out, info, rows, s, facts);

    out.push_str("<section id=\"summary\"><h2>Summary</h2>");
    summary_table(&mut out, s);
    out.push_str("</section>");

    out.push_str("<section id=\"effects\"><h2>Parameter effects</h2>");
    effects(&mut out, s);
    out.push_str("</section>");

    out.push_str("<section id=\"params\"><h2>The metric against each parameter</h2>");
    param_section(&mut out, rows, s, metric.as_ref());
    out.push_str("</section>");

    out.push_str("<section id=\"parallel\"><h2>Parallel coordinates</h2>");
    if let Some(m) = &metric {
        let _ = write!(
            out,
            "<p class=\"note\">One line per group, through its parameter values to its mean \
             {}.</p>",
            esc(&m.name)
        );
        out.push_str(&plots::parallel(rows, s, m));
    } else {
        out.push_str("<p class=\"note\">No numeric metric collected yet.</p>");
    }
    out.push_str("</section>");

    out.push_str(
        "<section id=\"timeline\"><h2>Timeline</h2><p class=\"note\">Each job of the last \
         attempts, by target: the pale bar is the wait in the queue, the solid one the run, \
         coloured by how it ended. Hover for details.</p>",
    );
    out.push_str(&timeline::timeline(info, rows, facts));
    out.push_str("</section>");

    out.push_str("<section id=\"resources\"><h2>Run time and memory per target</h2>");
    out.push_str(&timeline::resources(info, rows));
    out.push_str("</section>");

    out.push_str("<section id=\"failures\"><h2>Failed points</h2>");
    failures(&mut out, &info.name, rows);
    out.push_str("</section>");

    let _ = write!(
        out,
        "<footer>Made by bsweep from the sweep file <code>{}</code>. This page works offline; \
         the tables sort by a click on a column.</footer></main><script>{SCRIPT}</script>\
         </body></html>",
        esc(&info.file)
    );
    out.push('\n');
    out
}

/// The plots of the metric against each parameter in a grid, with a line on how to read them.
fn param_section(out: &mut String, rows: &[Row], s: &Summary, metric: Option<&PlotMetric>) {
    match metric {
        Some(m) => {
            let _ = write!(
                out,
                "<p class=\"note\">Every done point is a dot (the best group's in orange); the \
                 bars are the mean ± std of the points with each value of <b>{}</b>.</p>\
                 <div class=\"grid-figs\">",
                esc(&m.name)
            );
            let figs = plots::param_plots(rows, s, m);
            // The note about sampling, if any, goes below the grid.
            let (figs, note) = match figs.find("<p class=\"note\">") {
                Some(i) => figs.split_at(i),
                None => (figs.as_str(), ""),
            };
            out.push_str(figs);
            out.push_str("</div>");
            out.push_str(note);
        }
        None => out.push_str("<p class=\"note\">No numeric metric collected yet.</p>"),
    }
}

/// The page's header: the sweep, its states, cards of the figures that matter and the winner.
fn header(out: &mut String, info: &SweepInfo, rows: &[Row], s: &Summary, f: &Facts) {
    let _ = write!(
        out,
        "<header id=\"overview\"><h1>{}</h1><p class=\"sub\"><code>{}</code> · backend {} · \
         target{} {}</p>",
        esc(&info.name),
        esc(&info.file),
        esc(&info.backend),
        if info.targets.len() == 1 { "" } else { "s" },
        esc(&info.targets.join(", "))
    );
    out.push_str("<ul class=\"states\" id=\"state-counts\">");
    for (state, n) in &f.counts {
        let _ = write!(
            out,
            "<li class=\"state {}\" style=\"background:{}\">{} {}</li>",
            state.as_str(),
            state_color(*state),
            fmt_int(*n),
            state.as_str()
        );
    }
    out.push_str("</ul>");
    cards(out, info, rows, f);
    if let Some(a) = f.first_submit {
        let _ = write!(
            out,
            "<p class=\"note\">First submission {}{}.</p>",
            fmt_utc(a),
            f.last_end
                .map(|b| format!(", last end {}", fmt_utc(b)))
                .unwrap_or_default()
        );
    }
    winner(out, s);
    out.push_str("</header>");
}

/// One figure of the header: a key and its value (HTML).
fn card(out: &mut String, k: &str, v: String) {
    let _ = write!(
        out,
        "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{v}</div></div>"
    );
}

/// The header's cards: points, wall time, total run time and attempts.
fn cards(out: &mut String, info: &SweepInfo, rows: &[Row], f: &Facts) {
    out.push_str("<div class=\"cards\">");
    card(
        out,
        "points",
        format!(
            "{} <small>of {}</small>",
            fmt_int(rows.len() as u64),
            fmt_int(info.count.max(rows.len() as u64))
        ),
    );
    let wall = match (f.first_submit, f.last_end) {
        (Some(a), Some(b)) if b >= a => fmt_duration(b - a),
        _ => "–".into(),
    };
    card(out, "wall time", wall);
    let run = if f.run_hours >= 1.0 {
        let whole = f.run_hours.trunc() as u64;
        let tenth = ((f.run_hours - whole as f64) * 10.0).round().min(9.0) as u64;
        format!("{}.{tenth} <small>h</small>", fmt_int(whole))
    } else {
        fmt_duration(f.run_hours * 3600.0)
    };
    card(out, "run time, total", run);
    card(
        out,
        "attempts",
        format!(
            "{} <small>{} retries</small>",
            fmt_int(f.attempts),
            fmt_int(f.retries)
        ),
    );
    out.push_str("</div>");
}

/// The line naming the best group and its value of the primary metric, when there is one.
fn winner(out: &mut String, s: &Summary) {
    let (Some(best), Some(name), Some(p)) =
        (s.groups.iter().find(|g| g.best), &s.metric, s.primary)
    else {
        return;
    };
    let st = best.metrics[p];
    let params: Vec<String> = best
        .params
        .iter()
        .map(|(k, v)| format!("{}={}", esc(k), esc(&value_text(v))))
        .collect();
    let _ = write!(
        out,
        "<p class=\"winner\" id=\"winner\">Best ({} {}): <code>{}</code> with <b>{} = {}</b>{}, \
         over {} done point{}.</p>",
        if s.goal == crate::summary::Goal::Max {
            "highest"
        } else {
            "lowest"
        },
        esc(name),
        if params.is_empty() {
            "all points".into()
        } else {
            params.join(" ")
        },
        esc(name),
        st.mean.map_or("–".into(), |m| fmt_mean_std(m, st.std)),
        st.ci95
            .map(|c| format!(" (95 % interval ±{})", fmt_sig(c, 2)))
            .unwrap_or_default(),
        fmt_int(st.n),
        if st.n == 1 { "" } else { "s" }
    );
}

fn num_td(out: &mut String, x: Option<f64>, text: String) {
    let v = x.map(|x| x.to_string()).unwrap_or_default();
    let _ = write!(out, "<td class=\"num\" data-v=\"{v}\">{}</td>", esc(&text));
}

/// The table of the groups (the first [`MAX_GROUPS`]), sortable, with a line on how they were
/// grouped and ranked.
fn summary_table(out: &mut String, s: &Summary) {
    if s.groups.is_empty() {
        out.push_str("<p class=\"note\">No points yet.</p>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"note\">{} group{} of the parameters{}; statistics over the done points. \
         {}</p>",
        s.groups.len(),
        if s.groups.len() == 1 { "" } else { "s" },
        if s.over.is_empty() {
            String::new()
        } else {
            format!(", each averaged over <b>{}</b>", esc(&s.over.join(", ")))
        },
        match &s.metric {
            Some(m) => format!(
                "Ranked by the mean of <b>{}</b> ({} is better).",
                esc(m),
                if s.goal == crate::summary::Goal::Max {
                    "higher"
                } else {
                    "lower"
                }
            ),
            None => "In grid order (no primary metric).".into(),
        }
    );
    out.push_str(
        "<div class=\"scroll\"><table id=\"summary-table\" class=\"sortable\"><thead><tr>",
    );
    summary_head(out, s);
    out.push_str("</tr></thead><tbody>");
    for (rank, g) in s.groups.iter().take(MAX_GROUPS).enumerate() {
        summary_row(out, s, rank, g);
    }
    out.push_str("</tbody></table></div>");
    if s.groups.len() > MAX_GROUPS {
        let _ = write!(
            out,
            "<p class=\"note\">The first {MAX_GROUPS} of {} groups; <code>bsweep summary {} \
             --json</code> has all of them.</p>",
            s.groups.len(),
            esc(&s.sweep)
        );
    }
}

/// A sortable header cell, numeric (sorted by value) when `num`.
fn th(out: &mut String, label: &str, num: bool) {
    let _ = write!(
        out,
        "<th class=\"sortable{}\">{}</th>",
        if num { " num" } else { "" },
        esc(label)
    );
}

/// The summary table's header cells: rank, parameters, counts, the primary metric's
/// statistics and the other metrics' means.
fn summary_head(out: &mut String, s: &Summary) {
    if s.primary.is_some() {
        th(out, "#", true);
    }
    for p in &s.params {
        th(out, p, false);
    }
    th(out, "done / points", true);
    if let (Some(_), Some(m)) = (s.primary, &s.metric) {
        th(out, &format!("{m} mean ± std"), true);
        th(out, "±95 %", true);
        th(out, "min", true);
        th(out, "max", true);
        th(out, "n", true);
    }
    for (k, m) in s.metrics.iter().enumerate() {
        if Some(k) != s.primary {
            th(out, &format!("{m} mean"), true);
        }
    }
}

/// The summary table's row of group `g`, ranked `rank` (from 0); the best and those without
/// a value of the primary metric get a class of their own.
fn summary_row(out: &mut String, s: &Summary, rank: usize, g: &Group) {
    let novalue = s.primary_stats(g).is_some_and(|st| st.mean.is_none());
    let class = if g.best {
        " class=\"best\""
    } else if novalue {
        " class=\"novalue\""
    } else {
        ""
    };
    let _ = write!(out, "<tr{class}>");
    if s.primary.is_some() {
        let r = rank + 1;
        num_td(
            out,
            Some(r as f64),
            if g.best {
                format!("★ {r}")
            } else {
                r.to_string()
            },
        );
    }
    for (_, v) in &g.params {
        let _ = write!(out, "<td>{}</td>", esc(&value_text(v)));
    }
    num_td(
        out,
        Some(g.n_done as f64),
        format!("{} / {}", g.n_done, g.n),
    );
    if let Some(st) = s.primary_stats(g) {
        num_td(
            out,
            st.mean,
            st.mean.map_or("–".into(), |m| fmt_mean_std(m, st.std)),
        );
        num_td(out, st.ci95, st.ci95.map_or("–".into(), |c| fmt_sig(c, 2)));
        num_td(out, st.min, st.min.map_or("–".into(), |c| fmt_sig(c, 4)));
        num_td(out, st.max, st.max.map_or("–".into(), |c| fmt_sig(c, 4)));
        num_td(out, Some(st.n as f64), st.n.to_string());
    }
    for (k, st) in g.metrics.iter().enumerate() {
        if Some(k) != s.primary {
            num_td(out, st.mean, st.mean.map_or("–".into(), |c| fmt_sig(c, 4)));
        }
    }
    out.push_str("</tr>");
}

/// Each parameter's values with the primary metric's mean ± std and a small interval plot on
/// a scale shared by the values of that parameter.
fn effects(out: &mut String, s: &Summary) {
    let Some(m) = &s.metric else {
        out.push_str("<p class=\"note\">Effects need a primary metric.</p>");
        return;
    };
    if s.effects.is_empty() {
        out.push_str("<p class=\"note\">No parameter takes more than one value.</p>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"note\">The mean ± std of <b>{}</b> over every done point with each value, \
         whatever the other parameters.</p><table id=\"effects-table\"><thead><tr>\
         <th>parameter</th><th>value</th><th class=\"num\">mean ± std</th>\
         <th class=\"num\">n</th><th></th></tr></thead><tbody>",
        esc(m)
    );
    for e in &s.effects {
        let (lo, hi) = e
            .levels
            .iter()
            .filter_map(|l| {
                l.mean
                    .map(|x| (x - l.std.unwrap_or(0.0), x + l.std.unwrap_or(0.0)))
            })
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, y)| {
                (a.min(x), b.max(y))
            });
        let sc = super::svg::Scale::new(lo, hi, 8.0, 212.0, false);
        for (k, l) in e.levels.iter().take(100).enumerate() {
            let label = if k == 0 {
                format!(
                    "<th rowspan=\"{}\">{}</th>",
                    e.levels.len().min(100),
                    esc(&e.param)
                )
            } else {
                String::new()
            };
            let forest = match l.mean {
                Some(mean) if lo.is_finite() => {
                    let sd = l.std.unwrap_or(0.0);
                    format!(
                        "<svg class=\"forest\" viewBox=\"0 0 220 14\"><line class=\"base\" \
                         x1=\"8\" y1=\"7\" x2=\"212\" y2=\"7\"/><line x1=\"{:.1}\" y1=\"7\" \
                         x2=\"{:.1}\" y2=\"7\"/><circle cx=\"{:.1}\" cy=\"7\" r=\"4\"/></svg>",
                        sc.map(mean - sd),
                        sc.map(mean + sd),
                        sc.map(mean)
                    )
                }
                _ => String::new(),
            };
            let _ = write!(
                out,
                "<tr>{label}<td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td>{forest}</td></tr>",
                esc(&shorten(&value_text(&l.value), 60)),
                l.mean.map_or("–".into(), |x| esc(&fmt_mean_std(x, l.std))),
                l.n
            );
        }
        if e.levels.len() > 100 {
            let _ = write!(
                out,
                "<tr><td colspan=\"5\" class=\"note\">… and {} more values</td></tr>",
                e.levels.len() - 100
            );
        }
    }
    out.push_str("</tbody></table>");
}

fn stderr_tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let from = lines.len().saturating_sub(STDERR_LINES);
    let tail = lines[from..].join("\n");
    let n = tail.chars().count();
    if n > STDERR_CHARS {
        let cut: String = tail.chars().skip(n - STDERR_CHARS).collect();
        format!("…{cut}")
    } else {
        tail
    }
}

/// Why points failed, most common first: the scheduler's reason, else the exit code.
fn reasons(out: &mut String, failed: &[&Row]) {
    let mut counts: Vec<(String, u64, u64)> = Vec::new();
    for r in failed {
        let why = match (&r.reason, r.exit_code, r.state) {
            (Some(reason), _, _) => reason.clone(),
            (None, _, State::Unknown) => "lost (state unknown)".into(),
            (None, Some(c), _) => format!("exit code {c}"),
            (None, None, _) => "no exit code".into(),
        };
        match counts.iter_mut().find(|(w, _, _)| *w == why) {
            Some(c) => c.1 += 1,
            None => counts.push((why, 1, r.index)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    out.push_str(
        "<table id=\"reasons-table\"><thead><tr><th>why</th><th class=\"num\">points</th>\
         <th class=\"num\">first</th></tr></thead><tbody>",
    );
    for (why, n, first) in counts.iter().take(20) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">#{first}</td></tr>",
            esc(&shorten(why, 200)),
            fmt_int(*n)
        );
    }
    out.push_str("</tbody></table>");
    if counts.len() > 20 {
        let _ = write!(
            out,
            "<p class=\"note\">… and {} other reasons.</p>",
            counts.len() - 20
        );
    }
}

fn failures(out: &mut String, sweep: &str, rows: &[Row]) {
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.state, State::Failed | State::Unknown))
        .collect();
    if failed.is_empty() {
        out.push_str("<p class=\"note\" id=\"no-failures\">No point failed.</p>");
        return;
    }
    let lost = failed.iter().filter(|r| r.state == State::Unknown).count();
    reasons(out, &failed);
    let _ = write!(
        out,
        "<p class=\"note\">{} point{} failed{}; their last attempt:</p><table id=\"failures-table\"><thead><tr><th class=\"num\">#</th>\
         <th>parameters</th><th>state</th><th>target</th><th class=\"num\">attempts</th>\
         <th class=\"num\">exit</th><th>reason and the end of stderr</th></tr></thead><tbody>",
        fmt_int((failed.len() - lost) as u64),
        if failed.len() - lost == 1 { "" } else { "s" },
        if lost > 0 {
            format!(", {lost} lost (their state is unknown)")
        } else {
            String::new()
        }
    );
    for r in failed.iter().take(MAX_FAILED) {
        let params: Vec<String> = r
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect();
        let _ = write!(
            out,
            "<tr class=\"failed\"><td class=\"num\">{}</td><td class=\"params\">{}</td>\
             <td class=\"nowrap\"><span class=\"key\" style=\"background:{}\"></span>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td><div class=\"reason\">{}</div>",
            r.index,
            esc(&params.join(" ")),
            state_color(r.state),
            r.state.as_str(),
            esc(&r.target),
            r.attempts,
            r.exit_code.map_or("–".into(), |c| c.to_string()),
            esc(r.reason.as_deref().unwrap_or(""))
        );
        if let Some(tail) = r.stderr_tail.as_deref().filter(|t| !t.trim().is_empty()) {
            let _ = write!(
                out,
                "<pre class=\"stderr\">{}</pre>",
                esc(&stderr_tail(tail))
            );
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table>");
    if failed.len() > MAX_FAILED {
        let _ = write!(
            out,
            "<p class=\"note\">The first {MAX_FAILED} of {}; <code>bsweep status {} \
             --json</code> lists them all.</p>",
            failed.len(),
            esc(sweep)
        );
    }
}
