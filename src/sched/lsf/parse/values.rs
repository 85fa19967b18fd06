//! Value formats several LSF commands share: memory sizes, durations, times, host lists, job ids.
//!
//! These run for every record of every bjobs call (100,000 records for a large sweep), so they
//! match by hand rather than with regexes; the tests check them against the regexes they replace.
//! Texts come out as any `From<&str>` type: bjobs keeps its short values in `CompactString`s,
//! which hold up to 24 bytes without an allocation.

use compact_str::CompactString;

/// `str::trim`, with the common case (no space at either end) settled inline: the parsers trim
/// every value several times.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// A field LSF left empty: `""` in -json, `-` in tables and -o output.
pub(crate) fn is_empty_value(s: &str) -> bool {
    let s = trim(s);
    s.is_empty() || s == "-"
}

/// `Some(trimmed)` unless the value is empty or `-`.
pub(crate) fn non_empty<'a, S: From<&'a str>>(s: &'a str) -> Option<S> {
    (!is_empty_value(s)).then(|| trim(s).into())
}

/// A memory amount in MB. LSF's units are 1024-based (`12 Kbytes`, `522 MBytes`, `40.8 Gbytes`,
/// bacct's `2.1G`, the trailer's `2811 MB`). A bare number is refused: its unit depends on
/// LSF_UNIT_FOR_LIMITS, which we cannot see.
pub(crate) fn parse_mem_mb(s: &str) -> Result<Option<f64>, String> {
    if is_empty_value(s) {
        return Ok(None);
    }
    let bad = || format!("a memory amount with a unit (like \"522 Mbytes\"), found {s:?}");
    // `^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`
    let (num, rest) = split_number(trim(s)).ok_or_else(bad)?;
    let unit = rest.trim_start();
    if !unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let n = to_f64(num).ok_or_else(bad)?;
    // The unit is ASCII letters: its first letter is the scale, the rest one of the spellings.
    let factor = match unit.as_bytes().first().map(u8::to_ascii_lowercase) {
        Some(b'k') => 1.0 / 1024.0,
        Some(b'm') => 1.0,
        Some(b'g') => 1024.0,
        Some(b't') => 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    if !["", "b", "byte", "bytes"]
        .iter()
        .any(|s| unit[1..].eq_ignore_ascii_case(s))
    {
        return Err(bad());
    }
    Ok(Some(n * factor))
}

/// Splits `[0-9]+(?:\.[0-9]+)?` off the front of `s`: `(number, rest)`.
fn split_number(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut i = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if i == 0 {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        let frac = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac > 0 {
            i += 1 + frac;
        }
    }
    Some(s.split_at(i))
}

/// A number matched by [`split_number`] as f64: whole numbers of up to 15 digits (exact in an
/// f64) without the general float parser.
fn to_f64(num: &str) -> Option<f64> {
    if num.len() <= 15 && num.bytes().all(|b| b.is_ascii_digit()) {
        return num.parse::<u64>().ok().map(|n| n as f64);
    }
    num.parse().ok()
}

fn all_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A duration in seconds: `8 second(s)`, `0.4 second(s)`, `12173.25 sec.`, `79`, or the
/// `-hms`/-W clock form `hh:mm:ss` with hours past 24 (`59:32:51`, `000:00:00.12`).
pub(crate) fn parse_duration_secs(s: &str) -> Result<Option<f64>, String> {
    if is_empty_value(s) {
        return Ok(None);
    }
    let t = trim(s);
    let bad = || format!("a duration (like \"8 second(s)\" or \"00:01:02\"), found {s:?}");
    // `^([0-9]+):([0-9]{1,2}):([0-9]{1,2}(?:\.[0-9]+)?)$`
    let mut clock = t.splitn(3, ':');
    if let (Some(h), Some(m), Some(sec)) = (clock.next(), clock.next(), clock.next()) {
        let sec_ok = split_number(sec).is_some_and(|(num, rest)| {
            rest.is_empty() && all_digits(num.split('.').next().unwrap_or(""), 1, 2)
        });
        if all_digits(h, 1, usize::MAX) && all_digits(m, 1, 2) && sec_ok {
            let h = to_f64(h).ok_or_else(bad)?;
            let m = to_f64(m).ok_or_else(bad)?;
            let sec = to_f64(sec).ok_or_else(bad)?;
            return Ok(Some(h * 3600.0 + m * 60.0 + sec));
        }
    }
    // `^([0-9]+(?:\.[0-9]+)?)(?:\s*(?:second\(s\)|seconds?|secs?\.?|s))?$`
    let (num, rest) = split_number(t).ok_or_else(bad)?;
    let unit_ok = rest.is_empty()
        || matches!(
            rest.trim_start(),
            "second(s)" | "seconds" | "second" | "secs." | "secs" | "sec." | "sec" | "s"
        );
    if !unit_ok {
        return Err(bad());
    }
    to_f64(num).map(Some).ok_or_else(bad)
}

/// A time as LSF printed it, minus the ` E`/` L`/` X` estimate/limit marker; `None` when empty.
pub(crate) fn time_text<'a, S: From<&'a str>>(s: &'a str) -> Option<S> {
    let t = trim(s);
    let t = [" E", " L", " X"]
        .iter()
        .find_map(|suf| t.strip_suffix(suf))
        .unwrap_or(t)
        .trim_end();
    non_empty(t)
}

/// Execution hosts, each once, in order: `8*m006`, `h1:h1:h2`, `16*a:16*b`, `9*node3`.
pub(crate) fn exec_hosts<S: AsRef<str> + for<'a> From<&'a str>>(s: &str) -> Vec<S> {
    let mut hosts: Vec<S> = Vec::new();
    for part in s.split(|c: char| c == ':' || c.is_whitespace()) {
        let host = match part.split_once('*') {
            Some((n, h)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => part,
        };
        add_host(&mut hosts, host);
    }
    hosts
}

/// Appends `host` unless it is empty, `-`, or already listed.
pub(crate) fn add_host<S: AsRef<str> + for<'a> From<&'a str>>(hosts: &mut Vec<S>, host: &str) {
    let host = trim(host);
    if !is_empty_value(host) && !hosts.iter().any(|h| h.as_ref() == host) {
        hosts.push(host.into());
    }
}

/// The id in `Job <123> is not found` / `Job <123[4]> is not found in queue <q>`.
pub(crate) fn not_found_id(line: &str) -> Option<String> {
    // `^Job <([^<>\s]+)> is not found`
    let rest = trim(line).strip_prefix("Job <")?;
    let end = rest
        .find(|c: char| c == '<' || c == '>' || c.is_whitespace())
        .unwrap_or(rest.len());
    let (id, after) = rest.split_at(end);
    (!id.is_empty() && after.starts_with("> is not found")).then(|| id.to_string())
}

/// The element id of an array job: bjobs prints the array's id in JOBID and `name[7]` in
/// JOB_NAME (also when the name is left-truncated to `*oarray[7]`). A job name cannot carry
/// brackets without making the job an array, so the suffix is safe to trust.
pub(crate) fn element_id(
    job_id: &str,
    job_name: Option<&str>,
    index: Option<&str>,
) -> CompactString {
    let mut job_id = CompactString::from(job_id);
    if job_id.contains('[') {
        return job_id;
    }
    // jobindex is 0 for jobs that are not array elements.
    let index = index
        .map(str::trim)
        .filter(|i| !is_empty_value(i) && *i != "0" && all_digits(i, 1, usize::MAX))
        .or_else(|| {
            // `\[([0-9]+)\]$` ending the name.
            job_name
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|n| n.rsplit_once('['))
                .map(|(_, i)| i)
                .filter(|i| all_digits(i, 1, usize::MAX))
        });
    if let Some(i) = index {
        job_id.reserve(i.len() + 2);
        job_id.push('[');
        job_id.push_str(i);
        job_id.push(']');
    }
    job_id
}

/// A time as LSF prints it in job reports and long listings: `Tue Dec  1 07:08:31 2026`, or
/// without the year (`Tue Dec  1 07:08:31`): (year if shown, month 1-12, day, seconds into the
/// day). The weekday is not checked: it adds nothing to the date.
fn clock_parts(s: &str) -> Option<(Option<i64>, i64, i64, i64)> {
    let mut w = s.split_whitespace();
    let (_weekday, month, day, clock) = (w.next()?, w.next()?, w.next()?, w.next()?);
    let year = match w.next() {
        Some(y) if all_digits(y, 4, 4) => Some(y.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    if w.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day: i64 = all_digits(day, 1, 2).then(|| day.parse().ok())??;
    let mut hms = clock.split(':');
    let mut part = |max: i64| -> Option<i64> {
        let p = hms.next()?;
        let v: i64 = all_digits(p, 2, 2).then(|| p.parse().ok())??;
        (v <= max).then_some(v)
    };
    let secs = part(23)? * 3600 + part(59)? * 60 + part(60)?;
    if hms.next().is_some() || !(1..=31).contains(&day) {
        return None;
    }
    Some((year, month, day, secs))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A report time with its year (`Sun Apr  5 13:39:23 2020`) as seconds since 1970 in the
/// cluster's wall clock: only differences of two such times mean anything.
pub(crate) fn report_time_seconds(s: &str) -> Option<i64> {
    let (year, m, d, secs) = clock_parts(s)?;
    Some(days_from_civil(year?, m, d) * 86_400 + secs)
}

/// Seconds from time `a` to time `b`, both as [`clock_parts`] reads them. Without years
/// (`Tue Dec  1 07:08:31`), `b` is taken as the first such date not before `a`, so a job that
/// ran over New Year still reads right. `None` when either is unreadable or `b` is before `a`.
pub(crate) fn seconds_between(a: &str, b: &str) -> Option<i64> {
    let (ya, ma, da, sa) = clock_parts(a)?;
    let (yb, mb, db, sb) = clock_parts(b)?;
    // A leap year, so that Feb 29 of a year LSF does not show still reads.
    let ya = ya.unwrap_or(2000);
    let at = |y: i64, m: i64, d: i64, s: i64| days_from_civil(y, m, d) * 86_400 + s;
    let start = at(ya, ma, da, sa);
    let end = match yb {
        Some(y) => at(y, mb, db, sb),
        None => {
            let same = at(ya, mb, db, sb);
            if same >= start {
                same
            } else {
                at(ya + 1, mb, db, sb)
            }
        }
    };
    (end >= start).then_some(end - start)
}

/// Lines that only say LSF is busy; they may precede any command's real output.
pub(crate) fn is_wait_chatter(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("please wait") || l.contains("still trying")
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// The regexes the hand matchers replaced, as they were: the reference readings.
    mod reference {
        use super::Regex;

        fn re(r: &str) -> Regex {
            Regex::new(r).unwrap()
        }

        pub fn mem_mb(s: &str) -> Option<f64> {
            let c = re(r"^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$").captures(s.trim())?;
            let n: f64 = c[1].parse().unwrap();
            let factor = match c[2].to_ascii_lowercase().as_str() {
                "k" | "kb" | "kbyte" | "kbytes" => 1.0 / 1024.0,
                "m" | "mb" | "mbyte" | "mbytes" => 1.0,
                "g" | "gb" | "gbyte" | "gbytes" => 1024.0,
                "t" | "tb" | "tbyte" | "tbytes" => 1024.0 * 1024.0,
                _ => return None,
            };
            Some(n * factor)
        }

        pub fn hms(s: &str) -> Option<f64> {
            let c = re(r"^([0-9]+):([0-9]{1,2}):([0-9]{1,2}(?:\.[0-9]+)?)$").captures(s.trim())?;
            let p = |i: usize| c[i].parse::<f64>().unwrap();
            Some(p(1) * 3600.0 + p(2) * 60.0 + p(3))
        }

        pub fn seconds(s: &str) -> Option<f64> {
            re(r"^([0-9]+(?:\.[0-9]+)?)(?:\s*(?:second\(s\)|seconds?|secs?\.?|s))?$")
                .captures(s.trim())
                .map(|c| c[1].parse().unwrap())
        }

        pub fn not_found(s: &str) -> Option<String> {
            re(r"^Job <([^<>\s]+)> is not found")
                .captures(s.trim())
                .map(|c| c[1].to_string())
        }

        pub fn element(name: &str) -> Option<String> {
            re(r"\[([0-9]+)\]$")
                .captures(name)
                .map(|c| c[1].to_string())
        }
    }

    #[test]
    fn hand_matchers_agree_with_the_regexes() {
        let inputs = [
            "",
            " ",
            "-",
            "0",
            "5",
            "5.",
            ".5",
            "5.2",
            "5.2.3",
            "12 Kbytes",
            "12Kbytes",
            "12 K bytes",
            "522 MBytes",
            "40.8 Gbytes",
            "2.1G",
            "5208",
            "5 MB ",
            " 7 tb",
            "5\u{a0}MB",
            "5 Mé",
            "8 second(s)",
            "8 seconds",
            "8 second",
            "8 secs.",
            "8 secs",
            "8 sec.",
            "8 sec",
            "8 s",
            "8s",
            "8 ss",
            "8 second(s) ",
            "8  sec",
            "8 min",
            "12173.25 sec.",
            "00:00:01",
            "59:32:51",
            "000:00:00.12",
            "1:2:3",
            "1:2:3:4",
            "1::3",
            ":1:2",
            "1:123:4",
            "1:2:345",
            "1:2:3.",
            "1:2:3.5",
            "1:2:.5",
            "01:02",
            "Job <1> is not found",
            "Job <12[3]> is not found in queue <q>",
            "  Job <7> is not found  ",
            "Job <> is not found",
            "Job <a b> is not found",
            "Job <1>is not found",
            "Job <1<2> is not found",
            "Job <1> is not foundx",
            "job <1> is not found",
            "x[1]",
            "x[]",
            "x[a]",
            "x[1]]",
            "x[1][2]",
            "[3]",
            "x[1",
            "a[12 ]",
            "arr[٣]",
            "*oarray[7]",
        ];
        for s in inputs {
            if is_empty_value(s) {
                assert_eq!(parse_mem_mb(s), Ok(None), "{s:?}");
            } else {
                assert_eq!(
                    parse_mem_mb(s).ok().flatten(),
                    reference::mem_mb(s),
                    "{s:?}"
                );
            }
            let dur = parse_duration_secs(s);
            let want = reference::hms(s).or_else(|| reference::seconds(s));
            if is_empty_value(s) {
                assert_eq!(dur, Ok(None), "{s:?}");
            } else {
                assert_eq!(dur.ok().flatten(), want, "{s:?}");
            }
            assert_eq!(not_found_id(s), reference::not_found(s), "{s:?}");
            let want = reference::element(s).map_or("9".to_string(), |i| format!("9[{i}]"));
            assert_eq!(element_id("9", Some(s), None), want, "{s:?}");
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_mem_mb("522 MBytes"), Ok(Some(522.0)));
        assert_eq!(parse_mem_mb("40.8 Gbytes"), Ok(Some(40.8 * 1024.0)));
        assert_eq!(parse_mem_mb("12 Kbytes"), Ok(Some(12.0 / 1024.0)));
        assert_eq!(parse_mem_mb("2811 MB"), Ok(Some(2811.0)));
        assert_eq!(parse_mem_mb("2.1G"), Ok(Some(2.1 * 1024.0)));
        assert_eq!(parse_mem_mb("0 Mbytes"), Ok(Some(0.0)));
        assert_eq!(parse_mem_mb(""), Ok(None));
        assert_eq!(parse_mem_mb("-"), Ok(None));
        assert!(
            parse_mem_mb("5208").is_err(),
            "bare numbers have no known unit"
        );
        assert!(parse_mem_mb("lots").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("8 second(s)"), Ok(Some(8.0)));
        assert_eq!(parse_duration_secs("0.4 second(s)"), Ok(Some(0.4)));
        assert_eq!(parse_duration_secs("00:00:01"), Ok(Some(1.0)));
        assert_eq!(parse_duration_secs("59:32:51"), Ok(Some(214371.0)));
        assert_eq!(parse_duration_secs("000:00:00.12"), Ok(Some(0.12)));
        assert_eq!(parse_duration_secs("12173.25 sec."), Ok(Some(12173.25)));
        assert_eq!(parse_duration_secs("53936 seconds"), Ok(Some(53936.0)));
        assert_eq!(parse_duration_secs("79"), Ok(Some(79.0)));
        assert_eq!(parse_duration_secs("-"), Ok(None));
        assert!(parse_duration_secs("soon").is_err());
    }

    #[test]
    fn time_suffixes_are_stripped() {
        let t = |s| time_text::<String>(s);
        assert_eq!(t("Dec 28 19:56 L").as_deref(), Some("Dec 28 19:56"));
        assert_eq!(t("Dec 28 19:56 E").as_deref(), Some("Dec 28 19:56"));
        assert_eq!(t("00:09:59 X").as_deref(), Some("00:09:59"));
        assert_eq!(t("Oct 22 09:22").as_deref(), Some("Oct 22 09:22"));
        assert_eq!(t("-"), None);
        assert_eq!(t(""), None);
    }

    #[test]
    fn host_lists() {
        let h = |s| exec_hosts::<String>(s);
        assert_eq!(h("8*m006"), ["m006"]);
        assert_eq!(h("a:a:b"), ["a", "b"]);
        assert_eq!(
            h("16*compute033:16*compute024"),
            ["compute033", "compute024"]
        );
        assert_eq!(h("-"), Vec::<String>::new());
        assert_eq!(h(""), Vec::<String>::new());
    }

    #[test]
    fn element_ids() {
        assert_eq!(element_id("554997", Some("*oarray[7]"), None), "554997[7]");
        assert_eq!(element_id("5", Some("plain"), None), "5");
        assert_eq!(element_id("5", None, Some("3")), "5[3]");
        assert_eq!(element_id("5", Some("x"), Some("0")), "5");
        assert_eq!(element_id("5[2]", Some("x[9]"), None), "5[2]");
    }

    #[test]
    fn clock_times() {
        assert_eq!(
            seconds_between("Tue Dec  1 07:08:31 2026", "Tue Dec  1 07:08:35 2026"),
            Some(4)
        );
        assert_eq!(
            seconds_between("Thu Dec 31 23:59:30 2026", "Fri Jan  1 00:00:30 2027"),
            Some(60)
        );
        // Without years: over New Year, and Feb 29.
        assert_eq!(
            seconds_between("Thu Dec 31 23:59:30", "Fri Jan  1 00:00:30"),
            Some(60)
        );
        assert_eq!(
            seconds_between("Mon Feb 28 12:00:00", "Tue Feb 29 12:00:00"),
            Some(86_400)
        );
        assert_eq!(
            seconds_between("Tue Dec  1 07:08:35 2026", "Tue Dec  1 07:08:31 2026"),
            None
        );
        assert_eq!(
            report_time_seconds("Thu Jan  1 00:01:00 1970"),
            Some(60),
            "the epoch itself"
        );
        assert_eq!(
            report_time_seconds("Sat Mar 28 12:54:45 2020")
                .zip(report_time_seconds("Sat Mar 28 09:31:50 2020"))
                .map(|(b, a)| b - a),
            Some(12_175)
        );
        for bad in [
            "",
            "Tue Dec  1 07:08:31 26",
            "Tue Dek  1 07:08:31 2026",
            "Tue Dec 41 07:08:31 2026",
            "Tue Dec  1 7:08:31 2026",
            "Tue Dec  1 07:08 2026",
            "Tue Dec  1 24:00:00 2026",
            "Tue Dec  1 07:08:31 2026 x",
            "unknown time in the past",
        ] {
            assert_eq!(report_time_seconds(bad), None, "{bad:?}");
        }
        assert_eq!(report_time_seconds("Tue Dec  1 07:08:31"), None, "no year");
    }

    #[test]
    fn not_found_lines() {
        assert_eq!(
            not_found_id("Job <123> is not found").as_deref(),
            Some("123")
        );
        assert_eq!(
            not_found_id("Job <1[4]> is not found in queue <q>").as_deref(),
            Some("1[4]")
        );
        assert_eq!(not_found_id("No unfinished job found"), None);
    }
}
