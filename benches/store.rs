//! Benchmarks of the sweep store at 100,000 points, in a temporary directory: recording one
//! attempt per point the way the engine does (64 points per `put_points` batch, each batch made
//! durable with `flush`, i.e. an fsync), and reopening a recorded sweep (`Store::open` +
//! `load_points`, what every command starts with). Wall time: the store's cost is I/O and sled's
//! background thread as much as this thread's CPU. `cargo bench --bench store`;
//! `cargo bench -- --test` runs each once.

#[path = "common/sweepgen.rs"]
mod sweepgen;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

use bsweep::layout::Home;
use bsweep::store::Store;
use sweepgen::Shape;

const POINTS: u64 = 100_000;
/// Submissions per engine batch (`Engine::submit_ready`): one store batch and flush each.
const BATCH: usize = 64;

fn writes(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(POINTS));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    // About a second per iteration: room for ten.
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("100k attempt writes, 64 per flushed batch", |b| {
        b.iter_batched(
            || {
                let tmp = tempfile::tempdir().expect("temp dir");
                let home = Home::new(tmp.path().to_path_buf());
                let store = sweepgen::create(&home, "w", POINTS, Shape::Unsubmitted)
                    .expect("sweep recorded");
                let points = store.load_points().expect("points load");
                (tmp, store, points)
            },
            |(tmp, store, mut points)| {
                for chunk in points.chunks_mut(BATCH) {
                    for p in chunk.iter_mut() {
                        p.attempts.push(sweepgen::submitted(p.index));
                    }
                    store.put_points(chunk.iter()).expect("batch written");
                    store.flush().expect("batch durable");
                }
                // Dropped after the timing, with the directory.
                (tmp, store, points)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn reopen(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = Home::new(tmp.path().to_path_buf());
    drop(sweepgen::create(&home, "r", POINTS, Shape::Done).expect("sweep recorded"));
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(POINTS));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("reopen 100k points (open + load_points)", |b| {
        b.iter(|| {
            let store = Store::open(&home, "r", "bench").expect("sweep opens");
            let points = store.load_points().expect("points load");
            black_box(points.len())
        })
    });
    g.finish();
}

criterion_group!(benches, writes, reopen);
criterion_main!(benches);
