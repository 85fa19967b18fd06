//! What OpenLava (and old LSF) do not say in `bjobs`, read on the simulator's `openlava`
//! flavour, so the fast tests cover it too (`openlava.rs` runs the same against a real one):
//! exit codes of EXIT jobs from their reports, a run-limit kill (exit 140) proved by `bhist -l`,
//! and reports found before a job's output however much it printed.

use crate::harness::{Sim, assert_ok, read_csv, text};

/// OpenLava with a run-limit minute of 6 s (printed as `0.1 min`).
const OPENLAVA: &str = "version = \"openlava\"\nrunlimit_minute_ms = 6000\n\
                        [[queue]]\nname = \"normal\"\nslots = 8\n";

#[test]
fn exit_codes_run_limit_kills_and_big_outputs_on_openlava() {
    let sim = Sim::new(OPENLAVA);
    // 0: prints 200 KB and is done; 1: exits 7 on its first attempt; 2: exits 140 by itself,
    // at once; 3: runs into its run limit (one "minute", 6 s here).
    let file = sim.env.sweep(
        "ol.toml",
        r#"
name = "olsim"
backend = "lsf"
max_attempts = 2
command = '''
case {i} in
  0) head -c 200000 /dev/zero | tr '\0' 'x'; echo; echo score=10 ;;
  1) [ {attempt} = 1 ] && exit 7; echo score=11 ;;
  2) exit 140 ;;
  3) sleep 20 ;;
esac
'''
[grid]
i = { start = 0, stop = 4 }
[lsf]
walltime = "1"
poll_min = 0.3
poll_max = 1.0
settle = 2.0
[collect]
stdout_kv = true
"#,
    );
    let out = sim.run(&["--quiet", "launch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let st = sim.status_json("olsim");
    let p = |i: usize| &st["points"][i];
    assert_eq!(
        (p(0)["state"].as_str(), p(0)["exit_code"].as_i64()),
        (Some("done"), Some(0))
    );
    assert_eq!(
        (p(1)["state"].as_str(), p(1)["attempts"].as_i64()),
        (Some("done"), Some(2))
    );
    for i in [2, 3] {
        assert_eq!(p(i)["exit_code"].as_i64(), Some(140), "{}", p(i));
        assert_eq!(
            p(i)["attempts"].as_i64(),
            Some(2),
            "exit 140 is retried: {}",
            p(i)
        );
    }
    // Only point 3's kill is a run-limit kill: bhist shows its limit and a run that long.
    let status = text(&sim.run(&["status", "olsim"]).stdout);
    let line = |i: usize| {
        status
            .lines()
            .find(|l| l.contains(&format!("point {i} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line(3).contains("TERM_RUNLIMIT"), "{status}");
    assert!(!line(2).contains("TERM_RUNLIMIT"), "{status}");
    // bhist was asked about the exit-140 jobs only: the others' reports said enough.
    let bhist_ids: Vec<String> = sim
        .calls_of("bhist")
        .iter()
        .flat_map(|c| {
            c["args"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| {
                    a.as_str()
                        .filter(|a| a.parse::<u64>().is_ok())
                        .map(String::from)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let ids_of = |i: usize| -> Vec<String> {
        // Both attempts: job names `...-0000i-1` and `-2`, found in the bsub log.
        sim.calls_of("bsub")
            .iter()
            .filter(|c| {
                c["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n.as_str().unwrap().contains(&format!("-{i:05}-")))
            })
            .map(|c| c["jobs"][0].to_string())
            .collect()
    };
    let mut want: Vec<String> = [2, 3].into_iter().flat_map(ids_of).collect();
    let mut asked = bhist_ids.clone();
    want.sort();
    asked.sort();
    asked.dedup();
    assert_eq!(asked, want, "bhist asked about {bhist_ids:?}");
    // The 200 KB point's report, before its output, still gives the CSV LSF's figures.
    let csv = sim.env.path().join("olsim.csv");
    assert_ok(&sim.run(&["collect", "olsim", "-o", csv.to_str().unwrap()]));
    let rows = read_csv(&csv).1;
    let big = &rows[0];
    assert!(
        std::fs::metadata(sim.env.home().join("sweeps/olsim/out/00000/stdout.txt"))
            .unwrap()
            .len()
            > 200_000
    );
    assert_eq!(big["score"], "10");
    for c in ["started", "ended", "run_seconds", "max_mem_mb", "exit_code"] {
        assert!(!big[c].is_empty(), "{c} of {big:?}");
    }
    assert_eq!(
        (rows[3]["state"].as_str(), rows[3]["exit_code"].as_str()),
        ("failed", "140")
    );
}
