//! Where an artifact is: a registry [`Reference`], or an OCI image layout on disk, a directory
//! (`oci:DIR[:TAG|@DIGEST]`) or a tar archive of one (`oci-archive:FILE.tar[:TAG|@DIGEST]`), in
//! the spelling skopeo uses.
//!
//! Parsed once here; every command that takes a location (`copy`, `push`, `pull`, `inspect`,
//! `tags`) receives the parsed value. What must stay true: a text without one of the two
//! prefixes is a registry reference and goes through [`Reference::parse`], the one reference
//! parser; `Display` of a parsed location parses back to the same location.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use crate::reference::{Reference, ReferenceError, validate_digest, validate_tag};

/// The prefix of an image-layout directory.
const DIR_PREFIX: &str = "oci:";
/// The prefix of an image-layout archive.
const ARCHIVE_PREFIX: &str = "oci-archive:";

/// A registry reference or an image layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An artifact in a registry.
    Registry(Reference),
    /// An artifact in an OCI image layout (directory or archive).
    Layout(LayoutLocation),
}

/// An OCI image layout on disk and, optionally, what in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutLocation {
    /// The layout's root directory, or the archive file.
    pub path: PathBuf,
    /// Whether `path` is a tar archive of a layout (`oci-archive:`).
    pub archive: bool,
    /// The tag or digest named, if any.
    pub target: Option<LayoutTarget>,
}

/// A manifest in a layout: by tag (`org.opencontainers.image.ref.name`) or digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutTarget {
    /// A tag.
    Tag(String),
    /// A manifest digest.
    Digest(String),
}

/// Why a location could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LocationError {
    /// A bad registry reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A bad layout location.
    #[error(
        "invalid layout location `{input}`: {reason}; write `oci:DIR[:TAG|@DIGEST]` or \
         `oci-archive:FILE.tar[:TAG|@DIGEST]`"
    )]
    Layout {
        /// The text the user gave.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Location {
    /// Parses `oci:DIR[:TAG|@DIGEST]`, `oci-archive:FILE[:TAG|@DIGEST]`, or else a registry
    /// reference.
    pub fn parse(input: &str) -> Result<Self, LocationError> {
        let (rest, archive) = if let Some(rest) = input.strip_prefix(ARCHIVE_PREFIX) {
            (rest, true)
        } else if let Some(rest) = input.strip_prefix(DIR_PREFIX) {
            (rest, false)
        } else {
            return Ok(Location::Registry(Reference::parse(input)?));
        };
        let fail = |reason: String| LocationError::Layout {
            input: input.to_owned(),
            reason,
        };
        let (path, target) = split_target(rest).map_err(fail)?;
        if path.is_empty() {
            return Err(LocationError::Layout {
                input: input.to_owned(),
                reason: "it names no path".into(),
            });
        }
        Ok(Location::Layout(LayoutLocation {
            path: PathBuf::from(path),
            archive,
            target,
        }))
    }

    /// The layout, when this is one.
    pub fn layout(&self) -> Option<&LayoutLocation> {
        match self {
            Location::Layout(l) => Some(l),
            Location::Registry(_) => None,
        }
    }
}

/// Splits `PATH[:TAG|@DIGEST]`: a digest after the last `@`, else a tag after the last `:` when
/// what follows it is a valid tag (a `:` inside a directory name stays part of the path).
fn split_target(rest: &str) -> Result<(&str, Option<LayoutTarget>), String> {
    if let Some((path, digest)) = rest.rsplit_once('@')
        && digest.contains(':')
    {
        validate_digest(digest)?;
        return Ok((path, Some(LayoutTarget::Digest(digest.to_owned()))));
    }
    match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => {
            validate_tag(tag)?;
            Ok((path, Some(LayoutTarget::Tag(tag.to_owned()))))
        }
        _ => Ok((rest, None)),
    }
}

impl LayoutLocation {
    /// The same layout naming `target`.
    pub fn with_target(&self, target: Option<LayoutTarget>) -> Self {
        Self {
            target,
            ..self.clone()
        }
    }
}

impl fmt::Display for LayoutTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutTarget::Tag(t) => write!(f, ":{t}"),
            LayoutTarget::Digest(d) => write!(f, "@{d}"),
        }
    }
}

impl fmt::Display for LayoutLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.archive {
            ARCHIVE_PREFIX
        } else {
            DIR_PREFIX
        };
        write!(f, "{prefix}{}", self.path.display())?;
        if let Some(target) = &self.target {
            write!(f, "{target}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Registry(r) => r.fmt(f),
            Location::Layout(l) => l.fmt(f),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = LocationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn layout(input: &str) -> LayoutLocation {
        match Location::parse(input).unwrap() {
            Location::Layout(l) => l,
            other => panic!("not a layout: {other:?}"),
        }
    }

    #[test]
    fn layouts_and_references() {
        let l = layout("oci:out/dir:1.0.0");
        assert_eq!(l.path, PathBuf::from("out/dir"));
        assert!(!l.archive);
        assert_eq!(l.target, Some(LayoutTarget::Tag("1.0.0".into())));
        let l = layout("oci-archive:deps.tar");
        assert!(l.archive);
        assert_eq!(l.target, None);
        let l = layout(&format!("oci:/tmp/x@{D}"));
        assert_eq!(l.target, Some(LayoutTarget::Digest(D.into())));
        assert_eq!(l.to_string(), format!("oci:/tmp/x@{D}"));
        let l = layout("oci:a:b/c");
        assert_eq!((l.path, l.target), (PathBuf::from("a:b/c"), None));
        assert!(matches!(
            Location::parse("localhost:5000/app:1").unwrap(),
            Location::Registry(_)
        ));
        for input in ["oci:dir:1.0", "oci-archive:a.tar", "oci:x"] {
            assert_eq!(layout(input).to_string(), input);
        }
    }

    #[test]
    fn bad_layouts_say_how_to_write_them() {
        assert_eq!(
            Location::parse("oci::1.0").unwrap_err().to_string(),
            "invalid layout location `oci::1.0`: it names no path; write `oci:DIR[:TAG|@DIGEST]` \
             or `oci-archive:FILE.tar[:TAG|@DIGEST]`"
        );
        assert!(Location::parse("oci:dir@sha256:zz").is_err());
    }
}
