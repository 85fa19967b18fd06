//! `bpeek JOB`: what a running job has printed so far. LSF prints a header line
//! `<< output from stdout >>` and the output; OpenLava prints the same header, after the output
//! when its stdout is a pipe (the header is buffered, the output copied straight to the fd).

/// The header line bpeek adds (LSF 4 to 10, OpenLava).
const HEADER: &str = "<< output from stdout >>";

/// The job's output in what `bpeek` printed: every line but the header, wherever it is.
pub fn parse_bpeek(stdout: &str) -> String {
    let mut out = String::with_capacity(stdout.len());
    for line in stdout.lines().filter(|l| l.trim_end() != HEADER) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output part of a capture: after its `# ---` line.
    fn body(capture: &str) -> &str {
        capture.split_once("\n# ---\n").map_or("", |(_, b)| b)
    }

    #[test]
    fn the_header_is_dropped_before_or_after_the_output() {
        let openlava = body(include_str!(
            "../../../../tests/fixtures/bpeek/openlava-bpeek-running.txt"
        ));
        assert_eq!(parse_bpeek(openlava), "epoch=1 loss=0.5\nhalf line\n");
        let lsf4 = body(include_str!(
            "../../../../tests/fixtures/bpeek/lsf4-bpeek-running.txt"
        ));
        // The guide shows the prompt line above what bpeek printed.
        let lsf4 = lsf4
            .strip_prefix("% bpeek 1234\n")
            .expect("the guide's prompt line");
        let got = parse_bpeek(lsf4);
        assert!(got.starts_with("Starting phase 1\nPhase 1 done\n"), "{got}");
        assert!(!got.contains("<<"), "{got}");
    }
}
