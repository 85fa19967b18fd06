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
    let out = transport
        .run(&super::bounded(&batch_script(&cmds, None)), b"")
        .await?;
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

/// Most jobs bsweep puts in one `bsub -pack` call, whatever a site allows: a pack blocks
/// mbatchd while it is read, and IBM's advice for `LSB_MAX_PACK_JOBS` starts at 100.
pub const MAX_PACK: usize = 100;

/// The command printing the `LSB_MAX_PACK_JOBS` lines of the cluster's `lsf.conf` (job packs,
/// LSF 10.1: `bsub -pack FILE`). Nothing when the site has none, or no such file (OpenLava).
pub fn pack_limit_command() -> String {
    "f=\"${LSF_ENVDIR:-/etc}/lsf.conf\"; [ -r \"$f\" ] || exit 0; \
     grep -E '^[[:space:]]*LSB_MAX_PACK_JOBS[[:space:]]*=' \"$f\" || true"
        .to_string()
}

/// How many jobs one `bsub -pack` call may carry on this cluster, from the answer of
/// [`pack_limit_command`]: `None` when packs are off (no setting, 0, or 1, which LSF treats as
/// one job at a time). The last setting in the file wins, as in LSF's own reading.
pub fn read_pack_limit(stdout: &str) -> Option<usize> {
    let n = stdout
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "LSB_MAX_PACK_JOBS").then_some(value)
        })
        .filter_map(|v| {
            // `LSB_MAX_PACK_JOBS=300   # comment`, maybe quoted.
            let v = v.split('#').next()?.trim().trim_matches(['"', '\'']);
            v.parse::<usize>().ok()
        })
        .next_back()?;
    (n > 1).then_some(n.min(MAX_PACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_limit_from_lsf_conf_lines() {
        assert_eq!(read_pack_limit(""), None);
        assert_eq!(read_pack_limit("LSB_MAX_PACK_JOBS=300\n"), Some(MAX_PACK));
        assert_eq!(
            read_pack_limit("  LSB_MAX_PACK_JOBS = \"50\"  # tuned\n"),
            Some(50)
        );
        assert_eq!(
            read_pack_limit("LSB_MAX_PACK_JOBS=50\nLSB_MAX_PACK_JOBS=0\n"),
            None
        );
        assert_eq!(read_pack_limit("LSB_MAX_PACK_JOBS=1\n"), None);
        assert_eq!(read_pack_limit("LSB_MAX_PACK_JOBS=lots\n"), None);
        assert_eq!(read_pack_limit("LSB_MAX_PACK_JOBS_X=20\n"), None);
    }

    #[test]
    fn the_command_reads_the_envdir_lsf_conf() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("lsf.conf"),
            "LSF_LOGDIR=/var/log\n# LSB_MAX_PACK_JOBS=5\nLSB_MAX_PACK_JOBS=20\n",
        )
        .unwrap();
        let run = |envdir: &str| {
            std::process::Command::new("bash")
                .arg("-c")
                .arg(pack_limit_command())
                .env("LSF_ENVDIR", envdir)
                .output()
                .unwrap()
        };
        let out = run(&dir.path().to_string_lossy());
        assert!(out.status.success());
        assert_eq!(
            read_pack_limit(&String::from_utf8_lossy(&out.stdout)),
            Some(20)
        );
        let none = run("/nonexistent/envdir");
        assert!(none.status.success() && none.stdout.is_empty());
    }
}
