//! Value formats squeue and sacct share: timestamps, elapsed times, memory sizes, exit codes,
//! "nothing here" markers, and splitting a delimited row whose one free-text field (the job
//! name) may itself hold the delimiter.

use std::fmt;

use serde::{Serialize, Serializer};

/// A wall-clock time as Slurm prints it (`2026-12-01T08:01:41`, SLURM_TIME_FORMAT=standard):
/// the cluster's local time, with no zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

fn digits<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Timestamp {
    /// Reads `YYYY-MM-DDTHH:MM:SS` exactly, with a real calendar date.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let (date, time) = s.split_once('T')?;
        let mut d = date.split('-');
        let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
        let mut t = time.split(':');
        let (h, mi, se) = (t.next()?, t.next()?, t.next()?);
        if d.next().is_some() || t.next().is_some() {
            return None;
        }
        let ts = Timestamp {
            year: digits(y, 4)?,
            month: digits(mo, 2)?,
            day: digits(da, 2)?,
            hour: digits(h, 2)?,
            minute: digits(mi, 2)?,
            second: digits(se, 2)?,
        };
        let ok = ts.day >= 1
            && ts.day <= days_in_month(i64::from(ts.year), ts.month)
            && ts.hour < 24
            && ts.minute < 60
            && ts.second < 61; // a leap second, should a clock print one
        ok.then_some(ts)
    }

    /// Seconds since the Unix epoch, given the cluster's offset from UTC (`+3600` for CET):
    /// Slurm prints local time, so the offset must come from the cluster (`date +%z`).
    pub fn unix_seconds(self, utc_offset_seconds: i64) -> i64 {
        // Days from 1970-01-01 to the date (proleptic Gregorian; Howard Hinnant's algorithm).
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - utc_offset_seconds
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// sacct's ExitCode `CODE:SIGNAL`: the script's exit status and the signal that ended it
/// (`0:15` for a job killed by SIGTERM, `3:0` for `exit 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ExitStatus {
    pub code: i32,
    pub signal: i32,
}

/// Reads `CODE:SIGNAL`; an empty value is `None`.
pub(crate) fn parse_exit(s: &str) -> Result<Option<ExitStatus>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let num = |p: &str| {
        (!p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<i32>().ok())
            .flatten()
    };
    t.split_once(':')
        .and_then(|(c, sig)| {
            Some(ExitStatus {
                code: num(c)?,
                signal: num(sig)?,
            })
        })
        .map(Some)
        .ok_or_else(|| format!("an exit code like \"3:0\", found {t:?}"))
}

/// A value Slurm prints for "no value": empty, `Unknown`, `None`, `N/A`, `(null)`,
/// `None assigned` (sacct's NodeList of a pending job), `INVALID` (squeue's `%M` on a clock
/// skew).
pub(crate) fn is_no_value(s: &str) -> bool {
    matches!(
        s.trim(),
        "" | "Unknown" | "None" | "N/A" | "(null)" | "None assigned" | "INVALID"
    )
}

/// `Some(trimmed)` unless the value is empty.
pub(crate) fn text(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `Some(trimmed)` unless the value is one of the "no value" markers.
pub(crate) fn value(s: &str) -> Option<String> {
    (!is_no_value(s)).then(|| s.trim().to_string())
}

/// A job's own numeric id (squeue's `%A`, sacct's JobIDRaw without its step).
pub(crate) fn raw_id(s: &str) -> Option<u64> {
    let t = s.trim();
    (!t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.parse().ok())
        .flatten()
}

/// A timestamp, or `None` for `Unknown`/`None`/`N/A`/empty.
pub(crate) fn parse_time(s: &str) -> Result<Option<Timestamp>, String> {
    if is_no_value(s) {
        return Ok(None);
    }
    Timestamp::parse(s)
        .map(Some)
        .ok_or_else(|| format!("a time like \"2026-12-01T08:01:41\", found {:?}", s.trim()))
}

/// An elapsed time in seconds: `[D-][HH:]MM:SS[.frac]` (sacct's Elapsed `00:00:03`,
/// `1-02:03:04`; CPU times `00:01.234`; squeue's `%M` `0:03`, `1:02:03`).
pub(crate) fn parse_elapsed(s: &str) -> Result<Option<f64>, String> {
    if is_no_value(s) {
        return Ok(None);
    }
    let t = s.trim();
    let bad = || format!("an elapsed time like \"00:01:02\" or \"1-02:03:04\", found {t:?}");
    // With days Slurm always prints the whole clock (`D-HH:MM:SS`).
    let (days, clock, has_days) = match t.split_once('-') {
        Some((d, rest)) => (d, rest, true),
        None => ("0", t, false),
    };
    let int = |p: &str, max_len: usize| {
        (!p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u64>().ok())
            .flatten()
    };
    let days = int(days, 9).ok_or_else(bad)?;
    let parts: Vec<&str> = clock.split(':').collect();
    let (h, m, sec) = match parts[..] {
        [h, m, sec] => (int(h, 9).ok_or_else(bad)?, m, sec),
        [m, sec] if !has_days => (0, m, sec),
        _ => return Err(bad()),
    };
    // Hours may run past 23 ("59:32:51" when days are not split off); minutes and seconds
    // are two digits under 60.
    let m = match int(m, 2) {
        Some(m) if m < 60 => m,
        _ => return Err(bad()),
    };
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let whole = match int(whole, 2) {
        Some(w) if w < 60 => w,
        _ => return Err(bad()),
    };
    let frac = if frac.is_empty() {
        if sec.ends_with('.') {
            return Err(bad());
        }
        0.0
    } else {
        let f = int(frac, 9).ok_or_else(bad)?;
        f as f64 / 10f64.powi(frac.len() as i32)
    };
    Ok(Some(
        (days * 86_400 + h * 3600 + m * 60 + whole) as f64 + frac,
    ))
}

/// A memory size in MB (1024-based, as Slurm counts): `63192K`, `1.50G`, `512M`; a bare
/// number is bytes (sacct prints MaxRSS below 1 KiB as `0` or `512`).
pub(crate) fn parse_mem_mb(s: &str) -> Result<Option<f64>, String> {
    if is_no_value(s) {
        return Ok(None);
    }
    let t = s.trim();
    let bad = || format!("a memory size like \"63192K\", found {t:?}");
    let (num, scale) = match t.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&t[..t.len() - 1], 1.0 / 1024.0),
        Some(b'M') => (&t[..t.len() - 1], 1.0),
        Some(b'G') => (&t[..t.len() - 1], 1024.0),
        Some(b'T') => (&t[..t.len() - 1], 1024.0 * 1024.0),
        Some(b'P') => (&t[..t.len() - 1], 1024.0 * 1024.0 * 1024.0),
        _ => (t, 1.0 / (1024.0 * 1024.0)),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    let ok = !whole.is_empty()
        && whole.len() <= 18
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 9
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(num.contains('.') && frac.is_empty());
    if !ok {
        return Err(bad());
    }
    num.parse::<f64>()
        .map(|n| Some(n * scale))
        .map_err(|_| bad())
}

/// Splits `line` into exactly `n` fields at `delim`. When the line has more delimiters than
/// that and `free` names a field, the extra ones belong to that field (a job name holding the
/// delimiter): the fields before it are counted from the left, those after it from the right.
pub(crate) fn split_row(
    line: &str,
    delim: char,
    n: usize,
    free: Option<usize>,
) -> Option<Vec<&str>> {
    let mut bounds = vec![0];
    for (i, c) in line.match_indices(delim) {
        bounds.push(i);
        bounds.push(i + c.len());
    }
    bounds.push(line.len());
    // Part k spans bounds[2k]..bounds[2k+1].
    let parts = bounds.len() / 2;
    if parts == n {
        return Some(
            (0..n)
                .map(|k| &line[bounds[2 * k]..bounds[2 * k + 1]])
                .collect(),
        );
    }
    let free = free.filter(|&f| f < n && parts > n)?;
    let extra = parts - n;
    Some(
        (0..n)
            .map(|k| {
                let (first, last) = match k.cmp(&free) {
                    std::cmp::Ordering::Less => (k, k),
                    std::cmp::Ordering::Equal => (k, k + extra),
                    std::cmp::Ordering::Greater => (k + extra, k + extra),
                };
                &line[bounds[2 * first]..bounds[2 * last + 1]]
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = Timestamp::parse("2026-12-01T08:01:41").expect("time");
        assert_eq!(t.to_string(), "2026-12-01T08:01:41");
        assert_eq!(
            serde_json::to_value(t).ok(),
            Some(serde_json::json!("2026-12-01T08:01:41"))
        );
        // date -u -d 2026-12-01T08:01:41 +%s
        assert_eq!(t.unix_seconds(0), 1_796_112_101);
        assert_eq!(t.unix_seconds(3600), 1_796_112_101 - 3600);
        let epoch = Timestamp::parse("1970-01-01T00:00:00").expect("epoch");
        assert_eq!(epoch.unix_seconds(0), 0);
        let leap = Timestamp::parse("2024-02-29T23:59:59").expect("leap day");
        assert_eq!(leap.unix_seconds(0), 1_709_251_199);
        for bad in [
            "2026-12-01 08:01:41",
            "2026-13-01T08:01:41",
            "2026-02-30T08:01:41",
            "2023-02-29T00:00:00",
            "2026-12-01T24:00:00",
            "2026-12-1T08:01:41",
            "2026-12-01T08:01",
            "2026-12-01T08:01:41:00",
            "+026-12-01T08:01:41",
            "Tomorr 08:01",
            "",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse_time("Unknown"), Ok(None));
        assert_eq!(parse_time("None"), Ok(None));
        assert_eq!(parse_time("N/A"), Ok(None));
        assert!(parse_time("08:01:41").is_err());
    }

    #[test]
    fn elapsed_times() {
        for (text, secs) in [
            ("00:00:03", 3.0),
            ("00:01:28", 88.0),
            ("1-02:03:04", 93_784.0),
            ("0:03", 3.0),
            ("1:02:03", 3723.0),
            ("00:01.234", 1.234),
            ("12:34:56.5", 45_296.5),
            ("59:32:51", 214_371.0),
        ] {
            assert_eq!(parse_elapsed(text), Ok(Some(secs)), "{text}");
        }
        for none in ["", "INVALID", "Unknown"] {
            assert_eq!(parse_elapsed(none), Ok(None), "{none:?}");
        }
        for bad in [
            "3",
            "1-3",
            "00:60:00",
            "00:00:60",
            "1-02:99",
            "a:b:c",
            "00:00:03.",
            "-00:01",
            "1:2:3:4",
            "00:00:0x",
            "125:00",
            "1-02:03",
        ] {
            assert!(parse_elapsed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn memory_sizes() {
        let mb = |s| parse_mem_mb(s).expect("memory");
        assert_eq!(mb("63192K"), Some(63192.0 / 1024.0));
        assert_eq!(mb("4616K"), Some(4616.0 / 1024.0));
        assert_eq!(mb("512M"), Some(512.0));
        assert_eq!(mb("1.50G"), Some(1536.0));
        assert_eq!(mb("2T"), Some(2.0 * 1024.0 * 1024.0));
        assert_eq!(mb("1048576"), Some(1.0));
        assert_eq!(mb("0"), Some(0.0));
        assert_eq!(mb(""), None);
        for bad in ["K", "1.K", "1.5.5G", "12X", "-4K", "1e3K", " 12 K"] {
            assert!(parse_mem_mb(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            parse_exit("3:0"),
            Ok(Some(ExitStatus { code: 3, signal: 0 }))
        );
        assert_eq!(
            parse_exit("0:15"),
            Ok(Some(ExitStatus {
                code: 0,
                signal: 15
            }))
        );
        assert_eq!(parse_exit(""), Ok(None));
        for bad in ["3", ":0", "3:", "a:0", "-1:0", "99999999999:0", "1:2:3"] {
            assert!(parse_exit(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rows_give_extra_delimiters_to_the_free_field() {
        assert_eq!(split_row("a|b|c", '|', 3, None), Some(vec!["a", "b", "c"]));
        assert_eq!(split_row("a|b|c", '|', 4, Some(1)), None);
        assert_eq!(split_row("a|b|c|d", '|', 3, None), None);
        assert_eq!(
            split_row("1|my|odd|name|RUNNING", '|', 3, Some(1)),
            Some(vec!["1", "my|odd|name", "RUNNING"])
        );
        assert_eq!(
            split_row("1|RUNNING|a|b", '|', 3, Some(2)),
            Some(vec!["1", "RUNNING", "a|b"])
        );
        assert_eq!(
            split_row("a|b||c", '|', 3, Some(0)),
            Some(vec!["a|b", "", "c"])
        );
        assert_eq!(split_row("", '|', 1, None), Some(vec![""]));
        assert_eq!(split_row("é|ü", '|', 2, None), Some(vec!["é", "ü"]));
    }
}
