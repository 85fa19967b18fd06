//! Finding LSF's reports in a job's `-o` file, wherever they are: LSF 10 appends its report
//! after the job's output, OpenLava (and older LSF) writes it BEFORE the output, and every
//! attempt of a point appends to the same file. A fixed window at the end of the file misses
//! OpenLava's report as soon as a job prints more than the window.
//!
//! So a file is read as "windows": the text from each report start (a `Sender: ...` line
//! directly followed by `Subject: Job ...`) to that report's closing line (`The output (if any)
//! follows:` / `... is above this job summary.`), at most [`WINDOW_BYTES`] each, the last
//! [`WINDOWS`] of them. On the cluster an `awk` one-liner cuts them (one pass over the file,
//! only the windows travel back); here [`windows_in`] does the same over a local file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use super::parse::{self, Trailer};
use crate::shell;

/// Bytes kept from one report start: a report with its echoed job script is a few KiB.
pub const WINDOW_BYTES: usize = 65536;

/// Report starts kept per file, the last ones: one per attempt, and room for a job that prints
/// report-like lines of its own after its real report (OpenLava's layout).
pub const WINDOWS: usize = 8;

/// The closing lines of a report in both layouts (as `parse::trailer` knows them).
const CLOSINGS: [&str; 2] = [
    "The output (if any) follows",
    "The output (if any) is above this job summary",
];

/// A line between two windows in the answer of [`window_command`], unique to one call so a job's
/// output cannot pass for it.
pub fn marker(salt: u64) -> String {
    format!("@@bsweep-report-window-{salt:016x}@@")
}

/// The shell command printing the report windows of `path` (nothing when the file is missing),
/// each after a `marker` line.
pub fn window_command(path: &str, marker: &str) -> String {
    // `w[n % K]` keeps the last K windows; a window starts at a Sender line followed by a
    // Subject line and ends at a closing line or after WINDOW_BYTES.
    let program = format!(
        r#"{{ if (prev ~ /^[ \t]*Sender: / && $0 ~ /^[ \t]*Subject: Job /) {{ n++; k = n % {K}; w[k] = substr(prev, 1, {B}) "\n"; cap = 1; len = length(w[k]) }}
if (cap) {{ l = substr($0, 1, {B} - len); w[k] = w[k] l "\n"; len += length(l) + 1; if ($0 ~ /^[ \t]*The output \(if any\) (follows|is above this job summary)/ || len >= {B}) cap = 0 }}
prev = $0 }}
END {{ for (i = (n > {K} ? n - {K} + 1 : 1); i <= n; i++) {{ print m; printf "%s", w[i % {K}] }} }}"#,
        K = WINDOWS,
        B = WINDOW_BYTES,
    );
    format!(
        "[ -r {p} ] || exit 0; LC_ALL=C awk -v m={m} {prog} {p}",
        p = shell::quote(path),
        m = shell::quote(marker),
        prog = shell::quote(&program),
    )
}

/// The windows in the answer of [`window_command`], in file order.
pub fn split_windows<'a>(stdout: &'a str, marker: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut at = 0;
    for line in stdout.split_inclusive('\n') {
        if line.trim_end_matches(['\n', '\r']) == marker {
            if let Some(s) = start {
                out.push(&stdout[s..at]);
            }
            start = Some(at + line.len());
        }
        at += line.len();
    }
    if let Some(s) = start {
        out.push(&stdout[s..]);
    }
    out
}

/// The report job `job_name` wrote, from the last window that holds one.
pub fn report_in<'a>(
    windows: impl DoubleEndedIterator<Item = &'a str>,
    job_name: &str,
) -> Option<Trailer> {
    windows
        .rev()
        .find_map(|w| parse::parse_trailer_of(w, job_name))
}

fn starts_with_trimmed(line: &[u8], prefix: &str) -> bool {
    let at = line
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(line.len());
    line[at..].starts_with(prefix.as_bytes())
}

/// The report windows of a text read line by line, cut exactly as [`window_command`] cuts them:
/// a window starts with its Sender line, takes each line while it has room (a line is cut to
/// the room left) and ends after a closing line or once [`WINDOW_BYTES`] are in.
pub fn windows_in<R: BufRead>(mut r: R) -> Vec<String> {
    let mut windows: VecDeque<Vec<u8>> = VecDeque::new();
    let mut prev: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    let mut capturing = false;
    loop {
        line.clear();
        // No more than a window of a line is held; the rest of a longer one is skipped.
        let n = match r
            .by_ref()
            .take(WINDOW_BYTES as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(n) => n,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if n == WINDOW_BYTES && r.skip_until(b'\n').is_err() {
            break;
        }
        if starts_with_trimmed(&prev, "Sender: ") && starts_with_trimmed(&line, "Subject: Job ") {
            if windows.len() == WINDOWS {
                windows.pop_front();
            }
            let mut w = prev[..prev.len().min(WINDOW_BYTES)].to_vec();
            w.push(b'\n');
            windows.push_back(w);
            capturing = true;
        }
        if capturing && let Some(w) = windows.back_mut() {
            let room = WINDOW_BYTES.saturating_sub(w.len());
            w.extend_from_slice(&line[..line.len().min(room)]);
            w.push(b'\n');
            if CLOSINGS.iter().any(|c| starts_with_trimmed(&line, c)) || w.len() >= WINDOW_BYTES {
                capturing = false;
            }
        }
        std::mem::swap(&mut prev, &mut line);
    }
    windows
        .into_iter()
        .map(|w| String::from_utf8_lossy(&w).into_owned())
        .collect()
}

/// LSF's report on job `job_name` in the `-o` file `f` (a regular file: the caller checked), before or after the output,
/// whatever the file's size. A file's last 64 KiB hold the report of LSF 10, and OpenLava's
/// when the job printed little: only when they do not is the whole file scanned.
pub fn report_in_file(mut f: File, job_name: &str) -> Option<Trailer> {
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(WINDOW_BYTES as u64)))
        .ok()?;
    let mut tail = Vec::new();
    f.by_ref().read_to_end(&mut tail).ok()?;
    if let Some(t) = parse::parse_trailer_of(&String::from_utf8_lossy(&tail), job_name) {
        return Some(t);
    }
    if len <= WINDOW_BYTES as u64 {
        return None;
    }
    f.seek(SeekFrom::Start(0)).ok()?;
    let windows = windows_in(BufReader::new(f));
    report_in(windows.iter().map(String::as_str), job_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::lsf::parse::Outcome;

    /// The STDOUT bytes of a transcript fixture (its header, `===== STDOUT =====`, the bytes,
    /// `===== STDERR =====`, ...).
    fn stdout_of(fixture: &str) -> String {
        let from = fixture.find("===== STDOUT =====\n").expect("STDOUT") + 19;
        let to = fixture[from..].find("===== STDERR =====").expect("STDERR") + from;
        fixture[from..to].to_string()
    }

    const THREE: &str =
        include_str!("../../../tests/fixtures/lsf/openlava-joboutput-three-attempts-runlimit.txt");
    const LSF10_DONE: &str = include_str!("../../../tests/fixtures/lsf/joboutput-trailer-done.txt");

    /// A job printing `lines` lines of 100 bytes.
    fn big_output(lines: usize) -> String {
        (0..lines)
            .map(|i| format!("{i:06} {}\n", "x".repeat(92)))
            .collect()
    }

    /// The three-attempt OpenLava file with each attempt's output grown past any window.
    fn grown(text: &str, lines: usize) -> String {
        let big = big_output(lines);
        text.replace(
            "The output (if any) follows:\n\n",
            &format!("The output (if any) follows:\n\n{big}"),
        )
    }

    fn awk_windows(text: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stdout.txt");
        std::fs::write(&p, text).unwrap();
        let m = marker(42);
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(window_command(&p.to_string_lossy(), &m))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = String::from_utf8(out.stdout).unwrap();
        split_windows(&s, &m)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn awk_and_rust_cut_the_same_windows_from_real_openlava_output() {
        let text = grown(&stdout_of(THREE), 2000);
        assert!(text.len() > 3 * WINDOW_BYTES);
        let rust = windows_in(text.as_bytes());
        assert_eq!(rust.len(), 3);
        assert_eq!(awk_windows(&text), rust);
        // Each window is one report, from its Sender line to "follows:", without the output.
        for (w, name) in rust
            .iter()
            .zip(["bsw-abc-00001-1", "bsw-abc-00001-2", "bsw-abc-00001-3"])
        {
            assert!(w.starts_with("Sender: OpenLava System"), "{w}");
            assert!(
                w.trim_end().ends_with("The output (if any) follows:"),
                "{w}"
            );
            assert_eq!(
                parse::parse_trailer(w).and_then(|t| t.job_name).as_deref(),
                Some(name)
            );
        }
    }

    #[test]
    fn a_report_before_a_big_output_is_found_for_each_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stdout.txt");
        std::fs::write(&p, grown(&stdout_of(THREE), 2000)).unwrap();
        let t = |name| report_in_file(File::open(&p).unwrap(), name).map(|t| t.outcome);
        assert_eq!(t("bsw-abc-00001-1"), Some(Outcome::Exited { code: 140 }));
        assert_eq!(t("bsw-abc-00001-2"), Some(Outcome::Exited { code: 7 }));
        assert_eq!(t("bsw-abc-00001-3"), Some(Outcome::Done));
        assert_eq!(t("bsw-abc-00001-4"), None);
        let r = report_in_file(File::open(&p).unwrap(), "bsw-abc-00001-2").unwrap();
        assert_eq!(r.started.as_deref(), Some("Tue Dec  1 09:07:08 2026"));
        assert_eq!(r.max_mem_mb, Some(5.0));
        // The old reading, the last 64 KiB, saw none of them.
        let text = std::fs::read_to_string(&p).unwrap();
        let tail = &text[text.len() - WINDOW_BYTES..];
        assert_eq!(parse::parse_trailer_of(tail, "bsw-abc-00001-3"), None);
    }

    #[test]
    fn an_lsf10_report_after_a_big_output_is_found_in_the_tail() {
        // Non-transcript fixtures are the file's bytes after their `# ---` header.
        let report = LSF10_DONE.split_once("# ---\n").unwrap().1.to_string();
        let name = parse::parse_trailer(&report)
            .and_then(|t| t.job_name)
            .unwrap();
        let text = format!("{}{report}", big_output(5000));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stdout.txt");
        std::fs::write(&p, &text).unwrap();
        assert_eq!(
            report_in_file(File::open(&p).unwrap(), &name).map(|t| t.outcome),
            Some(Outcome::Done)
        );
        // And the windows alone find it too, as on the cluster.
        let w = awk_windows(&text);
        assert_eq!(
            report_in(w.iter().map(String::as_str), &name).map(|t| t.outcome),
            Some(Outcome::Done)
        );
    }

    #[test]
    fn only_the_last_windows_are_kept_and_long_lines_are_skipped() {
        let mut text = String::new();
        for i in 0..(WINDOWS + 3) {
            text.push_str(&format!(
                "Sender: LSF System <x@y>\nSubject: Job {i}: <j{i}> Done\nbody\n"
            ));
            text.push_str(&"z".repeat(3 * WINDOW_BYTES));
            text.push('\n');
        }
        let rust = windows_in(text.as_bytes());
        assert_eq!(rust.len(), WINDOWS);
        assert!(rust[0].contains("Subject: Job 3:"), "{}", rust[0]);
        assert!(rust.iter().all(|w| w.len() <= WINDOW_BYTES + 100));
        let awk = awk_windows(&text);
        assert_eq!(awk.len(), WINDOWS);
        assert!(awk[0].starts_with("Sender: LSF System <x@y>\nSubject: Job 3:"));
    }

    #[test]
    fn a_missing_file_gives_no_windows_and_markers_split_exactly() {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(window_command("/nonexistent/bsweep/stdout.txt", &marker(1)))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        let m = marker(7);
        let s = format!("{m}\na\nb\n{m}\nc\n");
        assert_eq!(split_windows(&s, &m), ["a\nb\n", "c\n"]);
        assert!(split_windows("no marker\n", &m).is_empty());
    }
}
