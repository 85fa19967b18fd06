//! A damaged store: every way of breaking it gives a clear error with the way out (never a
//! panic), and `bsweep recover` rebuilds the sweep from its record, its job scripts, the
//! scheduler and the jobs' outputs, so `resume` and `collect` go on as before.

use std::fs;
use std::path::Path;

use crate::harness::{Env, Sim, assert_ok, text};

fn db_file(home: &Path, sweep: &str) -> std::path::PathBuf {
    home.join("sweeps").join(sweep).join("db").join("db")
}

/// Ways a disk, a full quota or a killed copy leave a database file.
fn damage(path: &Path, how: usize) {
    let mut bytes = fs::read(path).unwrap();
    match how {
        0 => bytes.truncate(0),
        1 => bytes.truncate(100),
        // Half of what was written (sled preallocates its file: the tail may be all zeros).
        2 => {
            let written = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
            bytes.truncate(written / 2);
        }
        3 => {
            for b in bytes.iter_mut().skip(64).step_by(7) {
                *b ^= 0xA5;
            }
        }
        _ => bytes = b"this is not a database\n".repeat(300),
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn every_kind_of_damage_is_an_error_with_the_way_out_never_a_panic() {
    let env = Env::new();
    let file = env.sweep(
        "d.toml",
        "name = \"d\"\ncommand = \"echo v={i}\"\n[grid]\ni = { start = 0, stop = 8 }\n[collect]\nstdout_kv = true\n",
    );
    assert_ok(&env.run(&["launch", file.to_str().unwrap()]));
    let good = fs::read(db_file(&env.home(), "d")).unwrap();
    for how in 0..5 {
        fs::write(db_file(&env.home(), "d"), &good).unwrap();
        damage(&db_file(&env.home(), "d"), how);
        for args in [&["status", "d"][..], &["resume", "d"], &["collect", "d"]] {
            let out = env.run(args);
            let err = text(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "damage {how}, {args:?}: {err}");
            assert_ne!(
                out.status.code(),
                Some(101),
                "damage {how}, {args:?} panicked: {err}"
            );
            assert!(!err.contains("panicked"), "damage {how}: {err}");
            // Either the damage is caught as such, with the way out, or sled read nothing.
            assert!(
                err.contains("bsweep recover d"),
                "damage {how}, {args:?}: {err}"
            );
        }
        // The way out works whatever the damage.
        let out = env.run(&["recover", "d"]);
        assert_ok(&out);
        assert!(
            text(&out.stdout).contains("8 points have a job"),
            "{}",
            text(&out.stdout)
        );
        let st = env.status_json("d");
        assert_eq!(st["counts"]["done"], 8, "damage {how}: {st}");
        let csv = env.path().join("d.csv");
        assert_ok(&env.run(&["collect", "d", "-o", csv.to_str().unwrap()]));
        let rows = fs::read_to_string(&csv).unwrap();
        assert_eq!(rows.lines().count(), 9, "a header and 8 rows");
        assert!(
            rows.lines().skip(1).all(|l| l.contains(",done,0,")),
            "{rows}"
        );
    }
    // The damaged databases are kept aside, not deleted.
    let kept = fs::read_dir(env.home().join("sweeps/d"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("db.damaged-"))
        .count();
    assert!(kept >= 1);
}

#[test]
fn a_sweep_damaged_while_its_jobs_run_on_lsf_is_recovered_without_duplicates() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 4\n");
    let file = sim.env.sweep(
        "busy.toml",
        "name = \"busy\"\nbackend = \"lsf\"\ncommand = \"sleep 1; echo v={i}\"\n[grid]\ni = { start = 0, stop = 12 }\n[lsf]\nqueue = \"normal\"\nmax_in_flight = 8\npoll_min = 0.3\nsettle = 1.0\n[collect]\nstdout_kv = true\n",
    );
    // Submit what fits (8), then lose the store while they run.
    assert_ok(&sim.run(&["launch", file.to_str().unwrap(), "--detach"]));
    let follower_gone = || {
        // --detach leaves a background follower for the 4 waiting points: stop it first, as
        // a crash would.
        let lock = sim.env.home().join("sweeps/busy/lock");
        let pid = fs::read_to_string(lock).unwrap_or_default();
        if let Some(pid) = pid
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    follower_gone();
    std::thread::sleep(std::time::Duration::from_millis(200));
    damage(&db_file(&sim.env.home(), "busy"), 4);
    let out = sim.run(&["status", "busy"]);
    assert!(
        text(&out.stderr).contains("bsweep recover busy"),
        "{}",
        text(&out.stderr)
    );

    let out = sim.run(&["recover", "busy"]);
    assert_ok(&out);
    let out = sim.run(&["resume", "busy"]);
    assert_ok(&out);
    assert_eq!(sim.status_json("busy")["counts"]["done"], 12);
    crate::harness::assert_one_job_per_point(&sim.calls_of("bsub"), 12);
}
