//! Locating errors: from a byte offset, a field name or a toml error to the line of the file
//! and the dotted field a person should look at.

use super::ScenarioError;

/// Converts a toml error into a located scenario error.
pub(super) fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> ScenarioError {
    let line = e.span().map(|s| line_of(text, s.start));
    let mut field = line.and_then(|l| field_at_line(text, l));
    // A missing field is reported at its table (the whole document for a top-level one).
    if let Some(name) = e
        .message()
        .strip_prefix("missing field `")
        .and_then(|m| m.split_once('`'))
        .map(|(name, _)| name)
    {
        let top_level = e
            .span()
            .is_some_and(|s| s.start == 0 && s.end >= text.len());
        field = Some(match field.filter(|_| !top_level) {
            Some(table) => format!("{table}.{name}"),
            None => name.to_string(),
        });
    }
    let mut message = e.message().trim().to_string();
    // toml hands a date or time to serde as a map: say what it was read as, and how to quote.
    if let Some(expected) = message.strip_prefix("invalid type: map, expected ") {
        let written = e.span().and_then(|s| text.get(s)).map(str::trim);
        if let Some(date) = written.filter(|w| w.parse::<toml::value::Datetime>().is_ok()) {
            message = format!(
                "invalid type: `{date}` is read as a TOML date-time, expected {expected}; if it is text, quote it: \"{date}\""
            );
        }
    }
    ScenarioError {
        set: None,
        file: file.into(),
        line,
        field,
        message,
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The dotted field a `key = value` line sets: the table header above it plus the key.
pub(super) fn field_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line - 1)?.trim();
    if this.is_empty() || this.starts_with('#') {
        return None;
    }
    let key = this
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'));
    // This line's own header first: `[[network.links]]` is not inside the `[network]` above it.
    let header = std::iter::once(&this)
        .chain(lines[..line - 1].iter().rev())
        .find_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        });
    match (header, key) {
        (Some(h), Some(k)) if !k.starts_with('[') => Some(format!("{h}.{k}")),
        (None, Some(k)) => Some(k.to_string()),
        (Some(h), None) => Some(h),
        _ => None,
    }
}

/// The line of `key = ...` inside `[table]` (top level when `table` is empty); else the first
/// header of the key's own table (`[[nodes]]` for `nodes`); else the table's header line, or 1.
pub(super) fn find_key_line(text: &str, table: &str, key: &str) -> usize {
    let own = if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    };
    let mut current = String::new();
    let mut header_line = 1;
    let mut own_line = None;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if current == table {
                header_line = i + 1;
            }
            if current == own && own_line.is_none() {
                own_line = Some(i + 1);
            }
            continue;
        }
        if current == table && t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return i + 1;
        }
    }
    own_line.unwrap_or(header_line)
}

/// The line where `field` is written inside `span` (one entry, such as a `[[faults]]` table):
/// the first `key = ...` line there for the field's last dotted component that has one (for
/// `faults.when.node`, `node` inside an inline table is skipped and `when` is found); the
/// span's first line when none is written there.
pub(super) fn key_line(text: &str, span: std::ops::Range<usize>, field: &str) -> usize {
    let entry = text.get(span.clone()).unwrap_or("");
    for key in field.rsplit('.') {
        let mut offset = span.start;
        for l in entry.split_inclusive('\n') {
            if l.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
                return line_of(text, offset);
            }
            offset += l.len();
        }
    }
    line_of(text, span.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_table_and_key() {
        let text = "name = \"x\"\n[network]\nloss = 1.5\n";
        assert_eq!(field_at_line(text, 3).as_deref(), Some("network.loss"));
        assert_eq!(field_at_line(text, 1).as_deref(), Some("name"));
        assert_eq!(find_key_line(text, "network", "loss"), 3);
    }

    #[test]
    fn a_header_line_names_its_own_table() {
        let text = "# a = b\n[network]\nloss = 0.1\n[[network.links]]\nloss = 0.2\n";
        assert_eq!(field_at_line(text, 1), None);
        assert_eq!(field_at_line(text, 4).as_deref(), Some("network.links"));
        assert_eq!(
            field_at_line(text, 5).as_deref(),
            Some("network.links.loss")
        );
    }

    #[test]
    fn a_list_of_tables_is_found_by_its_header() {
        let text = "name = \"x\"\n\n[[nodes]]\nname = \"a\"\n";
        assert_eq!(find_key_line(text, "", "nodes"), 3);
    }

    #[test]
    fn a_key_is_found_inside_its_entry() {
        let text = "[[faults]]\nat = \"1s\"\ncrash = \"x\"\n[[faults]]\ncrash = \"y\"\n";
        let second = text.rfind("[[faults]]").unwrap()..text.len();
        assert_eq!(key_line(text, second.clone(), "faults.crash"), 5);
        assert_eq!(key_line(text, second, "faults.at"), 4);
        assert_eq!(key_line(text, 0..text.len(), "faults.when.node"), 1);
    }
}
