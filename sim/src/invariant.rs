//! Invariant verdicts: a violated invariant is a value with its evidence, never a panic.

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

/// An online invariant's running state: holds until the first violation, which it keeps as
/// evidence (later violations are only counted, so a long run cannot pile up strings).
#[derive(Clone, Debug, Default)]
pub struct OnlineCheck {
    first_violation: Option<String>,
    violations: u64,
}

impl OnlineCheck {
    /// Records a violation; `evidence` is only called for the first one.
    pub fn violate(&mut self, evidence: impl FnOnce() -> String) {
        if self.first_violation.is_none() {
            self.first_violation = Some(evidence());
        }
        self.violations += 1;
    }

    pub fn verdict(&self, name: &'static str, holds_detail: impl Into<String>) -> Verdict {
        match &self.first_violation {
            None => Verdict::holds(name, holds_detail),
            Some(first) if self.violations == 1 => Verdict::violated(name, first.clone()),
            Some(first) => {
                Verdict::violated(name, format!("{first} (and {} more)", self.violations - 1))
            }
        }
    }
}
