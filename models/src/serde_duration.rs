//! `#[serde(with = "crate::serde_duration")]` for `std::time::Duration` fields written as
//! `"250ms"` strings.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&sim::time::format_nanos(sim::time::nanos(*d)))
}

pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    sim::time::parse_duration(&text).map_err(serde::de::Error::custom)
}
