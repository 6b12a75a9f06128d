//! Exit codes, the command line's contract (docs/DESIGN.md): 0 every expectation met (check:
//! linearizable), 1 one unmet (check: not linearizable), 2 bad input or usage — or output
//! that could not be written — 3 unknown (a checker ran out of its budget, or a run hit its
//! event limit).

use std::process::ExitCode;

/// How a run, a set of runs or a check ended against what was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    Met,
    Unmet,
    Unknown,
}

/// Bad input or usage (the message names the file, line and field), or an I/O error.
pub const BAD_INPUT: u8 = 2;

impl Judgement {
    /// The word the human summary shows for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Judgement::Met => "PASS",
            Judgement::Unmet => "FAIL",
            Judgement::Unknown => "UNKNOWN",
        }
    }

    /// The worse of two, for a set of runs: an unmet expectation outweighs an undecided one,
    /// which outweighs success.
    pub fn worse(self, other: Judgement) -> Judgement {
        let severity = |j: Judgement| match j {
            Judgement::Met => 0,
            Judgement::Unknown => 1,
            Judgement::Unmet => 2,
        };
        if severity(other) > severity(self) {
            other
        } else {
            self
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Judgement::Met => 0,
            Judgement::Unmet => 1,
            Judgement::Unknown => 3,
        }
    }
}

impl From<Judgement> for ExitCode {
    fn from(j: Judgement) -> ExitCode {
        ExitCode::from(j.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Judgement::*;

    #[test]
    fn an_unmet_expectation_outweighs_an_unknown() {
        assert_eq!(Met.worse(Unknown).worse(Unmet).worse(Unknown), Unmet);
        assert_eq!(Unknown.worse(Met), Unknown);
        assert_eq!(Met.worse(Met), Met);
    }
}
