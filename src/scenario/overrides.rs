//! `--set key.path=value`: edits to the scenario document before it is read.

use super::locate::field_at_line;
use super::{line_of, ScenarioError};

/// Where each line of the edited text came from: a line of the file, or a `--set`. Errors
/// found in the edited text are moved back with [`Origins::relocate`], so a bad value from
/// the file names its line there and a bad value from `--set` names its argument.
#[derive(Debug, Default)]
pub struct Origins {
    /// By line of the edited text (empty: no overrides, every line is its own).
    lines: Vec<Origin>,
    /// Each override as it was written: `KEY=VALUE`.
    sets: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Origin {
    /// This 1-based line of the file.
    File(usize),
    /// Written by this override (by index), or by one of them when it cannot be told which.
    Set(Option<usize>),
}

impl Origins {
    /// The error with its line moved back into the file, or pinned to the `--set` argument
    /// that wrote that line.
    pub fn relocate(&self, mut e: ScenarioError) -> ScenarioError {
        let Some(origin) = e.line.and_then(|l| self.lines.get(l.checked_sub(1)?)) else {
            return e;
        };
        match *origin {
            Origin::File(l) => e.line = Some(l),
            Origin::Set(k) => {
                e.line = None;
                e.set = Some(match k {
                    Some(k) => self.sets[k].clone(),
                    None => self.sets.join(" --set "),
                });
            }
        }
        e
    }
}

/// Parses an override's value: TOML when it is TOML (`5`, `true`, `"x"`, `[1, 2]`), else the
/// text itself as a string (`--set model.bug=fake-sync`, `exponential(10ms)`). A date
/// or time (`2024-01-01`) is taken as a string too: no scenario field holds one.
pub(super) fn parse_value(value: &str) -> toml_edit::Value {
    match value.parse::<toml_edit::Value>() {
        Ok(v) if !v.is_datetime() => v,
        _ => toml_edit::Value::from(value),
    }
}

/// Applies `--set key.path=value` overrides by editing the document; returns the edited
/// text and where each of its lines came from.
pub(super) fn apply_overrides(
    file: &str,
    text: &str,
    overrides: &[(String, String)],
) -> Result<(String, Origins), ScenarioError> {
    if overrides.is_empty() {
        return Ok((text.to_string(), Origins::default()));
    }
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ScenarioError {
                file: file.into(),
                line: e.span().map(|s| line_of(text, s.start)),
                set: None,
                field: None,
                message: e.message().to_string(),
            })?;
    for (key, value) in overrides {
        let parts: Vec<&str> = key.split('.').collect();
        set_path(doc.as_table_mut(), &parts, parse_value(value)).map_err(|message| {
            ScenarioError {
                file: file.into(),
                line: None,
                set: Some(format!("{key}={value}")),
                field: Some(key.clone()),
                message,
            }
        })?;
    }
    let edited = doc.to_string();
    let origins = origins(text, &edited, overrides);
    Ok((edited, origins))
}

/// Matches the edited text's lines to the file's (a longest common subsequence: overrides
/// replace lines in place or insert some); a line without a match was written by an override,
/// found by its field.
fn origins(text: &str, edited: &str, overrides: &[(String, String)]) -> Origins {
    let old: Vec<&str> = text.lines().collect();
    let new: Vec<&str> = edited.lines().collect();
    let matched = match_lines(&old, &new);
    // An override's field without list indexes: `nodes.0.region` is `nodes.region`.
    let fields: Vec<String> = overrides
        .iter()
        .map(|(k, _)| {
            k.split('.')
                .filter(|p| p.parse::<usize>().is_err())
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    let writer = |line: usize| -> Option<usize> {
        if overrides.len() == 1 {
            return Some(0);
        }
        let field = field_at_line(edited, line)?;
        fields.iter().position(|f| *f == field).or_else(|| {
            // A table header the override created, or a key of an inline table.
            fields.iter().position(|f| {
                f.starts_with(&format!("{field}.")) || field.starts_with(&format!("{f}."))
            })
        })
    };
    let lines = matched
        .iter()
        .enumerate()
        .map(|(i, m)| match m {
            Some(o) => Origin::File(o + 1),
            None => Origin::Set(writer(i + 1)),
        })
        .collect();
    Origins {
        lines,
        sets: overrides.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    }
}

/// For each line of `new`, the index of the line of `old` it is (a longest common
/// subsequence), or `None` for a line that is not in `old`.
fn match_lines(old: &[&str], new: &[&str]) -> Vec<Option<usize>> {
    let mut out = vec![None; new.len()];
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    for (i, o) in out.iter_mut().enumerate().take(prefix) {
        *o = Some(i);
    }
    for k in 0..suffix {
        out[new.len() - 1 - k] = Some(old.len() - 1 - k);
    }
    let (a, b) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        // Too large for the table: match greedily, in order.
        let mut j = 0;
        for (i, line) in b.iter().enumerate() {
            if let Some(k) = a[j..].iter().position(|l| l == line) {
                out[prefix + i] = Some(prefix + j + k);
                j += k + 1;
            }
        }
        return out;
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let w = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * w];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * w + j] = if a[i] == b[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out[prefix + j] = Some(prefix + i);
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * w + j] >= lcs[i * w + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Sets `parts` (table keys, or indexes into lists of tables: `nodes.0.region`) to `value`.
pub(super) fn set_path(
    table: &mut dyn toml_edit::TableLike,
    parts: &[&str],
    value: toml_edit::Value,
) -> Result<(), String> {
    match parts {
        [] => Err("empty key".into()),
        [key] => {
            table.insert(key, toml_edit::Item::Value(value));
            Ok(())
        }
        [key, index, rest @ ..] if index.parse::<usize>().is_ok() => {
            let list = table
                .get_mut(key)
                .and_then(|i| i.as_array_of_tables_mut())
                .ok_or_else(|| format!("`{key}` is not a list of tables"))?;
            let len = list.len();
            let i: usize = index.parse().expect("checked above");
            let entry = list
                .get_mut(i)
                .ok_or_else(|| format!("`{key}` has {len} entries; index {i} is out of range"))?;
            set_path(entry, rest, value)
        }
        [key, rest @ ..] => {
            if table.get(key).is_none() {
                table.insert(key, toml_edit::Item::Table(toml_edit::Table::new()));
            }
            let sub = table
                .get_mut(key)
                .and_then(|i| i.as_table_like_mut())
                .ok_or_else(|| format!("`{key}` is not a table"))?;
            set_path(sub, rest, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_matched_around_edits() {
        let old = ["a", "b", "c", "d"];
        // `b` replaced by `x`, `y` inserted after `c`.
        let new = ["a", "x", "c", "y", "d"];
        assert_eq!(
            match_lines(&old, &new),
            [Some(0), None, Some(2), None, Some(3)]
        );
    }

    #[test]
    fn dates_and_invalid_toml_are_strings() {
        assert_eq!(parse_value("2024-01-01").as_str(), Some("2024-01-01"));
        assert_eq!(
            parse_value("exponential(10ms)").as_str(),
            Some("exponential(10ms)")
        );
        assert_eq!(parse_value("5").as_integer(), Some(5));
        assert_eq!(parse_value("\"5\"").as_str(), Some("5"));
    }
}
