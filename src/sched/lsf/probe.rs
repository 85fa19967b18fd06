//! Probing an LSF cluster before a sweep is recorded: its version, which `bjobs` forms it
//! understands, and whether the queues a sweep file names exist, in one round trip.

use super::BjobsMode;
use super::parse;
use crate::sched::SchedError;
use crate::transport::{Framed, Transport, batch_script, command_line, parse_batch};

/// What [`probe`] learned about a cluster.
#[derive(Debug, Clone)]
pub struct Probe {
    pub mode: BjobsMode,
    pub lsid: Option<parse::LsidInfo>,
    /// Queues asked about that LSF says it does not have, with its words (`gpu: No such queue`).
    pub missing_queues: Vec<(String, String)>,
    /// Every queue `bqueues -w` lists (empty if it was not asked or could not be read).
    pub all_queues: Vec<String>,
}

/// Probes a cluster in one round trip: `lsid`, trial `-json` and delimited bjobs calls on a job
/// id that does not exist (which bjobs mode works), and whether `queues` exist.
pub async fn probe<T: Transport>(transport: &T, queues: &[String]) -> Result<Probe, SchedError> {
    let mut cmds = vec![
        "lsid".to_string(),
        command_line(&["bjobs", "-o", "jobid stat", "-json", "0"]),
        command_line(&["bjobs", "-noheader", "-o", "jobid stat delimiter='^'", "0"]),
    ];
    if !queues.is_empty() {
        let mut argv = vec!["bqueues".to_string(), "-w".to_string()];
        argv.extend(queues.iter().cloned());
        cmds.push(command_line(&argv));
        cmds.push(command_line(&["bqueues", "-w"]));
    }
    let out = transport.run(&batch_script(&cmds, None), b"").await?;
    let f = parse_batch(&out.stdout, cmds.len());
    let lsid = parse::parse_lsid(&f[0].stdout).ok();
    if f[0].code != Some(0) && lsid.is_none() {
        return Err(SchedError::Failed {
            command: "lsid",
            place: transport.place(),
            said: format!(
                "{}{}; is LSF set up there (PATH, profile)?",
                f[0].stdout.trim(),
                f[0].stderr.trim()
            ),
        });
    }
    let rejected = |f: &Framed| {
        let e = f.stderr.to_lowercase();
        e.contains("invalid option")
            || e.contains("illegal option")
            || e.contains("unknown option")
            || e.contains("usage")
    };
    let json_ok = lsid.as_ref().is_some_and(parse::supports_o_and_json)
        || (!rejected(&f[1])
            && serde_json::from_str::<serde_json::Value>(f[1].stdout.trim()).is_ok());
    let mode = if json_ok {
        BjobsMode::Json
    } else if !rejected(&f[2]) {
        BjobsMode::Delimited
    } else {
        BjobsMode::Table
    };
    let (missing_queues, all_queues) = match f.get(3..5) {
        Some([asked, all]) => (
            missing_queues(queues, asked),
            parse::parse_bqueues(&all.stdout)
                .map(|q| q.into_iter().map(|q| q.name).collect())
                .unwrap_or_default(),
        ),
        _ => Default::default(),
    };
    Ok(Probe {
        mode,
        lsid,
        missing_queues,
        all_queues,
    })
}

/// The queues `bqueues -w QUEUE...` says do not exist. Only LSF's own "No such queue" for a
/// queue counts: an answer bsweep cannot read proves nothing, and the submission would tell.
fn missing_queues(queues: &[String], f: &Framed) -> Vec<(String, String)> {
    let listed: Vec<String> = parse::parse_bqueues(&f.stdout)
        .map(|q| q.into_iter().map(|q| q.name).collect())
        .unwrap_or_default();
    queues
        .iter()
        .filter(|q| !listed.contains(q))
        .filter_map(|q| {
            let line = f.stderr.lines().map(str::trim).find(|l| {
                l.to_ascii_lowercase().contains("no such queue")
                    && l.split(|c: char| c == ':' || c.is_whitespace())
                        .any(|w| w == q)
            })?;
            Some((q.clone(), line.to_string()))
        })
        .collect()
}
