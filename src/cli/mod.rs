//! The command line: clap types, dispatch to the use cases in `app`, rendering of their results
//! (`render`, `progress`), and the exit codes (`exit`). No use-case logic lives here.

pub mod args;
pub mod exit;
pub mod progress;
pub mod render;
mod results;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};

pub use self::args::{Cli, Command, DebugCommand, ParseKind, PlaceArgs, RankArgs};
use self::exit::Exit;
use self::progress::{JsonLines, Progress};
use crate::app::connect::Place;
use crate::app::follow::{Followed, Prepare};
use crate::app::{self, AppError, Ctx};
use crate::engine::events::Reporter;
use crate::layout::Home;
use crate::store::Store;

impl From<&PlaceArgs> for Place {
    fn from(p: &PlaceArgs) -> Self {
        Place {
            host: p.host.clone(),
            here: p.here,
        }
    }
}

/// Parses arguments, runs the command, prints errors with their causes; returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    if let Command::InternalMeasure { file, command } = &cli.command {
        // Before the runtime: it runs around every local job, so it stays small and plain.
        return measure_cmd(file, command);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return Exit::Failure.code();
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(()) => Exit::Success.code(),
        // A reader that went away (`| head`) is not a failure.
        Err(e) if e.is_broken_pipe() => Exit::Success.code(),
        Err(AppError::Interrupted) => Exit::Interrupted.code(),
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let _ = writeln!(err, "  caused by: {s}");
                source = s.source();
            }
            exit::of(&e).code()
        }
    }
}

/// The home: `--home`, else a non-empty `$BSWEEP_HOME`, else the XDG data dir.
fn home_of(cli: &Cli) -> Home {
    let root = cli
        .home
        .clone()
        .or_else(|| {
            std::env::var_os("BSWEEP_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(Home::default_root);
    Home::new(root).with_ssh_config(cli.ssh_config.clone())
}

/// A line on stderr (notes, hints); a closed stderr is not worth failing for.
fn note(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Text on stdout; a closed or full stdout is an error the caller returns.
fn out(text: impl std::fmt::Display) -> Result<(), AppError> {
    let mut o = std::io::stdout().lock();
    write!(o, "{text}")
        .and_then(|_| o.flush())
        .map_err(AppError::Stdout)
}

async fn dispatch(cli: Cli) -> Result<(), AppError> {
    let ctx = Ctx {
        home: home_of(&cli),
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Plan {
            file,
            all,
            json,
            yes,
        } => plan(&ctx, &file, all, json, yes),
        Command::Launch {
            file,
            detach,
            yes,
            json,
            place,
        } => launch(&ctx, &file, detach, yes, json, &(&place).into()).await,
        Command::Login { host, check, close } => login(&ctx, &host, check, close),
        Command::Doctor { file, place } => doctor(&ctx, &file, &(&place).into()).await,
        Command::Status { sweep, json, watch } => match sweep {
            Some(name) => status(&ctx, &name, json, watch).await,
            None => list(&ctx, json),
        },
        Command::List { json } => list(&ctx, json),
        Command::Resume {
            sweep,
            detach,
            json,
            spec,
        } => resume(&ctx, &sweep, detach, json, spec, Prepare::Nothing).await,
        Command::Cancel { sweep } => cancel(&ctx, &sweep).await,
        Command::Retry {
            sweep,
            failed,
            cancelled,
            detach,
            json,
            spec,
        } => {
            let prepare = Prepare::Retry { failed, cancelled };
            resume(&ctx, &sweep, detach, json, spec, prepare).await
        }
        Command::Logs {
            sweep,
            index,
            stderr,
            lines,
            raw,
        } => logs(&ctx, &sweep, index, stderr, lines, raw).await,
        Command::Collect { sweep, output } => collect(&ctx, &sweep, output).await,
        Command::Summary {
            sweep,
            rank,
            top,
            json,
            csv,
        } => {
            let format = match (json, csv) {
                (true, _) => results::Format::Json,
                (_, true) => results::Format::Csv,
                _ => results::Format::Text,
            };
            summary(&ctx, &sweep, asked(&rank, top), format).await
        }
        Command::Report {
            sweep,
            output,
            rank,
        } => report(&ctx, &sweep, asked(&rank, None), output).await,
        Command::Delete { sweep, force } => {
            let deleted = app::delete::delete(&ctx, &sweep, force).await?;
            out(render::deleted_text(&sweep, &deleted))
        }
        Command::Recover { sweep } => recover(&ctx, &sweep).await,
        Command::Debug(DebugCommand::Parse {
            kind,
            file,
            stderr,
            exit,
        }) => debug_parse(kind, file.as_deref(), stderr.as_deref(), exit),
        // `run` handles it before the runtime starts; nothing else dispatches commands.
        Command::InternalMeasure { .. } => Ok(()),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut completion_command(), "bsweep", &mut buf);
            let mut o = std::io::stdout().lock();
            o.write_all(&buf)
                .and_then(|_| o.flush())
                .map_err(AppError::Stdout)
        }
    }
}

async fn doctor(ctx: &Ctx, file: &Path, place: &Place) -> Result<(), AppError> {
    app::doctor::doctor(ctx, file, place, &mut |c| {
        let _ = out(format!("{}\n", render::check_text(c)));
    })
    .await?;
    out("all checks passed\n")
}

async fn cancel(ctx: &Ctx, sweep: &str) -> Result<(), AppError> {
    match app::cancel::cancel(ctx, sweep).await? {
        app::cancel::Cancelled::Done { points } => out(format!(
            "cancelled {} of sweep {sweep}; `bsweep retry {sweep} --cancelled` runs them again\n",
            render::points(points)
        )),
        app::cancel::Cancelled::Asked { pid } => out(format!(
            "asked bsweep pid {pid}, which follows sweep {sweep}, to cancel it (`bsweep status {sweep}` shows when it has)\n"
        )),
    }
}

async fn recover(ctx: &Ctx, sweep: &str) -> Result<(), AppError> {
    let r = app::recover::recover(ctx, sweep).await?;
    out(format!(
        "recovered sweep {sweep}: {} have a job on the scheduler, {} will be submitted by `bsweep resume {sweep}` ({})\n",
        render::points(r.with_jobs as u64),
        r.waiting,
        r.counts
    ))
}

fn debug_parse(
    kind: ParseKind,
    file: Option<&Path>,
    stderr: Option<&Path>,
    exit: Option<i32>,
) -> Result<(), AppError> {
    let text = app::debug::read_capture(file)?;
    let err = match stderr {
        Some(f) => app::debug::read_capture(Some(f))?,
        None => String::new(),
    };
    let v = app::debug::parse(kind.into(), &text, &err, exit);
    out(format!(
        "{}\n",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    ))
}

impl From<ParseKind> for app::debug::Kind {
    fn from(k: ParseKind) -> Self {
        use app::debug::Kind as K;
        match k {
            ParseKind::Bsub => K::Bsub,
            ParseKind::BjobsJson => K::BjobsJson,
            ParseKind::BjobsDelim => K::BjobsDelim,
            ParseKind::BjobsTable => K::BjobsTable,
            ParseKind::Bkill => K::Bkill,
            ParseKind::Bqueues => K::Bqueues,
            ParseKind::Bhist => K::Bhist,
            ParseKind::Lsid => K::Lsid,
            ParseKind::Trailer => K::Trailer,
        }
    }
}

/// The command line completions offer: clap_complete's generators also offer hidden
/// subcommands (clap-rs/clap#1335), and clap cannot remove one, so the root is assembled again
/// from its own arguments and visible subcommands.
fn completion_command() -> clap::Command {
    let full = Cli::command();
    let mut cmd = clap::Command::new("bsweep")
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

/// `internal-measure FILE -- PROGRAM ARGS...`; returns PROGRAM's exit code.
fn measure_cmd(file: &Path, command: &[OsString]) -> i32 {
    match command.split_first() {
        Some((program, args)) => crate::sched::local::measure::measure(file, program, args),
        None => Exit::BadInput.code(), // clap requires a program; nothing to run
    }
}

fn plan(ctx: &Ctx, file: &Path, all: bool, json: bool, yes: bool) -> Result<(), AppError> {
    let plan = app::plan::plan(ctx, file, yes)?;
    // On stderr, so that `--json` stays JSON.
    for w in plan.spec.warnings() {
        note(format!("warning: {w}"));
    }
    let shown = if all { plan.count } else { plan.count.min(3) };
    // Buffered: `--all` on a large grid writes millions of lines, one syscall each otherwise.
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        render::plan_json(&plan, shown, &mut o)
    } else {
        render::plan_text(ctx, &plan, shown, &mut o)
    }
}

fn reporter(ctx: &Ctx, store: &Store, json: bool) -> Box<dyn Reporter> {
    if json {
        return Box::new(JsonLines::default());
    }
    let meta = store.meta();
    Box::new(Progress::new(
        &meta.name,
        meta.backend,
        meta.count,
        ctx.quiet,
    ))
}

async fn launch(
    ctx: &Ctx,
    file: &Path,
    detach: bool,
    yes: bool,
    json: bool,
    place: &Place,
) -> Result<(), AppError> {
    // A bar while a large sweep is recorded, on a terminal.
    let bar = (!ctx.quiet && !json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("recording {bar:30} {pos}/{len} points")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut warn = |w: &crate::spec::SpecWarning| note(format!("warning: {w}"));
    let store = app::launch::record(ctx, file, yes, place, &mut warn, &mut |n, total| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(n);
        }
    })
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !ctx.quiet && !json {
        note(format!(
            "recorded sweep {} ({}) in {}",
            store.meta().name,
            render::points(store.meta().count),
            store.dir().display()
        ));
    }
    let reporter = reporter(ctx, &store, json);
    let (_, followed) = app::follow::follow(ctx, store, detach, Prepare::Nothing, reporter).await?;
    finish(followed)
}

async fn resume(
    ctx: &Ctx,
    sweep: &str,
    detach: bool,
    json: bool,
    spec: Option<PathBuf>,
    prepare: Prepare,
) -> Result<(), AppError> {
    let command = match prepare {
        Prepare::Nothing => "resume",
        Prepare::Retry { .. } => "retry",
    };
    let mut store = Store::open(&ctx.home, sweep, command)?;
    if let Some(file) = spec {
        let kept = app::swap::swap_spec(ctx, &mut store, &file).await?;
        if !ctx.quiet {
            note(format!(
                "sweep {sweep} follows {} from now on (jobs already submitted keep their settings; the file it replaces is in {})",
                file.display(),
                kept.display()
            ));
        }
    }
    let reporter = reporter(ctx, &store, json);
    let (queued, followed) = app::follow::follow(ctx, store, detach, prepare, reporter).await?;
    if let Prepare::Retry { .. } = prepare
        && queued == 0
        && !json
    {
        note(format!("sweep {sweep} has no point to retry"));
    }
    finish(followed)
}

/// Says how following ended and what to run next.
fn finish(followed: Followed) -> Result<(), AppError> {
    match followed {
        Followed::Finished { sweep, counts } => {
            note(format!("sweep {sweep} finished: {counts}"));
            note(format!("next: bsweep collect {sweep}"));
            let bad = counts.unsuccessful();
            if bad > 0 {
                return Err(app::Unfinished::Points { sweep, bad }.into());
            }
            Ok(())
        }
        Followed::Detached {
            sweep,
            counts,
            waiting,
            follower,
        } => {
            match (follower, waiting) {
                (Some(pid), 0) => note(format!(
                    "{counts}; every point is submitted: bsweep (pid {pid}) follows them in the background for retries"
                )),
                (Some(pid), n) => note(format!(
                    "{counts}; {} wait for a free slot: bsweep (pid {pid}) follows them in the background",
                    render::points(n)
                )),
                (None, _) => note(format!("{counts}; every point is submitted")),
            }
            note(format!("check with: bsweep status {sweep}"));
            Ok(())
        }
        Followed::Interrupted { sweep, counts } => {
            note(format!(
                "stopped following sweep {sweep} ({counts}); no job was killed"
            ));
            note(format!("pick up where it was with: bsweep resume {sweep}"));
            Err(AppError::Interrupted)
        }
    }
}

fn login(ctx: &Ctx, host: &str, check: bool, close: bool) -> Result<(), AppError> {
    use app::login::Login;
    let announce = |resolved: &str| {
        note(format!(
            "opening a connection to {host} ({resolved}): type your password and one-time code when ssh asks"
        ))
    };
    let said = match app::login::login(ctx, host, check, close, announce)? {
        Login::AlreadyOpen(c) => login_open_text(host, &c),
        Login::Opened(c) => login_opened_text(host, &c),
        Login::Closed => format!("closed the connection to {host}\n"),
        Login::NoneOpen => format!("no open connection to {host}\n"),
    };
    out(said)
}

/// What `bsweep login` says after a login: the lifetime, the socket, how to share it.
fn login_opened_text(host: &str, c: &app::login::Connection) -> String {
    let persist = match c.life {
        app::login::Life::Login { persist, .. } | app::login::Life::Key { persist } => persist,
    };
    let mut t = format!(
        "connected to {host} ({}); bsweep commands reuse this connection\n\
         it stays open while in use and closes after {} with nothing using it (or when the \
         network or the site drops it): `bsweep login {host} --check` shows the time left, \
         `bsweep login {host} --close` ends it\n",
        c.resolved,
        span(persist)
    );
    t.push_str(&login_share_text(host, c));
    t
}

/// What `bsweep login` (`--check`) says of a connection that is open.
fn login_open_text(host: &str, c: &app::login::Connection) -> String {
    let mut t = format!("a live connection to {host} ({}) is open", c.resolved);
    match c.life {
        app::login::Life::Login { persist, age, left } => {
            if let Some(age) = age {
                t.push_str(&format!(", opened {} ago", span(age)));
            }
            if left.is_zero() {
                t.push_str(&format!(
                    "; it closes after {} unused and may close at any moment",
                    span(persist)
                ));
            } else {
                t.push_str(&format!(
                    "; it closes after {} unused: {} left if nothing uses it",
                    span(persist),
                    span(left)
                ));
            }
        }
        app::login::Life::Key { persist } => t.push_str(&format!(
            "; bsweep opened it with your key (it closes after {} unused, and bsweep opens a new one when needed)",
            span(persist)
        )),
    }
    t.push('\n');
    t.push_str(&login_share_text(host, c));
    t
}

/// A connection's lifetime in words: `8 h`, `7 h 58 min`, `12 min`, `40 s`.
fn span(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn login_share_text(host: &str, c: &app::login::Connection) -> String {
    let snippet: String = c.snippet.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "socket: {}\n\
         use it from your own ssh, with no new password or code: {}\n\
         or make every `ssh {host}` use it while it is open: add to your ssh config (~/.ssh/config)\n{snippet}",
        c.socket.display(),
        c.share
    )
}

async fn status(ctx: &Ctx, name: &str, json: bool, watch: bool) -> Result<(), AppError> {
    loop {
        let s = if json {
            let mut o = std::io::BufWriter::new(std::io::stdout().lock());
            let s = app::status::status(ctx, name, Some(&mut o)).await?;
            o.flush().map_err(AppError::Stdout)?;
            s
        } else {
            let s = app::status::status(ctx, name, None).await?;
            out(render::status_text(&s))?;
            s
        };
        if let app::status::Source::Stale { error } = s.source {
            // The figures were shown with their age; the exit code says the cluster was not
            // reached.
            return Err(AppError::Offline(error));
        }
        if !watch || s.settled() {
            return Ok(());
        }
        if app::status::waits_for_follower(&s) {
            note(format!(
                "nothing follows sweep {name} and nothing is in flight: `bsweep resume {name}` follows it"
            ));
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        out("\n")?;
    }
}

fn list(ctx: &Ctx, json: bool) -> Result<(), AppError> {
    let rows = app::list::list(ctx);
    if json {
        out(format!(
            "{}\n",
            serde_json::to_string_pretty(&render::list_json(&rows)).unwrap_or_default()
        ))
    } else {
        out(render::list_text(&rows))
    }
}

async fn logs(
    ctx: &Ctx,
    name: &str,
    index: u64,
    stderr: bool,
    lines: usize,
    raw: bool,
) -> Result<(), AppError> {
    let meta_backend = Store::read_record(&ctx.home, name)
        .map(|m| m.backend)
        .unwrap_or(crate::spec::BackendKind::Local);
    let l = app::logs::logs(ctx, name, index, stderr, lines, raw).await?;
    let Some(tail) = l.text else {
        if let Some(why) = &l.never_ran {
            note(format!(
                "bsweep: point {index} of sweep {name} never ran ({why})"
            ));
            return Ok(());
        }
        let file = l
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        note(format!("bsweep: no {file} yet ({})", l.path.display()));
        return Ok(());
    };
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    for line in &tail.lines {
        writeln!(o, "{line}").map_err(AppError::Stdout)?;
    }
    if let Some(report) = &tail.report {
        writeln!(o, "{}", render::report_line(meta_backend, report.as_ref()))
            .map_err(AppError::Stdout)?;
    }
    o.flush().map_err(AppError::Stdout)?;
    if tail.cut && tail.lines.len() < lines {
        note(format!(
            "bsweep: only the last {} KiB of {} were read",
            app::logs::LOG_TAIL_BYTES / 1024,
            l.path.display()
        ));
    }
    if tail.peeked {
        note(format!(
            "bsweep: {} is written when the job ends; these are the lines the scheduler shows of it running (bpeek)",
            l.path.display()
        ));
    }
    if let (Some(p), true) = (&l.report_file, raw) {
        note(format!(
            "bsweep: the scheduler's report of this array element is in {}",
            p.display()
        ));
    }
    Ok(())
}

async fn collect(ctx: &Ctx, name: &str, output: Option<PathBuf>) -> Result<(), AppError> {
    let c = app::collect::collect(ctx, name, output).await?;
    for line in render::collect_notes(&c) {
        note(line);
    }
    Ok(())
}

/// The command line's ranking flags as the use cases take them.
fn asked(rank: &RankArgs, top: Option<usize>) -> app::summary::Asked {
    app::summary::Asked {
        metric: rank.metric.clone(),
        goal: match (rank.max, rank.min) {
            (true, _) => Some(crate::spec::Goal::Max),
            (_, true) => Some(crate::spec::Goal::Min),
            _ => None,
        },
        // `--over ''` is an empty list: group by every parameter.
        over: rank
            .over
            .as_ref()
            .map(|o| o.iter().filter(|p| !p.is_empty()).cloned().collect()),
        top,
    }
}

async fn summary(
    ctx: &Ctx,
    name: &str,
    asked: app::summary::Asked,
    format: results::Format,
) -> Result<(), AppError> {
    let (r, s) = app::summary::summary(ctx, name, &asked).await?;
    if !ctx.quiet {
        for line in results::notes("summary", name, &r.freshness) {
            note(line);
        }
    }
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    out(results::render(&s, format, results::width(tty), color)?)
}

async fn report(
    ctx: &Ctx,
    name: &str,
    asked: app::summary::Asked,
    output: Option<PathBuf>,
) -> Result<(), AppError> {
    let r = app::report::report(ctx, name, &asked, output).await?;
    if !ctx.quiet {
        for line in results::notes("report", name, &r.freshness) {
            note(line);
        }
    }
    if let Some(why) = &r.stderr_note {
        note(format!(
            "note: the failed points' stderr is not in the report ({why})"
        ));
    }
    note(format!(
        "wrote {} ({} KB); it works offline: open it in any browser",
        r.output.display(),
        r.bytes.div_ceil(1024)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_says_the_lifetime_the_socket_and_how_to_share_it() {
        use app::login::{Connection, Life};
        use std::time::Duration;
        let h = |h: u64, m: u64| Duration::from_secs(h * 3600 + m * 60);
        let c = Connection {
            resolved: "u@10.0.0.1:22".into(),
            socket: "/s/cm-1".into(),
            share: "ssh -S /s/cm-1 nju".into(),
            snippet: "Host nju\n    ControlPath /s/cm-1\n".into(),
            life: Life::Login {
                persist: h(8, 0),
                age: Some(h(1, 2)),
                left: h(7, 58),
            },
        };
        let share = "socket: /s/cm-1\n\
            use it from your own ssh, with no new password or code: ssh -S /s/cm-1 nju\n\
            or make every `ssh nju` use it while it is open: add to your ssh config (~/.ssh/config)\n\
            \x20   Host nju\n        ControlPath /s/cm-1\n";
        assert_eq!(
            login_open_text("nju", &c),
            format!(
                "a live connection to nju (u@10.0.0.1:22) is open, opened 1 h 2 min ago; it \
                 closes after 8 h unused: 7 h 58 min left if nothing uses it\n{share}"
            )
        );
        assert!(
            login_opened_text("nju", &c).starts_with(
                "connected to nju (u@10.0.0.1:22); bsweep commands reuse this connection\n\
                 it stays open while in use and closes after 8 h with nothing using it"
            ),
            "{}",
            login_opened_text("nju", &c)
        );
        let gone = Connection {
            life: Life::Login {
                persist: h(8, 0),
                age: None,
                left: Duration::ZERO,
            },
            ..c.clone()
        };
        assert!(login_open_text("nju", &gone).contains("may close at any moment"));
        let key = Connection {
            life: Life::Key { persist: h(0, 10) },
            ..c
        };
        assert!(login_open_text("nju", &key).contains("with your key (it closes after 10 min"));
        assert_eq!(span(Duration::from_secs(40)), "40 s");
    }

    #[test]
    fn the_measuring_step_parses_but_no_shell_completion_offers_it() {
        let cli = Cli::try_parse_from(["bsweep", "internal-measure", "m", "--", "bash", "-c", "x"])
            .unwrap();
        let Command::InternalMeasure { file, command } = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(file, PathBuf::from("m"));
        assert_eq!(command, ["bash", "-c", "x"]);
        use clap_complete::Shell;
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut completion_command(), "bsweep", &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("internal-measure"), "{shell}");
            assert!(
                text.contains("collect") && text.contains("ssh-config"),
                "{shell}"
            );
        }
    }

    #[test]
    fn retry_needs_failed_or_cancelled() {
        assert!(Cli::try_parse_from(["bsweep", "retry", "s"]).is_err());
        for args in [["--failed"], ["--cancelled"]] {
            let mut argv = vec!["bsweep", "retry", "s"];
            argv.extend(args);
            assert!(Cli::try_parse_from(argv).is_ok());
        }
        assert!(Cli::try_parse_from(["bsweep", "retry", "s", "--failed", "--cancelled"]).is_ok());
    }
}
