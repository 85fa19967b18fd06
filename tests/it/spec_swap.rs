//! `retry --spec` / `resume --spec`: a recorded sweep follows an edited sweep file from then on,
//! but only when the file still describes the same sweep (the real `bsweep` binary against the
//! LSF simulator).

use std::path::Path;

use crate::harness::{Sim, assert_ok, text};

const TWO_QUEUES: &str = r#"
[[queue]]
name = "short"
slots = 4
[[queue]]
name = "normal"
slots = 4
"#;

/// A sweep of points `i` in 0..grid_stop over `queues`; `queues = ...` is line 9.
fn body(command: &str, queues: &str, grid_stop: usize) -> String {
    format!(
        r#"name = "sw"
backend = "lsf"
command = "{command}"
[grid]
i = {{ start = 0, stop = {grid_stop} }}
[collect]
stdout_kv = true
[lsf]
queues = {queues}
poll_min = 0.3
poll_max = 1.0
settle = 1.0
"#
    )
}

fn scripts(sweep_dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(sweep_dir.join("scripts"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn retry_with_an_edited_file_runs_the_failed_points_with_its_settings() {
    let sim = Sim::new(TWO_QUEUES);
    let broken = body("test {i} -lt 2 && echo v=1", r#"["short"]"#, 4);
    let file = sim.env.sweep("sw.toml", &broken);
    let out = sim.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(sim.status_json("sw")["counts"]["failed"], 2);

    // The fix: another command, and a second queue added after the first.
    let fixed = body("echo v=2", r#"["short", "normal"]"#, 4);
    let edited = sim.env.sweep("sw-fixed.toml", &fixed);
    let out = sim.run(&[
        "retry",
        "sw",
        "--failed",
        "--spec",
        edited.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("follows"),
        "{}",
        text(&out.stderr)
    );
    let st = sim.status_json("sw");
    assert_eq!(st["counts"]["done"], 4, "{st}");

    let dir = sim.env.home().join("sweeps/sw");
    let all = scripts(&dir);
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "00000-1.sh",
            "00001-1.sh",
            "00002-1.sh",
            "00002-2.sh",
            "00003-1.sh",
            "00003-2.sh"
        ]
    );
    for (name, script) in &all {
        let new = name.ends_with("-2.sh");
        assert_eq!(script.contains("echo v=2"), new, "{name}:\n{script}");
        assert_eq!(
            script.contains("-lt 2 && echo v=1"),
            !new,
            "{name}:\n{script}"
        );
    }
    // The retries were spread over both queues: the added one is used.
    let queues: Vec<&str> = st["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["queue"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(&queues[..2], ["short", "short"], "{st}");
    assert!(queues[2..].contains(&"normal"), "{st}");

    // The record follows the new file; the old text is kept.
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["spec_text"], fixed.as_str());
    assert_eq!(meta["targets"], serde_json::json!(["short", "normal"]));
    assert_eq!(
        std::fs::read_to_string(dir.join("spec-history/1.toml")).unwrap(),
        broken
    );
    // The CSV reads the new [collect] and shows each point's last attempt.
    let csv = sim.env.path().join("sw.csv");
    assert_ok(&sim.run(&["collect", "sw", "-o", csv.to_str().unwrap()]));
    let (_, rows) = crate::harness::read_csv(&csv);
    let v: Vec<&str> = rows.iter().map(|r| r["v"].as_str()).collect();
    assert_eq!(v, ["1", "1", "2", "2"]);
}

#[test]
fn a_file_that_is_not_the_same_sweep_is_refused_and_changes_nothing() {
    let sim = Sim::new(TWO_QUEUES);
    let original = body("test {i} -lt 2", r#"["short", "normal"]"#, 4);
    let file = sim.env.sweep("sw.toml", &original);
    assert_eq!(
        sim.run(&["launch", file.to_str().unwrap()]).status.code(),
        Some(4)
    );
    let bsubs = sim.calls_of("bsub").len();
    let refused = |text_: &str, field: &str, words: &str| {
        let f = sim.env.sweep("edited.toml", text_);
        let out = sim.run(&["retry", "sw", "--failed", "--spec", f.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("edited.toml"), "{err}");
        assert!(err.contains(field), "{field}: {err}");
        assert!(err.contains(words), "{words}: {err}");
    };
    // Another grid: a point more, or a point with other values.
    refused(
        &body("true", r#"["short", "normal"]"#, 5),
        "grid",
        "gives 5 points",
    );
    refused(
        &body("true", r#"["short", "normal"]"#, 4)
            .replace("start = 0, stop = 4", "start = 1, stop = 5"),
        "grid",
        "point 0 would change from `i=0` to `i=1`",
    );
    // Another name.
    refused(
        &body("true", r#"["short", "normal"]"#, 4).replace("\"sw\"", "\"other\""),
        "name",
        "this is sweep `sw`",
    );
    // Targets reordered (attempts refer to them by position).
    refused(
        &body("true", r#"["normal", "short"]"#, 4),
        "lsf",
        "target 1 of the sweep, `short`, has had jobs and must stay at that place",
    );
    // A queue the cluster does not have, at its line.
    refused(
        &body("true", r#"["short", "normal", "gpu"]"#, 4),
        "edited.toml:9:30: lsf.queues[2]",
        "gpu: No such queue",
    );

    // Nothing changed: no job was submitted, the record is the original.
    assert_eq!(sim.calls_of("bsub").len(), bsubs);
    let dir = sim.env.home().join("sweeps/sw");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["spec_text"], original.as_str());
    assert!(!dir.join("spec-history").exists());
    assert_eq!(sim.status_json("sw")["counts"]["failed"], 2);
}
