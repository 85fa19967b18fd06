//! Benchmarks of the pure hot paths of `plan` and `launch`: streaming grid expansion and job
//! script rendering. Run with `cargo bench --bench plan` (`BENCH_CLOCK=cpu` on a busy machine);
//! CI runs them in quick mode (`cargo bench -- --test`).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "common/clock.rs"]
mod clock;

use bsweep::model::{Overrides, names};
use bsweep::sched::{Dialect, script};
use bsweep::spec::Spec;

const GRID_1M: &str = r#"
name = "bench"
command = "python train.py --lr {lr} --depth {depth} --wd {wd} --seed {seed} --out {out_dir}"
[grid]
lr = { logspace = [1e-5, 1e-1, 100] }
depth = { start = 1, stop = 101 }
wd = { linspace = [0.0, 0.1, 10] }
seed = { start = 0, stop = 10 }
"#;

fn expansion(c: &mut Criterion<clock::Clock>) {
    let spec = Spec::from_toml(GRID_1M, Path::new("bench.toml")).expect("bench grid parses");
    assert_eq!(spec.count(), 1_000_000);
    let mut g = c.benchmark_group("expand");
    g.throughput(Throughput::Elements(1_000_000));
    g.sample_size(10);
    g.bench_function("stream 1M points", |b| {
        b.iter(|| {
            spec.points()
                .map(|p| black_box(p.params.len()))
                .sum::<usize>()
        })
    });
    g.finish();
}

fn rendering(c: &mut Criterion<clock::Clock>) {
    let spec = Spec::from_toml(GRID_1M, Path::new("bench.toml")).expect("bench grid parses");
    let target = bsweep::spec::Target {
        queue: Some("normal".into()),
        hosts: None,
        weight: 1,
        max_in_flight: None,
    };
    let out = Path::new("/home/user/.local/share/bsweep/sweeps/bench/out/00000");
    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    g.bench_function("10k job scripts", |b| {
        b.iter(|| {
            spec.points()
                .take(10_000)
                .map(|p| {
                    let name = names::job("abc123", p.index, 1);
                    let job = script::Job {
                        sweep_name: "bench",
                        sweep_id: "abc123",
                        job_name: &name,
                        attempt: 1,
                        point: &p,
                        out_dir: out,
                        target: &target,
                        workdir_base: None,
                        overrides: &Overrides::default(),
                    };
                    black_box(Dialect::Lsf.job_script(&spec, &job).len())
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(clock::Clock::from_env());
    targets = expansion, rendering
}
criterion_main!(benches);
