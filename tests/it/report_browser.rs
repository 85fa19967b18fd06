//! `bsweep report` of sweeps bsweep really ran, opened in headless Chromium: the quickstart on
//! the local backend, and a 300-point sweep on the LSF simulator over two queues with retries
//! and failures. Each page must build in the browser without a console message, with every
//! section and plot, the counts the sweep's results have, and a screenshot.
//! `BSWEEP_UPDATE_SCREENSHOT=1` rewrites tests/fixtures/summary/quickstart-report.png (the
//! README's picture) and lsf-report.png.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::{Env, Sim, assert_ok, read_csv, text};
use crate::summary_report::{
    BROWSER, assert_offline, browser_or_skip, check_sections, count, dump_dom, fixture_dir,
    png_size, screenshot,
};

/// Keeps a screenshot for the README when asked to.
fn keep_screenshot(png: &Path, name: &str) {
    if std::env::var("BSWEEP_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        std::fs::copy(png, fixture_dir().join(name)).unwrap();
        eprintln!("wrote tests/fixtures/summary/{name}");
    }
}

/// The table of the page with `id`, as the browser built it.
fn table<'a>(dom: &'a str, id: &str) -> &'a str {
    let t = &dom[dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"))..];
    &t[..t.find("</table>").unwrap()]
}

#[test]
fn the_quickstart_report_in_chromium() {
    let env = Env::new();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/sweeps/quickstart.toml");
    assert_ok(&env.run(&["launch", file]));
    assert_ok(&env.run(&["report", "quickstart"]));
    let page = env.path().join("quickstart-report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_offline(&html);
    let Some(bin) = browser_or_skip() else { return };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let run = dump_dom(&bin, &page);
    assert_eq!(
        run.console(),
        Vec::<&str>::new(),
        "the page logged to the console"
    );
    let dom = &run.stdout;
    check_sections(dom, 3);
    // 12 groups (a header row and one each), the best marked; every job done, none failed.
    let summary = table(dom, "summary-table");
    assert_eq!(count(summary, "<tr"), 13);
    assert_eq!(count(summary, "class=\"best\""), 1);
    assert!(dom.contains("id=\"winner\"") && dom.contains(">12 done<"));
    assert!(dom.contains("id=\"no-failures\""));
    assert_eq!(count(dom, "class=\"run\""), 12, "every job on the timeline");

    let png = env.path().join("quickstart-report.png");
    let shot = screenshot(&bin, &page, &png, 2600);
    assert_eq!(shot.console(), Vec::<&str>::new());
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (1200, 2600));
    assert!(
        bytes.len() > 50_000,
        "a blank screenshot is small: {} bytes",
        bytes.len()
    );
    keep_screenshot(&png, "quickstart-report.png");
}

/// Two queues: `gpu` has few slots, so its jobs wait.
const TWO_QUEUES: &str = "[[queue]]\nname = \"short\"\nslots = 20\n[[queue]]\nname = \"gpu\"\n\
                          slots = 6\n[faults]\nbsub_transient_fail = 0.05\nseed = 11\n";

/// 5 lr × 3 batch × 2 models × 10 repeats, round robin over both queues, two attempts: every
/// 23rd point fails twice (a CUDA error), every 11th fails its first attempt (an I/O error)
/// and succeeds on the retry.
const GPU_SWEEP: &str = r#"
name = "gpu-sweep"
backend = "lsf"
repeats = 10
max_attempts = 2
command = """
sleep 0.$(( ({index} * 7) % 5 ))
if [ $(( {index} % 23 )) = 5 ]; then
  echo "RuntimeError: CUDA error: an illegal memory access was encountered (point {index})" >&2
  exit 2
fi
if [ {attempt} = 1 ] && [ $(( {index} % 11 )) = 3 ]; then
  echo 'OSError: [Errno 5] Input/output error' >&2
  exit 1
fi
awk -v lr={lr} -v b={batch} -v m={model} -v i={index} 'BEGIN {
  d = log(lr) / log(10) + 2; if (d < 0) d = -d
  acc = 0.9 - d * 0.03 + (m == "large" ? 0.01 : 0) - b / 128 * 0.01 + (i * 37 % 10) * 0.001
  printf "acc=%.4f loss=%.4f\\n", acc, (1 - acc) * 2
}'
"""
[grid]
lr = [0.1, 0.03, 0.01, 0.003, 0.001]
batch = [32, 64, 128]
model = ["small", "large"]
[lsf]
queues = ["short", "gpu"]
poll_min = 0.3
poll_max = 1.0
settle = 2.0
[collect]
stdout_kv = true
[summary]
metric = "acc"
"#;

#[test]
fn a_300_point_lsf_sweep_on_two_queues_in_chromium() {
    let sim = Sim::new(TWO_QUEUES);
    let file = sim.env.sweep("gpu-sweep.toml", GPU_SWEEP);
    let out = sim.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_ok(&sim.run(&["report", "gpu-sweep", "-o", "gpu.html"]));
    let (_, rows) = read_csv(&sim.env.home().join("sweeps/gpu-sweep/results.csv"));
    assert_eq!(rows.len(), 300);
    let failed: Vec<&BTreeMap<String, String>> =
        rows.iter().filter(|r| r["state"] == "failed").collect();
    // Points 5, 28, …, 281 fail on both attempts.
    assert_eq!(failed.len(), 13);
    assert!(
        failed
            .iter()
            .all(|r| r["attempts"] == "2" && r["exit_code"] == "2")
    );
    let retries: u32 = rows
        .iter()
        .map(|r| r["attempts"].parse::<u32>().unwrap() - 1)
        .sum();
    assert!(retries > 13, "the retried points: {retries} retries");
    for q in ["short", "gpu"] {
        assert!(rows.iter().any(|r| r["target"] == q), "jobs ran in {q}");
    }
    let page: PathBuf = sim.env.path().join("gpu.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_offline(&html);
    let Some(bin) = browser_or_skip() else { return };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let run = dump_dom(&bin, &page);
    assert_eq!(
        run.console(),
        Vec::<&str>::new(),
        "the page logged to the console"
    );
    let dom = &run.stdout;
    check_sections(dom, 3);
    for q in ["short", "gpu"] {
        assert!(dom.contains(&format!(">{q}</text>")), "{q} on the timeline");
    }
    // Every job on the timeline (all ended), every failed point listed with its stderr.
    assert_eq!(count(dom, "class=\"run\""), 300);
    assert_eq!(count(table(dom, "failures-table"), "class=\"failed\""), 13);
    assert!(dom.contains(
        "RuntimeError: CUDA error: an illegal memory access was encountered (point 281)"
    ));
    assert!(
        dom.contains(&format!("{retries} retries")),
        "retries in the header"
    );
    // 30 groups over the repeats, the best one highlighted in the parallel coordinates.
    assert_eq!(count(table(dom, "summary-table"), "<tr"), 31);
    assert_eq!(count(dom, "pc-line pc-best pc-top"), 1);

    let png = sim.env.path().join("gpu.png");
    let shot = screenshot(&bin, &page, &png, 3000);
    assert_eq!(shot.console(), Vec::<&str>::new());
    assert_eq!(png_size(&std::fs::read(&png).unwrap()), (1200, 3000));
    keep_screenshot(&png, "lsf-report.png");
}
