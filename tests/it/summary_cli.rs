//! `bsweep summary` and `bsweep report` end to end, on sweeps the local backend really runs: the
//! results are collected once and read back, collected again when the records moved on, read
//! from the follower's snapshot while another bsweep holds the sweep, and failed points count
//! in `n` but not in the means. Expected numbers are worked out here from what the jobs wrote.

use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;

use crate::harness::{Env, assert_ok, read_csv, text, wait_for};

fn json_of(out: &std::process::Output) -> Json {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).expect("summary --json is JSON")
}

/// The group whose parameters are `params` (as JSON).
fn group(s: &Json, params: Json) -> &Json {
    s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["params"] == params)
        .unwrap_or_else(|| panic!("no group {params} in {s}"))
}

#[test]
fn quickstart_summary_collects_once_then_reads_the_kept_results() {
    let env = Env::new();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/sweeps/quickstart.toml");
    assert_ok(&env.run(&["launch", file]));
    let first = env.run(&["summary", "quickstart"]);
    assert_ok(&first);
    assert_eq!(
        text(&first.stderr),
        "collected the results of sweep quickstart first (they had not been collected yet): 12 \
         rows, 4 metric columns\n"
    );
    let table = text(&first.stdout);
    assert!(
        table.starts_with("quickstart: eval.acc (max), 12 groups; 12 points, 12 done\n"),
        "{table}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert!(!table.contains('\u{1b}'), "no colours off a terminal");
    assert!(table.contains("effects on eval.acc"));
    // Read back, not collected again: nothing to say, the same table.
    let again = env.run(&["summary", "quickstart"]);
    assert_ok(&again);
    assert_eq!(text(&again.stderr), "");
    assert_eq!(text(&again.stdout), table);

    // Every group is one point (no repeats): its statistics are that point's value in the CSV.
    let csv = env.path().join("q.csv");
    assert_ok(&env.run(&["collect", "quickstart", "-o", csv.to_str().unwrap()]));
    let kept = env.home().join("sweeps/quickstart/results.csv");
    assert_eq!(std::fs::read(&kept).unwrap(), std::fs::read(&csv).unwrap());
    let s = json_of(&env.run(&["summary", "quickstart", "--json"]));
    assert_eq!(
        (&s["sweep"], &s["metric"], &s["goal"], &s["over"]),
        (
            &Json::from("quickstart"),
            &Json::from("eval.acc"),
            &Json::from("max"),
            &Json::Array(vec![])
        )
    );
    let (_, rows) = read_csv(&csv);
    let groups = s["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 12);
    for r in &rows {
        let params = serde_json::json!({
            "lr": r["lr"].parse::<f64>().unwrap(),
            "layers": r["layers"].parse::<i64>().unwrap(),
            "optimizer": r["optimizer"],
        });
        let g = group(&s, params);
        assert_eq!((&g["n"], &g["n_done"]), (&Json::from(1), &Json::from(1)));
        for m in ["eval.acc", "loss", "epoch"] {
            let x: f64 = r[m].parse().unwrap();
            let st = &g["metrics"][m];
            assert_eq!(
                (st["mean"].as_f64(), st["min"].as_f64()),
                (Some(x), Some(x)),
                "{m}"
            );
            assert!(
                st["std"].is_null() && st["ci95"].is_null(),
                "one value has no spread"
            );
        }
    }
    let accs: Vec<f64> = groups
        .iter()
        .map(|g| g["metrics"]["eval.acc"]["mean"].as_f64().unwrap())
        .collect();
    assert!(
        accs.windows(2).all(|w| w[0] >= w[1]),
        "best first: {accs:?}"
    );
    let lr = s["effects"]["lr"].as_array().unwrap();
    assert_eq!(lr.len(), 3);
    assert_eq!(lr[0]["value"], 0.1);
    assert_eq!(lr[0]["n"], 4);

    let out = env.run(&["summary", "quickstart", "--csv", "--over", "optimizer"]);
    assert_ok(&out);
    let csv_text = text(&out.stdout);
    assert!(
        csv_text.starts_with("lr,layers,n,n_done,loss.mean,loss.std,"),
        "{csv_text}"
    );
    assert_eq!(csv_text.lines().count(), 1 + 6);

    // Kept results that cannot be read are collected again, and it says so.
    std::fs::write(&kept, "not,a,csv\n").unwrap();
    let out = env.run(&["summary", "quickstart", "--json"]);
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "collected the results of sweep quickstart first (the kept ones could not be read: "
        ),
        "{err}"
    );
    assert_eq!(json_of(&out)["groups"].as_array().unwrap().len(), 12);

    let out = env.run(&["report", "quickstart"]);
    assert_ok(&out);
    let page = env.path().join("quickstart-report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("id=\"summary-table\"") && html.contains("id=\"no-failures\""));
    assert!(text(&out.stderr).contains("wrote quickstart-report.html ("));
}

/// Two values of `a`, four repeats each; point a=2, repeat=3 writes 999 and fails on its first
/// attempt, with a line on stderr.
const REPEATS: &str = r#"
name = "rep"
repeats = 4
command = """
printf '{"m": %d}' $(( {a} * 10 + {repeat} )) > {out_dir}/metrics.json
if [ {a} = 2 ] && [ {repeat} = 3 ] && [ {attempt} = 1 ]; then
  printf '{"m": 999}' > {out_dir}/metrics.json
  echo 'OSError: no space left on device' >&2
  exit 3
fi
"""
[grid]
a = [1, 2]
[local]
concurrency = 4
[collect]
metrics_json = "metrics.json"
[summary]
metric = "m"
"#;

/// Student's t quantiles (scipy's `t.ppf(0.975, df)`) for 2 and 3 degrees of freedom.
const T975_2: f64 = 4.302652729749462;
const T975_3: f64 = 3.1824463052837078;

#[test]
fn failed_points_count_in_n_not_in_the_means_and_a_retry_makes_the_results_stale() {
    let env = Env::new();
    let file = env.sweep("rep.toml", REPEATS);
    let out = env.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));

    let s = json_of(&env.run(&["summary", "rep", "--json"]));
    assert_eq!(s["over"], serde_json::json!(["repeat"]));
    // a=2 ranks first: 20, 21, 22 (the failed point's 999 is not a result).
    assert_eq!(s["groups"][0]["params"], serde_json::json!({"a": 2}));
    let g2 = group(&s, serde_json::json!({"a": 2}));
    assert_eq!((&g2["n"], &g2["n_done"]), (&Json::from(4), &Json::from(3)));
    let m = &g2["metrics"]["m"];
    assert_eq!(m["n"], 3);
    assert_eq!(
        (m["mean"].as_f64(), m["std"].as_f64()),
        (Some(21.0), Some(1.0))
    );
    assert_eq!(
        (m["min"].as_f64(), m["max"].as_f64()),
        (Some(20.0), Some(22.0))
    );
    assert_eq!(m["ci95"].as_f64(), Some(T975_2 * 1.0 / 3f64.sqrt()));
    let g1 = group(&s, serde_json::json!({"a": 1}));
    let m = &g1["metrics"]["m"];
    assert_eq!(
        (&g1["n"], &g1["n_done"], &m["n"]),
        (&Json::from(4), &Json::from(4), &Json::from(4))
    );
    // statistics.stdev([10, 11, 12, 13]) = sqrt(5/3), correctly rounded.
    let sd = 1.2909944487358056;
    assert_eq!(
        (m["mean"].as_f64(), m["std"].as_f64()),
        (Some(11.5), Some(sd))
    );
    assert_eq!(m["ci95"].as_f64(), Some(T975_3 * sd / 2.0));
    assert_eq!(
        s["effects"]["a"],
        serde_json::json!([
            {"value": 1, "mean": 11.5, "std": sd, "n": 4},
            {"value": 2, "mean": 21.0, "std": 1.0, "n": 3},
        ])
    );

    // The report lists the failed point with the end of its stderr.
    assert_ok(&env.run(&["report", "rep", "-o", "rep.html"]));
    let html = std::fs::read_to_string(env.path().join("rep.html")).unwrap();
    assert!(
        html.contains("OSError: no space left on device"),
        "stderr tail"
    );
    assert!(html.contains("exit code 3"));

    flags_override_the_sweep_file(&env);

    // A retry changes the records: the kept results are stale and collected again.
    assert_ok(&env.run(&["retry", "rep", "--failed"]));
    let out = env.run(&["summary", "rep", "--json"]);
    assert!(
        text(&out.stderr).starts_with(
            "collected the results of sweep rep first (1 point changed since they were last \
             collected)"
        ),
        "{}",
        text(&out.stderr)
    );
    let s = json_of(&out);
    let g2 = group(&s, serde_json::json!({"a": 2}));
    assert_eq!(g2["n_done"], 4);
    assert_eq!(g2["metrics"]["m"]["mean"].as_f64(), Some(21.5));
}

fn flags_override_the_sweep_file(env: &Env) {
    let groups = |args: &[&str]| -> Vec<Json> {
        let mut argv = vec!["summary", "rep", "--json"];
        argv.extend(args);
        json_of(&env.run(&argv))["groups"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(
        groups(&["--over", ""]).len(),
        8,
        "grouped by every parameter"
    );
    let by_repeat = groups(&["--over", "a"]);
    assert_eq!(by_repeat.len(), 4);
    assert_eq!(by_repeat[0]["params"], serde_json::json!({"repeat": 2}));
    assert_eq!(groups(&["--min"])[0]["params"], serde_json::json!({"a": 1}));
    let top = env.run(&["summary", "rep", "--top", "1"]);
    assert_ok(&top);
    assert!(text(&top.stdout).contains("… and 1 more group\n"));

    let bad = env.run(&["summary", "rep", "--metric", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        text(&bad.stderr),
        "error: no metric `nope` in the results; numeric metrics: m; other metrics: none; name \
         a numeric one with --metric\n"
    );
    let bad = env.run(&["summary", "rep", "--over", "seed"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    let none = env.run(&["summary", "nosuch"]);
    assert_eq!(none.status.code(), Some(3), "{}", text(&none.stderr));
    let file = env.sweep(
        "bad.toml",
        "name = \"bad\"\ncommand = \"true\"\n[grid]\na = [1]\n[summary]\ngoal = \"best\"\n",
    );
    let plan = env.run(&["plan", file.to_str().unwrap()]);
    assert_eq!(plan.status.code(), Some(2));
    assert!(
        text(&plan.stderr).contains("bad.toml:6:8: summary.goal: unknown goal `best`"),
        "{}",
        text(&plan.stderr)
    );
}

/// Six points; those from 4 on wait for the file `go` before they print their value.
fn waiting_sweep(env: &Env) -> String {
    let go = env.path().join("go");
    let text = format!(
        r#"
name = "run"
command = """
if [ {{i}} -ge 4 ]; then while [ ! -e '{go}' ] && [ -d '{dir}' ]; do sleep 0.05; done; fi
echo "v={{i}}"
"""
[grid]
i = {{ start = 0, stop = 6 }}
[local]
concurrency = 6
[collect]
stdout_kv = true
[summary]
metric = "v"
over = ["i"]
"#,
        go = go.display(),
        // A test that fails leaves its jobs waiting: they end with its directory.
        dir = env.path().display()
    );
    env.sweep("run.toml", &text).to_string_lossy().into_owned()
}

fn the_one_group(env: &Env) -> (Json, String) {
    let out = env.run(&["summary", "run", "--json"]);
    let s = json_of(&out);
    assert_eq!(s["groups"].as_array().unwrap().len(), 1);
    (s["groups"][0].clone(), text(&out.stderr))
}

/// Lets the waiting jobs end and stops the follower however the test ends: a failed
/// assertion must not leave jobs waiting for a file in a directory that is gone.
struct Release<'a> {
    env: &'a Env,
    follower: std::process::Child,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(self.env.path().join("go"), "");
        let _ = self.follower.kill();
        let _ = self.follower.wait();
    }
}

#[test]
fn a_running_sweep_is_summarized_from_what_is_done_held_or_not() {
    let env = Env::new();
    let file = waiting_sweep(&env);
    let mut run = Release {
        env: &env,
        follower: env.spawn(&["launch", &file]),
    };
    // Until the launch has recorded the sweep, `status` says it is being recorded.
    wait_for("four points done", Duration::from_secs(60), || {
        let out = env.run(&["status", "run", "--json"]);
        out.status.success()
            && serde_json::from_slice::<Json>(&out.stdout).unwrap()["counts"]["done"] == 4
    });
    // Held by the launch: states from its snapshot, metrics read from the outputs here.
    let (g, err) = the_one_group(&env);
    let pid = run.follower.id();
    assert!(
        err.contains(&format!("note: bsweep (pid {pid}) follows sweep run")),
        "{err}"
    );
    assert!(
        err.contains("the metrics of the 4 points that ended since the last collect were read"),
        "{err}"
    );
    assert_eq!((&g["n"], &g["n_done"]), (&Json::from(6), &Json::from(4)));
    assert_eq!(g["metrics"]["v"]["mean"].as_f64(), Some(1.5));
    assert!(!Path::new(&env.home().join("sweeps/run/results.csv")).exists());

    // The follower dies; its jobs run on. The store is free: collected, two still running.
    run.follower.kill().unwrap();
    let _ = run.follower.wait();
    let (g, err) = the_one_group(&env);
    assert!(
        err.starts_with("collected the results of sweep run first"),
        "{err}"
    );
    assert_eq!((&g["n"], &g["n_done"]), (&Json::from(6), &Json::from(4)));
    assert_eq!(g["metrics"]["v"]["mean"].as_f64(), Some(1.5));
    let out = env.run(&["summary", "run"]);
    assert!(
        text(&out.stdout).contains("6 points, 4 done"),
        "{}",
        text(&out.stdout)
    );

    drop(run);
    assert_ok(&env.run(&["resume", "run"]));
    let (g, err) = the_one_group(&env);
    assert!(
        err.contains("changed since they were last collected"),
        "{err}"
    );
    assert_eq!(g["n_done"], 6);
    assert_eq!(g["metrics"]["v"]["mean"].as_f64(), Some(2.5));
}

#[test]
fn a_report_over_ssh_fetches_the_failed_points_stderr_in_one_round_trip() {
    use crate::harness::sshd::{HOST, SshEnv};
    let ssh = crate::need!(SshEnv::new());
    std::fs::create_dir_all(&ssh.lsf).unwrap();
    std::fs::write(
        Path::new(&ssh.lsf).join("config.toml"),
        "[[queue]]\nname = \"normal\"\nslots = 8\n",
    )
    .unwrap();
    let home = ssh.local.path();
    let sweep = format!(
        r#"name = "far"
backend = "lsf"
command = """
echo "v={{i}}"
if [ $(( {{i}} % 3 )) = 1 ]; then echo "Traceback: point {{i}} diverged" >&2; exit 3; fi
"""
[grid]
i = {{ start = 0, stop = 6 }}
[lsf]
queue = "normal"
poll_min = 0.3
poll_max = 1.0
settle = 2.0
[collect]
stdout_kv = true
[summary]
metric = "v"
[cluster]
host = "{HOST}"
init = "export LSFSIM_DIR={lsf}"
remote_dir = "{remote}"
"#,
        lsf = ssh.lsf,
        remote = ssh.remote
    );
    let file = home.join("far.toml");
    std::fs::write(&file, sweep).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bsweep"))
            .arg("--home")
            .arg(home)
            .arg("--ssh-config")
            .arg(&ssh.sshd.config)
            .args(args)
            .current_dir(home)
            .env("BSWEEP_DEBUG", "1")
            .env_remove("BSWEEP_HOME")
            .output()
            .expect("run bsweep")
    };
    let out = run(&["launch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    // The summary collects (fetching from the cluster); the report then reads those results
    // and asks the cluster only for the stderr of the failed points 1 and 4, in one go.
    let s = json_of(&run(&["summary", "far", "--json", "--over", "i"]));
    assert_eq!(
        (&s["groups"][0]["n"], &s["groups"][0]["n_done"]),
        (&Json::from(6), &Json::from(4))
    );
    assert_eq!(s["groups"][0]["metrics"]["v"]["mean"].as_f64(), Some(2.5));
    let out = run(&["report", "far"]);
    assert_ok(&out);
    let trips = text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("bsweep: ssh round trip"))
        .count();
    assert_eq!(trips, 1, "{}", text(&out.stderr));
    let html = std::fs::read_to_string(home.join("far-report.html")).unwrap();
    for i in [1, 4] {
        assert!(
            html.contains(&format!("Traceback: point {i} diverged")),
            "point {i}"
        );
    }
}
