//! The clock the CPU-bound benches measure with: wall time (criterion's default), or with
//! `BENCH_CLOCK=cpu` the CPU time of the benchmarking thread, which other work on a busy or
//! shared machine does not inflate. Included by the bench files with `#[path]` (in a
//! subdirectory, so cargo does not take it for a bench of its own).

use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

pub struct Clock {
    cpu: bool,
}

impl Clock {
    pub fn from_env() -> Self {
        let cpu = std::env::var("BENCH_CLOCK").is_ok_and(|v| v == "cpu");
        if cpu {
            eprintln!("BENCH_CLOCK=cpu: times are CPU time of the benchmarking thread");
        }
        Clock { cpu }
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Criterion's own formatter for durations (a static: `formatter` borrows from `self`).
static WALL: WallTime = WallTime;

impl Measurement for Clock {
    type Intermediate = (Instant, Duration);
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        let cpu = if self.cpu {
            thread_cpu()
        } else {
            Duration::ZERO
        };
        (Instant::now(), cpu)
    }
    fn end(&self, (wall, cpu): Self::Intermediate) -> Self::Value {
        if self.cpu {
            thread_cpu().saturating_sub(cpu)
        } else {
            wall.elapsed()
        }
    }
    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value {
        *v1 + *v2
    }
    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}
