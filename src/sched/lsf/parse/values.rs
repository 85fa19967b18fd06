//! Value formats several LSF commands share: memory sizes, durations, times, host lists, job ids.

use std::sync::LazyLock;

use regex::Regex;

static MEM_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$").expect("static regex"));
static HMS_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]+):([0-9]{1,2}):([0-9]{1,2}(?:\.[0-9]+)?)$").expect("static regex")
});
static SECONDS_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]+(?:\.[0-9]+)?)(?:\s*(?:second\(s\)|seconds?|secs?\.?|s))?$")
        .expect("static regex")
});
static NOT_FOUND_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Job <([^<>\s]+)> is not found").expect("static regex"));
static ELEMENT_SUFFIX_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([0-9]+)\]$").expect("static regex"));

/// A field LSF left empty: `""` in -json, `-` in tables and -o output.
pub(crate) fn is_empty_value(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || s == "-"
}

/// `Some(trimmed)` unless the value is empty or `-`.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    (!is_empty_value(s)).then(|| s.trim().to_string())
}

/// A memory amount in MB. LSF's units are 1024-based (`12 Kbytes`, `522 MBytes`, `40.8 Gbytes`,
/// bacct's `2.1G`, the trailer's `2811 MB`). A bare number is refused: its unit depends on
/// LSF_UNIT_FOR_LIMITS, which we cannot see.
pub(crate) fn parse_mem_mb(s: &str) -> Result<Option<f64>, String> {
    if is_empty_value(s) {
        return Ok(None);
    }
    let bad = || format!("a memory amount with a unit (like \"522 Mbytes\"), found {s:?}");
    let caps = MEM_RE.captures(s.trim()).ok_or_else(bad)?;
    let n: f64 = caps[1].parse().map_err(|_| bad())?;
    let factor = match caps[2].to_ascii_lowercase().as_str() {
        "k" | "kb" | "kbyte" | "kbytes" => 1.0 / 1024.0,
        "m" | "mb" | "mbyte" | "mbytes" => 1.0,
        "g" | "gb" | "gbyte" | "gbytes" => 1024.0,
        "t" | "tb" | "tbyte" | "tbytes" => 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    Ok(Some(n * factor))
}

/// A duration in seconds: `8 second(s)`, `0.4 second(s)`, `12173.25 sec.`, `79`, or the
/// `-hms`/-W clock form `hh:mm:ss` with hours past 24 (`59:32:51`, `000:00:00.12`).
pub(crate) fn parse_duration_secs(s: &str) -> Result<Option<f64>, String> {
    if is_empty_value(s) {
        return Ok(None);
    }
    let t = s.trim();
    let bad = || format!("a duration (like \"8 second(s)\" or \"00:01:02\"), found {s:?}");
    if let Some(c) = HMS_RE.captures(t) {
        let h: f64 = c[1].parse().map_err(|_| bad())?;
        let m: f64 = c[2].parse().map_err(|_| bad())?;
        let sec: f64 = c[3].parse().map_err(|_| bad())?;
        return Ok(Some(h * 3600.0 + m * 60.0 + sec));
    }
    let c = SECONDS_RE.captures(t).ok_or_else(bad)?;
    c[1].parse().map(Some).map_err(|_| bad())
}

/// A time as LSF printed it, minus the ` E`/` L`/` X` estimate/limit marker; `None` when empty.
pub(crate) fn time_text(s: &str) -> Option<String> {
    let t = s.trim();
    let t = [" E", " L", " X"]
        .iter()
        .find_map(|suf| t.strip_suffix(suf))
        .unwrap_or(t)
        .trim_end();
    non_empty(t)
}

/// Execution hosts, each once, in order: `8*m006`, `h1:h1:h2`, `16*a:16*b`, `9*node3`.
pub(crate) fn exec_hosts(s: &str) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
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
pub(crate) fn add_host(hosts: &mut Vec<String>, host: &str) {
    let host = host.trim();
    if !is_empty_value(host) && !hosts.iter().any(|h| h == host) {
        hosts.push(host.to_string());
    }
}

/// The id in `Job <123> is not found` / `Job <123[4]> is not found in queue <q>`.
pub(crate) fn not_found_id(line: &str) -> Option<String> {
    NOT_FOUND_RE.captures(line.trim()).map(|c| c[1].to_string())
}

/// The element id of an array job: bjobs prints the array's id in JOBID and `name[7]` in
/// JOB_NAME (also when the name is left-truncated to `*oarray[7]`). A job name cannot carry
/// brackets without making the job an array, so the suffix is safe to trust.
pub(crate) fn element_id(job_id: &str, job_name: Option<&str>, index: Option<&str>) -> String {
    if job_id.contains('[') {
        return job_id.to_string();
    }
    if let Some(i) = index.map(str::trim) {
        // jobindex is 0 for jobs that are not array elements.
        if !is_empty_value(i) && i != "0" && i.bytes().all(|b| b.is_ascii_digit()) {
            return format!("{job_id}[{i}]");
        }
    }
    match job_name.and_then(|n| ELEMENT_SUFFIX_RE.captures(n)) {
        Some(c) => format!("{job_id}[{}]", &c[1]),
        None => job_id.to_string(),
    }
}

/// Lines that only say LSF is busy; they may precede any command's real output.
pub(crate) fn is_wait_chatter(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("please wait") || l.contains("still trying")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(time_text("Dec 28 19:56 L").as_deref(), Some("Dec 28 19:56"));
        assert_eq!(time_text("Dec 28 19:56 E").as_deref(), Some("Dec 28 19:56"));
        assert_eq!(time_text("00:09:59 X").as_deref(), Some("00:09:59"));
        assert_eq!(time_text("Oct 22 09:22").as_deref(), Some("Oct 22 09:22"));
        assert_eq!(time_text("-"), None);
        assert_eq!(time_text(""), None);
    }

    #[test]
    fn host_lists() {
        assert_eq!(exec_hosts("8*m006"), ["m006"]);
        assert_eq!(exec_hosts("a:a:b"), ["a", "b"]);
        assert_eq!(
            exec_hosts("16*compute033:16*compute024"),
            ["compute033", "compute024"]
        );
        assert_eq!(exec_hosts("-"), Vec::<String>::new());
        assert_eq!(exec_hosts(""), Vec::<String>::new());
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
