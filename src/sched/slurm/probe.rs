//! Probing a Slurm cluster before a sweep is recorded, in one round trip: its settings
//! (`scontrol show config`: MaxArraySize, accounting), its partitions (`scontrol show
//! partition -o`: names, MaxTime, state), the user's associations (`sacctmgr show assoc`:
//! accounts and QOS) and its clock's UTC offset; and what they say about a sweep file.

use serde::{Deserialize, Serialize};

use super::parse::{self, SlurmConfig};
use super::{Facts, info, sched_error};
use crate::sched::SchedError;
use crate::spec::Spec;
use crate::transport::{Transport, batch_script, command_line, parse_batch};

/// One partition as `scontrol show partition -o` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    /// MaxTime in seconds; `None` when UNLIMITED.
    pub max_time_seconds: Option<u64>,
    /// `UP`, `DOWN`, `DRAIN`, `INACTIVE`.
    pub state: String,
    pub default: bool,
}

/// One association of the user (`sacctmgr show assoc`): an account, maybe limited to a
/// partition, with the QOS it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assoc {
    pub account: String,
    pub partition: Option<String>,
    pub qos: Vec<String>,
}

/// What [`probe`] learned about a cluster.
#[derive(Debug, Clone)]
pub struct Probe {
    pub config: SlurmConfig,
    /// `AccountingStorageEnforce`, lowercased (`associations,limits,qos`).
    pub enforce: String,
    /// Whether an accounting database answers sacct (AccountingStorageType is not `none`).
    pub accounting: bool,
    /// `None` when scontrol gave no list bsweep can read.
    pub partitions: Option<Vec<Partition>>,
    /// `None` when sacctmgr is missing or failed (no accounting database).
    pub associations: Option<Vec<Assoc>>,
    pub utc_offset: Option<i64>,
}

impl Probe {
    /// What the scheduler keeps in the sweep's store.
    pub fn facts(&self) -> Facts {
        Facts {
            max_array_size: self.config.max_array_size,
            accounting: self.accounting,
        }
    }
}

/// Probes a cluster in one round trip.
pub async fn probe<T: Transport>(t: &T) -> Result<Probe, SchedError> {
    let cmds = [
        command_line(&parse::scontrol_config_args()),
        command_line(&["scontrol", "show", "partition", "-o"]),
        // The user as Slurm knows them is the login's user.
        "sacctmgr -n -P show assoc where user=\"$(id -un)\" format=Account,Partition,QOS"
            .to_string(),
        "date +%z".to_string(),
    ];
    let out = t.run(&batch_script(&cmds, None), b"").await?;
    let f = parse_batch(&out.stdout, cmds.len());
    let config =
        parse::parse_scontrol_config(&f[0].stdout, &f[0].stderr, f[0].code).map_err(|e| {
            match sched_error(e, &t.place()) {
                SchedError::Failed {
                    command,
                    place,
                    said,
                } => SchedError::Failed {
                    command,
                    place,
                    said: format!("{said}; is Slurm set up there (PATH, SLURM_CONF, profile)?"),
                },
                other => other,
            }
        })?;
    let setting = |key: &str| {
        f[0].stdout.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_ascii_lowercase())
        })
    };
    let accounting = setting("AccountingStorageType").is_none_or(|v| !v.ends_with("/none"));
    Ok(Probe {
        enforce: setting("AccountingStorageEnforce").unwrap_or_default(),
        accounting,
        partitions: (f[1].code == Some(0)).then(|| parse_partitions(&f[1].stdout)),
        associations: (f[2].code == Some(0)).then(|| parse_assocs(&f[2].stdout)),
        utc_offset: info::utc_offset(&f[3].stdout),
        config,
    })
}

/// MaxTime as scontrol prints it: `[D-]HH:MM:SS`, `MM:SS`, minutes, or UNLIMITED (`None`).
fn max_time(v: &str) -> Option<u64> {
    let (days, clock) = match v.split_once('-') {
        Some((d, c)) => (d.parse::<u64>().ok()?, c),
        None => (0, v),
    };
    let parts: Vec<u64> = clock
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let secs = match parts[..] {
        [m] => m * 60,
        [m, s] => m * 60 + s,
        [h, m, s] => h * 3600 + m * 60 + s,
        _ => return None,
    };
    Some(days * 86_400 + secs)
}

/// Reads `scontrol show partition -o`: one `Key=Value ...` line per partition.
pub fn parse_partitions(stdout: &str) -> Vec<Partition> {
    stdout
        .lines()
        .filter_map(|line| {
            let get = |key: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            };
            Some(Partition {
                name: get("PartitionName")?.to_string(),
                max_time_seconds: get("MaxTime").and_then(max_time),
                state: get("State").unwrap_or("UNKNOWN").to_string(),
                default: get("Default") == Some("YES"),
            })
        })
        .collect()
}

/// Reads `sacctmgr -n -P ... format=Account,Partition,QOS`.
pub fn parse_assocs(stdout: &str) -> Vec<Assoc> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut cells = l.trim().split('|');
            let account = cells.next()?.trim();
            let partition = cells.next()?.trim();
            let qos = cells.next().unwrap_or("").trim();
            (!account.is_empty()).then(|| Assoc {
                account: account.to_string(),
                partition: (!partition.is_empty()).then(|| partition.to_string()),
                qos: qos
                    .split(',')
                    .filter(|q| !q.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// Something a cluster says is wrong with a sweep file: the `[slurm]` key and value it is
/// about, and why (words that follow "Slurm on HOST").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub key: &'static str,
    pub value: String,
    pub message: String,
}

fn list(names: impl Iterator<Item = String>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// What in the sweep's `[slurm]` table the cluster would refuse or never run: a partition it
/// does not have, a time limit over a partition's MaxTime (the job would pend forever with
/// Reason PartitionTimeLimit), an account or QOS the user may not use (where Slurm enforces
/// associations and QOS). What the probe could not read is not judged.
pub fn refusals(spec: &Spec, p: &Probe) -> Vec<Refusal> {
    let s = &spec.slurm;
    let mut out = Vec::new();
    let named = s.targets.iter().filter_map(|t| t.queue.as_deref());
    if let Some(parts) = &p.partitions {
        for name in named {
            let Some(part) = parts.iter().find(|x| x.name == name) else {
                out.push(Refusal {
                    key: "partition",
                    value: name.to_string(),
                    message: format!(
                        "has no partition `{name}`; its partitions: {}",
                        list(parts.iter().map(|x| x.name.clone()))
                    ),
                });
                continue;
            };
            if let (Some(max), Some(want)) = (part.max_time_seconds, s.time_seconds)
                && want > max
            {
                out.push(Refusal {
                    key: "time",
                    value: time_text(spec),
                    message: format!(
                        "limits partition `{name}` to {} (MaxTime), less than the {} asked for: \
                         its jobs would pend forever (Reason PartitionTimeLimit)",
                        duration(max),
                        duration(want)
                    ),
                });
            }
        }
    }
    let Some(assocs) = &p.associations else {
        return out;
    };
    if let Some(acct) = &s.account
        && p.enforce.contains("associations")
        && !assocs.iter().any(|a| &a.account == acct)
    {
        out.push(Refusal {
            key: "account",
            value: acct.clone(),
            message: format!(
                "has no association of yours with account `{acct}`; your accounts: {}",
                list(unique(assocs.iter().map(|a| a.account.clone())))
            ),
        });
    }
    if let Some(q) = &s.qos
        && p.enforce.contains("qos")
    {
        let mine: Vec<&Assoc> = assocs
            .iter()
            .filter(|a| s.account.as_ref().is_none_or(|acct| &a.account == acct))
            .collect();
        if !mine.is_empty() && !mine.iter().any(|a| a.qos.contains(q)) {
            out.push(Refusal {
                key: "qos",
                value: q.clone(),
                message: format!(
                    "does not let you use QOS `{q}`{}; yours: {}",
                    s.account
                        .as_ref()
                        .map(|a| format!(" under account `{a}`"))
                        .unwrap_or_default(),
                    list(unique(mine.iter().flat_map(|a| a.qos.iter().cloned())))
                ),
            });
        }
    }
    out
}

fn unique(items: impl Iterator<Item = String>) -> impl Iterator<Item = String> {
    let mut seen = std::collections::HashSet::new();
    items.filter(move |i| seen.insert(i.clone()))
}

/// The `time` value as the file writes it, for locating errors.
fn time_text(spec: &Spec) -> String {
    spec.slurm
        .sites
        .iter()
        .find(|(_, s)| s.field == "slurm.time")
        .map(|(v, _)| v.clone())
        .unwrap_or_default()
}

/// `1-02:03:04`, `0:10:00`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdout_of(capture: &str) -> &str {
        let from = capture.find("--- stdout:\n").expect("stdout") + 12;
        let to = capture[from..].find("--- stderr:").expect("stderr") + from;
        &capture[from..to]
    }

    const PARTITIONS: &str =
        include_str!("../../../tests/fixtures/slurm-sched/05-scontrol-show-partition.txt");
    const ASSOCS: &str = include_str!("../../../tests/fixtures/slurm-sched/07-sacctmgr-assoc.txt");

    fn probe_of(enforce: &str) -> Probe {
        Probe {
            config: SlurmConfig::default(),
            enforce: enforce.to_string(),
            accounting: true,
            partitions: Some(parse_partitions(stdout_of(PARTITIONS))),
            associations: Some(parse_assocs(stdout_of(ASSOCS))),
            utc_offset: Some(0),
        }
    }

    fn spec(slurm: &str) -> Spec {
        let src =
            format!("name = \"s\"\nbackend = \"slurm\"\ncommand = \"true\"\n[slurm]\n{slurm}");
        Spec::from_toml(&src, std::path::Path::new("s.toml")).expect("spec")
    }

    #[test]
    fn partitions_and_associations_read_from_real_outputs() {
        let parts = parse_partitions(stdout_of(PARTITIONS));
        assert_eq!(
            parts,
            [
                Partition {
                    name: "short".into(),
                    max_time_seconds: Some(600),
                    state: "UP".into(),
                    default: true,
                },
                Partition {
                    name: "long".into(),
                    max_time_seconds: None,
                    state: "UP".into(),
                    default: false,
                },
            ]
        );
        let unknown = include_str!(
            "../../../tests/fixtures/slurm-sched/06-scontrol-show-partition-unknown.txt"
        );
        assert!(parse_partitions(stdout_of(unknown)).is_empty());
        assert_eq!(
            parse_assocs(stdout_of(ASSOCS))[0],
            Assoc {
                account: "bsweep".into(),
                partition: None,
                qos: vec!["bsweep".into(), "normal".into()],
            }
        );
        assert_eq!(max_time("1-00:00:30"), Some(86_430));
        assert_eq!(max_time("UNLIMITED"), None);
    }

    #[test]
    fn what_the_cluster_would_refuse() {
        let p = probe_of("associations,limits,qos");
        assert!(refusals(&spec("partitions = [\"short\", \"long\"]\naccount = \"bsweep\"\nqos = \"bsweep\"\ntime = \"0:10:00\"\n"), &p).is_empty());
        let r = refusals(
            &spec(
                "partitions = [\"short\", \"gpu\"]\naccount = \"nope\"\nqos = \"high\"\ntime = \"0:20:00\"\n",
            ),
            &p,
        );
        let keys: Vec<(&str, &str)> = r.iter().map(|r| (r.key, r.value.as_str())).collect();
        assert_eq!(
            keys,
            [
                ("time", "0:20:00"),
                ("partition", "gpu"),
                ("account", "nope")
            ]
        );
        let qos = refusals(&spec("account = \"bsweep\"\nqos = \"high\"\n"), &p);
        assert_eq!(qos.len(), 1);
        assert_eq!(
            qos[0].message,
            "does not let you use QOS `high` under account `bsweep`; yours: bsweep, normal"
        );
        assert_eq!(
            r[1].message,
            "has no partition `gpu`; its partitions: short, long"
        );
        assert!(
            r[0].message
                .contains("to 0:10:00 (MaxTime), less than the 0:20:00 asked for"),
            "{}",
            r[0].message
        );
        // Without enforcement Slurm takes any account: nothing to refuse there.
        let lax = refusals(&spec("account = \"nope\"\nqos = \"high\"\n"), &probe_of(""));
        assert!(lax.is_empty(), "{lax:?}");
    }
}
