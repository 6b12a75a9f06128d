//! Online invariants: checks a model runs as events happen, ending in the [`Verdict`] that
//! history checks also return (the type lives in the `check` crate, shared with them).

pub use check::verdict::{Status, Verdict};

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

    /// Whether a violation was recorded (its evidence is kept; later ones are counted).
    pub fn violated(&self) -> bool {
        self.first_violation.is_some()
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
