//! Sweep files on disk: every malformed file in `tests/spec_bad/` is refused with the error
//! location its first line promises (and never a panic), and every example in `sweeps/` loads
//! without warnings.
//!
//! Each bad file starts with `# expect: LINE:COL FIELD`; FIELD is left out for TOML syntax
//! errors, which belong to no field.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bsweep::spec::Spec;

/// Counts live heap bytes and their high-water mark, to show that planning does not
/// materialise the grid.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

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
        // The examples are what users copy: nothing in them is a slip.
        assert!(spec.warnings().is_empty(), "{:?}", spec.warnings());
        assert_eq!(
            spec.points().count() as u64,
            spec.count(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn planning_a_million_points_stays_small() {
    let grids = [
        // 100 x 100 x 100, with an exclusion so count() has to stream.
        "[grid]\na = { start = 0, stop = 100 }\nb = { linspace = [0, 1, 100] }\n\
         c = [\"x\", \"y\", \"z\", \"w\", \"v\", \"u\", \"t\", \"s\", \"r\", \"q\"]\n\
         d = { start = 0.0, stop = 1.0, step = 0.1 }\n[[exclude]]\na = 0\nc = \"x\"\n",
        // One axis of a million values.
        "[grid]\nk = { start = 0, stop = 1_000_000 }\n",
        // Sampling a thousand points out of a million.
        "[grid]\na = { start = 0, stop = 1000 }\nb = { start = 0, stop = 1000 }\n\
         [[exclude]]\na = 1\n[sample]\nn = 1000\n",
    ];
    for body in grids {
        let src = format!("name = \"big\"\ncommand = \"echo\"\n{body}");
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let spec = Spec::from_toml(&src, Path::new("big.toml")).expect("valid");
        let count = spec.count();
        let mut seen = 0u64;
        for p in spec.points() {
            assert_eq!(p.index, seen);
            seen += 1;
        }
        assert_eq!(seen, count);
        assert!(count >= 1000);
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        // The other test in this binary allocates a little at the same time; a materialised
        // grid would need hundreds of megabytes.
        assert!(peak < 16 << 20, "planning peaked at {} MB", peak >> 20);
    }
}
