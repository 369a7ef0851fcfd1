//! Version selection over the tags of a repository: the newest version a requirement allows.
//!
//! Requirements have Cargo's semantics (the `semver` crate): `1.2` means `^1.2`, and a
//! pre-release (`2.0.0-rc.1`) is chosen only when the requirement names a pre-release of the
//! same `major.minor.patch`. Tags that are not semantic versions (`latest`, `main`, `v1.2`) are
//! not versions and are ignored, as wkg ignores them.

use semver::{Version, VersionReq};

/// The tags of a repository that are versions, ascending.
pub fn versions(tags: &[String]) -> Vec<Version> {
    let mut versions: Vec<Version> = tags
        .iter()
        .filter_map(|tag| Version::parse(tag).ok())
        // A tag cannot hold `+`, but a registry could send anything.
        .filter(|v| v.build.is_empty())
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// The newest version in `tags` that `requirement` allows.
pub fn select(requirement: &VersionReq, tags: &[String]) -> Option<Version> {
    versions(tags).into_iter().rfind(|v| requirement.matches(v))
}

/// The newest release (no pre-release) in `tags`, whatever any requirement says; for
/// `outdated` and for `add` without a requirement.
pub fn newest_release(tags: &[String]) -> Option<Version> {
    versions(tags).into_iter().rfind(|v| v.pre.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn pick(req: &str, list: &[&str]) -> Option<String> {
        select(&VersionReq::parse(req).unwrap(), &tags(list)).map(|v| v.to_string())
    }

    const TAGS: &[&str] = &[
        "latest",
        "main",
        "v1.9.0",
        "0.9.0",
        "1.0.0",
        "1.2.0",
        "1.2.7",
        "1.10.0",
        "2.0.0-rc.1",
        "1.11.0-beta.1",
        "1.2",
    ];

    #[test]
    fn cargo_semantics() {
        assert_eq!(pick("1", TAGS).as_deref(), Some("1.10.0"));
        assert_eq!(pick("1.2", TAGS).as_deref(), Some("1.10.0"));
        assert_eq!(pick("~1.2", TAGS).as_deref(), Some("1.2.7"));
        assert_eq!(pick("=1.2.0", TAGS).as_deref(), Some("1.2.0"));
        assert_eq!(pick(">=1.0, <1.2", TAGS).as_deref(), Some("1.0.0"));
        assert_eq!(pick("0.9", TAGS).as_deref(), Some("0.9.0"));
        assert_eq!(pick("*", TAGS).as_deref(), Some("1.10.0"));
        assert_eq!(pick("3", TAGS), None);
    }

    #[test]
    fn pre_releases_only_when_named() {
        assert_eq!(pick("2", TAGS), None);
        assert_eq!(pick(">=1.11", TAGS), None);
        assert_eq!(pick("2.0.0-rc.1", TAGS).as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(pick(">=2.0.0-alpha", TAGS).as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(pick("1.11.0-beta", TAGS).as_deref(), Some("1.11.0-beta.1"));
    }

    #[test]
    fn non_versions_are_ignored() {
        assert_eq!(
            versions(&tags(TAGS))
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "0.9.0",
                "1.0.0",
                "1.2.0",
                "1.2.7",
                "1.10.0",
                "1.11.0-beta.1",
                "2.0.0-rc.1"
            ]
        );
        assert_eq!(
            newest_release(&tags(TAGS))
                .map(|v| v.to_string())
                .as_deref(),
            Some("1.10.0")
        );
        assert_eq!(newest_release(&tags(&["latest", "1.0.0-rc.1"])), None);
    }
}
