//! The HTML report in a real browser: headless Chromium opens the report of the fixture sweep
//! (a real run, tests/fixtures/summary/rows.json) and of a 300-point synthetic sweep on two
//! targets with waits, retries and failures; the test checks the sections and plots in the DOM
//! Chromium built, that the page logged nothing to the console, that the inline script ran, and
//! takes a screenshot. Also: escaping of hostile values, and the size and render time of a
//! 100,000-point report. Chromium is found via `BSWEEP_CHROMIUM` or `chromium` on PATH; without
//! it the browser tests pass with a note, unless `BSWEEP_REQUIRE_SERVICES=1`.
//! `BSWEEP_UPDATE_SCREENSHOT=1` rewrites tests/fixtures/summary/report.png.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bsweep::model::State;
use bsweep::report::render_html;
use bsweep::spec::Value;
use bsweep::summary::{Goal, Row, Summary, SummaryOpts, SweepInfo, summarize};

pub(crate) fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/summary")
}

#[derive(serde::Deserialize)]
struct Fixture {
    info: SweepInfo,
    rows: Vec<Row>,
}

fn fixture() -> (SweepInfo, Vec<Row>) {
    let text = std::fs::read_to_string(fixture_dir().join("rows.json")).unwrap();
    let f: Fixture = serde_json::from_str(&text).unwrap();
    (f.info, f.rows)
}

fn summary_of(info: &SweepInfo, rows: &[Row], metric: &str, goal: Goal) -> Summary {
    let opts = SummaryOpts {
        metric: Some(metric.to_string()),
        goal,
        ..SummaryOpts::default()
    };
    summarize(info, rows, &opts).unwrap()
}

/// A small deterministic generator (splitmix64), so the synthetic sweeps are the same on every
/// run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A sweep the way a GPU cluster runs it: `repeats` × 5 lr × 3 batch × 2 models on two queues,
/// `gpu` with long queue waits; large models with batch 128 hit the memory limit on late
/// repeats, a few other points fail at random, some succeed on a retry, the last few still run
/// or wait, and a few stragglers run five times longer.
fn synthetic(repeats: u64) -> (SweepInfo, Vec<Row>) {
    let lrs: [f64; 5] = [0.1, 0.03, 0.01, 0.003, 0.001];
    let batches = [32i64, 64, 128];
    let models = ["small", "large"];
    let count = repeats * 30;
    let info = SweepInfo {
        name: format!("gpu-sweep-{count}"),
        file: "sweeps/gpu-sweep.toml".into(),
        backend: "lsf".into(),
        targets: vec!["short".into(), "gpu".into()],
        count,
        param_names: vec!["lr".into(), "batch".into(), "model".into(), "repeat".into()],
    };
    let mut rng = Rng(42);
    let t0 = 1_800_000_000.0;
    let mut rows = Vec::with_capacity(count as usize);
    for index in 0..count {
        let repeat = index % repeats;
        let combo = index / repeats;
        let lr = lrs[(combo / 6) as usize % 5];
        let batch = batches[(combo / 2) as usize % 3];
        let model = models[combo as usize % 2];
        let gpu = index % 3 == 0;
        let submitted = t0 + index as f64 * 2.0 * 300.0 / count as f64;
        let wait = if gpu {
            300.0 + rng.next() * 1500.0
        } else {
            5.0 + rng.next() * 60.0
        };
        let mut run = (200.0 + rng.next() * 700.0) * if model == "large" { 2.0 } else { 1.0 };
        if rng.next() < 0.02 {
            run *= 5.0;
        }
        let memlimit = model == "large" && batch == 128 && repeat + 2 >= repeats;
        let random_fail = rng.next() < 0.03;
        let retried = rng.next() < 0.06;
        let (state, attempts, exit_code, reason, stderr) = if memlimit {
            (
                State::Failed,
                3,
                Some(137),
                Some("TERM_MEMLIMIT: job killed after reaching LSF memory usage limit".into()),
                Some(
                    "Epoch 1: 100%|##########| 391/391\nTraceback (most recent call last):\n  \
                     File \"train.py\", line 120, in <module>\n    loss.backward()\n\
                     torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
                        .into(),
                ),
            )
        } else if random_fail {
            (
                State::Failed,
                2,
                Some(1),
                None,
                Some(format!(
                    "Traceback (most recent call last):\n  File \"data.py\", line 40\n\
                     OSError: [Errno 5] Input/output error: '/scratch/shard-{index}.tar'\n"
                )),
            )
        } else if index + 3 >= count {
            (State::Pending, 1, None, None, None)
        } else if index + 9 >= count {
            (State::Running, 1, None, None, None)
        } else {
            (
                State::Done,
                if retried { 2 } else { 1 },
                Some(0),
                None,
                None,
            )
        };
        let started = (state != State::Pending).then_some(submitted + wait);
        let ended = matches!(state, State::Done | State::Failed).then(|| submitted + wait + run);
        let quality = 0.93 - (lr.log10() + 2.3).abs() * 0.04
            + if model == "large" { 0.015 } else { 0.0 }
            - batch as f64 / 128.0 * 0.01
            + (rng.next() - 0.5) * 0.012;
        let metrics = if state == State::Done {
            vec![
                ("acc".to_string(), format!("{quality:.5}")),
                ("loss".to_string(), format!("{:.5}", (1.0 - quality) * 2.1)),
                ("gpu_hours".to_string(), format!("{:.3}", run / 3600.0)),
            ]
        } else {
            Vec::new()
        };
        rows.push(Row {
            index,
            params: vec![
                ("lr".into(), Value::from(lr)),
                ("batch".into(), Value::Int(batch)),
                ("model".into(), Value::Str(model.into())),
                ("repeat".into(), Value::Int(repeat as i64)),
            ],
            state,
            job_id: None,
            target: if gpu { "gpu" } else { "short" }.into(),
            attempts,
            exit_code,
            reason,
            submitted: Some(submitted),
            started,
            ended,
            run_seconds: ended.map(|_| run),
            max_mem_mb: ended.map(|_| {
                if memlimit {
                    16384.0
                } else if model == "large" {
                    6000.0 + rng.next() * 4000.0
                } else {
                    1200.0 + rng.next() * 900.0
                }
            }),
            metrics,
            stderr_tail: stderr,
        });
    }
    (info, rows)
}

// ---- the browser ----

/// One Chromium at a time: it is heavy and the machine has two cores.
pub(crate) static BROWSER: Mutex<()> = Mutex::new(());

/// The browser (`BSWEEP_CHROMIUM`, or `chromium` on PATH), or `None` after saying why the
/// test does not run (a failure instead when services are required).
pub(crate) fn browser_or_skip() -> Option<PathBuf> {
    let found = match std::env::var_os("BSWEEP_CHROMIUM") {
        Some(p) => Some(PathBuf::from(p)),
        None => crate::harness::services::which(&["chromium"]),
    };
    if found.is_none() {
        crate::harness::services::missing(
            "chromium",
            "install Debian's chromium, e.g. `sudo apt-get install chromium`",
        );
    }
    found
}

pub(crate) struct Run {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The page's console messages (Chromium prints them with `--enable-logging=stderr` as
    /// `[pid:tid:time:INFO:CONSOLE:line] "message", source: URL (line)`, at INFO whatever the
    /// console level, so any of them counts).
    pub(crate) fn console(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect()
    }
}

pub(crate) fn run_chromium(bin: &Path, page: &Path, extra: &[String]) -> Run {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start chromium");
    let pid = child.id();
    // A hung browser must not hang the suite: kill it after two minutes.
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("chromium did not finish within 120 s");
    }
    let out = waiter.join().unwrap().expect("chromium output");
    assert!(
        out.status.success(),
        "chromium failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The DOM Chromium built from `page`, and what it logged.
pub(crate) fn dump_dom(bin: &Path, page: &Path) -> Run {
    run_chromium(bin, page, &["--dump-dom".into()])
}

pub(crate) fn screenshot(bin: &Path, page: &Path, png: &Path, height: u32) -> Run {
    run_chromium(
        bin,
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size=1200,{height}"),
            "--force-device-scale-factor=1".into(),
        ],
    )
}

/// Width and height from a PNG's header.
pub(crate) fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

pub(crate) fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

pub(crate) fn write_page(dir: &Path, name: &str, html: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, html).unwrap();
    path
}

/// What every report must have, in the DOM the browser built from it.
pub(crate) fn check_sections(dom: &str, params: usize) {
    assert!(
        dom.contains("data-ready=\"1\""),
        "the inline script did not run"
    );
    for id in [
        "overview",
        "state-counts",
        "summary-table",
        "effects-table",
        "parallel-plot",
        "timeline-plot",
        "runtime-plot",
        "memory-plot",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "no #{id} in the page"
        );
    }
    assert_eq!(
        count(dom, "class=\"plot plot-param\""),
        params,
        "one plot per parameter"
    );
    assert_eq!(count(dom, "<script"), 1, "only the report's own script");
}

/// The page loads nothing from anywhere: the only URL is the SVG namespace.
pub(crate) fn assert_offline(html: &str) {
    let urls = count(html, "http://") + count(html, "https://");
    let ns = count(html, "xmlns=\"http://www.w3.org/2000/svg\"");
    assert_eq!(urls, ns, "a URL besides the SVG namespace");
    assert!(!html.contains("@import") && !html.contains("url("));
}

#[test]
fn fixture_report_in_chromium() {
    let (info, rows) = fixture();
    let s = summary_of(&info, &rows, "eval.acc", Goal::Max);
    let html = render_html(&info, &rows, &s);
    assert_offline(&html);
    let Some(bin) = browser_or_skip() else { return };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(dir.path(), "report.html", &html);
    let run = dump_dom(&bin, &page);
    assert_eq!(
        run.console(),
        Vec::<&str>::new(),
        "the page logged to the console"
    );
    let dom = &run.stdout;
    check_sections(dom, 3);
    assert!(dom.contains("id=\"winner\""));
    // 12 groups, the best first; 36 points in 3 state chips' worth of counts.
    let table = &dom[dom.find("id=\"summary-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(count(table, "<tr"), 13);
    assert_eq!(count(table, "class=\"best\""), 1);
    assert!(dom.contains(">34 done<") && dom.contains(">2 failed<"));
    // Both diverged points, with their traceback, escaped (`<sgd>` is in the message).
    let failures = &dom[dom.find("id=\"failures-table\"").unwrap()..];
    assert_eq!(
        count(
            &failures[..failures.find("</table>").unwrap()],
            "class=\"failed\""
        ),
        2
    );
    assert!(dom.contains("RuntimeError: loss is nan at epoch 2 (lr=0.1, &lt;sgd&gt;)"));
    // Every job on the timeline: 36 run bars, none open (all ended).
    assert_eq!(count(dom, "class=\"run\""), 36);

    let png = dir.path().join("report.png");
    let shot = screenshot(&bin, &page, &png, 3240);
    assert_eq!(shot.console(), Vec::<&str>::new());
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (1200, 3240));
    assert!(
        bytes.len() > 50_000,
        "a blank screenshot is small: {} bytes",
        bytes.len()
    );
    if let Some(out) = std::env::var_os("BSWEEP_KEEP_REPORTS") {
        std::fs::copy(&page, Path::new(&out).join("fixture.html")).unwrap();
    }
    // It prints: a few pages of PDF (the print style keeps plots side by side).
    let pdf = dir.path().join("report.pdf");
    let printed = run_chromium(
        &bin,
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
    assert_eq!(printed.console(), Vec::<&str>::new());
    let pdf = std::fs::read(&pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&pdf);
    let pages = count(&text, "/Type /Page") - count(&text, "/Type /Pages");
    assert!((2..=6).contains(&pages), "{pages} pages");
    if std::env::var("BSWEEP_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        std::fs::copy(&png, fixture_dir().join("report.png")).unwrap();
        eprintln!("wrote tests/fixtures/summary/report.png");
    }
}

#[test]
fn synthetic_report_in_chromium() {
    let (info, rows) = synthetic(10);
    assert_eq!(rows.len(), 300);
    let s = summary_of(&info, &rows, "acc", Goal::Max);
    let html = render_html(&info, &rows, &s);
    assert_offline(&html);
    let failed = rows.iter().filter(|r| r.state == State::Failed).count();
    let started = rows.iter().filter(|r| r.started.is_some()).count();
    let running = rows.iter().filter(|r| r.state == State::Running).count();
    assert!(
        failed > 10 && running > 0,
        "the generator makes failures and running jobs"
    );
    let Some(bin) = browser_or_skip() else { return };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(dir.path(), "synthetic.html", &html);
    let run = dump_dom(&bin, &page);
    assert_eq!(
        run.console(),
        Vec::<&str>::new(),
        "the page logged to the console"
    );
    let dom = &run.stdout;
    check_sections(dom, 3);
    // Both targets on the timeline and in the histograms; every started job drawn, the
    // running ones open-ended.
    for t in ["short", "gpu"] {
        assert!(
            dom.contains(&format!(">{t}</text>")),
            "target {t} on the timeline"
        );
    }
    assert_eq!(
        count(dom, "class=\"run\"") + count(dom, "class=\"run open\""),
        started
    );
    assert_eq!(count(dom, "class=\"run open\""), running);
    assert_eq!(count(dom, "class=\"failed\""), failed);
    assert!(dom.contains("TERM_MEMLIMIT"));
    let retries: u32 = rows.iter().map(|r| r.attempts - 1).sum();
    assert!(
        dom.contains(&format!("{retries} retries")),
        "retries in the header"
    );
    // 30 groups, the best highlighted in the parallel coordinates.
    assert_eq!(count(dom, "pc-line pc-best pc-top"), 1);
    assert_eq!(count(dom, "class=\"pc-line\""), 30 - 5);
    let shot_png = dir.path().join("synthetic.png");
    let shot = screenshot(&bin, &page, &shot_png, 1600);
    assert_eq!(shot.console(), Vec::<&str>::new());
    assert_eq!(png_size(&std::fs::read(&shot_png).unwrap()), (1200, 1600));
    if let Some(out) = std::env::var_os("BSWEEP_KEEP_REPORTS") {
        std::fs::copy(&page, Path::new(&out).join("synthetic.html")).unwrap();
        std::fs::copy(&shot_png, Path::new(&out).join("synthetic.png")).unwrap();
    }
}

#[test]
fn console_errors_are_caught() {
    // The check above would pass on a browser that prints nothing: make sure it sees errors.
    let Some(bin) = browser_or_skip() else { return };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(
        dir.path(),
        "bad.html",
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('broken'); \
         nosuchfunction();</script></body></html>",
    );
    let run = dump_dom(&bin, &page);
    let console = run.console();
    assert_eq!(console.len(), 2, "{console:?}");
    assert!(console[0].contains("\"broken\""));
    assert!(console[1].contains("Uncaught ReferenceError"));
}

#[test]
fn hostile_values_render_as_text() {
    let (mut info, mut rows) = fixture();
    let evil = "<script>alert(1)</script>";
    info.name = format!("x{evil}");
    info.file = format!("\"'><img src=x onerror=alert(2)>{evil}.toml");
    info.targets = vec![evil.into()];
    for r in &mut rows {
        r.target = evil.into();
        for (k, v) in &mut r.params {
            if k == "opt" {
                *v = Value::Str(format!("{evil}{v}"));
            }
        }
        for (k, _) in &mut r.metrics {
            if k == "eval.acc" {
                *k = format!("acc{evil}");
            }
        }
        if r.state == State::Failed {
            r.stderr_tail = Some(format!("</pre>{evil}\n\u{1b}[31mred\u{1b}[0m"));
            r.reason = Some(evil.into());
        }
    }
    let s = summary_of(&info, &rows, &format!("acc{evil}"), Goal::Max);
    let html = render_html(&info, &rows, &s);
    assert_eq!(count(&html, "<script"), 1, "only the report's own script");
    assert!(!html.contains("<img") && !html.contains("</pre><script"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains('\u{1b}'), "control characters are replaced");
    let Some(bin) = browser_or_skip() else { return };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(dir.path(), "evil.html", &html);
    let run = dump_dom(&bin, &page);
    assert_eq!(run.console(), Vec::<&str>::new());
    // The browser saw text, not elements: still one script, no image, and the page complete.
    assert_eq!(count(&run.stdout, "<script"), 1);
    assert!(!run.stdout.contains("<img"));
    assert!(run.stdout.contains("data-ready=\"1\""));
    assert!(run.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever the rows hold (odd states, missing or non-finite times, text where numbers
    /// should be, markup everywhere), the summary is a result and the page a complete page.
    #[test]
    fn any_rows_give_a_summary_or_an_error_and_a_whole_page(
        raw in proptest::collection::vec(arb_row(), 0..40),
        metric in proptest::option::of(proptest::sample::select(vec!["m", "n", "<x>"])),
        width in 20usize..120,
    ) {
        let info = SweepInfo {
            name: "p<b>".into(),
            file: "f.toml".into(),
            backend: "lsf".into(),
            targets: vec!["q1".into()],
            count: raw.len() as u64,
            param_names: vec!["a".into(), "b".into(), "repeat".into()],
        };
        let opts = SummaryOpts {
            metric: metric.map(str::to_string),
            top: 5,
            ..SummaryOpts::default()
        };
        let Ok(s) = summarize(&info, &raw, &opts) else { return Ok(()) };
        let text = bsweep::summary::table_text(&s, width, true);
        for line in bsweep::summary::table_text(&s, width, false).lines() {
            proptest::prop_assert!(line.chars().count() <= width, "{line:?}");
        }
        proptest::prop_assert!(!text.is_empty());
        let json = bsweep::summary::to_json(&s);
        proptest::prop_assert_eq!(json["groups"].as_array().map(Vec::len), Some(s.groups.len()));
        proptest::prop_assert!(bsweep::summary::table_csv(&s).is_ok());
        let html = render_html(&info, &raw, &s);
        proptest::prop_assert!(html.trim_end().ends_with("</html>"));
        proptest::prop_assert_eq!(count(&html, "<script"), 1);
    }
}

fn arb_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(Value::Int),
        proptest::sample::select(vec![0.1, -0.0, 0.0, 1e-300, 1e300, 2.5]).prop_map(Value::from),
        proptest::sample::select(vec!["x", "<script>", "", "a&b"])
            .prop_map(|s| Value::Str(s.into())),
    ]
}

fn arb_time() -> impl proptest::strategy::Strategy<Value = Option<f64>> {
    proptest::option::of(proptest::sample::select(vec![
        1.8e9,
        1.8e9 + 30.0,
        1.8e9 + 3600.0,
        0.0,
        -5.0,
        f64::NAN,
        f64::INFINITY,
    ]))
}

fn arb_row() -> impl proptest::strategy::Strategy<Value = Row> {
    use proptest::prelude::*;
    let metric = (
        proptest::sample::select(vec!["m", "n", "<x>"]),
        proptest::sample::select(vec![
            "", "1", "-2.5e3", "nan", "inf", "abc", "1e308", " 3 ", "0.5",
        ]),
    )
        .prop_map(|(k, v)| (k.to_string(), v.to_string()));
    (
        (
            0u64..30,
            arb_value(),
            arb_value(),
            0i64..3,
            proptest::sample::select(State::ALL.to_vec()),
        ),
        (
            proptest::sample::select(vec!["q1", "q2", "<q>"]),
            0u32..4,
            proptest::option::of(-1i32..140),
        ),
        (arb_time(), arb_time(), arb_time(), arb_time(), arb_time()),
        (
            proptest::collection::vec(metric, 0..4),
            proptest::option::of(".{0,40}"),
        ),
    )
        .prop_map(
            |((index, a, b, repeat, state), (target, attempts, exit_code), t, (metrics, tail))| {
                Row {
                    index,
                    params: vec![
                        ("a".into(), a),
                        ("b".into(), b),
                        ("repeat".into(), Value::Int(repeat)),
                    ],
                    state,
                    job_id: None,
                    target: target.into(),
                    attempts,
                    exit_code,
                    reason: tail.clone(),
                    submitted: t.0,
                    started: t.1,
                    ended: t.2,
                    run_seconds: t.3,
                    max_mem_mb: t.4,
                    metrics,
                    stderr_tail: tail,
                }
            },
        )
}

#[test]
fn a_hundred_thousand_points_give_a_small_page() {
    let (info, rows) = synthetic(100_000 / 30 + 1);
    assert!(rows.len() >= 100_000);
    let t = Instant::now();
    let s = summary_of(&info, &rows, "acc", Goal::Max);
    let summarized = t.elapsed();
    let t = Instant::now();
    let html = render_html(&info, &rows, &s);
    let rendered = t.elapsed();
    eprintln!(
        "{} rows: summarize {summarized:?}, render {rendered:?}, page {} bytes",
        rows.len(),
        html.len()
    );
    assert!(html.len() < 5_000_000, "page of {} bytes", html.len());
    // Sampled as it says: at most MAX_DOTS dots per parameter plot, 800 jobs on the timeline.
    assert!(count(&html, "<circle class=\"dot") <= 3 * 1500);
    assert!(html.contains("jobs drawn"));
    let timeline = &html[html.find("id=\"timeline-plot\"").unwrap()..];
    let timeline = &timeline[..timeline.find("</svg>").unwrap()];
    assert!(count(timeline, "class=\"wait\"") <= 800);
    if let Some(out) = std::env::var_os("BSWEEP_KEEP_REPORTS") {
        std::fs::write(Path::new(&out).join("big.html"), &html).unwrap();
    }
}
