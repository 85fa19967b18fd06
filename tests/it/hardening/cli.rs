//! Regression tests of issue 10's items that are about the commands and the engine: sweep
//! arguments that are paths, a recover that cannot ask the scheduler, a launch killed while
//! recording, detached retries, cancelled points run again, closed pipes and full disks, a
//! watch that nothing moves, a relative home, host-group targets, stale status, commands run
//! while launch records, and the smaller wording and exit-code items.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Env, Sim, assert_ok, read_csv, text, wait_for};

/// A local sweep of `n` points running `cmd` (with `{i}`).
fn local(env: &Env, name: &str, n: usize, cmd: &str, extra: &str) -> String {
    env.sweep(
        &format!("{name}.toml"),
        &format!(
            "name = \"{name}\"\ncommand = \"{cmd}\"\n{extra}\n[grid]\ni = {{ start = 0, stop = {n} }}\n[local]\nconcurrency = 2\n"
        ),
    )
    .to_string_lossy()
    .into_owned()
}

#[test]
fn hardening_01_a_sweep_argument_must_be_a_name_before_anything_touches_the_disk() {
    let env = Env::new();
    let outside = env.path().join("x");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep"), b"mine").unwrap();
    let bad = ["../../x", "/etc", "a/b", "..", ""];
    let commands: [&[&str]; 9] = [
        &["status"],
        &["logs", "--", "0"],
        &["resume"],
        &["cancel"],
        &["retry", "--failed"],
        &["collect"],
        &["recover"],
        &["delete", "--force"],
        &["summary"],
    ];
    for name in bad {
        for c in commands {
            let mut args: Vec<&str> = vec![c[0], name];
            args.extend(&c[1..]);
            if c[0] == "summary" && env.run(&["summary", "--help"]).status.code() != Some(0) {
                continue; // not a command of this build
            }
            let out = env.run(&args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?}: {}",
                text(&out.stderr)
            );
            assert!(
                text(&out.stderr).contains("not a sweep name")
                    || text(&out.stderr).contains("sweep name"),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
    }
    assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"mine");
    assert!(!env.home().join("sweeps").exists(), "nothing was created");
    for leftover in ["y", "z", "db", "lock"] {
        assert!(!env.path().join(leftover).exists(), "{leftover}");
    }
}

#[test]
fn hardening_02_a_recover_that_cannot_ask_the_scheduler_leaves_the_store_as_it_was() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 8\n");
    let file = sim.env.sweep(
        "r.toml",
        "name = \"r\"\nbackend = \"lsf\"\ncommand = \"echo v={i}\"\n[grid]\ni = { start = 0, stop = 6 }\n[lsf]\npoll_min = 0.2\npoll_max = 0.5\nsettle = 0.5\n",
    );
    assert_ok(&sim.run(&["launch", file.to_str().unwrap()]));
    let before = sim.status_json("r");
    assert_eq!(before["counts"]["done"], 6);
    let bsubs = sim.calls_of("bsub").len();
    // The scheduler stops answering bjobs.
    let cfg = sim.state.join("config.toml");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{good}\n[faults]\nbjobs_fail = 1.0\n")).unwrap();
    let out = sim.run(&["recover", "r"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(err.contains("bsweep recover r"), "{err}");
    // Exactly as it was: every point done, and a resume submits nothing.
    std::fs::write(&cfg, good).unwrap();
    let after = sim.status_json("r");
    assert_eq!(after["counts"], before["counts"]);
    assert_eq!(after["points"], before["points"]);
    assert_ok(&sim.run(&["resume", "r"]));
    assert_eq!(sim.calls_of("bsub").len(), bsubs, "nothing submitted again");
}

#[test]
fn hardening_03_a_launch_killed_while_recording_leaves_no_sweep_or_a_whole_one() {
    let env = Env::new();
    // Big enough that recording takes a while; `--detach` with a command that never runs
    // long.
    let file = env.sweep(
        "big.toml",
        "name = \"big\"\ncommand = \"true\"\n[grid]\na = { start = 0, stop = 400 }\nb = { start = 0, stop = 250 }\n[local]\nconcurrency = 1\n",
    );
    let file = file.to_str().unwrap();
    for delay_ms in [150, 400, 900] {
        let mut child = env.spawn(&["-q", "launch", file, "--yes", "--detach"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let out = env.run(&["status", "big"]);
        let err = text(&out.stderr);
        match out.status.code() {
            // Killed while recording: no sweep, and a message naming the launch to run again.
            Some(3) => {
                // Before recording began there is nothing at all; during it, a partial
                // database that is no sweep, and a message naming the launch to run again.
                if !err.contains("no sweep named `big`") {
                    assert!(err.contains("never completely recorded"), "{err}");
                    assert!(err.contains(&format!("bsweep launch {file}")), "{err}");
                }
                assert!(!err.contains("damaged"), "{err}");
                let again = env.run(&["-q", "launch", file, "--yes", "--detach"]);
                assert_ok(&again);
            }
            // Killed after: a whole sweep.
            Some(0) => assert!(text(&out.stdout).contains("100000 points")),
            other => panic!("status exited {other:?}: {err}"),
        }
        let st = env.run(&["status", "big"]);
        assert_ok(&st);
        assert!(text(&st.stdout).contains("100000 points"));
        // The background follower is not what this test is about: stop it the hard way (its
        // pid is in the sweep's lock) and forget the sweep.
        let lock = std::fs::read_to_string(env.home().join("sweeps/big/lock")).unwrap_or_default();
        if let Some(pid) = lock
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        wait_for("the follower to let go", Duration::from_secs(60), || {
            env.run(&["delete", "big", "--force"]).status.success()
        });
    }
}

#[test]
fn hardening_04_detach_leaves_a_follower_that_retries_when_max_attempts_asks() {
    let env = Env::new();
    // Every point fits in the first round; attempt 1 fails, attempt 2 succeeds.
    let file = local(&env, "d", 2, "[ {attempt} -ge 2 ]", "max_attempts = 2");
    let out = env.run(&["launch", &file, "--detach"]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("follows them in the background"),
        "{}",
        text(&out.stderr)
    );
    wait_for("both points done", Duration::from_secs(60), || {
        env.status_json("d")["counts"]["done"] == 2
    });
    let st = env.status_json("d");
    for p in st["points"].as_array().unwrap() {
        assert_eq!(p["attempts"], 2, "{p}");
    }
}

#[test]
fn hardening_05_cancelled_points_run_again_with_the_command_cancel_names() {
    let env = Env::new();
    let file = local(&env, "c", 4, "sleep 30", "");
    assert_ok(&env.run(&["launch", &file, "--detach"]));
    wait_for(
        "the follower to hold the sweep",
        Duration::from_secs(10),
        || env.home().join("sweeps/c/status.json").exists(),
    );
    let out = env.run(&["cancel", "c"]);
    assert_ok(&out);
    wait_for("every point cancelled", Duration::from_secs(30), || {
        env.status_json("c")["counts"]["cancelled"] == 4
    });
    // Once the follower has let go, a cancel here says what it did and names the way back.
    wait_for(
        "a cancel that names the way back",
        Duration::from_secs(30),
        || {
            let out = env.run(&["cancel", "c"]);
            out.status.success() && text(&out.stdout).contains("bsweep retry c --cancelled")
        },
    );
    // The sweep file changes to a quick command for the rerun.
    let quick = local(&env, "c", 4, "true", "");
    let out = env.run(&["retry", "c", "--cancelled", "--spec", &quick]);
    assert_ok(&out);
    assert_eq!(env.status_json("c")["counts"]["done"], 4);
    let out = env.run(&["retry", "c", "--cancelled"]);
    assert_ok(&out);
    assert!(text(&out.stderr).contains("no point to retry"));
}

#[test]
fn hardening_08_a_closed_pipe_ends_quietly_and_a_full_disk_is_an_error() {
    let env = Env::new();
    let bin = env!("CARGO_BIN_EXE_bsweep");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{bin} completions bash | true; echo rc=${{PIPESTATUS[0]}}"
        ))
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("rc=0"), "{}", text(&out.stdout));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    let file = local(&env, "p", 40, "true", "");
    assert_ok(&env.run(&["launch", &file]));
    let pipe = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{bin} --home {} status p --json | head -c 10 >/dev/null; echo rc=${{PIPESTATUS[0]}}",
            env.home().display()
        ))
        .output()
        .unwrap();
    assert!(
        text(&pipe.stdout).contains("rc=0"),
        "{}",
        text(&pipe.stderr)
    );
    assert!(!text(&pipe.stderr).contains("panicked"));
    if Path::new("/dev/full").exists() {
        let full = env
            .cmd(&["status", "p", "--json"])
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(full.status.code(), Some(1), "{}", text(&full.stderr));
        assert!(
            text(&full.stderr).contains("cannot write"),
            "{}",
            text(&full.stderr)
        );
        assert!(!text(&full.stderr).contains("panicked"));
    }
}

#[test]
fn hardening_09_watch_stops_when_nothing_follows_the_sweep() {
    let env = Env::new();
    let file = local(&env, "w", 4, "sleep 1", "");
    // Stop following at once: the points that wait have no follower.
    let child = env.spawn(&["launch", &file]);
    wait_for("the first jobs to start", Duration::from_secs(20), || {
        env.home().join("sweeps/w/status.json").exists()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let started = std::time::Instant::now();
    let out = env.run(&["status", "w", "--watch"]);
    assert_ok(&out);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        text(&out.stderr).contains("bsweep resume w"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hardening_10_a_relative_home_is_made_absolute_for_the_jobs() {
    let env = Env::new();
    std::fs::create_dir_all(env.path().join("sub")).unwrap();
    std::fs::write(
        env.path().join("sub/x.toml"),
        "name = \"x\"\ncommand = \"echo '{\\\"v\\\": {i}}' > {out_dir}/m.json\"\nworkdir = \"/tmp\"\n[grid]\ni = [1, 2]\n[collect]\nmetrics_json = \"m.json\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bsweep"))
            .args(args)
            .current_dir(env.path())
            .env_remove("BSWEEP_HOME")
            .output()
            .unwrap()
    };
    assert_ok(&run(&["--home", "relhome", "launch", "sub/x.toml"]));
    assert_ok(&run(&["--home", "relhome", "collect", "x", "-o", "x.csv"]));
    let (_, rows) = read_csv(&env.path().join("x.csv"));
    assert_eq!(
        rows.iter().map(|r| r["v"].as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    let script =
        std::fs::read_to_string(env.path().join("relhome/sweeps/x/scripts/00000-1.sh")).unwrap();
    assert!(script.contains(&format!(
        "{}/relhome/sweeps/x/out/00000",
        env.path().display()
    )));
}

#[test]
fn hardening_11_host_group_targets_are_named_by_their_group_and_a_refused_one_fails_its_point() {
    let sim = Sim::new(
        "[[queue]]\nname = \"normal\"\nslots = 8\n[[hostgroup]]\nname = \"g1\"\nhosts = [\"h1\"]\n[[hostgroup]]\nname = \"g2\"\nhosts = [\"h2\"]\n",
    );
    let sweep = |name: &str, hosts: &str| {
        sim.env.sweep(
            &format!("{name}.toml"),
            &format!("name = \"{name}\"\nbackend = \"lsf\"\ncommand = \"true\"\n[grid]\ni = {{ start = 0, stop = 6 }}\n[lsf]\nhosts = {hosts}\npoll_min = 0.2\npoll_max = 0.5\nsettle = 0.5\n"),
        )
    };
    let f = sweep("hg", "[\"g1\", \"g2\"]");
    assert_ok(&sim.run(&["launch", f.to_str().unwrap()]));
    let st = sim.status_json("hg");
    let targets: Vec<&String> = st["targets"].as_object().unwrap().keys().collect();
    assert_eq!(targets, ["@g1", "@g2"], "{st}");
    let csv = sim.env.path().join("hg.csv");
    assert_ok(&sim.run(&["collect", "hg", "-o", csv.to_str().unwrap()]));
    let (_, rows) = read_csv(&csv);
    let mut seen: Vec<&str> = rows.iter().map(|r| r["target"].as_str()).collect();
    seen.sort();
    assert_eq!(seen, ["@g1", "@g1", "@g1", "@g2", "@g2", "@g2"]);
    // A host group LSF does not know refuses its one job; the rest run on the good group.
    let f = sweep("bad", "[\"nosuchgroup\", \"g2\"]");
    let out = sim.run(&["launch", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let st = sim.status_json("bad");
    assert_eq!(st["counts"]["failed"], 1, "{st}");
    assert_eq!(st["counts"]["done"], 5, "{st}");
    assert_eq!(st["targets"]["@nosuchgroup"]["failed"], 1);
    let text_status = text(&sim.run(&["status", "bad"]).stdout);
    assert!(text_status.contains("on @nosuchgroup"), "{text_status}");
}

#[test]
fn hardening_14_a_status_that_cannot_reach_the_scheduler_says_how_old_and_exits_5() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 8\n");
    let file = sim.env.sweep(
        "s.toml",
        "name = \"s\"\nbackend = \"lsf\"\ncommand = \"sleep 30\"\n[grid]\ni = [1, 2]\n[lsf]\npoll_min = 0.2\npoll_max = 0.5\nsettle = 0.5\n",
    );
    assert_ok(&sim.run(&["launch", file.to_str().unwrap(), "--detach"]));
    // Nothing follows it (no retries, nothing waits); one poll records an answer.
    assert_ok(&sim.run(&["status", "s"]));
    let cfg = sim.state.join("config.toml");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{good}\n[faults]\nbjobs_fail = 1.0\n")).unwrap();
    let out = sim.run(&["status", "s"]);
    std::fs::write(&cfg, good).unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("2 pending") || shown.contains("2 running"),
        "{shown}"
    );
    assert!(
        shown.contains("offline: as of the last answer of the scheduler"),
        "{shown}"
    );
    assert!(shown.contains(" ago"), "{shown}");
    let _ = sim.run(&["cancel", "s"]);
}

#[test]
fn hardening_15_status_and_logs_while_launch_records_say_so() {
    let env = Env::new();
    let file = env.sweep(
        "rec.toml",
        "name = \"rec\"\ncommand = \"true\"\n[grid]\na = { start = 0, stop = 2000 }\nb = { start = 0, stop = 500 }\n[local]\nconcurrency = 1\n",
    );
    let mut child = env.spawn(&["-q", "launch", file.to_str().unwrap(), "--yes", "--detach"]);
    wait_for("recording to start", Duration::from_secs(20), || {
        env.home().join("sweeps/rec/db.partial").exists()
            || env.home().join("sweeps/rec/db").exists()
    });
    let status = env.run(&["status", "rec"]);
    let logs = env.run(&["logs", "rec", "0"]);
    let recording = !env.home().join("sweeps/rec/db").exists();
    let _ = child.wait();
    for out in [&status, &logs] {
        let err = text(&out.stderr);
        if recording && out.status.code() != Some(0) {
            assert_eq!(out.status.code(), Some(3), "{err}");
            assert!(err.contains("still being recorded"), "{err}");
        } else {
            // The recording ended first: then it works as for any sweep.
            assert!(matches!(out.status.code(), Some(0) | Some(3)), "{err}");
        }
        assert!(!err.contains("cannot be read"), "{err}");
    }
    let _ = env.run(&["cancel", "rec"]);
}

#[test]
fn hardening_17_smaller_items_wording_exit_codes_and_output() {
    let env = Env::new();
    // -q prints no progress lines when stderr is not a terminal.
    let file = local(&env, "q", 3, "true", "");
    let out = env.run(&["-q", "launch", &file]);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(
        !err.lines()
            .any(|l| l.contains("running") || l.contains("pending")),
        "{err}"
    );
    // One point is "1 point".
    let one = local(&env, "one", 1, "true", "");
    let plan = text(&env.run(&["plan", &one]).stdout);
    assert!(plan.contains("sweep one: 1 point,"), "{plan}");
    // A point without parameters is not `point 0 ()`.
    let bare = env.sweep("bare.toml", "name = \"bare\"\ncommand = \"exit 1\"\n");
    let _ = env.run(&["launch", bare.to_str().unwrap()]);
    let st = text(&env.run(&["status", "bare"]).stdout);
    assert!(st.contains("point 0: failed"), "{st}");
    assert!(!st.contains("()"), "{st}");
    // `list` columns line up and `--json` gives the follower as a number or null.
    let list = text(&env.run(&["list"]).stdout);
    let starts: Vec<usize> = list
        .lines()
        .map(|l| l.find(char::is_numeric).unwrap_or(0))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{list}");
    let lj: serde_json::Value =
        serde_json::from_slice(&env.run(&["list", "--json"]).stdout).unwrap();
    assert!(
        lj.as_array()
            .unwrap()
            .iter()
            .all(|r| r["followed_by"].is_null())
    );
    // An empty BSWEEP_HOME is the default, not a clap error.
    let out = Command::new(env!("CARGO_BIN_EXE_bsweep"))
        .args(["plan", &one])
        .env("BSWEEP_HOME", "")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&out);
    // Exit codes: a missing capture for `debug parse` is bad input; deleting a sweep with
    // points in flight is a conflict.
    let out = env.run(&["debug", "parse", "bsub", "/nonexistent/capture"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let slow = local(&env, "slow", 2, "sleep 30", "");
    assert_ok(&env.run(&["launch", &slow, "--detach"]));
    let out = env.run(&["delete", "slow"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("bsweep cancel slow"));
    // A point that never ran says so in `logs`.
    let _ = env.run(&["cancel", "slow"]);
    let file = env.sweep(
        "nr.toml",
        "name = \"nr\"\ncommand = \"sleep 30\"\n[grid]\ni = [0, 1, 2]\n[local]\nconcurrency = 1\n",
    );
    assert_ok(&env.run(&["launch", file.to_str().unwrap(), "--detach"]));
    assert_ok(&env.run(&["cancel", "nr"]));
    wait_for("the cancel to be done", Duration::from_secs(30), || {
        env.status_json("nr")["counts"]["cancelled"] == 3
    });
    let out = env.run(&["logs", "nr", "2"]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("never ran"),
        "{}",
        text(&out.stderr)
    );
    // retry and resume say what --detach does.
    for c in ["retry", "resume"] {
        let help = text(&env.run(&[c, "--help"]).stdout);
        assert!(
            help.contains("--detach") && help.contains("background"),
            "{help}"
        );
    }
    // A job whose output is one 4 MB line shows its end, not nothing.
    let big = env.sweep(
        "bigline.toml",
        "name = \"bigline\"\ncommand = \"head -c 4000000 /dev/zero | tr '\\\\0' x\"\n",
    );
    assert_ok(&env.run(&["launch", big.to_str().unwrap()]));
    let out = env.run(&["logs", "bigline", "0"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).len() > 100_000,
        "{}",
        text(&out.stdout).len()
    );
}
