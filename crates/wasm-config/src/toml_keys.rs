//! TOML checked key by key, for every file `wasm` reads: the user config here, and the
//! package manifest and lock of `wasm-package`.
//!
//! A file is parsed into `toml::Value`s, then each value travels as an [`At`]: the value with
//! the file and the full key it was found at, so that a conversion that refuses it can name
//! both. [`At::deserialize`] reads a table into a `*Toml` struct that refuses unknown keys
//! ([`TomlTable`]) and turns the refusal into [`ConfigError::UnknownKey`] with a suggestion
//! ([`suggest`]). [`locate`] finds the line and column of a key, for messages that show them.
//!
//! What must stay true: nothing here reads files; messages name the file and the key path as
//! the user wrote it (quoted where TOML needs quotes).

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::error::ConfigError;

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, column)
}

/// A table of the file, deserialized with `deny_unknown_fields`.
pub trait TomlTable: DeserializeOwned {
    /// The keys the struct accepts, for error messages; a test keeps it equal to the fields.
    const KEYS: &'static [&'static str];
}

/// A value of the file with the file and the key it was found at: the input of the `TryFrom`
/// conversions, which need both for their errors.
pub struct At<'a, T> {
    /// The value.
    pub value: T,
    /// The file it was read from, for messages.
    pub file: &'a Path,
    /// Its key, from the top of the file.
    pub key: KeyPath,
}

impl<'a, T> At<'a, T> {
    /// The value `value` found under `name` in this one.
    pub fn child<U>(&self, name: &str, value: U) -> At<'a, U> {
        At {
            value,
            file: self.file,
            key: self.key.join(name),
        }
    }

    /// [`ConfigError::InvalidValue`] for this key.
    pub fn invalid(&self, expected: &'static str, found: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            path: self.file.to_owned(),
            key: self.key.to_string(),
            expected,
            found: found.into(),
        }
    }
}

impl<'a> At<'a, Value> {
    /// This value as a table, or an error saying `expected`.
    pub fn into_table(self, expected: &'static str) -> Result<At<'a, Table>, ConfigError> {
        match self.value {
            Value::Table(value) => Ok(At {
                value,
                file: self.file,
                key: self.key,
            }),
            ref other => Err(self.invalid_found(expected, other)),
        }
    }

    /// [`ConfigError::InvalidValue`] for this key, naming the type of `found`.
    pub fn invalid_found(&self, expected: &'static str, found: &Value) -> ConfigError {
        ConfigError::InvalidValue {
            path: self.file.to_owned(),
            key: self.key.to_string(),
            expected,
            found: a_type(found).to_owned(),
        }
    }
}

impl<'a> At<'a, Table> {
    /// Deserializes this table into its `*Toml` struct.
    pub fn deserialize<T: TomlTable>(&self) -> Result<T, ConfigError> {
        T::deserialize(Value::Table(self.value.clone())).map_err(|_| {
            // Every field is an `Option<Value>`, so `deny_unknown_fields` is the only way to fail.
            let key = self
                .value
                .keys()
                .find(|k| !T::KEYS.contains(&k.as_str()))
                .cloned()
                .unwrap_or_default();
            ConfigError::UnknownKey {
                path: self.file.to_owned(),
                table: if self.key.is_root() {
                    "the top level".to_owned()
                } else {
                    format!("`{}`", self.key)
                },
                suggestion: suggest(&key, T::KEYS),
                key,
                known: T::KEYS,
            }
        })
    }

    /// The entries of this table, each with its key.
    pub fn into_entries(self) -> impl Iterator<Item = (String, At<'a, Value>)> {
        let At { value, file, key } = self;
        value.into_iter().map(move |(name, value)| {
            let key = key.join(&name);
            (name, At { value, file, key })
        })
    }
}

/// `a string`, `an integer`, ... for "found" messages.
pub fn a_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// A dotted TOML key, e.g. `registries."ghcr.io".credential-helper`; empty for the top level.
#[derive(Debug, Clone, Default)]
pub struct KeyPath(Vec<String>);

impl KeyPath {
    /// `self.name`.
    pub fn join(&self, name: &str) -> KeyPath {
        let mut parts = self.0.clone();
        parts.push(name.to_owned());
        KeyPath(parts)
    }

    /// Whether this is the top level.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let bare = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if bare {
                f.write_str(part)?;
            } else {
                write!(f, "\"{}\"", part.escape_debug())?;
            }
        }
        Ok(())
    }
}

/// The known key that `key` is most likely a misspelling of: the same letters with other
/// separators or case (`credential_helper`, `credentialHelper`), one typo away, or a common
/// synonym.
pub fn suggest(key: &str, known: &'static [&'static str]) -> Option<&'static str> {
    const SYNONYMS: &[(&str, &str)] = &[
        ("registry", "registries"),
        ("timeout", "helper-timeout"),
        ("helper", "credential-helper"),
        ("credentials", "credential-helper"),
        ("scheme", "protocol"),
        ("ca", "ca-file"),
        ("cacert", "ca-file"),
        ("user", "username"),
        ("pass", "password"),
        // wasm.toml and wasm.lock (wasm-package).
        ("deps", "dependencies"),
        ("dependency", "dependencies"),
        ("repo", "repository"),
        ("ref", "reference"),
        ("registries", "registry"),
        ("url", "homepage"),
        ("docs", "documentation"),
        ("path", "file"),
        ("req", "version"),
    ];
    let squashed = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = squashed(key);
    let by_spelling = known.iter().copied().find(|k| {
        let k = squashed(k);
        k == wanted
            || (wanted.chars().count() >= 4
                && (edit_distance(&k, &wanted) <= 1 || swapped(&k, &wanted)))
    });
    by_spelling.or_else(|| {
        SYNONYMS
            .iter()
            .find(|(synonym, target)| *synonym == wanted && known.contains(target))
            .and_then(|(_, target)| known.iter().copied().find(|k| k == target))
    })
}

/// Whether `a` is `b` with two neighbouring characters swapped (`verison`, `version`): the
/// commonest typo, which Levenshtein distance counts as two.
fn swapped(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() != b.len() {
        return false;
    }
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    matches!(differ.as_slice(), [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i])
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

impl KeyPath {
    /// The parts of the key, from the top level down.
    pub fn parts(&self) -> &[String] {
        &self.0
    }
}

/// The 1-based line and column of `key` in `text`: where the key is written, or, for a key
/// that is only implied (a table made by a dotted key), where its first written part is.
/// `None` when the text does not parse or has no such key. Parts that are numbers index into
/// arrays (`package.2.name` is the name of the third `[[package]]`).
pub fn locate(text: &str, key: &KeyPath) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    let mut parts = key.parts().iter().peekable();
    while let Some(part) = parts.next() {
        let (name, value) = table.get_key_value(part.as_str())?;
        found = Some(name.span());
        let mut value = value.get_ref();
        // `[[array]]` entries: the next part is the index.
        if let DeValue::Array(items) = value {
            let index = parts.peek().and_then(|p| p.parse::<usize>().ok());
            if let Some(index) = index {
                parts.next();
                let item = items.get(index)?;
                found = Some(item.span());
                value = item.get_ref();
            }
        }
        match value {
            DeValue::Table(inner) => table = inner,
            _ if parts.peek().is_none() => break,
            _ => return None,
        }
    }
    found.map(|span| line_column(text, span.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let text = "a = 1\nké = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 8), (2, 2)); // inside `é`: rounded down
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn key_paths_quote_only_when_needed() {
        let path = KeyPath::default()
            .join("registries")
            .join("ghcr.io")
            .join("credential-helper")
            .join("a\"b");
        assert_eq!(
            path.to_string(),
            r#"registries."ghcr.io".credential-helper."a\"b""#
        );
    }

    #[test]
    fn locate_finds_keys_tables_and_array_entries() {
        let text = "a = 1\n[t]\nb.c = 2\n[[p]]\nn = \"x\"\n[[p]]\nn = \"y\"\n";
        let at = |parts: &[&str]| {
            let key = parts.iter().fold(KeyPath::default(), |k, p| k.join(p));
            locate(text, &key)
        };
        assert_eq!(at(&["a"]), Some((1, 1)));
        assert_eq!(at(&["t"]), Some((2, 2)));
        assert_eq!(at(&["t", "b", "c"]), Some((3, 3)));
        assert_eq!(at(&["p", "1", "n"]), Some((7, 1)));
        assert_eq!(at(&["zz"]), None);
    }
}
