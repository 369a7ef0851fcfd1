//! A wrapper for values that must not leak: passwords, tokens, and the raw output of credential
//! helpers.
//!
//! What must stay true: a `Secret` never prints its content. It has no `Display`, its `Debug`
//! prints a fixed placeholder, and [`Secret::expose`] (or [`Secret::into_inner`]) is the only
//! way to reach the value. Because of that, any type holding secrets only in this wrapper can
//! derive `Debug` and go to debug logs whole.

use std::fmt;

/// A value that must not appear in logs, error messages or `Debug` output.
///
/// `Debug` prints `Secret(<redacted>)` whatever the value; there is deliberately no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the secret value.
    ///
    /// Calling this marks the boundary where a secret leaves the type: whatever the caller does
    /// with the reference (sending it to a registry, putting it in a header) is no longer
    /// protected from being printed. Keep such calls few and close to where the value is used.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value; like [`Secret::expose`], this is where the protection ends.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// Transforms the value without exposing it, e.g. to decode bytes into a string.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Secret<U> {
        Secret(f(self.0))
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{secret:#?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(<redacted>))");
    }

    #[test]
    fn expose_map_and_into_inner_reach_the_value() {
        let secret: Secret<Vec<u8>> = b"hunter2\n".to_vec().into();
        assert_eq!(secret.expose(), b"hunter2\n");
        let text = secret.map(|bytes| String::from_utf8(bytes).unwrap());
        assert_eq!(text.expose().trim(), "hunter2");
        assert_eq!(text.clone(), text);
        assert_eq!(text.into_inner(), "hunter2\n");
    }
}
