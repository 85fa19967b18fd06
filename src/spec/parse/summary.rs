//! The `[summary]` table: the primary metric, whether higher or lower wins, the parameters
//! averaged over and how many groups the terminal table shows.

use super::keys::SUMMARY_KEYS;
use super::{Cx, Res, Val};
use crate::spec::{Goal, SummarySpec};

/// Most groups `top` may ask for; 0 shows them all.
const MAX_TOP: i64 = 1_000_000;

/// Reads `[summary]`; `params` are the sweep's parameters (`repeat` included when
/// `repeats > 1`), which `over` must name.
pub(super) fn parse_summary(
    cx: &Cx<'_>,
    v: Option<&Val<'_>>,
    params: &[String],
) -> Res<SummarySpec> {
    let mut s = SummarySpec::default();
    let Some(v) = v else {
        return Ok(s);
    };
    let tb = cx.table(
        v,
        "summary",
        SUMMARY_KEYS,
        "[summary] metric = \"eval.acc\"",
    )?;
    if let Some(v) = tb.get("metric") {
        s.metric = Some(cx.one_line(v, "summary.metric", "metric = \"eval.acc\"")?);
    }
    if let Some(v) = tb.get("goal") {
        s.goal = Some(
            match cx.string(v, "summary.goal", "goal = \"min\"")?.as_str() {
                "max" => Goal::Max,
                "min" => Goal::Min,
                other => {
                    return Err(cx.err(
                        v.span().start,
                        "summary.goal",
                        format!(
                            "unknown goal `{}`; use \"max\" (higher is better) or \"min\" \
                             (lower is better)",
                            other.escape_debug()
                        ),
                    ));
                }
            },
        );
    }
    if let Some(v) = tb.get("over") {
        s.over = Some(over(cx, v, params)?);
    }
    if let Some(v) = tb.get("top") {
        s.top = Some(cx.int_in(v, "summary.top", 0, MAX_TOP, "top = 10")?);
    }
    Ok(s)
}

/// The parameters to average over: each a parameter of the sweep, once. `[]` is allowed and
/// means "group by every parameter".
fn over(cx: &Cx<'_>, v: &Val<'_>, params: &[String]) -> Res<Vec<String>> {
    let ex = "over = [\"seed\"]";
    let mut out: Vec<String> = Vec::new();
    for (i, (name, at)) in cx
        .string_list(v, "summary.over", ex)?
        .into_iter()
        .enumerate()
    {
        let field = format!("summary.over[{i}]");
        if out.contains(&name) {
            return Err(cx.err(
                at,
                &field,
                format!("`{}` is listed twice; remove one", name.escape_debug()),
            ));
        }
        if !params.contains(&name) {
            let hint = if name == "repeat" {
                "`repeat` exists only with `repeats` above 1".to_string()
            } else if params.is_empty() {
                "the sweep has no parameters".to_string()
            } else {
                format!("parameters: {}", params.join(", "))
            };
            return Err(cx.err(
                at,
                &field,
                format!(
                    "`{}` is not a parameter of the sweep ({hint}); name one, or write \
                     `over = []` to group by every parameter",
                    name.escape_debug()
                ),
            ));
        }
        out.push(name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::spec::{Goal, Spec, SummarySpec};

    fn load(extra: &str) -> Result<Spec, crate::spec::SpecError> {
        let text = format!(
            "name = \"s\"\ncommand = \"true\"\nrepeats = 3\n[grid]\nlr = [0.1, 0.01]\n\
             seed = [1, 2]\n{extra}"
        );
        Spec::from_toml(&text, std::path::Path::new("s.toml"))
    }

    fn err(extra: &str) -> String {
        load(extra).unwrap_err().to_string()
    }

    #[test]
    fn reads_every_key_and_leaves_out_what_is_not_given() {
        assert_eq!(load("").unwrap().summary, SummarySpec::default());
        let s = load(
            "[summary]\nmetric = \"eval.acc\"\ngoal = \"min\"\nover = [\"seed\", \"repeat\"]\n\
             top = 0\n",
        )
        .unwrap()
        .summary;
        assert_eq!(s.metric.as_deref(), Some("eval.acc"));
        assert_eq!(s.goal, Some(Goal::Min));
        assert_eq!(s.over, Some(vec!["seed".to_string(), "repeat".to_string()]));
        assert_eq!(s.top, Some(0));
        // An empty list is "group by every parameter", not the default.
        assert_eq!(
            load("[summary]\nover = []\n").unwrap().summary.over,
            Some(vec![])
        );
    }

    #[test]
    fn errors_name_the_place_and_what_to_write() {
        assert_eq!(
            err("[summary]\ngoal = \"best\"\n"),
            "s.toml:8:8: summary.goal: unknown goal `best`; use \"max\" (higher is better) or \
             \"min\" (lower is better)"
        );
        assert_eq!(
            err("[summary]\nover = [\"seed\", \"depth\"]\n"),
            "s.toml:8:17: summary.over[1]: `depth` is not a parameter of the sweep \
             (parameters: lr, seed, repeat); name one, or write `over = []` to group by every \
             parameter"
        );
        assert!(err("[summary]\nover = [\"seed\", \"seed\"]\n").contains("listed twice"));
        assert!(
            err("[summary]\ntop = -1\n").starts_with("s.toml:8:7: summary.top: must be between 0")
        );
        assert!(err("[summary]\nmetric = \"\"\n").contains("summary.metric: must not be empty"));
        assert!(err("[summary]\nmetrc = \"x\"\n").contains("(did you mean `metric`?)"));
        assert!(err("[summary]\nover = \"seed\"\n").contains("summary.over: must be a list"));
        // A key of [summary] written above any header is pointed there.
        let e = Spec::from_toml(
            "name = \"s\"\ncommand = \"true\"\nmetric = \"x\"\n",
            std::path::Path::new("s.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("(`metric` is a key of [summary]"), "{e}");
    }

    #[test]
    fn repeat_is_a_parameter_only_with_repeats() {
        let text = "name = \"s\"\ncommand = \"true\"\n[grid]\nlr = [0.1]\n[summary]\n\
                    over = [\"repeat\"]\n";
        let e = Spec::from_toml(text, std::path::Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`repeat` exists only with `repeats` above 1"),
            "{e}"
        );
    }
}
