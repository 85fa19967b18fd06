//! Benchmarks of `summary` and `report` at 100,000 points: a local sweep recorded straight into
//! a temporary home (10 lr × 10 depth × 10 wd × 100 seeds; 95% done, 5% failed), each done
//! point's `metrics.json` written, and collected once, as `bsweep collect` does. Measured:
//! reading the collected CSV back into rows, the statistics, the HTML page, and the whole
//! `summary` use case as the command runs it (results current, so nothing is collected).
//! `cargo bench --bench summary`; `cargo test --bench summary` runs each once on 1,000 points.
//! `SUMMARY_BENCH_HOME=DIR` records the sweep (`big`) in DIR and keeps it, for timing the real
//! commands: `target/release/bsweep --home DIR summary big` (see benches/README.md).

#[path = "common/sweepgen.rs"]
mod sweepgen;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bsweep::app::Ctx;
use bsweep::layout::Home;
use bsweep::model::{PointRec, State};
use bsweep::spec::{BackendKind, Spec};
use bsweep::store::{Store, SweepMeta};
use bsweep::summary::{SummaryOpts, SweepInfo, read_rows, summarize};

const NAME: &str = "big";

/// 100,000 points under `cargo bench` or to keep; 1,000 when run as a test (`cargo test
/// --bench summary`, CI), which only checks that it works: cargo passes `--bench` only to a
/// benchmarking run.
fn points() -> u64 {
    if std::env::args().any(|a| a == "--bench") || std::env::var_os("SUMMARY_BENCH_HOME").is_some()
    {
        100_000
    } else {
        1_000
    }
}

fn spec_text() -> String {
    format!(
        "name = \"{NAME}\"\ncommand = \"true\"\nbackend = \"local\"\n[grid]\n\
         lr = {{ logspace = [1e-5, 1e-1, 10] }}\ndepth = {{ start = 1, stop = 11 }}\n\
         wd = {{ linspace = [0.0, 0.1, 10] }}\nseed = {{ start = 0, stop = {} }}\n\
         [collect]\nmetrics_json = \"metrics.json\"\n\
         [summary]\nmetric = \"acc\"\nover = [\"seed\"]\n",
        points() / 1000
    )
}

/// Records the sweep in `home`, writes every done point's metrics and collects them.
fn make(home: &Home) -> SweepInfo {
    let text = spec_text();
    let source = home.root().join(format!("{NAME}.toml"));
    let spec = Spec::from_toml(&text, Path::new(&source)).expect("the sweep file parses");
    let meta = SweepMeta {
        name: NAME.into(),
        id: sweepgen::SWEEP_ID.into(),
        created: 1_760_000_000.0,
        source,
        spec_text: text.clone(),
        backend: BackendKind::Local,
        count: points(),
        param_names: spec.param_names(),
        targets: vec!["local".into()],
        host: None,
        remote_home: None,
        cluster_dir: None,
    };
    let state = |i: u64| {
        if i % 20 == 7 {
            State::Failed
        } else {
            State::Done
        }
    };
    let recs = spec.points().map(|p| PointRec {
        index: p.index,
        attempts: vec![sweepgen::finished(p.index, state(p.index))],
        params: p.params,
    });
    let store = Store::create(home, meta.clone(), recs, "bench", &mut |_| {}).expect("recorded");
    let jobs = store.paths().jobs();
    drop(store);
    for p in spec.points().filter(|p| state(p.index) == State::Done) {
        let x = |k: usize| p.params[k].1.as_f64().unwrap_or(0.0);
        // A smooth optimum in lr and depth, a little noise by seed.
        let acc = 0.9 - (x(0).log10() + 3.0).powi(2) * 0.01 - (x(1) - 6.0).abs() * 0.003
            + ((p.index * 7919) % 100) as f64 * 1e-4;
        let dir = jobs.out_dir(p.index);
        std::fs::create_dir_all(&dir).expect("out dir");
        std::fs::write(
            dir.join("metrics.json"),
            format!("{{\"acc\": {acc:.5}, \"loss\": {:.5}}}", 1.0 - acc),
        )
        .expect("metrics written");
    }
    let ctx = ctx(home);
    runtime()
        .block_on(bsweep::app::collect::collect(
            &ctx,
            NAME,
            Some(results(home)),
        ))
        .expect("collected");
    SweepInfo {
        name: NAME.into(),
        file: meta.source.display().to_string(),
        backend: "local".into(),
        targets: meta.targets,
        count: points(),
        param_names: meta.param_names,
    }
}

fn ctx(home: &Home) -> Ctx {
    Ctx {
        home: home.clone(),
        quiet: true,
    }
}

fn results(home: &Home) -> PathBuf {
    home.sweep(NAME).expect("a sweep name").results_csv()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn bench(c: &mut Criterion) {
    let kept = std::env::var_os("SUMMARY_BENCH_HOME").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = Home::new(kept.clone().unwrap_or_else(|| tmp.path().to_path_buf()));
    let info = make(&home);
    let spec = Spec::from_toml(&spec_text(), Path::new("big.toml")).expect("parses");
    let opts = SummaryOpts {
        metric: Some("acc".into()),
        over: Some(vec!["seed".into()]),
        ..SummaryOpts::default()
    };
    let csv = results(&home);
    let rows = read_rows(&csv, &info, spec.points()).expect("rows");
    let s = summarize(&info, &rows, &opts).expect("summary");
    eprintln!(
        "{} rows, {} groups; page of {} bytes",
        rows.len(),
        s.groups.len(),
        bsweep::report::render_html(&info, &rows, &s).len()
    );

    let mut g = c.benchmark_group("summary");
    g.throughput(Throughput::Elements(points()));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("read 100k collected rows", |b| {
        b.iter(|| black_box(read_rows(&csv, &info, spec.points()).expect("rows").len()))
    });
    g.bench_function("summarize 100k rows", |b| {
        b.iter(|| {
            black_box(
                summarize(&info, &rows, &opts)
                    .expect("summary")
                    .groups
                    .len(),
            )
        })
    });
    g.bench_function("render the report of 100k rows", |b| {
        b.iter(|| black_box(bsweep::report::render_html(&info, &rows, &s).len()))
    });
    let rt = runtime();
    let ctx = ctx(&home);
    let asked = bsweep::app::summary::Asked::default();
    g.bench_function("the summary use case, 100k points", |b| {
        b.iter(|| {
            let (_, s) = rt
                .block_on(bsweep::app::summary::summary(&ctx, NAME, &asked))
                .expect("summary");
            black_box(s.groups.len())
        })
    });
    g.finish();
    if let Some(dir) = kept {
        eprintln!("kept sweep {NAME} in {}", dir.display());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
