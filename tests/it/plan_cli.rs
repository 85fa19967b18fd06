//! `bsweep plan` on the example sweep files (job scripts pinned by snapshots), and the exit code
//! and location of every malformed sweep file in `tests/spec_bad/`.

use crate::harness::{Env, assert_ok, text};

/// Runs `plan` with a fixed home so scripts are stable, and redacts that home.
fn plan(env: &Env, file: &str, extra: &[&str]) -> String {
    let path = format!("{}/sweeps/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec!["plan", path.as_str()];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    assert_ok(&out);
    text(&out.stdout)
        .replace(&env.home().display().to_string(), "[HOME]")
        .replace(env!("CARGO_MANIFEST_DIR"), "[REPO]")
}

#[test]
fn plan_nju_gpu_prints_bsub_scripts_like_the_hand_written_ones() {
    let env = Env::new();
    let out = plan(&env, "nju-gpu.toml", &[]);
    // The lines a user at the NJU centre writes by hand, in the order they write them.
    for needle in [
        "#!/bin/bash",
        "#BSUB -J bsw-xxxxxx-00000-1",
        "#BSUB -m 734090ib",
        "#BSUB -gpu num=1:mode=shared:mps=no",
        "module load anaconda/3-5.0.1",
        "source activate test",
    ] {
        assert!(out.contains(needle), "plan lacks {needle:?}:\n{out}");
    }
    insta::assert_snapshot!("plan_nju_gpu", out);
}

#[test]
fn plan_quickstart_and_json() {
    let env = Env::new();
    insta::assert_snapshot!("plan_quickstart", plan(&env, "quickstart.toml", &[]));
    let json: serde_json::Value =
        serde_json::from_str(&plan(&env, "quickstart.toml", &["--json", "--all"])).unwrap();
    assert_eq!(json["count"], 12);
    assert_eq!(json["points"].as_array().unwrap().len(), 12);
    assert_eq!(
        json["params"],
        serde_json::json!(["lr", "layers", "optimizer"])
    );
    // plan touches nothing.
    assert!(!env.home().exists(), "plan must not create the home");
}

#[test]
fn every_malformed_sweep_file_exits_2_with_its_location() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spec_bad");
    let env = Env::new();
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let src = std::fs::read_to_string(&path).unwrap();
        let expect = src
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("expect header");
        let (loc, field) = expect.split_once(' ').unwrap_or((expect, ""));
        for cmd in ["plan", "launch"] {
            let out = env.run(&[cmd, path.to_str().unwrap()]);
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{cmd} {}: {err}",
                path.display()
            );
            assert!(
                err.contains(&format!("{}:{loc}", path.display())),
                "{}: want {loc} in {err}",
                path.display()
            );
            assert!(
                err.contains(field.trim()),
                "{}: want field {field} in {err}",
                path.display()
            );
            assert!(!err.contains("panicked"), "{err}");
        }
        n += 1;
    }
    assert!(n >= 15, "only {n} malformed files");
    assert!(
        !env.home().join("sweeps").exists(),
        "a malformed file must record nothing"
    );
}

#[test]
fn huge_grids_need_confirmation() {
    let env = Env::new();
    let file = env.sweep(
        "big.toml",
        "name = \"big\"\ncommand = \"true\"\n[grid]\na = { start = 0, stop = 1000 }\nb = { start = 0, stop = 101 }\n",
    );
    let out = env.run(&["plan", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    let out = env.run(&["plan", file.to_str().unwrap(), "--yes"]);
    assert_ok(&out);
    assert!(text(&out.stdout).contains("101000 points"));

    // A tiny file for a vast grid that exclusions empty: refused at once, never walked.
    let vast = env.sweep(
        "vast.toml",
        "name = \"vast\"\ncommand = \"true\"\n[grid]\na = { start = 0, stop = 1_000_000_000_000 }\nb = [1]\n[[exclude]]\nb = 1\n",
    );
    let start = std::time::Instant::now();
    let out = env.run(&["plan", vast.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("before exclusions"),
        "{}",
        text(&out.stderr)
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
