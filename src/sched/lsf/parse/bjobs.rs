//! `bjobs` in its three output modes (-json, -o with a delimiter, the -w table) and the argv
//! bsweep runs for each. Found jobs come on stdout, `Job <N> is not found` on stderr (in any
//! order, with exit 0 or 255): both streams are read, and the exit code is not consulted.

use std::borrow::Cow;
use std::sync::LazyLock;

use compact_str::CompactString;
use regex::Regex;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod json;

pub use self::json::parse_bjobs_json;
use super::ParseError;
use super::stat::Stat;
use super::values::{
    add_host, element_id, exec_hosts, is_empty_value, non_empty, not_found_id, parse_duration_secs,
    parse_mem_mb, time_text, trim,
};

/// One job (or array element) as bjobs reports it. Times are LSF's text (no year, ` L`/` E`/` X`
/// markers stripped); numbers are seconds and MB. Texts are `CompactString`s: a poll of a large
/// sweep reads 100,000 of these, and short texts then cost no allocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    /// `"123"`, or `"123[4]"` for an array element.
    pub job_id: CompactString,
    pub stat: Stat,
    pub queue: Option<CompactString>,
    /// As printed: a table without -w left-truncates long names to `*` + the last 9 characters.
    pub job_name: Option<CompactString>,
    /// Each host once (`8*m006` and `m006:m006` both give `m006`); empty while pending.
    pub exec_hosts: Vec<CompactString>,
    /// `None` when LSF printed none (it prints none for DONE jobs).
    pub exit_code: Option<i32>,
    pub submit_time: Option<CompactString>,
    pub start_time: Option<CompactString>,
    /// For a running job with a run limit, the projected finish time.
    pub finish_time: Option<CompactString>,
    pub run_seconds: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub max_mem_mb: Option<f64>,
}

/// What one bjobs call said.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct BjobsReading {
    pub records: Vec<JobRecord>,
    /// Ids LSF does not know (any more), as printed: `"123"` or `"123[4]"`.
    pub not_found: Vec<String>,
    /// Other lines: "No unfinished job found", "Please wait", pending reasons, and notes about
    /// metric values that could not be read (the job's state is still reported).
    pub messages: Vec<String>,
}

impl BjobsReading {
    fn side_line(&mut self, line: &str) {
        let t = line.trim();
        if t.is_empty() {
            return;
        }
        match not_found_id(t) {
            Some(id) => self.not_found.push(id),
            None => self.messages.push(t.to_string()),
        }
    }

    fn side_text(&mut self, text: &str) {
        for l in text.lines() {
            self.side_line(l);
        }
    }
}

/// The -o fields bsweep asks for (LSF field names; JSON keys are these upper-cased).
/// Array elements are recognised from the `name[index]` JOB_NAME, so `jobindex` is not needed.
pub const BJOBS_FIELDS: &[&str] = &[
    "jobid",
    "stat",
    "queue",
    "job_name",
    "exec_host",
    "exit_code",
    "submit_time",
    "start_time",
    "finish_time",
    "run_time",
    "cpu_used",
    "max_mem",
];

/// Separates -o values; bsweep's own job names never contain it.
pub const BJOBS_DELIMITER: char = '^';

/// `bjobs -a -o "<fields>" -json ID...` (LSF >= 10.1.0.2). `-a` keeps finished jobs in view.
pub fn bjobs_json_args(ids: &[String]) -> Vec<String> {
    let mut v = vec![
        "-a".to_string(),
        "-o".to_string(),
        BJOBS_FIELDS.join(" "),
        "-json".to_string(),
    ];
    v.extend(ids.iter().cloned());
    v
}

/// `bjobs -a -noheader -o "<fields> delimiter='^'" ID...`; read with [`parse_bjobs_delimited`]
/// and [`BJOBS_FIELDS`], [`BJOBS_DELIMITER`].
pub fn bjobs_delimited_args(ids: &[String]) -> Vec<String> {
    let mut v = vec![
        "-a".to_string(),
        "-noheader".to_string(),
        "-o".to_string(),
        format!("{} delimiter='{}'", BJOBS_FIELDS.join(" "), BJOBS_DELIMITER),
    ];
    v.extend(ids.iter().cloned());
    v
}

/// `bjobs -a -w ID...` for LSF without -o: -w keeps names and host lists whole.
pub fn bjobs_table_args(ids: &[String]) -> Vec<String> {
    let mut v = vec!["-a".to_string(), "-w".to_string()];
    v.extend(ids.iter().cloned());
    v
}

const STATES: &str = "PEND PROV PSUSP RUN USUSP SSUSP DONE EXIT UNKWN WAIT ZOMBI";

/// The upper-case fields a record is built from (-json keys, -o names upper-cased); [`Vals`]
/// holds their values in this order.
const RECORD_KEYS: [&str; 13] = [
    "JOBID",
    "STAT",
    "QUEUE",
    "JOB_NAME",
    "EXEC_HOST",
    "EXIT_CODE",
    "SUBMIT_TIME",
    "START_TIME",
    "FINISH_TIME",
    "RUN_TIME",
    "CPU_USED",
    "MAX_MEM",
    "JOBINDEX",
];
const K_JOBID: usize = 0;
const K_STAT: usize = 1;
const K_QUEUE: usize = 2;
const K_JOB_NAME: usize = 3;
const K_EXEC_HOST: usize = 4;
const K_EXIT_CODE: usize = 5;
const K_SUBMIT_TIME: usize = 6;
const K_START_TIME: usize = 7;
const K_FINISH_TIME: usize = 8;
const K_RUN_TIME: usize = 9;
const K_CPU_USED: usize = 10;
const K_MAX_MEM: usize = 11;
const K_JOBINDEX: usize = 12;

/// One record's values by position in [`RECORD_KEYS`]; `None` for a field the output lacks.
type Vals<'a> = [Option<Cow<'a, str>>; RECORD_KEYS.len()];

fn record_key(key: &str) -> Option<usize> {
    // A match (by length, then bytes) rather than a scan: it runs for every key of every record.
    Some(match key {
        "JOBID" => K_JOBID,
        "STAT" => K_STAT,
        "QUEUE" => K_QUEUE,
        "JOB_NAME" => K_JOB_NAME,
        "EXEC_HOST" => K_EXEC_HOST,
        "EXIT_CODE" => K_EXIT_CODE,
        "SUBMIT_TIME" => K_SUBMIT_TIME,
        "START_TIME" => K_START_TIME,
        "FINISH_TIME" => K_FINISH_TIME,
        "RUN_TIME" => K_RUN_TIME,
        "CPU_USED" => K_CPU_USED,
        "MAX_MEM" => K_MAX_MEM,
        "JOBINDEX" => K_JOBINDEX,
        _ => return None,
    })
}

/// Builds a record from its values (-json and -o share this). `found` gives the text an error
/// shows; it is only called for an error.
fn build_record(
    vals: &Vals<'_>,
    line: Option<usize>,
    found: &dyn Fn() -> String,
    messages: &mut Vec<String>,
) -> Result<JobRecord, ParseError> {
    let raw = |k: usize| vals[k].as_deref().unwrap_or_default();
    let id = Some(trim(raw(K_JOBID)))
        .filter(|id| !is_empty_value(id))
        .ok_or_else(|| ParseError::new(line, &found(), "a JOBID value"))?;
    let stat_text = raw(K_STAT);
    let stat: Stat = stat_text.parse().map_err(|_| {
        ParseError::new(
            line,
            &found(),
            format!(
                "a known STAT for job {id} ({STATES}), not {:?}",
                stat_text.trim()
            ),
        )
    })?;
    let exit_code = match non_empty::<&str>(raw(K_EXIT_CODE)) {
        None => None,
        Some(t) => Some(t.parse::<i32>().map_err(|_| {
            ParseError::new(
                line,
                &found(),
                format!("a numeric EXIT_CODE for job {id}, not {t:?}"),
            )
        })?),
    };
    let job_name: Option<CompactString> = non_empty(raw(K_JOB_NAME));
    let job_id = element_id(id, job_name.as_deref(), vals[K_JOBINDEX].as_deref());
    // A metric LSF prints oddly must not hide the job's state: note it and go on.
    let mut metric = |k: usize, read: fn(&str) -> Result<Option<f64>, String>| match read(raw(k)) {
        Ok(v) => v,
        Err(e) => {
            messages.push(format!("job {job_id}: {}: expected {e}", RECORD_KEYS[k]));
            None
        }
    };
    let run_seconds = metric(K_RUN_TIME, parse_duration_secs);
    let cpu_seconds = metric(K_CPU_USED, parse_duration_secs);
    let max_mem_mb = metric(K_MAX_MEM, parse_mem_mb);
    Ok(JobRecord {
        stat,
        queue: non_empty(raw(K_QUEUE)),
        exec_hosts: exec_hosts(raw(K_EXEC_HOST)),
        exit_code,
        submit_time: time_text(raw(K_SUBMIT_TIME)),
        start_time: time_text(raw(K_START_TIME)),
        finish_time: time_text(raw(K_FINISH_TIME)),
        run_seconds,
        cpu_seconds,
        max_mem_mb,
        job_name,
        job_id,
    })
}

/// `text.split(delimiter)`, trimmed, into `out`; byte by byte for an ASCII delimiter, which
/// beats a general search on fields of a few bytes.
fn split_into<'a>(text: &'a str, delimiter: char, out: &mut Vec<&'a str>) {
    if !delimiter.is_ascii() {
        out.extend(text.split(delimiter).map(trim));
        return;
    }
    let d = delimiter as u8;
    let mut start = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if b == d {
            // Both ends are ASCII (the delimiter) or the text's ends: char boundaries.
            out.push(trim(&text[start..i]));
            start = i + 1;
        }
    }
    out.push(trim(&text[start..]));
}

/// Lines in `text`: room for the records of a one-row-per-job output, reserved at once rather
/// than grown (100,000 records are some 30 MB).
fn line_count(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count() + 1
}

/// An -o field name as its upper-case key: width specs (`stat:`, `queue:-`, `name:10`) and the
/// `id`/`name` aliases resolved.
fn field_key(field: &str) -> String {
    let name = field
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match name.as_str() {
        "id" => "JOBID".to_string(),
        "name" => "JOB_NAME".to_string(),
        _ => name.to_ascii_uppercase(),
    }
}

/// Reads `bjobs -noheader -o "<fields> delimiter='c'"` output: one line per job, values in
/// `fields` order, `-` for empty. `fields` must include jobid and stat.
pub fn parse_bjobs_delimited(
    stdout: &str,
    stderr: &str,
    fields: &[&str],
    delimiter: char,
) -> Result<BjobsReading, ParseError> {
    let keys: Vec<String> = fields.iter().map(|f| field_key(f)).collect();
    if !keys.iter().any(|k| k == "JOBID") || !keys.iter().any(|k| k == "STAT") {
        return Err(ParseError::new(
            None,
            &fields.join(" "),
            "jobid and stat among the -o fields",
        ));
    }
    // Where each record field is among the values (the first of a repeated field).
    let at: [Option<usize>; RECORD_KEYS.len()] =
        RECORD_KEYS.map(|rk| keys.iter().position(|k| k == rk));
    let mut reading = BjobsReading::default();
    reading.records.reserve(line_count(stdout));
    let mut parts: Vec<&str> = Vec::with_capacity(keys.len());
    for (i, line) in stdout.lines().enumerate() {
        let t = trim(line);
        if t.is_empty() || not_found_id(t).is_some() {
            reading.side_line(t);
            continue;
        }
        parts.clear();
        split_into(t, delimiter, &mut parts);
        if parts.len() < 2 {
            // No delimiter: chatter, not a row.
            reading.side_line(t);
            continue;
        }
        if parts.len() != keys.len() {
            return Err(ParseError::new(
                Some(i + 1),
                line,
                format!(
                    "{} values separated by {delimiter:?} ({})",
                    keys.len(),
                    fields.join(" ")
                ),
            ));
        }
        // Tolerate a header row (a forgotten -noheader): every value is its field's name.
        if parts
            .iter()
            .zip(&keys)
            .all(|(p, k)| p.eq_ignore_ascii_case(k))
        {
            continue;
        }
        let vals: Vals<'_> = at.map(|p| {
            let v = parts[p?];
            Some(Cow::Borrowed(if is_empty_value(v) { "" } else { v }))
        });
        let rec = build_record(
            &vals,
            Some(i + 1),
            &|| line.to_string(),
            &mut reading.messages,
        )?;
        reading.records.push(rec);
    }
    reading.side_text(stderr);
    Ok(reading)
}

const TABLE_HEAD: [&str; 8] = [
    "JOBID",
    "USER",
    "STAT",
    "QUEUE",
    "FROM_HOST",
    "EXEC_HOST",
    "JOB_NAME",
    "SUBMIT_TIME",
];

/// What the header tells about the rows under it.
struct Header {
    /// Characters between the EXEC_HOST and JOB_NAME headings: a wider gap after FROM_HOST
    /// than this means the EXEC_HOST cell is blank.
    exec_width: usize,
    /// Columns after SUBMIT_TIME (-W: PROJ_NAME CPU_USED MEM SWAP PIDS START_TIME FINISH_TIME).
    extras: Vec<String>,
}

impl Default for Header {
    fn default() -> Self {
        // bjobs.c prints EXEC_HOST as "%-11s " in both modes.
        Header {
            exec_width: 12,
            extras: Vec::new(),
        }
    }
}

type Tok<'a> = (usize, &'a str);

/// Whitespace-separated tokens with their byte offsets.
fn tokens<'a>(line: &'a str, out: &mut Vec<Tok<'a>>) {
    out.clear();
    let mut start = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((s, &line[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
}

fn tok_end(t: &Tok<'_>) -> usize {
    t.0 + t.1.len()
}

static JOBID_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]+(?:\[[0-9]+\])?$").expect("static regex"));
static STAT_LIKE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Z_]+$").expect("static regex"));
static HOST_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[0-9]+\*)?[A-Za-z0-9][A-Za-z0-9._-]*$").expect("static regex")
});
static HHMM_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{1,2}:[0-9]{2}$").expect("static regex"));
static WTIME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9]{2}/[0-9]{2}-[0-9]{2}:[0-9]{2}(?::[0-9]{2})?$").expect("static regex")
});

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mon DD HH:MM` starting at `toks[p]`.
fn is_short_time(toks: &[Tok<'_>], p: usize) -> bool {
    match (toks.get(p), toks.get(p + 1), toks.get(p + 2)) {
        (Some(m), Some(d), Some(hm)) => {
            MONTHS.contains(&m.1)
                && d.1.len() <= 2
                && d.1.bytes().all(|b| b.is_ascii_digit())
                && HHMM_RE.is_match(hm.1)
        }
        _ => false,
    }
}

fn is_year(t: &str) -> bool {
    t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit())
}

/// A row starts at column 0 with a job id and has an upper-case word where STAT goes; anything
/// else (pending reasons, prompts, chatter) is not a row.
fn is_row(line: &str, toks: &[Tok<'_>]) -> bool {
    !line.starts_with(char::is_whitespace)
        && toks.len() >= 3
        && JOBID_RE.is_match(toks[0].1)
        && STAT_LIKE_RE.is_match(toks[2].1)
}

/// The tokens after FROM_HOST, sorted out.
struct Tail<'a, 'b> {
    /// EXEC_HOST (unless blank) and the JOB_NAME tokens.
    middle: &'b [Tok<'a>],
    submit: &'a str,
    /// The -W extra columns, when they line up with the header.
    extras: Option<&'b [Tok<'a>]>,
}

fn tail<'a, 'b>(
    middle: &'b [Tok<'a>],
    submit: &'a str,
    extras: Option<&'b [Tok<'a>]>,
) -> Option<Tail<'a, 'b>> {
    Some(Tail {
        middle,
        submit,
        extras,
    })
}

fn split_tail<'a, 'b>(line: &'a str, rest: &'b [Tok<'a>], h: &Header) -> Option<Tail<'a, 'b>> {
    let n = rest.len();
    let from = |p: usize, upto: usize| -> &'a str {
        match (rest.get(p), upto.checked_sub(1).and_then(|u| rest.get(u))) {
            (Some(a), Some(b)) => &line[a.0..tok_end(b)],
            _ => "",
        }
    };
    if h.extras.is_empty() {
        // Default format: SUBMIT_TIME is the last three tokens, "Oct 22 09:22" (some sites
        // add a year). The tokens before it hold EXEC_HOST and a JOB_NAME that may have spaces.
        if n >= 5 && is_year(rest[n - 1].1) && is_short_time(rest, n - 4) {
            return tail(&rest[..n - 4], from(n - 4, n), None);
        }
        if n >= 4 && is_short_time(rest, n - 3) {
            return tail(&rest[..n - 3], from(n - 3, n), None);
        }
        return None;
    }
    let k = h.extras.len();
    // -W: one-token SUBMIT_TIME "MM/DD-HH:MM:SS" followed by exactly the extra columns.
    for p in 1..n {
        if WTIME_RE.is_match(rest[p].1) && n - p - 1 == k {
            return tail(&rest[..p], rest[p].1, Some(&rest[p + 1..]));
        }
    }
    for p in 1..n {
        if is_short_time(rest, p) && n - p - 3 == k {
            return tail(&rest[..p], from(p, p + 3), Some(&rest[p + 3..]));
        }
    }
    // Some extra cell was blank: the extras cannot be told apart, so only the leading
    // columns are read.
    for p in 1..n {
        if WTIME_RE.is_match(rest[p].1) {
            return tail(&rest[..p], rest[p].1, None);
        }
    }
    None
}

fn parse_row(
    line: &str,
    lineno: usize,
    toks: &[Tok<'_>],
    h: &Header,
    messages: &mut Vec<String>,
) -> Result<JobRecord, ParseError> {
    let err = |what: String| ParseError::new(Some(lineno), line, what);
    let shape = "a bjobs row: JOBID USER STAT QUEUE FROM_HOST [EXEC_HOST] JOB_NAME SUBMIT_TIME";
    let stat: Stat = toks[2]
        .1
        .parse()
        .map_err(|_| err(format!("a known STAT ({STATES}), not {:?}", toks[2].1)))?;
    if toks.len() < 7 {
        return Err(err(shape.to_string()));
    }
    let from_host = toks[4];
    let rest = &toks[5..];
    let Tail {
        middle,
        submit,
        extras,
    } = split_tail(line, rest, h).ok_or_else(|| {
        let when = if h.extras.is_empty() {
            "SUBMIT_TIME like \"Oct 22 09:22\" ending the row"
        } else {
            "SUBMIT_TIME like \"10/19-17:10:27\" before the extra columns"
        };
        err(format!("{shape}, with {when}"))
    })?;
    let (Some(first), Some(last)) = (middle.first(), middle.last()) else {
        return Err(err(shape.to_string()));
    };
    // A pending job's EXEC_HOST is blank, so whitespace alone cannot tell "host name" from
    // "name with a space". The blank cell shows as a gap wider than the EXEC_HOST column
    // (this survives columns pushed right by a long USER or FROM_HOST).
    // A job that has no execution host shows `   -   ` there instead (OpenLava's -w for a
    // pending job, any job killed while pending): that dash sits further right than a host
    // name would, so it is taken for EXEC_HOST before the gap is looked at.
    let gap = first.0.saturating_sub(tok_end(&from_host));
    let (exec, name_start) = if middle.len() > 1 && first.1 == "-" {
        (None, middle[1].0)
    } else if middle.len() == 1 || gap > h.exec_width {
        (None, first.0)
    } else {
        (Some(first.1), middle[1].0)
    };
    let job_name = CompactString::from(&line[name_start..tok_end(last)]);
    let job_id = element_id(toks[0].1, Some(&job_name), None);
    let mut rec = JobRecord {
        job_id,
        stat,
        queue: non_empty(toks[3].1),
        job_name: Some(job_name),
        exec_hosts: exec.map(exec_hosts).unwrap_or_default(),
        exit_code: None,
        submit_time: time_text(submit),
        start_time: None,
        finish_time: None,
        run_seconds: None,
        cpu_seconds: None,
        max_mem_mb: None,
    };
    for (name, tok) in h.extras.iter().zip(extras.unwrap_or_default()) {
        match name.as_str() {
            "START_TIME" => rec.start_time = time_text(tok.1),
            "FINISH_TIME" => rec.finish_time = time_text(tok.1),
            "CPU_USED" => match parse_duration_secs(tok.1) {
                Ok(v) => rec.cpu_seconds = v,
                Err(e) => messages.push(format!("job {}: CPU_USED: expected {e}", rec.job_id)),
            },
            // MEM/SWAP are current use in KB without a unit, not the maximum.
            _ => {}
        }
    }
    Ok(rec)
}

/// Reads the `bjobs [-w] [-W] -a` table. Columns are found by whitespace, except that a blank
/// EXEC_HOST is recognised from the header's column widths and SUBMIT_TIME is anchored at the
/// end of the row, so JOB_NAMEs with spaces survive. Array elements share the JOBID and carry
/// `[index]` in JOB_NAME (`*oarray[7]` when truncated); they become `ID[index]`. Indented
/// one-host lines under a row are its further execution hosts (non-wide mode).
pub fn parse_bjobs_table(stdout: &str, stderr: &str) -> Result<BjobsReading, ParseError> {
    let mut reading = BjobsReading::default();
    let mut header: Option<Header> = None;
    let mut last_row: Option<usize> = None;
    reading.records.reserve(line_count(stdout));
    let mut toks = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        let lineno = i + 1;
        tokens(line, &mut toks);
        let Some(head) = toks.first() else {
            last_row = None;
            continue;
        };
        if head.1 == "JOBID" && head.0 == 0 {
            let names: Vec<&str> = toks.iter().map(|t| t.1).collect();
            if names.len() < TABLE_HEAD.len() || names[..TABLE_HEAD.len()] != TABLE_HEAD {
                return Err(ParseError::new(
                    Some(lineno),
                    line,
                    format!("the bjobs table header {}", TABLE_HEAD.join(" ")),
                ));
            }
            header = Some(Header {
                exec_width: toks[6].0 - toks[5].0,
                extras: names[TABLE_HEAD.len()..]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            });
            last_row = None;
            continue;
        }
        if is_row(line, &toks) {
            let h = header.get_or_insert_with(Header::default);
            let rec = parse_row(line, lineno, &toks, h, &mut reading.messages)?;
            reading.records.push(rec);
            last_row = Some(reading.records.len() - 1);
            continue;
        }
        if let Some(r) = last_row
            && line.starts_with(char::is_whitespace)
            && toks.len() == 1
            && HOST_RE.is_match(head.1)
        {
            if let Some(rec) = reading.records.get_mut(r) {
                for host in exec_hosts::<CompactString>(head.1) {
                    add_host(&mut rec.exec_hosts, &host);
                }
            }
            continue;
        }
        last_row = None;
        reading.side_line(line);
    }
    reading.side_text(stderr);
    Ok(reading)
}

#[cfg(test)]
mod tests;
