//! How plain jobs reach LSF, on the simulator: up to `submit_parallel` bsubs at once inside one
//! round trip (and `submit_rate` still pacing them), job packs (`bsub -pack`) where the
//! cluster's lsf.conf enables them, and a fallback to plain bsubs where they fail. Whatever the
//! path, each point's recorded job id is the job that runs it (the job prints its
//! `$LSB_JOBID`), and no point is submitted twice.

use std::collections::BTreeMap;

use crate::harness::{Sim, assert_ok, read_csv};

/// A sweep of `n` points whose jobs print their own job id.
fn sweep(sim: &Sim, name: &str, n: usize, lsf: &str) -> String {
    let text = format!(
        "name = \"{name}\"\nbackend = \"lsf\"\ncommand = 'echo \"jobid=$LSB_JOBID\"'\n\
         [grid]\ni = {{ start = 0, stop = {n} }}\n\
         [lsf]\nqueue = \"normal\"\npoll_min = 0.2\npoll_max = 0.5\nsettle = 2.0\n{lsf}\n\
         [collect]\nstdout_kv = true\n"
    );
    sim.env
        .sweep(&format!("{name}.toml"), &text)
        .to_string_lossy()
        .into_owned()
}

/// Launches to the end and checks every point ran as the job recorded for it, once.
fn run_exactly(sim: &Sim, name: &str, n: usize, lsf: &str) -> Vec<BTreeMap<String, String>> {
    let file = sweep(sim, name, n, lsf);
    assert_ok(&sim.run(&["--quiet", "launch", &file]));
    let csv = sim.env.path().join(format!("{name}.csv"));
    assert_ok(&sim.run(&["collect", name, "-o", csv.to_str().unwrap()]));
    let rows = read_csv(&csv).1;
    assert_eq!(rows.len(), n);
    for r in &rows {
        assert_eq!(r["state"], "done", "{r:?}");
        assert_eq!(r["jobid"], r["job_id"], "{r:?}");
    }
    crate::harness::assert_one_job_per_point(&sim.calls_of("bsub"), n);
    rows
}

/// Milliseconds between the starts of consecutive bsub calls.
fn bsub_gaps(sim: &Sim) -> Vec<i64> {
    let t: Vec<i64> = sim
        .calls_of("bsub")
        .iter()
        .map(|c| c["t"].as_i64().unwrap())
        .collect();
    t.windows(2).map(|w| w[1] - w[0]).collect()
}

/// A cluster whose every call takes 300 ms, with room for all jobs at once.
const SLOW: &str = "[[queue]]\nname = \"normal\"\nslots = 40\n[faults]\nlatency_ms = 300\n";

#[test]
fn bsubs_run_four_at_once_by_default_and_one_at_a_time_with_submit_parallel_1() {
    let sim = Sim::new(SLOW);
    run_exactly(&sim, "par", 12, "");
    let gaps = bsub_gaps(&sim);
    // Started together, in windows of four: most starts follow the previous one at once.
    let close = gaps.iter().filter(|g| **g < 150).count();
    assert!(close >= 6, "bsubs overlapped: gaps {gaps:?} ms");

    let serial = Sim::new(SLOW);
    run_exactly(&serial, "ser", 6, "submit_parallel = 1");
    let gaps = bsub_gaps(&serial);
    assert!(
        gaps.iter().all(|g| *g >= 300),
        "one at a time: gaps {gaps:?} ms"
    );
}

#[test]
fn submit_rate_still_paces_parallel_bsubs() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 40\n");
    run_exactly(&sim, "rate", 8, "submit_rate = 4\nsubmit_parallel = 8");
    let gaps = bsub_gaps(&sim);
    assert_eq!(gaps.len(), 7);
    // bsweep starts them 250 ms apart; the simulator notes each call once its process runs,
    // which on a busy machine can be late for one call and not the next. So: the span of all
    // eight (7 × 250 ms, less one late start of up to 300 ms), and no two at once, where eight
    // at once unpaced start within a few ms of each other.
    let span: i64 = gaps.iter().sum();
    assert!(span >= 1450, "4 a second: gaps {gaps:?} ms (span {span})");
    assert!(
        gaps.iter().all(|g| *g >= 50),
        "4 a second: gaps {gaps:?} ms"
    );
}

/// A simulator whose lsf.conf (`$LSF_ENVDIR`) holds `conf`.
fn sim_with_conf(config: &str, conf: &str) -> Sim {
    let mut sim = Sim::new(config);
    let envdir = sim.env.path().join("envdir");
    std::fs::create_dir_all(&envdir).unwrap();
    std::fs::write(envdir.join("lsf.conf"), conf).unwrap();
    sim.env
        .vars
        .push(("LSF_ENVDIR".into(), envdir.display().to_string()));
    sim
}

/// The bsub calls that were packs, and how many jobs each named.
fn packs(sim: &Sim) -> Vec<usize> {
    sim.calls_of("bsub")
        .iter()
        .filter(|c| c["args"][0] == "-pack")
        .map(|c| c["names"].as_array().unwrap().len())
        .collect()
}

const ROOMY: &str = "[[queue]]\nname = \"normal\"\nslots = 64\n";

#[test]
fn job_packs_carry_the_jobs_after_the_first_batch() {
    let sim = sim_with_conf(ROOMY, "LSB_MAX_PACK_JOBS=50\n");
    run_exactly(&sim, "packed", 150, "");
    // The first submission (one job tries the queue) goes as a plain bsub and learns that
    // packs are on; the other 149 go in one round trip as packs of at most 50.
    let plain = sim
        .calls_of("bsub")
        .iter()
        .filter(|c| c["args"][0] != "-pack")
        .count();
    assert_eq!(plain, 1);
    assert_eq!(packs(&sim), [50, 50, 49]);
}

#[test]
fn a_pack_that_stops_early_is_resolved_by_name_then_plain_bsubs_follow() {
    // A bsub answer lost after the job was accepted (10% of requests): in a pack it stops the
    // pack (LSB_PACK_SKIP_ERROR=N), and which jobs went in is unknown until they are looked
    // up by name.
    let sim = sim_with_conf(
        &format!("{ROOMY}[faults]\nbsub_fail_after_submit = 0.1\nseed = 3\n"),
        "LSB_MAX_PACK_JOBS=100\n",
    );
    run_exactly(&sim, "cut", 150, "");
    let calls = sim.calls_of("bsub");
    let is_pack = |c: &serde_json::Value| c["args"][0] == "-pack";
    let stopped: Vec<usize> = (0..calls.len())
        .filter(|&i| is_pack(&calls[i]) && calls[i]["exit"] != 0)
        .collect();
    // Both packs of the one round trip (100 and 49 jobs) may stop; none is tried after.
    let last = *stopped.last().expect("a pack stopped early");
    assert!(
        !calls[last + 1..].iter().any(is_pack),
        "plain bsubs only after it"
    );
    // Its jobs were looked up by name (bjobs -J) before anything was submitted again.
    let lookups = sim
        .calls_of("bjobs")
        .iter()
        .filter(|c| c["args"].as_array().unwrap().iter().any(|a| a == "-J"))
        .count();
    assert!(lookups >= 1);
}

#[test]
fn a_cluster_that_refuses_packs_gets_plain_bsubs_from_then_on() {
    // OpenLava with an lsf.conf that claims packs: its bsub reads `-pack` as `-p ack`.
    let sim = sim_with_conf(
        &format!("version = \"openlava\"\n{ROOMY}"),
        "LSB_MAX_PACK_JOBS=100\n",
    );
    run_exactly(&sim, "refused", 70, "");
    let calls = sim.calls_of("bsub");
    let tried: Vec<&serde_json::Value> = calls.iter().filter(|c| c["args"][0] == "-pack").collect();
    assert_eq!(tried.len(), 1, "one pack tried");
    assert_eq!(tried[0]["exit"], 255);
    assert_eq!(calls.len(), 71, "70 plain bsubs and the refused pack");
}
