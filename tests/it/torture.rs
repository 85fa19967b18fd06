//! Torture: bsweep is `kill -9`ed at many random moments of launch and polling, against an LSF
//! simulator with faults on, and resumed each time. In the end every point has exactly one
//! job, none was submitted twice, and the CSV has a row for each.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::harness::{Sim, assert_ok, text};

/// A small deterministic generator: the kill moments are random but the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

const POINTS: usize = 300;

#[test]
fn kill_9_at_random_moments_loses_nothing_and_doubles_nothing() {
    let sim = Sim::new(
        r#"
clean_period = 5
[[queue]]
name = "short"
slots = 8
[[queue]]
name = "normal"
slots = 8
[[queue]]
name = "long"
slots = 8
[faults]
latency_ms = 20
bsub_transient_fail = 0.1
bsub_fail_after_submit = 0.05
please_wait = 0.2
visibility_delay_ms = 300
seed = 11
"#,
    );
    let file = sim.env.sweep(
        "torture.toml",
        &format!(
            r#"
name = "torture"
backend = "lsf"
command = "sleep 1; echo score=$(( {{i}} * 3 ))"
[grid]
i = {{ start = 0, stop = {POINTS} }}
[lsf]
queues = ["short", "normal", "long"]
max_in_flight = 40
poll_min = 0.3
poll_max = 1.0
settle = 1.5
[collect]
stdout_kv = true
"#
        ),
    );
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut kills = 0;
    let mut args = vec!["launch", file.to_str().unwrap()];
    while kills < 20 {
        let mut child = sim.spawn(&args);
        std::thread::sleep(rng.millis(150, 1000));
        match child.try_wait().expect("try_wait") {
            None => {
                child.kill().expect("kill -9");
                let _ = child.wait();
                kills += 1;
            }
            Some(status) => {
                let out = child.wait_with_output().unwrap();
                assert!(
                    status.success(),
                    "bsweep failed by itself: {}",
                    text(&out.stderr)
                );
                break;
            }
        }
        // A kill while the sweep was being recorded leaves no sweep: launch it again, as
        // `resume` then says; once it exists, resume it.
        args = if sim.env.home().join("sweeps/torture/db").is_dir() {
            vec!["resume", "torture"]
        } else {
            vec!["launch", file.to_str().unwrap()]
        };
    }
    assert!(
        kills >= 20,
        "only {kills} kills: the sweep ended too soon to torture it"
    );
    let out = sim.run(&["resume", "torture"]);
    assert_ok(&out);
    eprintln!("{kills} kills, {:?} in all", started.elapsed());

    let st = sim.status_json("torture");
    assert_eq!(st["counts"]["done"], POINTS as u64, "{}", st["counts"]);

    // The simulator's log: every accepted submission named a distinct job, one per point.
    crate::harness::assert_one_job_per_point(&sim.calls_of("bsub"), POINTS);

    let csv_path = sim.env.path().join("torture.csv");
    assert_ok(&sim.run(&["collect", "torture", "-o", csv_path.to_str().unwrap()]));
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (i_col, score_col, id_col) = (col("i"), col("score"), col("job_id"));
    let mut ids = HashSet::new();
    let mut rows = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        let i: i64 = rec[i_col].parse().unwrap();
        assert_eq!(
            rec[score_col].parse::<i64>().unwrap(),
            i * 3,
            "point {i} has its own result"
        );
        assert!(
            ids.insert(rec[id_col].to_string()),
            "job id {} twice",
            &rec[id_col]
        );
        rows += 1;
    }
    assert_eq!(rows, POINTS);
}

#[test]
fn a_batch_orphaned_by_kill_9_ends_before_its_jobs_are_looked_up_and_they_are_adopted() {
    // Jobs show in bjobs 3 s after their bsub (settle 4 s says LSF may take that long). A
    // launch is killed in the middle of one long submission batch; the bsub it had running
    // still makes its job, and the batch ends; the resume looks the batch's jobs up by name
    // (after the settle time, from the batch's end) and adopts them, none submitted again.
    let sim = Sim::new(
        "[[queue]]\nname = \"normal\"\nslots = 200\n\
         [faults]\nlatency_ms = 40\nvisibility_delay_ms = 3000\n",
    );
    let file = sim.env.sweep(
        "orphan.toml",
        "name = \"orphan\"\nbackend = \"lsf\"\ncommand = \"true\"\n\
         [grid]\ni = { start = 0, stop = 120 }\n\
         [lsf]\nqueue = \"normal\"\nsubmit_parallel = 1\nsettle = 4\npoll_min = 0.3\npoll_max = 1\n",
    );
    let mut launch = sim.spawn(&["launch", file.to_str().unwrap()]);
    let start = Instant::now();
    while sim.calls_of("bsub").len() < 30 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the batch never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    launch.kill().expect("kill -9");
    let _ = launch.wait();
    let during = sim.calls_of("bsub").len();
    let out = sim.run(&["resume", "orphan"]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("adopted"),
        "the killed batch's jobs are adopted: {}",
        text(&out.stderr)
    );
    let calls = sim.calls_of("bsub");
    assert!(
        during < 120,
        "the batch had ended before the kill ({during} bsubs): nothing was orphaned"
    );
    crate::harness::assert_one_job_per_point(&calls, 120);
    assert_eq!(sim.status_json("orphan")["counts"]["done"], 120);
}
