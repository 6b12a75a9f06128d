//! Verdicts: a violated invariant or a failed history check is a value with its evidence,
//! never a panic. The simulator's online invariants and the history checkers share this type.

use serde::Serialize;
use std::fmt;

/// The outcome of one invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Holds,
    Violated,
    /// The check could not decide (a budget ran out, or the run ended before it could).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Violated => "violated",
            Status::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one named invariant, with a human-readable detail (the evidence when
/// violated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Verdict {
    pub fn holds(name: &'static str, detail: impl Into<String>) -> Verdict {
        Verdict {
            name,
            status: Status::Holds,
            detail: detail.into(),
        }
    }

    pub fn violated(name: &'static str, detail: impl Into<String>) -> Verdict {
        Verdict {
            name,
            status: Status::Violated,
            detail: detail.into(),
        }
    }

    pub fn unknown(name: &'static str, detail: impl Into<String>) -> Verdict {
        Verdict {
            name,
            status: Status::Unknown,
            detail: detail.into(),
        }
    }
}
