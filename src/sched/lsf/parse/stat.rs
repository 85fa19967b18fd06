//! LSF job states (the STAT column): a closed set, so an unknown value is an error, not a guess.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A job state exactly as bjobs prints it in STAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Stat {
    /// Waiting to be scheduled.
    Pend,
    /// Dispatched to a power-saved host that is waking up.
    Prov,
    /// Suspended while pending (bstop).
    Psusp,
    Run,
    /// Suspended by its owner or an admin while running.
    Ususp,
    /// Suspended by LSF (load, run window).
    Ssusp,
    /// Finished with status 0.
    Done,
    /// Finished with a non-zero status, or killed.
    Exit,
    /// mbatchd lost contact with the execution host; the job may still be running.
    Unkwn,
    /// A chunk-job member waiting to run.
    Wait,
    /// Killed while its host was unreachable; LSF turns it into EXIT once the host is back.
    Zombi,
}

impl Stat {
    pub const ALL: [Stat; 11] = [
        Stat::Pend,
        Stat::Prov,
        Stat::Psusp,
        Stat::Run,
        Stat::Ususp,
        Stat::Ssusp,
        Stat::Done,
        Stat::Exit,
        Stat::Unkwn,
        Stat::Wait,
        Stat::Zombi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Pend => "PEND",
            Stat::Prov => "PROV",
            Stat::Psusp => "PSUSP",
            Stat::Run => "RUN",
            Stat::Ususp => "USUSP",
            Stat::Ssusp => "SSUSP",
            Stat::Done => "DONE",
            Stat::Exit => "EXIT",
            Stat::Unkwn => "UNKWN",
            Stat::Wait => "WAIT",
            Stat::Zombi => "ZOMBI",
        }
    }

    /// DONE or EXIT: the job will not change state again. ZOMBI and UNKWN are not finished:
    /// LSF still resolves them (ZOMBI becomes EXIT, UNKWN may come back as RUN).
    pub fn is_finished(self) -> bool {
        matches!(self, Stat::Done | Stat::Exit)
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STAT value outside the known set (for example POST_DONE, which some tools mention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("unknown LSF job state {0:?}")]
pub struct UnknownStat(pub String);

impl FromStr for Stat {
    type Err = UnknownStat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Stat::ALL
            .into_iter()
            .find(|st| st.as_str() == t)
            .ok_or_else(|| UnknownStat(t.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips() {
        for (text, st, finished) in [
            ("PEND", Stat::Pend, false),
            ("PROV", Stat::Prov, false),
            ("PSUSP", Stat::Psusp, false),
            ("RUN", Stat::Run, false),
            ("USUSP", Stat::Ususp, false),
            ("SSUSP", Stat::Ssusp, false),
            ("DONE", Stat::Done, true),
            ("EXIT", Stat::Exit, true),
            ("UNKWN", Stat::Unkwn, false),
            ("WAIT", Stat::Wait, false),
            ("ZOMBI", Stat::Zombi, false),
        ] {
            assert_eq!(text.parse::<Stat>(), Ok(st));
            assert_eq!(st.to_string(), text);
            assert_eq!(st.is_finished(), finished, "{text}");
            assert_eq!(serde_json::to_value(st).ok(), Some(serde_json::json!(text)));
        }
    }

    #[test]
    fn unknown_states_are_errors() {
        for bad in [
            "POST_DONE",
            "POST_ERR",
            "run",
            "Done",
            "",
            "RUNNING",
            "EXITED",
        ] {
            assert_eq!(
                bad.parse::<Stat>(),
                Err(UnknownStat(bad.to_string())),
                "{bad:?}"
            );
        }
    }
}
