//! Sweep files on disk: every malformed file in `tests/spec_bad/` is refused with the error
//! location its first line promises (and never a panic), and every example in `sweeps/` loads.
//!
//! Each bad file starts with `# expect: LINE:COL FIELD`; FIELD is left out for TOML syntax
//! errors, which belong to no field.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use bsweep::spec::Spec;

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// `(LINE:COL, FIELD)` from the file's `# expect:` line.
fn expectation(path: &Path) -> (String, Option<String>) {
    let text = std::fs::read_to_string(path).expect("readable");
    let first = text.lines().next().unwrap_or("");
    let rest = first.strip_prefix("# expect:").unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: LINE:COL FIELD`",
            path.display()
        )
    });
    let mut words = rest.split_whitespace();
    let at = words.next().expect("LINE:COL").to_string();
    assert!(
        at.split(':').count() == 2 && at.split(':').all(|n| n.parse::<usize>().is_ok()),
        "{}: bad LINE:COL `{at}`",
        path.display()
    );
    (at, words.next().map(str::to_string))
}

#[test]
fn malformed_files_are_refused_at_the_right_place() {
    let files = toml_files("tests/spec_bad");
    assert!(files.len() >= 20, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let (at, field) = expectation(path);
        let result = catch_unwind(AssertUnwindSafe(|| Spec::load(path)));
        let problem = match result {
            Err(_) => Some("panicked".to_string()),
            Ok(Ok(_)) => Some("loaded without error".to_string()),
            Ok(Err(e)) => {
                let text = e.to_string();
                let prefix = format!("{}:{at}: ", path.display());
                if !text.starts_with(&prefix) {
                    Some(format!("expected location {at}, got: {text}"))
                } else if let Some(f) = &field {
                    let shown = e.field.as_deref().unwrap_or("");
                    (!text.contains(f.as_str()) || !shown.contains(f.as_str()))
                        .then(|| format!("expected field {f}, got: {text}"))
                } else {
                    e.field
                        .as_ref()
                        .map(|f| format!("expected no field, got {f}: {text}"))
                }
                .or_else(|| {
                    // Messages say what is wrong and what to do, in lower case.
                    let starts_lower = e.message.chars().next().is_some_and(|c| !c.is_uppercase())
                        || e.message.starts_with("invalid TOML");
                    (!starts_lower || e.message.len() < 20)
                        .then(|| format!("message is not helpful: {text}"))
                })
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", path.display()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn example_sweeps_load() {
    let files = toml_files("sweeps");
    assert!(!files.is_empty());
    for path in &files {
        let spec = Spec::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(spec.count() >= 1, "{}", path.display());
        assert_eq!(
            spec.points().count() as u64,
            spec.count(),
            "{}",
            path.display()
        );
    }
}
