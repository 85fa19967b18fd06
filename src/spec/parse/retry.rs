//! The `[retry]` table: which failed attempts earn another one (`on_exit`), what changes after
//! a kill at a limit (`on_memlimit`, `on_runlimit`), and when a host is left out
//! (`exclude_hosts_after`). Every amount is range-checked here, at its `file:line:col`.

use toml::de::DeValue;

use super::keys::{MEMLIMIT_KEYS, RETRY_KEYS, RUNLIMIT_KEYS};
use super::options::{
    MAX_LIMIT_NUMBER, MAX_MEMORY_KB, MAX_WALLTIME_MINUTES, memory_amount,
    walltime_minutes as minutes_of,
};
use super::{Cx, Res, Tbl, Val, group};
use crate::spec::{BackendKind, Grow, RetryOpts, Step};

/// Largest factor of an `xN` step: a limit grown a hundredfold per attempt is a slip.
const MAX_FACTOR: f64 = 100.0;
/// Largest `exclude_hosts_after`.
const MAX_HOST_FAILURES: i64 = 1000;
/// Highest exit code a job can report (128 + a signal at most).
const MAX_EXIT_CODE: i64 = 255;

/// A memory amount as KB (a bare number is KB, as LSF reads it by default).
pub(in crate::spec) fn memory_kb(s: &str) -> Option<u64> {
    let (number, unit_kb) = memory_amount(s.trim())?;
    Some((number * unit_kb).ceil() as u64)
}

/// A run limit `[hours:]minutes` as minutes.
pub(in crate::spec) fn walltime_minutes(s: &str) -> Option<u32> {
    minutes_of(s.trim()).and_then(|m| u32::try_from(m).ok())
}

/// Whether a memory text has no unit: LSF then reads it in the site's unit.
fn is_bare(s: &str) -> bool {
    !s.trim().ends_with(|c: char| c.is_ascii_alphabetic())
}

/// What the rest of the file says that `[retry]` depends on.
pub(super) struct Context<'a> {
    pub(super) backend: BackendKind,
    pub(super) max_attempts: u32,
    /// `[lsf] memory` as written, if given.
    pub(super) memory: Option<&'a str>,
}

/// One memory amount of `[retry]`: KB, and whether it was written without a unit.
struct Amount {
    kb: u64,
    bare: bool,
    at: usize,
    field: String,
    text: String,
}

pub(super) fn parse_retry(cx: &Cx<'_>, v: Option<&Val<'_>>, ctx: &Context<'_>) -> Res<RetryOpts> {
    let mut r = RetryOpts {
        bare_memory: ctx.memory.is_some_and(is_bare),
        ..RetryOpts::default()
    };
    let Some(v) = v else {
        return Ok(r);
    };
    let ex = "[retry]\non_exit = [137, 143]";
    let tb = cx.table(v, "retry", RETRY_KEYS, ex)?;
    if let Some(v) = tb.get("on_exit") {
        r.on_exit = Some(on_exit(cx, v)?);
    }
    if let Some(v) = tb.get("on_memlimit") {
        let (grow, amounts) = on_memlimit(cx, v)?;
        r.bare_memory = memory_form(cx, ctx.memory, &amounts)?;
        r.on_memlimit = Some(grow);
    }
    if let Some(v) = tb.get("on_runlimit") {
        r.on_runlimit = Some(on_runlimit(cx, v)?);
    }
    if let Some(v) = tb.get("exclude_hosts_after") {
        let ex = "exclude_hosts_after = 2";
        r.exclude_hosts_after =
            Some(cx.int_in(v, "retry.exclude_hosts_after", 1, MAX_HOST_FAILURES, ex)?);
    }
    warn_without_effect(cx, tb, ctx);
    Ok(r)
}

/// `[retry]` that cannot change anything: one attempt per point, or keys the local backend
/// has no use for.
fn warn_without_effect(cx: &Cx<'_>, tb: Tbl<'_, '_>, ctx: &Context<'_>) {
    if ctx.max_attempts <= 1 {
        cx.warn(
            tb.at,
            "retry",
            "[retry] has no effect with max_attempts = 1 (the default): each point gets one \
             attempt; set e.g. `max_attempts = 3` at the top level",
        );
    }
    if ctx.backend == BackendKind::Local {
        for key in ["on_memlimit", "on_runlimit", "exclude_hosts_after"] {
            if let Some(v) = tb.get(key) {
                cx.warn(
                    v.span().start,
                    &tb.sub(key),
                    "has no effect on the local backend, which sets no limits and has one \
                     host; it applies to cluster backends",
                );
            }
        }
    }
}

/// `on_exit = [1, 137, "130-145"]`: exit codes, or ranges of them written `"A-B"`.
fn on_exit(cx: &Cx<'_>, v: &Val<'_>) -> Res<Vec<i32>> {
    let field = "retry.on_exit";
    let ex = "on_exit = [137, 143]";
    let items = cx.list(v, field, ex)?;
    if items.is_empty() {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "is an empty list, so no failure would be retried; list exit codes, e.g. \
                 `{ex}`, or remove the key to retry every non-zero exit"
            ),
        ));
    }
    let mut codes = Vec::new();
    for (i, e) in items.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let (lo, hi) = match e.get_ref() {
            DeValue::String(s) => exit_range(cx, e, &f, s)?,
            _ => {
                let c = cx.int_in::<i32>(e, &f, 1, MAX_EXIT_CODE, ex)?;
                (c, c)
            }
        };
        codes.extend(lo..=hi);
    }
    codes.sort_unstable();
    codes.dedup();
    Ok(codes)
}

/// `"130-145"` as its bounds, each an exit code from 1 to 255, the first not above the second.
fn exit_range(cx: &Cx<'_>, e: &Val<'_>, field: &str, s: &str) -> Res<(i32, i32)> {
    let bad = |why: String| cx.err(e.span().start, field, why);
    let Some((a, b)) = s.split_once('-') else {
        return Err(bad(format!(
            "`{}` is not an exit code range; write two codes joined by `-`, e.g. \"130-145\", or \
             a plain number without quotes",
            s.escape_debug()
        )));
    };
    let code = |t: &str| {
        t.trim()
            .parse::<i64>()
            .ok()
            .filter(|c| (1..=MAX_EXIT_CODE).contains(c))
    };
    match (code(a), code(b)) {
        (Some(lo), Some(hi)) if lo <= hi => Ok((lo as i32, hi as i32)),
        (Some(_), Some(_)) => Err(bad(format!(
            "`{s}` runs backwards; write the lower code first, e.g. \"130-145\""
        ))),
        _ => Err(bad(format!(
            "`{}` must be two exit codes between 1 and {MAX_EXIT_CODE} joined by `-`, e.g. \
             \"130-145\"",
            s.escape_debug()
        ))),
    }
}

/// An `xN` factor: more than 1 and at most [`MAX_FACTOR`].
fn factor(cx: &Cx<'_>, v: &Val<'_>, field: &str, text: &str, ex: &str) -> Res<f64> {
    let n = text[1..].trim();
    match n.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 1.0 && f <= MAX_FACTOR => Ok(f),
        _ => Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{}` is not a factor to grow by; write `x` and a number above 1 and at most \
                 {MAX_FACTOR}, e.g. `{ex}`",
                text.escape_debug()
            ),
        )),
    }
}

/// `on_memlimit = { memory = "x2", max = "64GB" }`; also returns the amounts it writes, for
/// the unit check.
fn on_memlimit(cx: &Cx<'_>, v: &Val<'_>) -> Res<(Grow, Vec<Amount>)> {
    let ex = "on_memlimit = { memory = \"x2\", max = \"64GB\" }";
    let tb = cx.table(v, "retry.on_memlimit", MEMLIMIT_KEYS, ex)?;
    let mv = tb
        .get("memory")
        .ok_or_else(|| cx.missing(tb, "memory", "memory = \"x2\""))?;
    let field = "retry.on_memlimit.memory";
    let mut amounts = Vec::new();
    let step = match mv.get_ref() {
        DeValue::String(s) if s.trim_start().starts_with('x') => {
            Step::Times(factor(cx, mv, field, s.trim(), "memory = \"x2\"")?)
        }
        DeValue::String(s) if s.trim_start().starts_with('+') => {
            let a = memory(cx, mv, field, Some(s.trim_start()[1..].trim()))?;
            let kb = a.kb;
            amounts.push(a);
            Step::Plus(kb)
        }
        _ => {
            let a = memory(cx, mv, field, None)?;
            let kb = a.kb;
            amounts.push(a);
            Step::To(kb)
        }
    };
    let max = match tb.get("max") {
        Some(m) => {
            let a = memory(cx, m, "retry.on_memlimit.max", None)?;
            if let Step::To(kb) = step
                && kb > a.kb
            {
                return Err(cx.err(
                    mv.span().start,
                    field,
                    format!(
                        "is more than max ({}); raise max or lower memory",
                        a.text.escape_debug()
                    ),
                ));
            }
            let kb = a.kb;
            amounts.push(a);
            kb
        }
        None => MAX_MEMORY_KB as u64,
    };
    Ok((Grow { step, max }, amounts))
}

/// One memory amount: an integer (bare) or a string as `[lsf] memory` takes it (`text` when
/// the string's amount is only part of it, after a `+`).
fn memory(cx: &Cx<'_>, v: &Val<'_>, field: &str, text: Option<&str>) -> Res<Amount> {
    let ex = "\"64GB\"";
    let s = match (text, v.get_ref()) {
        (Some(t), _) => t.to_string(),
        (None, DeValue::Integer(_)) => cx
            .int_in::<i64>(v, field, 1, MAX_LIMIT_NUMBER as i64, ex)?
            .to_string(),
        (None, _) => cx.string(v, field, ex)?,
    };
    let Some((number, unit_kb)) = memory_amount(&s) else {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{}` is not a memory amount; write `x` and a factor (\"x2\"), `+` and an \
                 amount (\"+4GB\"), or an amount: a number with an optional unit KB, MB, GB or \
                 TB, e.g. {ex}",
                s.escape_debug()
            ),
        ));
    };
    if !(number > 0.0 && number <= MAX_LIMIT_NUMBER && number * unit_kb <= MAX_MEMORY_KB) {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{s}` is out of range: a memory amount must be more than 0 and at most 2048TB, \
                 with a number of at most {} (LSF keeps limits in 32-bit fields)",
                group(MAX_LIMIT_NUMBER as i64)
            ),
        ));
    }
    Ok(Amount {
        kb: (number * unit_kb).ceil() as u64,
        bare: is_bare(&s),
        at: v.span().start,
        field: field.to_string(),
        text: s,
    })
}

/// Whether memory limits bsweep chooses are written bare: as `[lsf] memory` is written, and
/// every amount of `on_memlimit` must be written the same way, since a bare number is in the
/// site's unit (KB by default, MB or GB where `LSF_UNIT_FOR_LIMITS` says so) and could not be
/// compared with one that has a unit.
fn memory_form(cx: &Cx<'_>, lsf_memory: Option<&str>, amounts: &[Amount]) -> Res<bool> {
    let reference = lsf_memory
        .map(|m| (is_bare(m), format!("lsf.memory (`{m}`)")))
        .or_else(|| {
            amounts
                .first()
                .map(|a| (a.bare, format!("`{}`", a.text.escape_debug())))
        });
    let Some((bare, what)) = reference else {
        // Only a factor and no [lsf] memory: the limit grows from the peak LSF measured, in MB.
        return Ok(false);
    };
    if let Some(a) = amounts.iter().find(|a| a.bare != bare) {
        let (this, that) = if a.bare {
            ("has no unit", "has one")
        } else {
            ("has a unit", "has none")
        };
        return Err(cx.err(
            a.at,
            &a.field,
            format!(
                "`{}` {this} but {what} {that}: LSF reads a bare number in the site's own unit \
                 (KB unless LSF_UNIT_FOR_LIMITS says otherwise), so the two cannot be compared; \
                 write every memory amount with a unit, or every one without",
                a.text.escape_debug()
            ),
        ));
    }
    Ok(bare)
}

/// `on_runlimit = { walltime = "x2", max = "48:00" }` (minutes).
fn on_runlimit(cx: &Cx<'_>, v: &Val<'_>) -> Res<Grow> {
    let ex = "on_runlimit = { walltime = \"x2\", max = \"48:00\" }";
    let tb = cx.table(v, "retry.on_runlimit", RUNLIMIT_KEYS, ex)?;
    let wv = tb
        .get("walltime")
        .ok_or_else(|| cx.missing(tb, "walltime", "walltime = \"x2\""))?;
    let field = "retry.on_runlimit.walltime";
    let step = match wv.get_ref() {
        DeValue::String(s) if s.trim_start().starts_with('x') => {
            Step::Times(factor(cx, wv, field, s.trim(), "walltime = \"x2\"")?)
        }
        DeValue::String(s) if s.trim_start().starts_with('+') => {
            Step::Plus(minutes(cx, wv, field, Some(s.trim_start()[1..].trim()))?)
        }
        _ => Step::To(minutes(cx, wv, field, None)?),
    };
    let max = match tb.get("max") {
        Some(m) => {
            let max = minutes(cx, m, "retry.on_runlimit.max", None)?;
            if let Step::To(to) = step
                && to > max
            {
                return Err(cx.err(
                    wv.span().start,
                    field,
                    format!("is more than max ({max} minutes); raise max or lower walltime"),
                ));
            }
            max
        }
        None => MAX_WALLTIME_MINUTES,
    };
    Ok(Grow { step, max })
}

/// A run limit as `[lsf] walltime` takes it (`[hours:]minutes`, or plain minutes unquoted),
/// from 1 minute to a year.
fn minutes(cx: &Cx<'_>, v: &Val<'_>, field: &str, text: Option<&str>) -> Res<u64> {
    let ex = "\"48:00\"";
    let s = match (text, v.get_ref()) {
        (Some(t), _) => t.to_string(),
        (None, DeValue::Integer(_)) => cx.int(v, field, ex)?.to_string(),
        (None, _) => cx.string(v, field, ex)?,
    };
    let Some(m) = minutes_of(&s) else {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{}` is not a run limit; write `x` and a factor (\"x2\"), `+` and a time \
                 (\"+1:00\"), or a time: [hours:]minutes with minutes below 60 after hours, \
                 e.g. {ex}",
                s.escape_debug()
            ),
        ));
    };
    if m == 0 || m > MAX_WALLTIME_MINUTES {
        return Err(cx.err(
            v.span().start,
            field,
            format!(
                "`{s}` is {} minutes; a run limit must be between 1 minute and {} hours (a year)",
                group(m as i64),
                group((MAX_WALLTIME_MINUTES / 60) as i64)
            ),
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::spec::{Grow, Limits, Spec, SpecError, Step};

    const GB: u64 = 1 << 20;

    fn load(body: &str) -> Result<Spec, SpecError> {
        let src = format!(
            "name = \"t\"\ncommand = \"echo\"\nbackend = \"lsf\"\nmax_attempts = 3\n{body}"
        );
        Spec::from_toml(&src, Path::new("t.toml"))
    }

    fn spec(body: &str) -> Spec {
        load(body).unwrap_or_else(|e| panic!("{e}\n{body}"))
    }

    /// `line:col field: message` of the error the body makes.
    fn refused(body: &str) -> String {
        match load(body) {
            Ok(_) => panic!("expected an error for\n{body}"),
            Err(e) => format!(
                "{}:{} {}: {}",
                e.line.unwrap_or(0),
                e.col.unwrap_or(0),
                e.field.unwrap_or_default(),
                e.message
            ),
        }
    }

    #[test]
    fn the_retry_table_reads_as_users_write_it() {
        let s = spec(
            "[lsf]\nmemory = \"2GB\"\nwalltime = \"1:00\"\n[retry]\non_exit = [1, \"137-139\", 1]\n\
             on_memlimit = { memory = \"x2\", max = \"64GB\" }\n\
             on_runlimit = { walltime = \"+0:30\", max = \"48:00\" }\nexclude_hosts_after = 2\n",
        );
        let r = &s.retry;
        assert_eq!(r.on_exit.as_deref(), Some(&[1, 137, 138, 139][..]));
        assert_eq!(
            r.on_memlimit,
            Some(Grow {
                step: Step::Times(2.0),
                max: 64 * GB
            })
        );
        assert_eq!(
            r.on_runlimit,
            Some(Grow {
                step: Step::Plus(30),
                max: 48 * 60
            })
        );
        assert_eq!((r.exclude_hosts_after, r.bare_memory), (Some(2), false));
        assert_eq!(
            s.limits(),
            Limits {
                memory_kb: Some(2 * GB),
                walltime_minutes: Some(60)
            }
        );
        // Header tables work as inline ones do; amounts may be set outright.
        let s =
            spec("[retry.on_memlimit]\nmemory = \"16GB\"\n[retry.on_runlimit]\nwalltime = 600\n");
        assert_eq!(s.retry.on_memlimit.unwrap().step, Step::To(16 * GB));
        assert_eq!(s.retry.on_runlimit.unwrap().step, Step::To(600));
        // Without the table: every non-zero exit, nothing grows.
        assert_eq!(spec("").retry, crate::spec::RetryOpts::default());
    }

    #[test]
    fn bare_memory_follows_the_lsf_memory_and_must_not_be_mixed() {
        let s =
            spec("[lsf]\nmemory = 4000\n[retry]\non_memlimit = { memory = \"x2\", max = 64000 }\n");
        assert!(s.retry.bare_memory);
        assert_eq!(s.retry.on_memlimit.unwrap().max, 64000);
        let s = spec("[retry]\non_memlimit = { memory = \"+100\" }\n");
        assert!(s.retry.bare_memory);
        assert!(
            !spec("[retry]\non_memlimit = { memory = \"x3\" }\n")
                .retry
                .bare_memory
        );
        let e = refused(
            "[lsf]\nmemory = 4000\n[retry]\non_memlimit = { memory = \"x2\", max = \"64GB\" }\n",
        );
        assert!(
            e.starts_with(
                "8:38 retry.on_memlimit.max: `64GB` has a unit but lsf.memory (`4000`) has none"
            ),
            "{e}"
        );
        let e = refused("[retry]\non_memlimit = { memory = \"+1GB\", max = 9000000 }\n");
        assert!(e.contains("`9000000` has no unit but `1GB` has one"), "{e}");
    }

    #[test]
    fn every_value_is_range_checked_where_it_is_written() {
        let cases: &[(&str, &str)] = &[
            (
                "[retry]\non_exit = []\n",
                "6:11 retry.on_exit: is an empty list",
            ),
            (
                "[retry]\non_exit = [0]\n",
                "6:12 retry.on_exit[0]: must be between 1 and 255, not 0",
            ),
            (
                "[retry]\non_exit = [256]\n",
                "6:12 retry.on_exit[0]: must be between 1 and 255",
            ),
            (
                "[retry]\non_exit = [\"145-130\"]\n",
                "6:12 retry.on_exit[0]: `145-130` runs backwards",
            ),
            (
                "[retry]\non_exit = [\"1-300\"]\n",
                "6:12 retry.on_exit[0]: `1-300` must be two exit codes",
            ),
            (
                "[retry]\non_exit = [\"x\"]\n",
                "6:12 retry.on_exit[0]: `x` is not an exit code range",
            ),
            (
                "[retry]\non_exit = 137\n",
                "6:11 retry.on_exit: must be a list, not an integer",
            ),
            (
                "[retry]\non_memlimit = { memory = \"x1\" }\n",
                "6:26 retry.on_memlimit.memory: `x1` is not a factor to grow by",
            ),
            (
                "[retry]\non_memlimit = { memory = \"x1000\" }\n",
                "6:26 retry.on_memlimit.memory: `x1000` is not a factor",
            ),
            (
                "[retry]\non_memlimit = { memory = \"lots\" }\n",
                "6:26 retry.on_memlimit.memory: `lots` is not a memory amount",
            ),
            (
                "[retry]\non_memlimit = { memory = \"x2\", max = \"0GB\" }\n",
                "6:38 retry.on_memlimit.max: `0GB` is out of range",
            ),
            (
                "[retry]\non_memlimit = { memory = \"x2\", max = \"4096TB\" }\n",
                "6:38 retry.on_memlimit.max: `4096TB` is out of range",
            ),
            (
                "[retry]\non_memlimit = { memory = \"128GB\", max = \"64GB\" }\n",
                "6:26 retry.on_memlimit.memory: is more than max (64GB)",
            ),
            (
                "[retry]\non_memlimit = { max = \"64GB\" }\n",
                "6:15 retry.on_memlimit.memory: missing required key `memory`",
            ),
            (
                "[retry]\non_memlimit = { memory = \"x2\", maxx = \"64GB\" }\n",
                "6:32 retry.on_memlimit.maxx: unknown key `maxx` in [retry.on_memlimit] (did you mean `max`?)",
            ),
            (
                "[retry]\non_runlimit = { walltime = \"1:75\" }\n",
                "6:28 retry.on_runlimit.walltime: `1:75` is not a run limit",
            ),
            (
                "[retry]\non_runlimit = { walltime = \"x2\", max = 0 }\n",
                "6:40 retry.on_runlimit.max: `0` is 0 minutes",
            ),
            (
                "[retry]\non_runlimit = { walltime = \"9:00\", max = \"8:00\" }\n",
                "6:28 retry.on_runlimit.walltime: is more than max (480 minutes)",
            ),
            (
                "[retry]\nexclude_hosts_after = 0\n",
                "6:23 retry.exclude_hosts_after: must be between 1 and 1,000, not 0",
            ),
            (
                "[retry]\nretries = 3\n",
                "6:1 retry.retries: unknown key `retries` in [retry]",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .map(|(body, want)| (body, want, refused(body)))
            .filter(|(_, want, got)| !got.starts_with(*want))
            .map(|(body, want, got)| format!("{body}\n got: {got}\nwant: {want}"))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_retry_table_that_cannot_act_is_said() {
        let src = "name = \"t\"\ncommand = \"echo\"\n[retry]\non_memlimit = { memory = \"x2\" }\n";
        let s = Spec::from_toml(src, Path::new("t.toml")).unwrap();
        let w: Vec<String> = s.warnings().iter().map(ToString::to_string).collect();
        assert!(
            w.iter()
                .any(|w| w.contains("no effect with max_attempts = 1")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.contains("retry.on_memlimit: has no effect on the local backend")),
            "{w:?}"
        );
        assert!(spec("[retry]\non_exit = [1]\n").warnings().is_empty());
    }
}
