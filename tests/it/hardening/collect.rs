//! `collect` and `logs` against what a job can leave in its out_dir: FIFOs, links to
//! `/dev/zero`, huge files, metric names that collide and values no float holds. Each test
//! runs local sweeps with the real binary in a private home.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Env, assert_ok, read_csv, text};

/// Runs bsweep `args` in `env`, failing the test if it has not ended within `secs` (a hang is
/// the bug these tests pin).
fn within(env: &Env, args: &[&str], secs: u64) -> Output {
    let mut cmd: Command = env.cmd(args);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bsweep");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("bsweep {args:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// A local sweep of `n` points running `command`, launched and followed to its end.
fn launched(env: &Env, name: &str, n: u32, command: &str, collect: &str) {
    let file = env.sweep(
        &format!("{name}.toml"),
        &format!(
            "name = \"{name}\"\ncommand = '''{command}'''\n[grid]\ni = {{ start = 0, stop = {n} }}\n[collect]\n{collect}"
        ),
    );
    let out = env.run(&["--quiet", "launch", file.to_str().unwrap()]);
    assert!(
        matches!(out.status.code(), Some(0 | 4)),
        "launch: {}",
        text(&out.stderr)
    );
}

#[test]
fn hardening_06_fifos_dev_zero_and_huge_files_never_hang_or_exhaust_collect_and_logs() {
    let env = Env::new();
    let command = "case {i} in\n\
        0) mkfifo {out_dir}/m.json ;;\n\
        1) ln -s /dev/zero {out_dir}/m.json ;;\n\
        2) truncate -s 70M {out_dir}/m.json ;;\n\
        3) echo '{\"v\": 3}' > {out_dir}/m.json; echo kv=3; rm {out_dir}/stdout.txt {out_dir}/stderr.txt; \
           mkfifo {out_dir}/stdout.txt; ln -s /dev/zero {out_dir}/stderr.txt ;;\n\
        esac";
    launched(
        &env,
        "odd",
        4,
        command,
        "metrics_json = \"m.json\"\nstdout_kv = true\n",
    );
    let csv = env.path().join("odd.csv");
    let out = within(&env, &["collect", "odd", "-o", csv.to_str().unwrap()], 60);
    assert_ok(&out);
    let err = text(&out.stderr);
    for said in [
        "point 0: ",
        "out/00000/m.json: it is a FIFO, not a regular file; not read",
        "out/00001/m.json: it is a device, not a regular file; not read",
        "out/00002/m.json: it has 73400320 bytes, more than the 64 MiB read; not read",
        "out/00003/stdout.txt: it is a FIFO, not a regular file; not scanned",
    ] {
        assert!(err.contains(said), "{said:?} not in:\n{err}");
    }
    let (_, rows) = read_csv(&csv);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3]["v"], "3");

    // logs refuses what is not a regular file at once, whatever it is.
    for stderr in [false, true] {
        let mut a = vec!["logs", "odd", "3"];
        if stderr {
            a.push("--stderr");
        }
        let out = within(&env, &a, 20);
        assert_eq!(out.status.code(), Some(1), "{a:?}: {}", text(&out.stderr));
        let what = if stderr { "device" } else { "FIFO" };
        assert!(
            text(&out.stderr).contains(&format!("it is a {what}, not a regular file")),
            "{a:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn hardening_12_metric_names_never_collide_and_one_odd_value_keeps_the_file() {
    let env = Env::new();
    // A parameter `k`, a metrics file giving `k` and `metric.k`, stdout giving `loss` too.
    let command = "case {i} in\n\
        0) echo '{\"k\": 5, \"metric.k\": 7, \"loss\": 0.5}' > {out_dir}/m.json; echo loss=0.9 ;;\n\
        1) echo '{\"big\": 1e400, \"ok\": 2.50}' > {out_dir}/m.json ;;\n\
        2) echo '[1, 2]' > {out_dir}/m.json ;;\n\
        esac";
    let file = env.sweep(
        "names.toml",
        &format!(
            "name = \"names\"\ncommand = '''{command}'''\n[grid]\ni = [0, 1, 2]\nk = [\"x\"]\n[collect]\nmetrics_json = \"m.json\"\nstdout_kv = true\n"
        ),
    );
    assert_ok(&env.run(&["--quiet", "launch", file.to_str().unwrap()]));
    let csv = env.path().join("names.csv");
    let out = env.run(&["collect", "names", "-o", csv.to_str().unwrap()]);
    assert_ok(&out);
    let (header, rows) = read_csv(&csv);
    let mut seen = std::collections::HashSet::new();
    assert!(
        header.iter().all(|h| !h.is_empty() && seen.insert(h)),
        "{header:?}"
    );
    let r0 = &rows[0];
    assert_eq!(r0["k"], "x", "the parameter keeps its column");
    assert_eq!(r0["metric.k"], "5");
    assert_eq!(r0["metric.metric.k"], "7");
    assert_eq!(r0["loss"], "0.5", "the file's loss keeps the name");
    assert_eq!(r0["stdout.loss"], "0.9", "stdout's loss is kept beside it");
    assert_eq!(rows[1]["big"], "1e400");
    assert_eq!(rows[1]["ok"], "2.50", "numbers as written");
    assert_eq!(
        rows[2]["m"], "[1, 2]",
        "a top-level array is named after the file"
    );
    assert!(
        !text(&out.stderr).contains("not valid JSON"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hardening_06_the_size_warning_of_collect_is_range_checked() {
    let env = Env::new();
    for bad in ["0", "10000001", "\"1GB\""] {
        let file = env.sweep(
            "w.toml",
            &format!("name = \"w\"\ncommand = \"true\"\n[collect]\nwarn_mb = {bad}\n"),
        );
        let out = env.run(&["plan", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("w.toml:4:11: collect.warn_mb"),
            "{bad}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn hardening_17_collect_dash_o_writes_the_csv_to_stdout() {
    let env = Env::new();
    launched(&env, "dash", 2, "echo v={i}", "stdout_kv = true\n");
    let out = env.run(&["collect", "dash", "-o", "-"]);
    assert_ok(&out);
    let csv = text(&out.stdout);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("sweep,index,i,"), "{csv}");
    assert!(!env.path().join("-").exists());
    assert!(
        text(&out.stderr).contains("wrote the CSV to standard output"),
        "{}",
        text(&out.stderr)
    );
}
