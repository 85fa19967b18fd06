//! The HTML report of a sweep: one self-contained page (no network, no fonts, a little inline
//! JS for sorting) with what won, how sure and what it cost: the summary, the parameters'
//! effects, plots of the primary metric, a timeline of the jobs, run time and memory per
//! target, and the failed points. Plots are SVG written here; every text from the sweep is
//! escaped. Large sweeps are sampled or binned so the page stays small.

mod page;
mod plots;
mod svg;
mod timeline;

use crate::model::State;
use crate::spec::Value;
use crate::summary::{Row, Summary, SweepInfo};

/// Failed points the page lists at most (with the end of their stderr).
pub const MAX_FAILED: usize = 100;

/// The page, as one string of HTML.
pub fn render_html(info: &SweepInfo, rows: &[Row], summary: &Summary) -> String {
    let facts = Facts::of(rows);
    page::page(info, rows, summary, &facts)
}

/// Text made safe for HTML, in elements and in attribute values alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters (a job may print anything) would make the page invalid.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The colour a state has everywhere in the report.
pub(crate) fn state_color(s: State) -> &'static str {
    match s {
        State::Done => "#2f9e44",
        State::Failed => "#e03131",
        State::Cancelled => "#868e96",
        State::Running => "#1c7ed6",
        State::Pending => "#f59f00",
        State::Suspended => "#ae3ec9",
        State::Unknown => "#495057",
        State::Unsubmitted => "#ced4da",
    }
}

/// Colours of targets (queues, partitions), in the sweep's order, repeating.
const TARGET_COLORS: [&str; 8] = [
    "#4263eb", "#f76707", "#0ca678", "#ae3ec9", "#1098ad", "#d6336c", "#74b816", "#495057",
];

pub(crate) fn target_color(i: usize) -> &'static str {
    TARGET_COLORS[i % TARGET_COLORS.len()]
}

/// A parameter value as the page shows it.
pub(crate) fn value_text(v: &Value) -> String {
    v.to_string()
}

/// Facts about the sweep as a whole, for the header.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub counts: Vec<(State, u64)>,
    pub first_submit: Option<f64>,
    pub last_end: Option<f64>,
    pub run_hours: f64,
    pub attempts: u64,
    pub retries: u64,
}

impl Facts {
    fn of(rows: &[Row]) -> Facts {
        let mut f = Facts::default();
        for s in State::ALL {
            let n = rows.iter().filter(|r| r.state == s).count() as u64;
            if n > 0 {
                f.counts.push((s, n));
            }
        }
        let finite = |x: Option<f64>| x.filter(|t| t.is_finite());
        f.first_submit = rows
            .iter()
            .filter_map(|r| finite(r.submitted.or(r.started)))
            .reduce(f64::min);
        f.last_end = rows.iter().filter_map(|r| finite(r.ended)).reduce(f64::max);
        f.run_hours = rows
            .iter()
            .filter_map(|r| finite(r.run_seconds))
            .sum::<f64>()
            / 3600.0;
        f.attempts = rows.iter().map(|r| u64::from(r.attempts)).sum();
        f.retries = rows
            .iter()
            .map(|r| u64::from(r.attempts.saturating_sub(1)))
            .sum();
        f
    }
}

/// Unix seconds as `2026-12-01 09:00:57 UTC` (the civil calendar, no time zone database).
pub(crate) fn fmt_utc(t: f64) -> String {
    if !t.is_finite() {
        return "–".into();
    }
    let secs = t.floor() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// A count with thousands separators: `100,020`.
pub(crate) fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in words: `42 s`, `3 min 20 s`, `2 h 05 min`, `3 d 4 h`.
pub(crate) fn fmt_duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".into();
    }
    if s < 10.0 {
        return format!("{s:.1} s");
    }
    let t = s.round() as u64;
    match t {
        0..60 => format!("{t} s"),
        60..3600 => format!("{} min {:02} s", t / 60, t % 60),
        3600..86400 => format!("{} h {:02} min", t / 3600, (t % 3600) / 60),
        _ => format!("{} d {} h", t / 86400, (t % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("a\u{1b}[31mb\nc"), "a\u{FFFD}[31mb\nc");
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(fmt_utc(0.0), "1970-01-01 00:00:00 UTC");
        // `date -u -d @1796115657` prints Tue Dec  1 09:00:57 UTC 2026.
        assert_eq!(fmt_utc(1796115657.2), "2026-12-01 09:00:57 UTC");
        assert_eq!(fmt_utc(951782400.0), "2000-02-29 00:00:00 UTC");
        assert_eq!(fmt_duration(4.25), "4.2 s");
        assert_eq!(fmt_duration(200.0), "3 min 20 s");
        assert_eq!(fmt_duration(7500.0), "2 h 05 min");
        assert_eq!(fmt_duration(f64::NAN), "–");
        assert_eq!(fmt_int(100_020), "100,020");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(1_000_000), "1,000,000");
    }
}
