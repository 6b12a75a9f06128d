//! Histories and their checkers, apart from the simulator: the JSON Lines history format
//! (`docs/HISTORY_FORMAT.md`), the verdict type, and the checks run on a history:
//! linearizability, session guarantees, total-queue, set-full and unique-ids. The simulator's clients write [`history::History`] values and
//! `consim check` reads them from files; neither needs the other's event loop, so this crate
//! depends on no simulator.
//!
//! Architecture invariant: no simulator, no I/O besides parsing the text it is handed, no panic
//! on any input (real systems' histories come here).

pub mod checkers; // the Check trait; session, total-queue, set-full, unique-ids
pub mod generate; // seeded random histories for tests and benches
pub mod history; // Jepsen-style client histories (JSON Lines)
pub mod linearizability; // Wing–Gong–Lowe checker for register and key-value histories
pub mod verdict; // holds / violated / unknown, with evidence
