//! Tests of the summary against a real sweep's rows (tests/fixtures/summary/rows.json, made by
//! running sweep.toml with bsweep) and values computed independently by Python
//! (expected.json, made by make_expected.py).

use serde::Deserialize;
use serde_json::Value as Json;

use super::stats::{describe, t975};
use super::*;

#[derive(Deserialize)]
struct Fixture {
    info: SweepInfo,
    rows: Vec<Row>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../../tests/fixtures/summary/rows.json")).unwrap()
}

/// serde_json (without its `float_roundtrip` feature, which bsweep does not enable) may read a
/// 17-digit number one ulp off; Python's output is read here with Rust's correctly rounded
/// `str::parse` instead: numbers are quoted with a marker, parsed, and converted back.
fn exact_json(text: &str) -> Json {
    const MARK: &str = "#num:";
    let mut quoted = String::with_capacity(text.len() * 2);
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            quoted.push(c);
            match c {
                '\\' => quoted.extend(chars.next()),
                '"' => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
            quoted.push(c);
        } else if c == '-' || c.is_ascii_digit() {
            quoted.push('"');
            quoted.push_str(MARK);
            quoted.push(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || "+-.eE".contains(d) {
                    quoted.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            quoted.push('"');
        } else {
            quoted.push(c);
        }
    }
    fn restore(v: Json) -> Json {
        match v {
            Json::String(s) => match s.strip_prefix(MARK) {
                Some(n) if n.contains(['.', 'e', 'E']) => Json::from(n.parse::<f64>().unwrap()),
                Some(n) => Json::from(n.parse::<i64>().unwrap()),
                None => Json::String(s),
            },
            Json::Array(a) => Json::Array(a.into_iter().map(restore).collect()),
            Json::Object(o) => Json::Object(o.into_iter().map(|(k, v)| (k, restore(v))).collect()),
            other => other,
        }
    }
    restore(serde_json::from_str(&quoted).unwrap())
}

fn expected() -> Json {
    exact_json(include_str!("../../tests/fixtures/summary/expected.json"))
}

#[test]
fn exact_json_reads_numbers_correctly_rounded() {
    let v = exact_json(r#"{"a": [3.1824463052837078, -1e-5, 42, "x\"1"], "b": null}"#);
    assert_eq!(v["a"][0].as_f64(), Some(3.1824463052837078));
    assert_eq!(v["a"][1].as_f64(), Some(-1e-5));
    assert_eq!(v["a"][2].as_i64(), Some(42));
    assert_eq!(v["a"][3], "x\"1");
    assert!(v["b"].is_null());
}

fn opts(metric: Option<&str>, goal: Goal, over: &[&str]) -> SummaryOpts {
    SummaryOpts {
        metric: metric.map(str::to_string),
        goal,
        // As make_expected.py reads it: no parameters named means the default.
        over: (!over.is_empty()).then(|| over.iter().map(|s| s.to_string()).collect()),
        top: 10,
    }
}

fn f(v: &Json) -> Option<f64> {
    v.as_f64()
}

#[test]
fn json_matches_python_bit_for_bit() {
    let fx = fixture();
    let exp = expected();
    let scenarios = exp["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 3);
    for sc in scenarios {
        let o = &sc["opts"];
        let goal = match o["goal"].as_str().unwrap() {
            "min" => Goal::Min,
            _ => Goal::Max,
        };
        let over: Vec<&str> = o["over"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let s = summarize(&fx.info, &fx.rows, &opts(o["metric"].as_str(), goal, &over)).unwrap();
        let ours = serde_json::to_string(&to_json(&s)).unwrap();
        // Re-serialised by the same serde_json: key order and every float's shortest form
        // must agree, so equal text means equal structure and equal bits.
        let theirs = serde_json::to_string(&sc["json"]).unwrap();
        if ours != theirs {
            let (a, b) = (to_json(&s), sc["json"].clone());
            for (i, (ga, gb)) in a["groups"]
                .as_array()
                .unwrap()
                .iter()
                .zip(b["groups"].as_array().unwrap())
                .enumerate()
            {
                assert_eq!(ga, gb, "scenario {o}: group {i}");
            }
            assert_eq!(a, b, "scenario {o}");
            panic!("scenario {o}: same values, different key order:\n{ours}\n{theirs}");
        }
    }
}

#[test]
fn fixture_facts_hold() {
    // What the fixture's sweep file says happened, seen through the summary.
    let fx = fixture();
    let s = summarize(&fx.info, &fx.rows, &opts(Some("eval.acc"), Goal::Max, &[])).unwrap();
    assert_eq!(s.over, ["repeat"]);
    assert_eq!(s.params, ["lr", "layers", "opt"]);
    assert_eq!(s.metrics, ["loss", "eval.acc", "epoch"], "device is text");
    assert_eq!((s.points, s.done, s.groups.len()), (36, 34, 12));
    // The diverged runs: counted, never averaged (their loss=2.31 would show in the mean).
    let diverged = s
        .groups
        .iter()
        .find(|g| {
            g.params
                == [
                    ("lr".to_string(), Value::from(0.1)),
                    ("layers".to_string(), Value::Int(1)),
                    ("opt".to_string(), Value::Str("sgd".into())),
                ]
        })
        .unwrap();
    assert_eq!((diverged.n, diverged.n_done), (3, 2));
    assert_eq!(diverged.metrics[0].n, 2);
    assert!(diverged.metrics[0].max.unwrap() < 1.0);
    // The group that never reported eval.acc comes last, and only the first is best.
    let last = s.groups.last().unwrap();
    assert_eq!(last.metrics[1].n, 0);
    assert_eq!(last.metrics[1].mean, None);
    assert!(s.groups[0].best && s.groups.iter().filter(|g| g.best).count() == 1);
    // Every primary mean is no better than the one before it.
    let means: Vec<f64> = s.groups.iter().filter_map(|g| g.metrics[1].mean).collect();
    assert!(means.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn t_quantiles_match_scipy() {
    let exp = expected();
    let mut checked = 0;
    for pair in exp["t975"].as_array().unwrap() {
        let df = pair[0].as_u64().unwrap();
        let want = pair[1].as_f64().unwrap();
        let got = t975(df).unwrap();
        if df <= 30 {
            assert_eq!(got, want, "df {df}: the table is scipy's");
        } else {
            let rel = ((got - want) / want).abs();
            assert!(rel < 4e-10, "df {df}: {got} vs scipy {want} ({rel:e})");
            if df >= 1000 {
                assert!(rel < 1e-15, "df {df}: {rel:e}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 44);
}

#[test]
fn mean_and_std_are_correctly_rounded_on_random_sets() {
    // 120 sets (2 to 100 values, scales 1e-8 to 1e8, some with a large common offset): mean,
    // std, min and max must equal Python's exactly; ci95 too while the t quantile comes from
    // the table (n ≤ 31), within the expansion's accuracy beyond.
    let exp = expected();
    let cases = exp["stats_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 120);
    for (i, c) in cases.iter().enumerate() {
        let xs: Vec<f64> = c["xs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let d = describe(&xs).unwrap();
        assert_eq!(d.n, c["n"].as_u64().unwrap());
        assert_eq!(Some(d.mean), f(&c["mean"]), "case {i}: mean");
        assert_eq!(d.std, f(&c["std"]), "case {i}: std");
        assert_eq!((Some(d.min), Some(d.max)), (f(&c["min"]), f(&c["max"])));
        let (got, want) = (d.ci95.unwrap(), f(&c["ci95"]).unwrap());
        if d.n <= 31 {
            assert_eq!(got, want, "case {i}: ci95");
        } else {
            assert!(((got - want) / want).abs() < 4e-10, "case {i}: ci95");
        }
    }
}

#[test]
fn unknown_names_are_errors_that_list_what_exists() {
    let fx = fixture();
    let e = summarize(&fx.info, &fx.rows, &opts(Some("acc"), Goal::Max, &[])).unwrap_err();
    assert!(matches!(&e, SummaryError::UnknownMetric { name, .. } if name == "acc"));
    assert_eq!(
        e.to_string(),
        "no metric `acc` in the results; numeric metrics: loss, eval.acc, epoch; other metrics: \
         device; name a numeric one with --metric"
    );
    let e = summarize(&fx.info, &fx.rows, &opts(Some("device"), Goal::Max, &[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "metric `device` is not numeric (point 0 has `cpu`); numeric metrics: loss, eval.acc, \
         epoch; name one with --metric"
    );
    let e = summarize(&fx.info, &fx.rows, &opts(None, Goal::Max, &["seed"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`seed` is not a parameter of the sweep; parameters: lr, layers, opt, repeat; `--over ''` \
         groups by every parameter"
    );
    let mut rows = fx.rows.clone();
    rows[7].params.retain(|(k, _)| k != "layers");
    let e = summarize(&fx.info, &rows, &opts(None, Goal::Max, &[])).unwrap_err();
    assert_eq!(e.to_string(), "point 7 has no value for parameter `layers`");
}

#[test]
fn a_running_sweep_counts_what_is_done() {
    let fx = fixture();
    let mut rows = fx.rows.clone();
    // Half-way: points 18 on have not ended and have reported nothing.
    for r in rows.iter_mut().filter(|r| r.index >= 18) {
        r.state = if r.index % 2 == 0 {
            State::Running
        } else {
            State::Pending
        };
        r.metrics.clear();
    }
    let s = summarize(&fx.info, &rows, &opts(Some("loss"), Goal::Min, &[])).unwrap();
    assert_eq!((s.points, s.done), (36, 16));
    assert_eq!(s.groups.len(), 12);
    let with_values = s.groups.iter().filter(|g| g.metrics[0].n > 0).count();
    assert_eq!(with_values, 6);
    assert!(s.groups[..6].iter().all(|g| g.metrics[0].mean.is_some()));
    // lr 0.001 has no done point yet: its effect level is there, empty.
    let lr = s.effects.iter().find(|e| e.param == "lr").unwrap();
    assert_eq!(lr.levels[2].value, Value::from(0.001));
    assert_eq!((lr.levels[2].n, lr.levels[2].mean), (0, None));

    // Nothing reported at all yet: the metric cannot be checked, and nothing fails.
    for r in &mut rows {
        r.metrics.clear();
        r.state = State::Pending;
    }
    let s = summarize(&fx.info, &rows, &opts(Some("loss"), Goal::Min, &[])).unwrap();
    assert_eq!(s.metrics, ["loss"]);
    assert!(s.groups.iter().all(|g| g.metrics[0].n == 0 && !g.best));
    // Running points that printed their progress, none done: still not an unknown metric.
    rows[3].state = State::Running;
    rows[3].metrics = vec![("epoch".into(), "2".into())];
    let s = summarize(&fx.info, &rows, &opts(Some("loss"), Goal::Min, &[])).unwrap();
    assert_eq!(
        (s.metrics.as_slice(), s.primary),
        (&["epoch".to_string(), "loss".to_string()][..], Some(1))
    );
    // Once a point is done with metrics, a name none of them has is an error.
    rows[3].state = State::Done;
    let e = summarize(&fx.info, &rows, &opts(Some("lss"), Goal::Min, &[])).unwrap_err();
    assert!(matches!(e, SummaryError::UnknownMetric { .. }), "{e}");
}

#[test]
fn metric_text_edge_cases() {
    let fx = fixture();
    let mut rows = fx.rows.clone();
    // A key given twice: the last value counts. Blank values are missing, not text.
    rows[0].metrics = vec![
        ("loss".into(), "9".into()),
        ("loss".into(), " 0.5 ".into()),
        ("note".into(), "".into()),
    ];
    let s = summarize(
        &fx.info,
        &rows,
        &opts(Some("loss"), Goal::Min, &["repeat", "opt"]),
    )
    .unwrap();
    assert!(s.metrics.contains(&"note".to_string()));
    let g = s
        .groups
        .iter()
        .find(|g| g.params[0].1 == Value::from(0.1) && g.params[1].1 == Value::Int(1))
        .unwrap();
    assert_eq!(g.metrics[0].max, Some(0.5));
    // `nan` or `inf` makes a column text: its values cannot be averaged.
    rows[1].metrics.push(("eval.acc".into(), "nan".into()));
    let e = summarize(&fx.info, &rows, &opts(Some("eval.acc"), Goal::Max, &[])).unwrap_err();
    assert!(
        matches!(e, SummaryError::NotNumeric { index: 1, .. }),
        "{e}"
    );
}

#[test]
fn without_repeat_every_point_is_a_group_in_grid_order() {
    let fx = fixture();
    let mut info = fx.info.clone();
    info.param_names.retain(|p| p != "repeat");
    let mut rows = fx.rows.clone();
    for r in &mut rows {
        r.params.retain(|(k, _)| k != "repeat");
    }
    rows.reverse();
    let s = summarize(&info, &rows, &opts(None, Goal::Max, &[])).unwrap();
    assert!(s.over.is_empty());
    // Rows given in any order are taken in index order; equal parameters still group.
    assert_eq!(s.groups.len(), 12);
    assert_eq!(s.groups[0].params[0].1, Value::from(0.1));
    assert_eq!(s.groups[0].params[2].1, Value::Str("sgd".into()));
    assert!(s.effects.is_empty(), "no primary metric, no effects");
}

fn lines_fit(text: &str, width: usize) {
    for l in text.lines() {
        assert!(
            l.chars().count() <= width,
            "{} > {width}: {l:?}",
            l.chars().count()
        );
    }
}

#[test]
fn text_table_marks_the_best_and_fits_the_width() {
    let fx = fixture();
    let s = summarize(&fx.info, &fx.rows, &opts(Some("eval.acc"), Goal::Max, &[])).unwrap();
    let t = table_text(&s, 100, false);
    lines_fit(&t, 100);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "summary-fixture: eval.acc (max), 12 groups over repeat; 36 points, 34 done"
    );
    assert!(lines[1].contains("lr") && lines[1].contains("eval.acc (mean ± std)"));
    // Python: mean 0.9610066666666667, stdev 0.003490620766186601, ci95 0.00867.
    assert!(lines[2].starts_with("* "), "{}", lines[2]);
    assert!(lines[2].contains("0.9610 ± 0.0035"), "{}", lines[2]);
    assert!(lines[2].contains("0.0087"), "{}", lines[2]);
    assert!(!lines[3].starts_with('*'));
    assert!(t.contains("… and 2 more groups"));
    assert!(t.contains("effects on eval.acc"));
    assert!(t.contains("0.852 ± 0.040"), "lr 0.1 effect:\n{t}");

    let narrow = table_text(&s, 60, false);
    lines_fit(&narrow, 60);
    assert!(
        narrow.contains("not shown for width: loss, epoch"),
        "{narrow}"
    );
    assert!(narrow.contains("0.9610 ± 0.0035"));

    // Narrower still: the interval and count go too, and numeric values stay whole (a header
    // is shortened instead).
    let narrower = table_text(&s, 46, false);
    lines_fit(&narrower, 46);
    assert!(
        narrower.contains("not shown for width: loss, epoch, ±95%, n"),
        "{narrower}"
    );
    let best_line = narrower.lines().nth(2).unwrap();
    assert!(
        best_line.contains("0.001") && best_line.contains("0.9610 ± 0.0035"),
        "{narrower}"
    );

    let colored = table_text(&s, 100, true);
    let best = colored.lines().nth(2).unwrap();
    assert!(best.starts_with("\x1b[1m* ") && best.ends_with("\x1b[0m"));
    // The group without a value is dim.
    let all = SummaryOpts {
        top: 0,
        ..opts(Some("eval.acc"), Goal::Max, &[])
    };
    let s = summarize(&fx.info, &fx.rows, &all).unwrap();
    let colored = table_text(&s, 100, true);
    assert!(colored.lines().nth(13).unwrap().starts_with("\x1b[2m"));
}

#[test]
fn long_parameter_values_are_shortened_not_the_numbers() {
    let fx = fixture();
    let mut rows = fx.rows.clone();
    let long = "a-very-long-model-name-that-goes-on-and-on-".repeat(3);
    for r in &mut rows {
        for (k, v) in &mut r.params {
            if k == "opt" {
                *v = Value::Str(format!("{long}{v}"));
            }
        }
    }
    let s = summarize(&fx.info, &rows, &opts(Some("eval.acc"), Goal::Max, &[])).unwrap();
    let t = table_text(&s, 100, false);
    lines_fit(&t, 100);
    assert!(t.contains('…'));
    assert!(t.contains("0.9610 ± 0.0035"));
    // JSON keeps it whole.
    let j = to_json(&s);
    assert_eq!(j["groups"][0]["params"]["opt"], format!("{long}sgd"));
}

#[test]
fn csv_has_one_row_per_group_and_numbers_in_full() {
    let fx = fixture();
    let s = summarize(&fx.info, &fx.rows, &opts(Some("eval.acc"), Goal::Max, &[])).unwrap();
    let text = table_csv(&s).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header.len(), 3 + 2 + 3 * 6);
    assert_eq!(
        &header[..7],
        [
            "lr",
            "layers",
            "opt",
            "n",
            "n_done",
            "loss.mean",
            "loss.std"
        ]
    );
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 12);
    let mean_col = header.iter().position(|h| h == "eval.acc.mean").unwrap();
    assert_eq!(
        recs[0][mean_col].parse::<f64>().unwrap(),
        s.groups[0].metrics[1].mean.unwrap()
    );
    assert_eq!(&recs[11][mean_col], "", "no value: empty cell");
}

#[test]
fn number_formats() {
    assert_eq!(fmt_mean_std(0.91234, Some(0.00413)), "0.9123 ± 0.0041");
    assert_eq!(fmt_mean_std(12345.6, Some(234.5)), "12346 ± 234");
    assert_eq!(fmt_mean_std(2.5, Some(0.0)), "2.5 ± 0");
    assert_eq!(fmt_mean_std(0.5, None), "0.5");
    assert_eq!(fmt_mean_std(3.2e-6, Some(1.1e-7)), "3.2e-6 ± 1.1e-7");
    assert_eq!(
        fmt_mean_std(0.01234, Some(0.0000456)),
        "0.012340 ± 0.000046"
    );
    assert_eq!(fmt_sig(0.000012345, 3), "1.23e-5");
    assert_eq!(fmt_sig(3.0, 4), "3");
    assert_eq!(fmt_sig(1234567.0, 4), "1.235e6");
    assert_eq!(fmt_sig(-0.5, 4), "-0.5");
}

#[test]
fn summarizes_a_hundred_thousand_points() {
    // Size and shape only: the timing is measured in release (see the report test).
    let info = SweepInfo {
        name: "big".into(),
        file: "big.toml".into(),
        backend: "lsf".into(),
        targets: vec!["short".into()],
        count: 100_000,
        param_names: vec!["lr".into(), "seed".into(), "repeat".into()],
    };
    let rows: Vec<Row> = (0..100_000u64)
        .map(|i| Row {
            index: i,
            params: vec![
                ("lr".into(), Value::from(10f64.powi(-((i / 10_000) as i32)))),
                ("seed".into(), Value::Int(((i / 10) % 1000) as i64)),
                ("repeat".into(), Value::Int((i % 10) as i64)),
            ],
            state: if i % 17 == 0 {
                State::Failed
            } else {
                State::Done
            },
            job_id: None,
            target: "short".into(),
            attempts: 1,
            exit_code: Some(0),
            reason: None,
            submitted: None,
            started: None,
            ended: None,
            run_seconds: None,
            max_mem_mb: None,
            metrics: vec![("acc".into(), format!("{}", (i % 97) as f64 / 97.0))],
            stderr_tail: None,
        })
        .collect();
    let s = summarize(&info, &rows, &opts(Some("acc"), Goal::Max, &[])).unwrap();
    assert_eq!(s.groups.len(), 10_000);
    assert_eq!(s.groups.iter().map(|g| g.n).sum::<u64>(), 100_000);
    assert_eq!(s.effects.len(), 2);
    assert_eq!(s.effects[0].levels.len(), 10);
    assert_eq!(s.effects[1].levels.len(), 1000);
}
