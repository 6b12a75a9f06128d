//! `--set key.path=value`: edits to the scenario document before it is read.

use super::{line_of, ScenarioError};

/// Applies `--set key.path=value` overrides by editing the document, so every other line
/// keeps its number and errors still point into the file.
pub(super) fn apply_overrides(
    file: &str,
    text: &str,
    overrides: &[(String, String)],
) -> Result<String, ScenarioError> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ScenarioError {
                file: file.into(),
                line: e.span().map(|s| line_of(text, s.start)),
                field: None,
                message: e.message().to_string(),
            })?;
    for (key, value) in overrides {
        // A value that is not valid TOML is taken as a string: `--set model.bug=ack-before-sync`.
        let parsed: toml_edit::Value = value
            .parse()
            .unwrap_or_else(|_| toml_edit::Value::from(value.as_str()));
        let parts: Vec<&str> = key.split('.').collect();
        set_path(doc.as_table_mut(), &parts, parsed).map_err(|message| ScenarioError {
            file: "--set".into(),
            line: None,
            field: Some(key.clone()),
            message,
        })?;
    }
    Ok(doc.to_string())
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
