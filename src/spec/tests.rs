//! Unit tests for sweep files: every grid feature (counts and exact points), sampling, templates,
//! quoting, options and error locations.

use std::path::{Path, PathBuf};

use super::*;

const PATH: &str = "/sweeps/test.toml";

fn spec(body: &str) -> Spec {
    let src = format!("name = \"t\"\ncommand = \"echo\"\n{body}");
    match Spec::from_toml(&src, Path::new(PATH)) {
        Ok(s) => s,
        Err(e) => panic!("unexpected error: {e}\n--- file ---\n{src}"),
    }
}

fn err(body: &str) -> SpecError {
    let src = format!("name = \"t\"\ncommand = \"echo\"\n{body}");
    match Spec::from_toml(&src, Path::new(PATH)) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e,
    }
}

/// `line:col field` of an error, for compact assertions.
fn loc(e: &SpecError) -> String {
    format!(
        "{}:{} {}",
        e.line.unwrap_or(0),
        e.col.unwrap_or(0),
        e.field.as_deref().unwrap_or("-")
    )
}

fn show(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Every point as `index: a=1 b="x"`, checking the indices are dense on the way.
fn rows(s: &Spec) -> Vec<String> {
    let names = s.param_names();
    s.points()
        .enumerate()
        .map(|(i, p)| {
            assert_eq!(p.index, i as u64, "indices are dense");
            let got: Vec<&str> = p.params.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(got, names, "params follow param_names()");
            p.params
                .iter()
                .map(|(n, v)| format!("{n}={}", show(v)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The values of the only parameter.
fn col(s: &Spec) -> Vec<String> {
    s.points().map(|p| show(&p.params[0].1)).collect()
}

fn checked(s: &Spec) -> Vec<String> {
    let r = rows(s);
    assert_eq!(s.count(), r.len() as u64, "count() agrees with points()");
    r
}

#[test]
fn lists_of_every_type() {
    let s = spec(
        "[grid]\ni = [1, -2, 0x10]\n[[zip]]\nf = [0.1, 1e-5, 2.0]\ns = [\"a b\", \"\", \"ü\"]\nb = [true, false, true]\n",
    );
    assert_eq!(s.param_names(), ["i", "f", "s", "b"]);
    assert_eq!(s.count(), 9);
    let r = checked(&s);
    assert_eq!(r[0], r#"i=1 f=0.1 s="a b" b=true"#);
    assert_eq!(r[1], r#"i=1 f=1e-5 s="" b=false"#);
    assert_eq!(r[2], r#"i=1 f=2.0 s="ü" b=true"#);
    assert_eq!(r[3], r#"i=-2 f=0.1 s="a b" b=true"#);
    assert_eq!(r[8], r#"i=16 f=2.0 s="ü" b=true"#);

    let mixed = spec("[grid]\nx = [1, 2.5, \"three\", false]\n");
    assert_eq!(col(&mixed), ["1", "2.5", "\"three\"", "false"]);
    let p = mixed.points().nth(1).unwrap();
    assert_eq!(p.params[0].1, Value::from(2.5));
}

#[test]
fn int_ranges() {
    assert_eq!(
        col(&spec("[grid]\nk = { start = 1, stop = 5 }")),
        ["1", "2", "3", "4"]
    );
    assert_eq!(
        col(&spec("[grid]\nk = { start = 0, stop = 10, step = 3 }")),
        ["0", "3", "6", "9"]
    );
    assert_eq!(
        col(&spec("[grid]\nk = { start = 5, stop = 0, step = -2 }")),
        ["5", "3", "1"]
    );
    assert_eq!(
        col(&spec("[grid]\nk = { start = 4, stop = 0, step = -2 }")),
        ["4", "2"]
    );
    assert_eq!(
        col(&spec("[grid]\nk = { start = -3, stop = -1 }")),
        ["-3", "-2"]
    );
    let s = spec("[grid]\nk = { start = 0, stop = 1_000_000_000_000 }");
    assert_eq!(s.count(), 1_000_000_000_000);
    let big = spec(
        "[grid]\nk = { start = -9223372036854775808, stop = 9223372036854775807, step = 4611686018427387904 }",
    );
    assert_eq!(
        col(&big),
        [
            "-9223372036854775808",
            "-4611686018427387904",
            "0",
            "4611686018427387904"
        ]
    );
}

#[test]
fn float_ranges() {
    let s = spec("[grid]\nd = { start = 0.0, stop = 0.5, step = 0.1 }");
    assert_eq!(col(&s), ["0.0", "0.1", "0.2", "0.3", "0.4"]);
    assert!(matches!(
        s.points().next().unwrap().params[0].1,
        Value::Float(_)
    ));
    // Integer ends with a float step make a float range.
    assert_eq!(
        col(&spec("[grid]\nd = { start = 0, stop = 1, step = 0.25 }")),
        ["0.0", "0.25", "0.5", "0.75"]
    );
    assert_eq!(
        col(&spec("[grid]\nd = { start = 1.0, stop = 3 }")),
        ["1.0", "2.0"]
    );
    // Counting down, and rounding noise around zero becomes exactly 0.
    assert_eq!(
        col(&spec(
            "[grid]\nd = { start = 0.3, stop = -0.3, step = -0.1 }"
        )),
        ["0.3", "0.2", "0.1", "0.0", "-0.1", "-0.2"]
    );
    // 0.3 is not included through 0.1 * 3 = 0.30000000000000004 either.
    assert_eq!(
        col(&spec("[grid]\nd = { start = 0.0, stop = 0.3, step = 0.1 }")),
        ["0.0", "0.1", "0.2"]
    );
    assert_eq!(
        col(&spec(
            "[grid]\nd = { start = 0.0, stop = 0.35, step = 0.1 }"
        )),
        ["0.0", "0.1", "0.2", "0.3"]
    );
}

#[test]
fn linspace_and_logspace() {
    assert_eq!(
        col(&spec("[grid]\nw = { linspace = [0.0, 1.0, 5] }")),
        ["0.0", "0.25", "0.5", "0.75", "1.0"]
    );
    assert_eq!(
        col(&spec("[grid]\nw = { linspace = [0, 0.3, 4] }")),
        ["0.0", "0.1", "0.2", "0.3"]
    );
    assert_eq!(
        col(&spec("[grid]\nw = { linspace = [1, -1, 3] }")),
        ["1.0", "0.0", "-1.0"]
    );
    assert_eq!(col(&spec("[grid]\nw = { linspace = [2, 3, 1] }")), ["2.0"]);
    assert_eq!(
        col(&spec("[grid]\nw = { logspace = [1e-5, 1e-1, 5] }")),
        ["1e-5", "0.0001", "0.001", "0.01", "0.1"]
    );
    assert_eq!(
        col(&spec("[grid]\nw = { logspace = [1, 8, 4] }")),
        ["1.0", "2.0", "4.0", "8.0"]
    );
    assert_eq!(
        col(&spec("[grid]\nw = { logspace = [0.5, 0.5, 1] }")),
        ["0.5"]
    );
}

#[test]
fn float_rounding_to_twelve_digits() {
    assert_eq!(grid::round12(0.1 + 0.2), 0.3);
    assert_eq!(grid::round12(1.0 / 3.0), 0.333333333333);
    assert_eq!(grid::round12(123_456_789.123_456_7), 123_456_789.123);
    assert_eq!(grid::round12(-0.0).to_string(), "0");
    assert_eq!(grid::round12(2.5e-300), 2.5e-300);
    let s = spec("[grid]\nd = { start = 0.0, stop = 1.0, step = 0.1 }");
    for p in s.points() {
        let text = p.params[0].1.to_string();
        assert!(text.len() <= 4, "{text} is rounded");
    }
    // Values the user wrote are kept as written.
    assert_eq!(
        col(&spec("[grid]\nx = [0.30000000000000004]")),
        ["0.30000000000000004"]
    );
}

#[test]
fn cartesian_order_first_axis_slowest() {
    let s = spec("[grid]\nb = [1, 2]\na = [\"x\", \"y\", \"z\"]\n");
    assert_eq!(s.param_names(), ["b", "a"]);
    assert_eq!(
        checked(&s),
        [
            r#"b=1 a="x""#,
            r#"b=1 a="y""#,
            r#"b=1 a="z""#,
            r#"b=2 a="x""#,
            r#"b=2 a="y""#,
            r#"b=2 a="z""#
        ]
    );
}

#[test]
fn zip_groups_form_one_axis_after_the_grid() {
    let s = spec(
        "[[zip]]\nmodel = [\"small\", \"large\"]\nbatch = [64, 16]\n\n[grid]\nlr = [0.1, 0.01]\n\n[[zip]]\nopt = [\"adam\"]\n",
    );
    assert_eq!(s.param_names(), ["lr", "model", "batch", "opt"]);
    assert_eq!(
        checked(&s),
        [
            r#"lr=0.1 model="small" batch=64 opt="adam""#,
            r#"lr=0.1 model="large" batch=16 opt="adam""#,
            r#"lr=0.01 model="small" batch=64 opt="adam""#,
            r#"lr=0.01 model="large" batch=16 opt="adam""#
        ]
    );
}

#[test]
fn repeats_are_the_innermost_axis() {
    let s = spec("repeats = 3\n[grid]\na = [1, 2]\n");
    assert_eq!(s.param_names(), ["a", "repeat"]);
    assert_eq!(
        checked(&s),
        [
            "a=1 repeat=0",
            "a=1 repeat=1",
            "a=1 repeat=2",
            "a=2 repeat=0",
            "a=2 repeat=1",
            "a=2 repeat=2"
        ]
    );
    // repeats = 1 adds no column.
    assert_eq!(spec("repeats = 1\n[grid]\na = [1]").param_names(), ["a"]);
}

#[test]
fn a_file_without_axes_is_one_point() {
    let s = spec("");
    assert_eq!(s.count(), 1);
    assert!(s.param_names().is_empty());
    assert_eq!(
        s.points().collect::<Vec<_>>(),
        [Point {
            index: 0,
            params: vec![]
        }]
    );
    let s = spec("repeats = 3\n[grid]\n");
    assert_eq!(checked(&s), ["repeat=0", "repeat=1", "repeat=2"]);
}

#[test]
fn exclusions_single_values_and_lists() {
    let body = "[grid]\nlr = [0.1, 0.2, 0.3]\nlayers = { start = 1, stop = 3 }\n\
                [[zip]]\nmodel = [\"small\", \"large\"]\nbatch = [64, 16]\n";
    let all = spec(body);
    assert_eq!(all.count(), 12);

    let s = spec(&format!(
        "{body}[[exclude]]\nmodel = \"large\"\nlr = [0.1, 0.2]\n"
    ));
    assert_eq!(s.count(), 8);
    assert_eq!(
        checked(&s),
        [
            r#"lr=0.1 layers=1 model="small" batch=64"#,
            r#"lr=0.1 layers=2 model="small" batch=64"#,
            r#"lr=0.2 layers=1 model="small" batch=64"#,
            r#"lr=0.2 layers=2 model="small" batch=64"#,
            r#"lr=0.3 layers=1 model="small" batch=64"#,
            r#"lr=0.3 layers=1 model="large" batch=16"#,
            r#"lr=0.3 layers=2 model="small" batch=64"#,
            r#"lr=0.3 layers=2 model="large" batch=16"#
        ]
    );

    // Two tables: a point goes when it matches either. Numbers match across int/float.
    let s = spec(&format!(
        "{body}[[exclude]]\nlayers = 2.0\n[[exclude]]\nlr = 0.3\nbatch = 64\n"
    ));
    assert_eq!(
        checked(&s),
        [
            r#"lr=0.1 layers=1 model="small" batch=64"#,
            r#"lr=0.1 layers=1 model="large" batch=16"#,
            r#"lr=0.2 layers=1 model="small" batch=64"#,
            r#"lr=0.2 layers=1 model="large" batch=16"#,
            r#"lr=0.3 layers=1 model="large" batch=16"#
        ]
    );

    // Generated floats match the literal the user writes.
    let s = spec("[grid]\nd = { start = 0.0, stop = 0.5, step = 0.1 }\n[[exclude]]\nd = 0.3\n");
    assert_eq!(col(&s), ["0.0", "0.1", "0.2", "0.4"]);

    // Exclusions with repeats: the repeat column is added after filtering.
    let s = spec("repeats = 2\n[grid]\na = [1, 2]\n[[exclude]]\na = 1\n");
    assert_eq!(checked(&s), ["a=2 repeat=0", "a=2 repeat=1"]);
}

#[test]
fn exclusions_removing_everything_are_an_error() {
    let e = err("[grid]\na = [1, 2]\n\n[[exclude]]\na = [1, 2]\n");
    assert_eq!(loc(&e), "6:1 exclude");
    assert!(e.message.contains("remove every point"), "{e}");
}

#[test]
fn sampling_from_a_grid_is_pinned_distinct_and_in_grid_order() {
    let body = "[grid]\na = { start = 0, stop = 10 }\nb = { start = 0, stop = 10 }\n[sample]\nn = 5\nseed = 42\n";
    let s = spec(body);
    assert_eq!(s.count(), 5);
    let r = checked(&s);
    assert_eq!(r, ["a=1 b=4", "a=2 b=1", "a=6 b=6", "a=7 b=7", "a=9 b=4"]);
    let keys: Vec<(i64, i64)> = s
        .points()
        .map(|p| match (&p.params[0].1, &p.params[1].1) {
            (Value::Int(a), Value::Int(b)) => (*a, *b),
            _ => panic!("ints"),
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, keys, "distinct and in grid order");
    // Same file, same plan; another seed, another plan.
    assert_eq!(rows(&spec(body)), r);
    assert_ne!(rows(&spec(&body.replace("seed = 42", "seed = 7"))), r);
    // Seed defaults to 0.
    assert_eq!(
        rows(&spec(&body.replace("seed = 42\n", ""))),
        rows(&spec(&body.replace("seed = 42", "seed = 0")))
    );
}

#[test]
fn sampling_honours_exclusions_and_repeats() {
    let s = spec(
        "repeats = 2\n[grid]\na = [1, 2, 3, 4]\n[[exclude]]\na = [2, 3]\n[sample]\nn = 2\nseed = 1\n",
    );
    assert_eq!(
        checked(&s),
        [
            "a=1 repeat=0",
            "a=1 repeat=1",
            "a=4 repeat=0",
            "a=4 repeat=1"
        ]
    );
    let e = err("[grid]\na = [1, 2, 3, 4]\n[[exclude]]\na = [2, 3]\n[sample]\nn = 3\n");
    assert_eq!(loc(&e), "8:5 sample.n");
    assert!(
        e.message
            .contains("asks for 3 points but the grid has only 2 points after exclusions;"),
        "{e}"
    );
}

#[test]
fn distributions_are_pinned() {
    let s = spec(
        "repeats = 2\n[grid]\nlr = { loguniform = [1e-5, 1e-1] }\nmom = { uniform = [0.8, 0.99] }\n\
         opt = { choice = [\"adam\", \"sgd\"] }\nk = { randint = [1, 10] }\nlayers = [1, 2, 3]\n\
         [[zip]]\nmodel = [\"s\", \"l\"]\nbatch = [64, 16]\n[sample]\nn = 3\nseed = 42\n",
    );
    assert_eq!(
        s.param_names(),
        [
            "lr", "mom", "opt", "k", "layers", "model", "batch", "repeat"
        ]
    );
    assert_eq!(s.count(), 6);
    let r = checked(&s);
    assert_eq!(
        r,
        [
            r#"lr=0.00534053504428 mom=0.980552327458 opt="sgd" k=4 layers=3 model="s" batch=64 repeat=0"#,
            r#"lr=0.00534053504428 mom=0.980552327458 opt="sgd" k=4 layers=3 model="s" batch=64 repeat=1"#,
            r#"lr=3.97956388704e-5 mom=0.858527706324 opt="adam" k=7 layers=3 model="s" batch=64 repeat=0"#,
            r#"lr=3.97956388704e-5 mom=0.858527706324 opt="adam" k=7 layers=3 model="s" batch=64 repeat=1"#,
            r#"lr=0.0010652890951 mom=0.971342602689 opt="sgd" k=8 layers=3 model="l" batch=16 repeat=0"#,
            r#"lr=0.0010652890951 mom=0.971342602689 opt="sgd" k=8 layers=3 model="l" batch=16 repeat=1"#,
        ]
    );
}

/// Found by fuzzing: `hi - lo` (or `(hi - lo) * i`) past f64::MAX made linspace values inf and
/// pinned every uniform draw to the high end.
#[test]
fn huge_intervals_do_not_overflow() {
    assert_eq!(
        col(&spec("[grid]\nw = { linspace = [0.0, 8e307, 5] }")),
        ["0.0", "2e307", "4e307", "6e307", "8e307"]
    );
    assert_eq!(
        col(&spec("[grid]\nw = { linspace = [-1e308, 1e308, 3] }")),
        ["-1e308", "0.0", "1e308"]
    );
    let s = spec("[grid]\nu = { uniform = [-1.7e308, 1.7e308] }\n[sample]\nn = 200\nseed = 1\n");
    let draws: Vec<f64> = s
        .points()
        .map(|p| match p.params[0].1 {
            Value::Float(x) => *x,
            ref v => panic!("{v:?}"),
        })
        .collect();
    assert!(draws.iter().all(|x| x.is_finite() && x.abs() <= 1.7e308));
    let above = draws.iter().filter(|x| **x > 0.0).count();
    assert!((60..=140).contains(&above), "{above} of 200 draws above 0");
}

#[test]
fn distributions_stay_within_bounds() {
    let s = spec(
        "[grid]\nlr = { loguniform = [1e-6, 1e-2] }\nmom = { uniform = [-1, 1] }\nk = { randint = [-2, 2] }\n\
         [sample]\nn = 4000\nseed = 3\n",
    );
    let (mut below_mid, mut below_lin_mid) = (0, 0);
    let mut ks = [0u32; 5];
    for p in s.points() {
        let (Value::Float(lr), Value::Float(mom), Value::Int(k)) =
            (&p.params[0].1, &p.params[1].1, &p.params[2].1)
        else {
            panic!("types: {p:?}");
        };
        let (lr, mom) = (lr.value(), mom.value());
        assert!((1e-6..=1e-2).contains(&lr), "{lr}");
        assert!((-1.0..=1.0).contains(&mom), "{mom}");
        assert!((-2..=2).contains(k), "{k}");
        ks[(k + 2) as usize] += 1;
        if lr < 1e-4 {
            below_mid += 1;
        }
        if lr < 0.5e-2 {
            below_lin_mid += 1;
        }
    }
    // Log-uniform: half the draws below the geometric midpoint 1e-4, and ln(5000)/ln(10000) =
    // 92.5% below the arithmetic midpoint 5e-3 (a uniform draw would put only half there).
    assert!((1800..2200).contains(&below_mid), "{below_mid}");
    assert!((3600..3800).contains(&below_lin_mid), "{below_lin_mid}");
    // randint includes both ends.
    assert!(ks.iter().all(|&c| c > 600), "{ks:?}");
}

#[test]
fn distribution_draws_reject_exclusions() {
    let s = spec(
        "[grid]\nopt = { choice = [\"adam\", \"sgd\", \"rmsprop\"] }\nk = { randint = [1, 3] }\n\
         [[exclude]]\nopt = \"sgd\"\n[[exclude]]\nk = [1, 2]\n[sample]\nn = 50\n",
    );
    assert_eq!(s.count(), 50);
    for p in s.points() {
        assert_ne!(p.params[0].1, Value::Str("sgd".into()));
        assert_eq!(p.params[1].1, Value::Int(3));
    }
    let e = err("[grid]\nk = { randint = [1, 3] }\n[[exclude]]\nk = [1, 2, 3]\n[sample]\nn = 2\n");
    assert_eq!(loc(&e), "5:1 exclude");
    assert!(e.message.contains("2000 tries"), "{e}");
}

#[test]
fn distributions_need_sample() {
    let e = err("[grid]\nlr = [1]\nmom = { uniform = [0.8, 0.99] }\n");
    assert_eq!(loc(&e), "5:7 grid.mom");
    assert!(e.message.contains("[sample]"), "{e}");
}

#[test]
fn streaming_a_million_points() {
    let s = spec(
        "[grid]\na = { start = 0, stop = 100 }\nb = { linspace = [0, 1, 100] }\nc = { start = 0, stop = 100 }\n",
    );
    assert_eq!(s.count(), 1_000_000);
    let mut n = 0u64;
    let mut last = None;
    for p in s.points() {
        assert_eq!(p.index, n);
        n += 1;
        last = Some(p);
    }
    assert_eq!(n, 1_000_000);
    let last = last.unwrap();
    assert_eq!(last.params[0].1, Value::Int(99));
    assert_eq!(last.params[1].1, Value::from(1.0));
    assert_eq!(last.params[2].1, Value::Int(99));

    // Sampling from it decodes the chosen points directly.
    let s = spec(
        "[grid]\na = { start = 0, stop = 100 }\nb = { start = 0, stop = 100 }\nc = { start = 0, stop = 100 }\n\
         [sample]\nn = 1000\nseed = 9\n",
    );
    assert_eq!(s.points().count(), 1000);
}

#[test]
fn count_streams_with_exclusions() {
    let s = spec(
        "[grid]\na = { start = 0, stop = 100 }\nb = { start = 0, stop = 100 }\n[[exclude]]\na = [0, 1]\n",
    );
    assert_eq!(s.count(), 9800);
    assert_eq!(s.count(), 9800);
    assert_eq!(s.points().count(), 9800);
}

fn builtins<'a>(out_dir: &'a str) -> Builtins<'a> {
    Builtins {
        sweep: "t",
        index: 7,
        out_dir,
        job_name: "t.7",
        attempt: 2,
    }
}

#[test]
fn command_templates_substitute_and_escape() {
    let src = "name = \"t\"\ncommand = \"\"\"awk '{print $1}' {{lr}} {lr} {{{lr}}} {sweep} {index} {out_dir} {job_name} {attempt} {repeat} { x }\"\"\"\n[grid]\nlr = [0.5]\n";
    let s = Spec::from_toml(src, Path::new(PATH)).unwrap();
    let p = s.points().next().unwrap();
    assert_eq!(
        s.render_command(&p, &builtins("/o")),
        "awk '{print $1}' {lr} 0.5 {0.5} t 7 /o t.7 2 0 { x }"
    );
}

#[test]
fn unknown_placeholders_are_load_errors() {
    let src = "name = \"t\"\ncommand = \"python x.py --lr {lr} --n {nn}\"\n[grid]\nlr = [1]\n";
    let e = Spec::from_toml(src, Path::new(PATH)).unwrap_err();
    assert_eq!(loc(&e), "2:38 command");
    assert!(e.message.contains("`{nn}`"), "{e}");
    assert!(
        e.message
            .contains("lr, sweep, index, out_dir, job_name, attempt, repeat"),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("/sweeps/test.toml:2:38: command: "),
        "{e}"
    );

    let src = "name = \"t\"\ncommand = \"echo\"\nworkdir = 'runs/{{x}}/{x}'\n";
    let e = Spec::from_toml(src, Path::new(PATH)).unwrap_err();
    assert_eq!(loc(&e), "3:23 workdir");
}

#[test]
fn hostile_values_arrive_as_one_argument() {
    let hostile = r#"a b; rm -rf ~ $(id) 'x""#;
    let src = format!(
        "name = \"t\"\ncommand = \"printf '%s\\\\n' {{v}} {{out_dir}}\"\n[grid]\nv = [{}, \"*\", \"\", \"-n\", \"`id`\\n$HOME\"]\n",
        toml::Value::String(hostile.to_string())
    );
    let s = Spec::from_toml(&src, Path::new(PATH)).unwrap();
    for p in s.points() {
        let Value::Str(v) = &p.params[0].1 else {
            panic!()
        };
        let cmd = s.render_command(&p, &builtins("/tmp/out dir/$x"));
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{v}\n/tmp/out dir/$x\n"),
            "command: {cmd}"
        );
    }
}

#[test]
fn workdir_rendering() {
    let base = std::path::absolute("/sweeps").unwrap();
    let s = spec("");
    let p = s.points().next().unwrap();
    assert_eq!(s.render_workdir(&p, &builtins("/o")), base);

    let src = "name = \"t\"\ncommand = \"echo\"\nworkdir = \"runs/{model} x/{sweep}\"\n[grid]\nmodel = [\"a b\"]\n";
    let s = Spec::from_toml(src, Path::new(PATH)).unwrap();
    let p = s.points().next().unwrap();
    assert_eq!(
        s.render_workdir(&p, &builtins("/o")),
        base.join("runs/a b x/t")
    );

    let src = "name = \"t\"\ncommand = \"echo\"\nworkdir = \"/scratch/{sweep}\"\n";
    let s = Spec::from_toml(src, Path::new(PATH)).unwrap();
    assert_eq!(
        s.render_workdir(&p, &builtins("/o")),
        PathBuf::from("/scratch/t")
    );
}

#[test]
fn base_dir_source_and_load() {
    let s = Spec::from_toml(
        "name = \"t\"\ncommand = \"echo\"\n",
        Path::new("sweep.toml"),
    )
    .unwrap();
    assert_eq!(s.source, PathBuf::from("sweep.toml"));
    assert!(s.base_dir.is_absolute());
    assert_eq!(s.base_dir, std::env::current_dir().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "name = \"t\"\ncommand = \"echo {x}\"\n[grid]\nx = [1, 2]\n",
    )
    .unwrap();
    let s = Spec::load(&file).unwrap();
    assert_eq!(s.base_dir, dir.path());
    assert_eq!(s.count(), 2);

    let missing = dir.path().join("nope.toml");
    let e = Spec::load(&missing).unwrap_err();
    assert_eq!((e.line, e.col, e.field.as_deref()), (None, None, None));
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read", missing.display())),
        "{e}"
    );
}

#[test]
fn defaults() {
    let s = spec("");
    assert_eq!(s.name, "t");
    assert_eq!(s.backend, BackendKind::Local);
    assert_eq!(s.max_attempts, 1);
    assert!(s.setup.is_empty());
    assert!(s.workdir.is_none());
    assert!(s.cluster.is_none());
    assert!(s.local.concurrency >= 1);
    assert_eq!(
        s.collect,
        CollectOpts {
            files: vec![],
            metrics_json: None,
            stdout_kv: false,
            stdout_regex: None,
            warn_mb: crate::spec::DEFAULT_WARN_MB,
        }
    );
    assert_eq!(s.lsf.policy, Policy::RoundRobin);
    assert_eq!(
        s.lsf.targets,
        [Target {
            queue: None,
            hosts: None,
            weight: 1,
            max_in_flight: None
        }]
    );
    assert_eq!(s.lsf.max_array_size, 1000);
    assert!(!s.lsf.array);
}

#[test]
fn every_option() {
    let s = spec(
        r#"workdir = "."
setup = ["module load anaconda/3-5.0.1", "source activate test"]
backend = "lsf"
max_attempts = 3
[lsf]
queue = "short"
hosts = ["734090ib", "734090eth"]
policy = "least-pending"
cores = 4
gpu = "num=1:mode=shared:mps=no"
walltime = "4:00"
memory = "8GB"
resources = "span[hosts=1]"
extra = ["-P myproject"]
array = true
max_array_size = 500
max_in_flight = 100
submit_rate = 5
submit_parallel = 8
[local]
concurrency = 3
[cluster]
host = "user@access.nju.edu.cn"
init = "source /etc/profile.d/lsf.sh"
remote_dir = "~/.bsweep"
[collect]
files = ["metrics.json", "ckpt/model.pt"]
metrics_json = "metrics.json"
stdout_kv = true
stdout_regex = 'loss=(?P<loss>[0-9.]+)'
"#,
    );
    assert_eq!(s.backend, BackendKind::Lsf);
    assert_eq!(s.max_attempts, 3);
    assert_eq!(
        s.setup,
        ["module load anaconda/3-5.0.1", "source activate test"]
    );
    let t = |h: &str| Target {
        queue: Some("short".into()),
        hosts: Some(h.into()),
        weight: 1,
        max_in_flight: Some(100),
    };
    assert_eq!(
        s.lsf,
        LsfOpts {
            targets: vec![t("734090ib"), t("734090eth")],
            policy: Policy::LeastPending,
            cores: Some(4),
            gpu: Some("num=1:mode=shared:mps=no".into()),
            walltime: Some("4:00".into()),
            memory: Some("8GB".into()),
            resources: Some("span[hosts=1]".into()),
            extra: vec!["-P myproject".into()],
            array: true,
            max_array_size: 500,
            max_in_flight: Some(100),
            submit_rate: Some(5.0),
            submit_parallel: 8,
            poll_min: 10.0,
            poll_max: 180.0,
            settle: 10.0,
            lost_after: 600.0,
            queue_sites: s.lsf.queue_sites.clone(),
        }
    );
    // Where the queue is written, for errors only the cluster can reveal.
    assert_eq!(
        s.lsf.queue_sites,
        [(
            "short".to_string(),
            Site {
                field: "lsf.queue".into(),
                line: 8,
                col: 9
            }
        )]
    );
    assert_eq!(s.local.concurrency, 3);
    assert_eq!(
        s.cluster,
        Some(ClusterOpts {
            host: "user@access.nju.edu.cn".into(),
            init: Some("source /etc/profile.d/lsf.sh".into()),
            remote_dir: Some("~/.bsweep".into()),
        })
    );
    assert_eq!(s.collect.files, ["metrics.json", "ckpt/model.pt"]);
    assert_eq!(
        s.collect.stdout_regex.as_deref(),
        Some("loss=(?P<loss>[0-9.]+)")
    );
}

#[test]
fn lsf_targets() {
    let s = spec("[lsf]\nqueues = [\"short\", \"normal\"]\nmax_in_flight = 10\n");
    assert_eq!(
        s.lsf.targets.iter().map(Target::label).collect::<Vec<_>>(),
        ["short", "normal"]
    );
    assert!(s.lsf.targets.iter().all(|t| t.max_in_flight == Some(10)));
    let s = spec("[lsf]\nhosts = \"734090ib\"\n");
    assert_eq!(s.lsf.targets[0].label(), "@734090ib");
    let s = spec("[lsf]\nqueue = \"q\"\n");
    assert_eq!(s.lsf.targets[0].label(), "q");
    let s = spec(
        "[lsf]\npolicy = \"weighted\"\nmax_in_flight = 7\n[[lsf.targets]]\nqueue = \"gpu\"\nhosts = \"734090ib\"\nweight = 2\nmax_in_flight = 50\n[[lsf.targets]]\nhosts = \"734090eth\"\n",
    );
    assert_eq!(
        s.lsf.targets,
        [
            Target {
                queue: Some("gpu".into()),
                hosts: Some("734090ib".into()),
                weight: 2,
                max_in_flight: Some(50)
            },
            Target {
                queue: None,
                hosts: Some("734090eth".into()),
                weight: 1,
                max_in_flight: Some(7)
            },
        ]
    );
    assert_eq!(
        loc(&err("[lsf]\nqueues = [\"a\", \"a\"]\n")),
        "4:16 lsf.queues[1]"
    );
    assert_eq!(
        loc(&err("[lsf]\n[[lsf.targets]]\nweight = 2\n")),
        "4:1 lsf.targets[0]"
    );
}

#[test]
fn walltime_and_memory_forms() {
    for ok in ["\"4:00\"", "\"90\"", "\"0:59\"", "\"100:30\"", "240"] {
        spec(&format!("[lsf]\nwalltime = {ok}\n"));
    }
    for bad in [
        "\"4h\"",
        "\"4:60\"",
        "\":30\"",
        "\"4:\"",
        "\"1:2:3\"",
        "\"\"",
        "0",
    ] {
        assert_eq!(
            loc(&err(&format!("[lsf]\nwalltime = {bad}\n"))),
            "4:12 lsf.walltime",
            "{bad}"
        );
    }
    for ok in [
        "\"8GB\"",
        "\"512MB\"",
        "\"1.5TB\"",
        "\"100\"",
        "\"64KB\"",
        "4000",
    ] {
        spec(&format!("[lsf]\nmemory = {ok}\n"));
    }
    for bad in [
        "\"8 GB\"", "\"8G\"", "\"GB\"", "\"-1GB\"", "\"1.GB\"", "\"8gb\"",
    ] {
        assert_eq!(
            loc(&err(&format!("[lsf]\nmemory = {bad}\n"))),
            "4:10 lsf.memory",
            "{bad}"
        );
    }
}

#[test]
fn error_locations() {
    // Columns count characters, not bytes.
    let e = err("[grid]\n\"é\" = [1]\n");
    assert_eq!(loc(&e), "4:1 grid.é");
    let e = err("[grid]\nx = [\"é\", 1, [2]]\n");
    assert_eq!(loc(&e), "4:14 grid.x[2]");
    let e = err("[grid]\nx = [1, 2\n");
    assert_eq!(loc(&e), "4:10 -", "{e}");
    assert!(e.message.starts_with("invalid TOML: "), "{e}");
    let e = err("[lsf]\ncores = \"4\"\n");
    assert_eq!(loc(&e), "4:9 lsf.cores");
    assert!(e.message.contains("remove the quotes"), "{e}");
    let e = err("[grid]\nx = 1\n");
    assert_eq!(loc(&e), "4:5 grid.x");
    let e = err("[zip]\na = [1]\n");
    assert_eq!(loc(&e), "3:1 zip");
    assert!(e.message.contains("[[zip]]"), "{e}");
    let e = err("[grid]\nx = { start = 1, stop = 5, linspace = [1, 2, 3] }\n");
    assert_eq!(loc(&e), "4:28 grid.x.linspace");
    let e = err("[grid]\nx = { linspace = [1, 2, 3], logspace = [1, 2, 3] }\n");
    assert_eq!(loc(&e), "4:29 grid.x.logspace");
    let e = err("[grid]\nx = { start = 5, stop = 1 }\n");
    assert_eq!(loc(&e), "4:5 grid.x");
    let e = err("[grid]\nx = { stop = 1 }\n");
    assert_eq!(loc(&e), "4:5 grid.x.start");
    let e = err("repeats = 2\n[grid]\nrepeat = [1]\n");
    assert_eq!(loc(&e), "5:1 grid.repeat");
    let e = err("[[zip]]\na = [1, 2]\n[[zip]]\na = [3, 4]\n");
    assert_eq!(loc(&e), "6:1 zip[1].a");
    assert!(e.message.contains("line 4"), "{e}");
}

#[test]
fn helpful_messages() {
    let e = err("[lsf]\npolcy = \"weighted\"\n");
    assert_eq!(loc(&e), "4:1 lsf.polcy");
    assert!(e.message.contains("did you mean `policy`?"), "{e}");
    let e = err("[grid]\nlr = [1]\nlr = [2]\n");
    assert_eq!(loc(&e), "5:1 -");
    assert!(e.message.contains("duplicate key `lr`"), "{e}");
    let e = err("[local]\nconcurrency = \"4\"\n");
    assert!(
        e.message
            .ends_with("remove the quotes, e.g. `concurrency = 4`"),
        "{e}"
    );
}

#[test]
fn from_toml_is_deterministic() {
    let body = "[grid]\nx = { uniform = [0, 1] }\n[sample]\nn = 10\nseed = 5\n";
    assert_eq!(rows(&spec(body)), rows(&spec(body)));
}

#[test]
fn values_read_back_as_the_untagged_derive_read_them() {
    /// The derive `Value` had before its reading was written by hand.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(untagged)]
    enum Reference {
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(String),
    }
    fn same(v: &Value, r: &Reference) -> bool {
        match (v, r) {
            (Value::Bool(a), Reference::Bool(b)) => a == b,
            (Value::Int(a), Reference::Int(b)) => a == b,
            (Value::Float(a), Reference::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Str(a), Reference::Str(b)) => a == b,
            _ => false,
        }
    }
    let texts = [
        "true",
        "false",
        "0",
        "-7",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551615",
        "1.0",
        "-0.0",
        "1e-5",
        "0.1",
        "2.5e300",
        "\"adam\"",
        "\"a\\\"b\\\\c\\u00e9\"",
        "\"\"",
        "null",
        "[1]",
        "{\"a\":1}",
    ];
    for text in texts {
        let ours = serde_json::from_str::<Value>(text);
        let theirs = serde_json::from_str::<Reference>(text);
        match (&ours, &theirs) {
            (Ok(v), Ok(r)) => assert!(same(v, r), "{text}: {v:?} vs {r:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text}: {ours:?} vs {theirs:?}"),
        }
    }
    // And what bsweep writes reads back unchanged.
    for v in [
        Value::Bool(true),
        Value::Int(-3),
        Value::from(1.0),
        Value::from(1e-5),
        Value::Str("x y".into()),
    ] {
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}

#[test]
fn queue_sites_point_at_each_queue_name() {
    let s = spec("backend = \"lsf\"\n[lsf]\nqueues = [\"a\", \"b\"]\n");
    let at: Vec<(&str, &str, usize, usize)> = s
        .lsf
        .queue_sites
        .iter()
        .map(|(q, site)| (q.as_str(), site.field.as_str(), site.line, site.col))
        .collect();
    assert_eq!(
        at,
        [("a", "lsf.queues[0]", 5, 11), ("b", "lsf.queues[1]", 5, 16)]
    );
    let s = spec(
        "backend = \"lsf\"\n[[lsf.targets]]\nhosts = \"h\"\n[[lsf.targets]]\nqueue = \"gpu\"\n",
    );
    let e = s.queue_error("gpu", "no such queue".into());
    assert_eq!(
        e.to_string(),
        format!("{PATH}:7:9: lsf.targets[1].queue: no such queue")
    );
}

// ---------------------------------------------------------------------------------------------
// Hardening: careless and hostile sweep files (the numbers are the items of the review).

/// The error for `body` (after name and command) as `line:col field`, and its message.
fn refused(body: &str) -> (String, String) {
    let e = err(body);
    (loc(&e), e.message)
}

fn warnings_of(src: &str) -> Vec<String> {
    let s = Spec::from_toml(src, Path::new(PATH)).unwrap_or_else(|e| panic!("{e}\n{src}"));
    s.warnings().iter().map(ToString::to_string).collect()
}

#[test]
fn hardening_07_every_number_has_a_range_said_in_the_message() {
    // (body, where, the range the message names)
    let cases: &[(&str, &str, &str)] = &[
        (
            "[lsf]\npoll_max = 1e300\n",
            "4:12 lsf.poll_max",
            "between 0.05 and 86400 seconds (1 day), not 1e300",
        ),
        (
            "[lsf]\npoll_min = 0.01\n",
            "4:12 lsf.poll_min",
            "between 0.05 and 86400",
        ),
        (
            "[lsf]\nsettle = 1e20\n",
            "4:10 lsf.settle",
            "between 0.05 and 3600 seconds",
        ),
        (
            "[lsf]\nlost_after = 0\n",
            "4:14 lsf.lost_after",
            "between 1 and 604800 seconds (7 days)",
        ),
        (
            "[lsf]\nsubmit_rate = 1e-300\n",
            "4:15 lsf.submit_rate",
            "between 0.001 and 1000 submissions per second",
        ),
        (
            "[lsf]\nsubmit_parallel = 65\n",
            "4:19 lsf.submit_parallel",
            "between 1 and 64",
        ),
        (
            "[lsf]\nmax_array_size = 4294967295\n",
            "4:18 lsf.max_array_size",
            "between 1 and 1,000,000",
        ),
        (
            "[lsf]\nmax_in_flight = 0\n",
            "4:17 lsf.max_in_flight",
            "between 1 and 1,000,000, not 0",
        ),
        (
            "[lsf]\ncores = 2000000\n",
            "4:9 lsf.cores",
            "between 1 and 1,000,000",
        ),
        (
            "[[lsf.targets]]\nqueue = \"a\"\nweight = 100000\n",
            "5:10 lsf.targets[0].weight",
            "between 1 and 1,000",
        ),
        (
            "[[lsf.targets]]\nqueue = \"a\"\nmax_in_flight = 0\n",
            "5:17 lsf.targets[0].max_in_flight",
            "between 1 and 1,000,000",
        ),
        (
            "[local]\nconcurrency = 1000000\n",
            "4:15 local.concurrency",
            "between 1 and 10,000",
        ),
        (
            "max_attempts = 5000\n",
            "3:16 max_attempts",
            "between 1 and 1,000",
        ),
        (
            "repeats = 4294967295\n",
            "3:11 repeats",
            "between 1 and 1,000,000",
        ),
        (
            "[grid]\na = [1]\n[sample]\nn = 0\n",
            "6:5 sample.n",
            "between 1 and 1,000,000,000",
        ),
        (
            "[grid]\na = [1]\n[sample]\nn = 1\nseed = -1\n",
            "7:8 sample.seed",
            "between 0 and 9,223,372,036,854,775,807",
        ),
        (
            "[grid]\nw = { linspace = [0, 1, 2000000000] }\n",
            "4:25 grid.w.linspace[2]",
            "between 1 and 1,000,000,000",
        ),
        (
            "[grid]\nw = { logspace = [1, 2, 0] }\n",
            "4:25 grid.w.logspace[2]",
            "between 1 and 1,000,000,000",
        ),
    ];
    for (body, at, range) in cases {
        let (l, m) = refused(body);
        assert_eq!(&l, at, "{body}: {m}");
        assert!(
            m.contains("must be between") && m.contains(range),
            "{body}: {m}"
        );
    }
    // The ends of each range are accepted, and are what the options hold.
    let s = spec(
        "[lsf]\npoll_min = 0.05\npoll_max = 86400\nsettle = 3600\nlost_after = 1\n\
         submit_rate = 0.001\nmax_array_size = 1000000\nmax_in_flight = 1\ncores = 1000000\n",
    );
    assert_eq!((s.lsf.poll_min, s.lsf.poll_max), (0.05, 86_400.0));
    assert_eq!((s.lsf.settle, s.lsf.lost_after), (3_600.0, 1.0));
    assert_eq!(s.lsf.submit_rate, Some(0.001));
    assert_eq!(
        (s.lsf.max_array_size, s.lsf.cores),
        (1_000_000, Some(1_000_000))
    );
    // Every accepted interval is a Duration (the panic was "cannot convert float seconds").
    for secs in [
        s.lsf.poll_min,
        s.lsf.poll_max,
        s.lsf.settle,
        s.lsf.lost_after,
    ] {
        assert!(
            std::time::Duration::try_from_secs_f64(secs).is_ok(),
            "{secs}"
        );
    }
    let pause = 1.0 / s.lsf.submit_rate.unwrap();
    assert!(std::time::Duration::try_from_secs_f64(pause).is_ok_and(|d| d.as_secs() <= 1000));
}

#[test]
fn hardening_07_memory_must_fit_lsf_and_walltime_is_positive_and_bounded() {
    for bad in [
        "\"99999999999999999999TB\"",
        "\"2049TB\"",
        "\"2147483648\"",
        "\"0\"",
        "\"0.0GB\"",
        "0",
        "2147483648",
    ] {
        let (l, m) = refused(&format!("[lsf]\nmemory = {bad}\n"));
        assert_eq!(l, "4:10 lsf.memory", "{bad}: {m}");
        assert!(
            m.contains("between 1 and") || m.contains("at most 2048TB"),
            "{bad}: {m}"
        );
    }
    for ok in [
        "\"2048TB\"",
        "\"2147483647\"",
        "\"1.5TB\"",
        "2147483647",
        "\"1KB\"",
    ] {
        spec(&format!("[lsf]\nmemory = {ok}\n"));
    }
    for bad in [
        "\"0\"",
        "\"0:00\"",
        "\"000\"",
        "\"8761:00\"",
        "\"525601\"",
        "525601",
    ] {
        let (l, m) = refused(&format!("[lsf]\nwalltime = {bad}\n"));
        assert_eq!(l, "4:12 lsf.walltime", "{bad}: {m}");
        assert!(m.contains("8,760 hours"), "{bad}: {m}");
    }
    for ok in ["\"0:01\"", "\"8760:00\"", "\"525600\"", "525600", "1"] {
        spec(&format!("[lsf]\nwalltime = {ok}\n"));
    }
}

#[test]
fn hardening_07_computed_axes_never_repeat_a_value() {
    let (l, m) = refused("[grid]\nw = { linspace = [1.0, 1.0, 5] }\n");
    assert_eq!(l, "4:18 grid.w.linspace");
    assert!(
        m.contains("same value at both ends") && m.contains("all 5 values would be 1.0"),
        "{m}"
    );
    let (l, m) = refused("[grid]\nw = { logspace = [0.5, 0.5, 2] }\n");
    assert_eq!(l, "4:18 grid.w.logspace", "{m}");
    // Neighbours closer than 12 significant digits can tell apart.
    let (l, m) = refused("[grid]\nw = { linspace = [1.0, 1.000000000001, 3] }\n");
    assert_eq!(l, "4:18 grid.w.linspace");
    assert!(m.contains("too close together"), "{m}");
    let (l, m) = refused("[grid]\nx = { start = 1.0, stop = 1.0000001, step = 1e-12 }\n");
    assert_eq!(l, "4:45 grid.x.step");
    assert!(
        m.contains("too small") && m.contains("at least 1.1e-10"),
        "{m}"
    );
    // The smallest gaps that still tell values apart load, and give distinct values.
    for body in [
        "[grid]\nw = { linspace = [1.0, 1.000000001, 3] }\n",
        "[grid]\nx = { start = 1.0, stop = 1.000001, step = 1e-7 }\n",
        "[grid]\nw = { logspace = [1.0, 1.0000001, 4] }\n",
    ] {
        let values = col(&spec(body));
        let mut distinct = values.clone();
        distinct.dedup();
        assert_eq!(distinct, values, "{body}");
    }
}

/// Found while bounding ranges: `stop - start` beyond f64::MAX made a range of 20 values
/// "hold no value".
#[test]
fn hardening_07_float_range_wider_than_f64_max() {
    let s = spec("[grid]\nx = { start = -1e308, stop = 1e308, step = 1e307 }\n");
    let v = col(&s);
    assert_eq!(v.len(), 20);
    assert_eq!(
        (v[0].as_str(), v[10].as_str(), v[19].as_str()),
        ("-1e308", "0.0", "9e307")
    );
}

#[test]
fn hardening_13_floats_keep_their_written_text() {
    let s = spec(
        "command = \"x\"\n[grid]\nlr = [0.00001, 1e3, 1.50, 123456789012345678.0, 1_000.5, +1.5, 1E-3, 0.1]\n"
            .trim_start_matches("command = \"x\"\n"),
    );
    assert_eq!(
        col(&s),
        [
            "0.00001",
            "1e3",
            "1.50",
            "123456789012345678.0",
            "1000.5",
            "+1.5",
            "1E-3",
            "0.1"
        ]
    );
    let src = "name = \"t\"\ncommand = \"train --lr {lr} --ok\"\n[grid]\nlr = [0.00001]\n\
               [[zip]]\nb = [1.50]\nc = [2.0]\n";
    let s = Spec::from_toml(src, Path::new(PATH)).unwrap();
    let p = s.points().next().unwrap();
    assert_eq!(
        s.render_command(&p, &builtins("/o")),
        "train --lr 0.00001 --ok"
    );
    assert_eq!(p.params[1].1.to_string(), "1.50");
    // A text that is the shortest form is a plain float: same value, same `==`.
    assert_eq!(p.params[2].1, Value::from(2.0));
    let Value::Float(f) = &p.params[0].1 else {
        panic!("{p:?}")
    };
    assert_eq!((f.value(), f.text()), (1e-5, Some("0.00001")));
    // Choices are written values too; computed values keep the 12-digit rounding.
    let s = spec("[grid]\nc = { choice = [0.50] }\n[sample]\nn = 1\n");
    assert_eq!(col(&s), ["0.50"]);
    let s = spec("[grid]\nd = { start = 0.10, stop = 0.35, step = 0.10 }\n");
    assert_eq!(col(&s), ["0.1", "0.2", "0.3"]);
    assert_eq!(
        col(&spec("[grid]\nw = { linspace = [0.00001, 0.00003, 3] }\n")),
        ["1e-5", "2e-5", "3e-5"]
    );
}

#[test]
fn hardening_13_store_round_trips_written_text_and_reads_old_records() {
    let written = Value::Float(Float::written(1e-5, "0.00001").unwrap());
    let json = serde_json::to_string(&written).unwrap();
    assert_eq!(json, r#"{"float":"0.00001"}"#);
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), written);
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap().to_string(),
        "0.00001"
    );
    // Every kind round-trips exactly, inside a point as the store keeps it.
    let p = Point {
        index: 3,
        params: vec![
            ("a".into(), written.clone()),
            (
                "b".into(),
                Value::Float(Float::written(1000.0, "1e3").unwrap()),
            ),
            ("c".into(), Value::from(0.1)),
            ("d".into(), Value::Int(-7)),
            ("e".into(), Value::Str("{\"float\":\"1\"}".into())),
            ("f".into(), Value::Bool(false)),
        ],
    };
    let text = serde_json::to_string(&p).unwrap();
    let back: Point = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    let shown: Vec<String> = back.params.iter().map(|(_, v)| v.to_string()).collect();
    assert_eq!(
        shown,
        ["0.00001", "1e3", "0.1", "-7", "{\"float\":\"1\"}", "false"]
    );
    // Records written before texts were kept: plain numbers.
    let old: Point = serde_json::from_str(r#"{"index":0,"params":[["lr",1e-5],["n",3]]}"#).unwrap();
    assert_eq!(old.params[0].1, Value::from(1e-5));
    assert_eq!(old.params[0].1.to_string(), "1e-5");
    // A damaged tagged form is an error, not a guess.
    for bad in [
        r#"{"float":"abc"}"#,
        r#"{"float":"inf"}"#,
        r#"{"float":1.5}"#,
        r#"{"float":"1.5","x":1}"#,
        r#"{"other":"1.5"}"#,
        r#"{}"#,
        r#"{"float":"0.000000000000000000000000000001"}"#,
    ] {
        assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
    }
}

#[test]
fn hardening_13_to_json_gives_numbers_and_exclusions_compare_by_value() {
    let w = Value::Float(Float::written(1e-5, "0.00001").unwrap());
    assert_eq!(w.to_json(), serde_json::json!(1e-5));
    assert_eq!(Value::Int(3).to_json(), serde_json::json!(3));
    assert_eq!(Value::Str("a".into()).to_json(), serde_json::json!("a"));
    assert_eq!(Value::Bool(true).to_json(), serde_json::json!(true));
    // The JSON `report` builds today (`serde_json::Value::from(Float)`) is the same number.
    let Value::Float(f) = &w else { unreachable!() };
    assert_eq!(serde_json::Value::from(*f), w.to_json());
    // `==` tells the texts apart; exclusions match by value, however each is written.
    assert_ne!(w, Value::from(1e-5));
    assert!(w.same_number(&Value::from(1e-5)));
    assert!(Value::Int(2).same_number(&Value::Float(Float::written(2.0, "2.00").unwrap())));
    assert!(!Value::Int(i64::MAX).same_number(&Value::Int(i64::MAX - 1)));
    let s = spec("[grid]\nlr = [0.00001, 0.0001, 1.50]\n[[exclude]]\nlr = [1e-5, 1.5]\n");
    assert_eq!(col(&s), ["0.0001"]);
}

#[test]
fn hardening_13_a_float_text_too_long_to_keep_is_said_and_keeps_its_value() {
    let src = "name = \"t\"\ncommand = \"echo {x}\"\n[grid]\nx = [3.14159265358979323846264338327950288]\n";
    let s = Spec::from_toml(src, Path::new(PATH)).unwrap();
    assert_eq!(col(&s), ["3.141592653589793"]);
    let w = warnings_of(src);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("/sweeps/test.toml:4:6: grid.x[0]: `3.14159265358979323846264338327950288` is longer than the 23 characters"),
        "{w:?}"
    );
    // 23 characters are kept.
    assert_eq!(
        col(&spec("[grid]\nx = [0.000000000000000000001]\n")),
        ["0.000000000000000000001"]
    );
}

#[test]
fn hardening_17_a_key_below_a_header_is_named_where_it_landed() {
    let src =
        "name = \"t\"\n[grid]\nlr = [0.1]\n\n[local]\nconcurrency = 2\ncommand = \"echo {lr}\"\n";
    let e = Spec::from_toml(src, Path::new("x.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:7:1: local.command: unknown key; top-level keys must come before the first [table] \
         — move it above [grid] (line 2)"
    );
    // Every table: a fixed one, an array of tables, a sub-table, the parameter tables.
    let cases: &[(&str, &str, &str)] = &[
        (
            "[sample]\nn = 1\nbackend = \"lsf\"\n",
            "5:1 sample.backend",
            "move it above [sample] (line 3)",
        ),
        (
            "[collect]\nstdout_kv = true\nmax_attempts = 2\n",
            "5:1 collect.max_attempts",
            "top-level keys",
        ),
        (
            "[cluster]\nhost = \"h\"\nrepeats = 2\n",
            "5:1 cluster.repeats",
            "top-level keys",
        ),
        (
            "[grid]\nlr = [1]\nbackend = \"lsf\"\n",
            "5:1 grid.backend",
            "move it above [grid] (line 3)",
        ),
        (
            "[grid]\nlr = [1]\nworkdir = \"runs\"\n",
            "5:1 grid.workdir",
            "top-level keys",
        ),
        (
            "[[zip]]\na = [1]\nrepeats = 3\n",
            "5:1 zip[0].repeats",
            "move it above [[zip]] (line 3)",
        ),
        (
            "[grid]\na = [1]\n[[exclude]]\na = 1\nmax_attempts = 3\n",
            "7:1 exclude[0].max_attempts",
            "move it above [grid] (line 3)",
        ),
        (
            "[lsf]\nqueue = \"a\"\n[[lsf.targets]]\nqueue = \"b\"\npolicy = \"weighted\"\n",
            "7:1 lsf.targets[0].policy",
            "keys of [lsf] must come before the next table header — move it above [[lsf.targets]] (line 5)",
        ),
        (
            "[[lsf.targets]]\nqueue = \"b\"\narray = true\n",
            "5:1 lsf.targets[0].array",
            "add the header [lsf] above [[lsf.targets]] (line 3)",
        ),
        (
            "[grid]\n[grid.k]\nstart = 1\nstop = 3\nlr = [1, 2]\n",
            "7:1 grid.k.lr",
            "keys of [grid] must come before the next table header — move it above [grid.k] (line 4)",
        ),
        (
            "[local]\ncommand = \"again\"\n",
            "4:1 local.command",
            "`command` is already set at the top level on line 2",
        ),
    ];
    for (body, at, says) in cases {
        let (l, m) = refused(body);
        assert_eq!(&l, at, "{body}: {m}");
        assert!(m.contains(says), "{body}: {m}");
    }
    // A required key that landed in [grid] is never taken for a parameter.
    let src = "name = \"t\"\n[grid]\nlr = [1]\ncommand = [\"echo\"]\n";
    let e = Spec::from_toml(src, Path::new(PATH)).unwrap_err();
    assert_eq!(loc(&e), "4:1 grid.command");
    // A table key written before any header: named as the table's.
    let (l, m) = refused("concurrency = 2\n");
    assert_eq!(l, "3:1 concurrency");
    assert!(m.contains("`concurrency` is a key of [local]"), "{m}");
    // Plain unknown keys are still errors, wherever they are; a typo in an axis table is the
    // axis parser's to name.
    assert_eq!(
        refused("[local]\nconcurency = 2\n").0,
        "4:1 local.concurency"
    );
    let (l, m) = refused("[grid.k]\nstart = 1\nstop = 3\nstpe = 1\n");
    assert_eq!(l, "6:1 grid.k.stpe");
    assert!(
        m.contains("unknown key `stpe` in [grid.k] (did you mean"),
        "{m}"
    );
}

#[test]
fn hardening_17_a_parameter_named_like_a_top_level_key_is_a_warning() {
    let src = "name = \"t\"\ncommand = \"echo {setup}\"\n[grid]\nsetup = [\"module load x\"]\n";
    let s = Spec::from_toml(src, Path::new(PATH)).unwrap();
    assert_eq!(s.param_names(), ["setup"]);
    let w = warnings_of(src);
    assert_eq!(
        w,
        [format!(
            "{PATH}:4:1: grid.setup: `setup` is a parameter of [grid] here, not the top-level key \
             `setup`; if you meant the top-level key, move it above [grid] (line 3), or rename \
             the parameter"
        )]
    );
    // Set at the top level too: an ordinary parameter, nothing to say.
    let src = "name = \"t\"\ncommand = \"echo {setup}\"\nsetup = []\n[grid]\nsetup = [1]\n";
    assert!(warnings_of(src).is_empty());
}

#[test]
fn hardening_17_tables_the_backend_ignores_are_located_warnings() {
    let src = "name = \"t\"\ncommand = \"echo\"\nbackend = \"local\"\n\n[cluster]\nhost = \"h\"\n[lsf]\nqueue = \"q\"\n";
    let s = Spec::from_toml(src, Path::new("x.toml")).unwrap();
    let w: Vec<String> = s.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            "x.toml:7:1: [lsf] is ignored: backend is \"local\"; set backend = \"lsf\" to use it, or remove [lsf]",
            "x.toml:5:1: [cluster] is ignored: backend is \"local\"; set backend = \"lsf\" to use it, or remove [cluster]",
        ]
    );
    assert_eq!(
        (
            s.warnings()[0].line,
            s.warnings()[0].col,
            s.warnings()[0].field.as_deref()
        ),
        (Some(7), Some(1), None)
    );
    let w = warnings_of(
        "name = \"t\"\ncommand = \"echo\"\nbackend = \"lsf\"\n[local]\nconcurrency = 2\n",
    );
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains(":4:1: [local] is ignored: backend is \"lsf\""),
        "{w:?}"
    );
    // The default backend is local; a file that uses what its backend reads has nothing to say.
    assert_eq!(
        warnings_of("name = \"t\"\ncommand = \"e\"\n[lsf]\n").len(),
        1
    );
    assert!(
        warnings_of(
            "name = \"t\"\ncommand = \"e\"\nbackend = \"lsf\"\n[lsf]\n[cluster]\nhost = \"h\"\n"
        )
        .is_empty()
    );
}

#[test]
fn hardening_17_bsub_values_refuse_quotes_control_characters_and_comments() {
    let fields: &[(&str, &str, &str)] = &[
        ("[lsf]\nresources = ", "", "lsf.resources"),
        ("[lsf]\ngpu = ", "", "lsf.gpu"),
        ("[lsf]\nqueue = ", "", "lsf.queue"),
        ("[lsf]\nqueues = [\"a\", ", "]", "lsf.queues[1]"),
        ("[lsf]\nhosts = ", "", "lsf.hosts"),
        ("[lsf]\nhosts = [", "]", "lsf.hosts[0]"),
        ("[[lsf.targets]]\nqueue = ", "", "lsf.targets[0].queue"),
        ("[[lsf.targets]]\nhosts = ", "", "lsf.targets[0].hosts"),
        ("[lsf]\nextra = [", "]", "lsf.extra[0]"),
        ("[lsf]\nwalltime = ", "", "lsf.walltime"),
        ("[lsf]\nmemory = ", "", "lsf.memory"),
    ];
    for (before, after, field) in fields {
        for value in [
            r#""-x span[hosts=1]\" -q evil""#,
            r#""-x a\nb""#,
            r#""-x a\rb""#,
            r#""-x a\tb""#,
            r#""-x a\u001bb""#,
            r#""-x a\u0085b""#,
        ] {
            let body = format!("{before}{value}{after}\n");
            let e = err(&body);
            assert_eq!(e.field.as_deref(), Some(*field), "{body}: {e}");
            assert_eq!(e.line, Some(4), "{body}: {e}");
        }
    }
    let (_, m) = refused("[lsf]\nresources = 'span[hosts=1]\" -q evil'\n");
    assert!(m.contains("no escape"), "{m}");
    let (_, m) = refused("[lsf]\ngpu = \"#num=1\"\n");
    assert!(m.contains("comment"), "{m}");
    let (_, m) = refused("[lsf]\nextra = [\"-P x\\\\\"]\n");
    assert!(m.contains("join the next #BSUB line"), "{m}");
    let (_, m) = refused("[lsf]\nextra = [\"-Jd \\\"my run\\\"\"]\n");
    assert!(m.contains("single quotes"), "{m}");
    // What real sites write still loads, single quotes included.
    let s = spec(
        "[lsf]\nresources = \"select[mem>4000] rusage[mem=4000] span[hosts=1]\"\n\
         gpu = \"num=1:mode=shared:mps=no\"\nextra = [\"-P myproject\", \"-Jd 'my run'\"]\n",
    );
    assert_eq!(s.lsf.extra, ["-P myproject", "-Jd 'my run'"]);
    // A value too long for LSF's line buffers.
    let (l, m) = refused(&format!("[lsf]\nresources = \"{}\"\n", "x".repeat(5000)));
    assert_eq!(l, "4:13 lsf.resources");
    assert!(m.contains("more than the 4000 allowed"), "{m}");
}

#[test]
fn hardening_17_messages_count_points_correctly() {
    let (_, m) = refused("[grid]\na = [1]\n[sample]\nn = 2\n");
    assert!(
        m.contains("asks for 2 points but the grid has only 1 point;"),
        "{m}"
    );
    let (_, m) = refused("[grid]\na = [1, 2, 3]\n[[exclude]]\na = [1, 2]\n[sample]\nn = 2\n");
    assert!(m.contains("only 1 point after exclusions"), "{m}");
    let e = err("[grid]\nk = { randint = [1, 1] }\n[[exclude]]\nk = 1\n[sample]\nn = 1\n");
    assert!(
        e.message
            .contains("only 0 of 1 requested draw passed the [[exclude]] tables in 1000 tries"),
        "{e}"
    );
}

#[test]
fn hardening_17_collect_file_names_follow_one_rule() {
    for (value, says) in [
        ("\"a\\rb\"", "a line break"),
        ("\"a\\nb\"", "a line break"),
        ("\"a\\u0000b\"", "NUL"),
        ("\"a\\tb\"", "a tab"),
        ("\"a\\u007fb\"", "U+007F"),
        ("\"/etc/passwd\"", "absolute"),
        ("\"x/../../y\"", "`..`"),
        ("\"./\"", "names no file"),
        ("\"\"", "names no file"),
    ] {
        for (key, at) in [
            ("files = [", "4:10 collect.files[0]"),
            ("metrics_json = ", "4:16 collect.metrics_json"),
        ] {
            let close = if key.ends_with('[') { "]" } else { "" };
            let (l, m) = refused(&format!("[collect]\n{key}{value}{close}\n"));
            assert_eq!(l, at, "{key}{value}: {m}");
            assert!(m.contains(says), "{key}{value}: {m}");
        }
    }
    let s = spec(
        "[collect]\nfiles = [\"./metrics.json\", \"ckpt//a.pt\", \"d/./e/\"]\nmetrics_json = \"./m.json\"\n",
    );
    assert_eq!(s.collect.files, ["metrics.json", "ckpt/a.pt", "d/e"]);
    assert_eq!(s.collect.metrics_json.as_deref(), Some("m.json"));
}

#[test]
fn hardening_17_remote_dir_takes_only_the_forms_bsweep_resolves() {
    for (value, says) in [
        ("~root/x", "`~user` form"),
        ("~root", "`~user` form"),
        ("runs/%J", "`%`"),
        ("/scratch/%I", "`%`"),
        ("a\\tb", "a tab"),
        ("a\\u001bb", "U+001B"),
        ("/a\\\"b", "`\"`"),
        ("/my  dir", "single spaces"),
        (" /x", "spaces"),
    ] {
        let (l, m) = refused(&format!(
            "[cluster]\nhost = \"h\"\nremote_dir = \"{value}\"\n"
        ));
        assert_eq!(l, "5:14 cluster.remote_dir", "{value}: {m}");
        assert!(m.contains(says), "{value}: {m}");
    }
    for ok in [
        "~",
        "~/.bsweep",
        "/scratch/u/bsweep",
        "bsweep-runs",
        "/my dir",
    ] {
        let s = spec(&format!("[cluster]\nhost = \"h\"\nremote_dir = \"{ok}\"\n"));
        assert_eq!(s.cluster.unwrap().remote_dir.as_deref(), Some(ok));
    }
    let (l, _) = refused("[cluster]\nhost = \"u@h\\u0007\"\n");
    assert_eq!(l, "4:8 cluster.host");
}

#[test]
fn hardening_17_sweep_names_are_checked_by_one_public_rule() {
    for (name, err) in [
        (
            "../../x",
            NameError::BadStart {
                name: "../../x".into(),
                first: '.',
            },
        ),
        (
            "/abs",
            NameError::BadStart {
                name: "/abs".into(),
                first: '/',
            },
        ),
        (
            "a/b",
            NameError::BadChar {
                name: "a/b".into(),
                bad: '/',
            },
        ),
        (
            "a b",
            NameError::BadChar {
                name: "a b".into(),
                bad: ' ',
            },
        ),
        (
            "a\nb",
            NameError::BadChar {
                name: "a\nb".into(),
                bad: '\n',
            },
        ),
        ("", NameError::Empty),
        (
            "é",
            NameError::BadStart {
                name: "é".into(),
                first: 'é',
            },
        ),
    ] {
        assert_eq!(check_sweep_name(name), Err(err.clone()), "{name:?}");
        let shown = err.to_string();
        assert!(
            shown.contains("a sweep name is 1 to 64 letters, digits"),
            "{shown}"
        );
        assert!(
            !shown.contains('\n'),
            "control characters are escaped: {shown}"
        );
    }
    let long = "a".repeat(65);
    assert_eq!(
        check_sweep_name(&long),
        Err(NameError::TooLong {
            name: long.clone(),
            len: 65
        })
    );
    for ok in ["a", "lr-sweep", "v1.2_x", &"z".repeat(64), "0"] {
        assert_eq!(check_sweep_name(ok), Ok(()), "{ok}");
    }
    // The sweep file's `name` follows the same rule, located.
    let e = Spec::from_toml("name = \"a/b\"\ncommand = \"e\"\n", Path::new(PATH)).unwrap_err();
    assert_eq!(loc(&e), "1:8 name");
    assert_eq!(e.message, check_sweep_name("a/b").unwrap_err().to_string());
}

#[test]
fn hardening_17_workdir_with_a_tilde_is_refused() {
    let (l, m) = refused("workdir = \"~/runs/{sweep}\"\n");
    assert_eq!(l, "3:11 workdir");
    assert!(m.contains("`~` is not expanded"), "{m}");
    let (l, _) = refused("workdir = \"runs\\u0007\"\n");
    assert_eq!(l, "3:11 workdir");
}

/// Found next to the others: a file saved as Latin-1 was "cannot read ...; check the path and
/// permissions", and a device or a huge file was read whole.
#[test]
fn hardening_17_load_says_where_a_file_is_not_utf8_and_reads_a_bounded_amount() {
    let dir = tempfile::tempdir().unwrap();
    let latin = dir.path().join("latin.toml");
    std::fs::write(&latin, b"name = \"t\"\ncommand = \"caf\xe9\"\n").unwrap();
    let e = Spec::load(&latin).unwrap_err();
    assert_eq!((e.line, e.col), (Some(2), Some(15)), "{e}");
    assert!(e.message.contains("not UTF-8 text (byte 0xE9 here)"), "{e}");
    let big = dir.path().join("big.toml");
    let mut text = b"name = \"t\"\ncommand = \"e\"\n#".to_vec();
    text.resize(MAX_FILE_BYTES as usize + 1, b'x');
    std::fs::write(&big, &text).unwrap();
    let e = Spec::load(&big).unwrap_err();
    assert!(e.message.contains("larger than 16 MB"), "{e}");
    // Just below the bound loads.
    text.truncate(MAX_FILE_BYTES as usize);
    std::fs::write(&big, &text).unwrap();
    assert_eq!(Spec::load(&big).unwrap().name, "t");
    if Path::new("/dev/zero").exists() {
        let e = Spec::load(Path::new("/dev/zero")).unwrap_err();
        assert!(e.message.contains("larger than 16 MB"), "{e}");
    }
}
