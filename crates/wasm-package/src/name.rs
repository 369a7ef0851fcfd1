//! Package names: `namespace:name`, with WIT's package-name syntax (`wasi:http`,
//! `acme:greeter`), see docs/packages.md.
//!
//! What must stay true: a [`PackageName`] is always valid, so everything that receives one (the
//! name mapping, install paths, the lock) can use its parts as path segments and repository
//! segments without checking again.

use std::fmt;

/// A valid `namespace:name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName {
    namespace: String,
    name: String,
}

/// Why a package name is not valid; displays the input and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package name `{input}`: {reason}")]
pub struct NameError {
    /// The text given.
    pub input: String,
    /// What is wrong, and the fix.
    pub reason: String,
}

impl PackageName {
    /// Parses `namespace:name`. Each part is one or more words of lowercase ASCII letters and
    /// digits, each word starting with a letter, joined by single `-` (WIT identifiers). A
    /// version (`@1.2`) is not part of a name.
    pub fn parse(input: &str) -> Result<PackageName, NameError> {
        let fail = |reason: String| NameError {
            input: input.to_owned(),
            reason,
        };
        let Some((namespace, name)) = input.split_once(':') else {
            return Err(fail(
                "a package name is `namespace:name`, like `wasi:http` or `acme:greeter`".into(),
            ));
        };
        if name.contains('@') {
            return Err(fail(
                "a package name has no version; write the version requirement as the \
                 dependency's value (`\"ns:name\" = \"1.2\"`)"
                    .into(),
            ));
        }
        for (what, part) in [("namespace", namespace), ("name", name)] {
            if let Some(problem) = identifier_problem(part) {
                let lower = part.to_ascii_lowercase().replace('_', "-");
                let hint = if lower != part && identifier_problem(&lower).is_none() {
                    format!("; write `{}`", input.replace(part, &lower))
                } else {
                    String::new()
                };
                return Err(fail(format!("the {what} `{part}` {problem}{hint}")));
            }
        }
        Ok(PackageName {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The namespace, e.g. `wasi`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name inside the namespace, e.g. `http`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

impl std::str::FromStr for PackageName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        PackageName::parse(s)
    }
}

/// What is wrong with a WIT identifier, if anything.
fn identifier_problem(part: &str) -> Option<&'static str> {
    if part.is_empty() {
        return Some("is empty");
    }
    for word in part.split('-') {
        if word.is_empty() {
            return Some("has an empty word (a `-` at the start or end, or `--`)");
        }
        if !word.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Some("has a word that does not start with a letter");
        }
        if !word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Some("may only hold lowercase letters, digits and `-`");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for name in ["wasi:http", "acme:greeter", "my-team:a1-b2", "ba:x"] {
            let parsed = PackageName::parse(name).unwrap();
            assert_eq!(parsed.to_string(), name);
        }
        let name = PackageName::parse("wasi:http").unwrap();
        assert_eq!((name.namespace(), name.name()), ("wasi", "http"));
    }

    #[test]
    fn invalid_names_say_why() {
        let cases = [
            (
                "greeter",
                "invalid package name `greeter`: a package name is `namespace:name`, like \
                 `wasi:http` or `acme:greeter`",
            ),
            (
                "Acme:greeter",
                "invalid package name `Acme:greeter`: the namespace `Acme` may only hold \
                 lowercase letters, digits and `-`; write `acme:greeter`",
            ),
            (
                "acme:my_greeter",
                "invalid package name `acme:my_greeter`: the name `my_greeter` may only hold \
                 lowercase letters, digits and `-`; write `acme:my-greeter`",
            ),
            (
                "acme:1x",
                "invalid package name `acme:1x`: the name `1x` has a word that does not start \
                 with a letter",
            ),
            (
                "acme:",
                "invalid package name `acme:`: the name `` is empty",
            ),
            (
                "acme:x-",
                "invalid package name `acme:x-`: the name `x-` has an empty word (a `-` at the \
                 start or end, or `--`)",
            ),
            (
                "acme:x@1.0",
                "invalid package name `acme:x@1.0`: a package name has no version; write the \
                 version requirement as the dependency's value (`\"ns:name\" = \"1.2\"`)",
            ),
            (
                "a:b:c",
                "invalid package name `a:b:c`: the name `b:c` may only hold lowercase letters, \
                 digits and `-`",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                PackageName::parse(input).unwrap_err().to_string(),
                expected,
                "{input}"
            );
        }
    }
}
