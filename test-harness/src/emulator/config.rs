//! The emulator's configuration file (format documented on [`crate::emulator`]) and the ARNs it
//! names.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::EmulatorError;
use super::certs::Cert;

/// Shortest session the service grants, in seconds.
pub const MIN_DURATION_SECONDS: i64 = 900;
/// Longest session the service grants, in seconds.
pub const MAX_DURATION_SECONDS: i64 = 43_200;
/// The duration a profile grants when its configuration names none.
pub const DEFAULT_DURATION_SECONDS: i64 = 3600;
/// The allowed distance between `X-Amz-Date` and the server clock when none is configured.
pub const DEFAULT_CLOCK_SKEW_SECONDS: i64 = 300;

/// The configuration as written in the JSON file. Paths are as written (see [`Config`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    /// The emulator's region: the only region accepted in the signing scope and in ARNs.
    pub region: String,
    /// The trust anchors.
    #[serde(default)]
    pub trust_anchors: Vec<TrustAnchorFile>,
    /// The profiles.
    #[serde(default)]
    pub profiles: Vec<ProfileFile>,
    /// Allowed distance between `X-Amz-Date` and the server clock (default 300).
    #[serde(default)]
    pub clock_skew_seconds: Option<i64>,
    /// A pinned server clock (RFC 3339). Absent: the system clock.
    #[serde(default)]
    pub now: Option<String>,
    /// Lifetime of issued credentials, overriding the negotiated session duration.
    #[serde(default)]
    pub credential_lifetime_seconds: Option<i64>,
}

/// A trust anchor as written in the JSON file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustAnchorFile {
    /// `arn:aws:rolesanywhere:<region>:<account>:trust-anchor/<id>`.
    pub arn: String,
    /// PEM files, each holding one or more `CERTIFICATE` blocks; relative to the config file.
    pub certificates: Vec<PathBuf>,
    /// A disabled anchor answers 403 (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A profile as written in the JSON file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileFile {
    /// `arn:aws:rolesanywhere:<region>:<account>:profile/<id>`.
    pub arn: String,
    /// The roles a session may be created for.
    pub role_arns: Vec<String>,
    /// The longest session the profile grants (900..43200, default 3600).
    #[serde(default)]
    pub duration_seconds: Option<i64>,
    /// Whether a request may set `roleSessionName` (default false).
    #[serde(default)]
    pub accept_role_session_name: bool,
    /// A disabled profile answers 403 (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A loaded, checked configuration: certificates read and parsed, defaults applied.
#[derive(Debug, Clone)]
pub struct Config {
    /// The emulator's region.
    pub region: String,
    /// The trust anchors.
    pub trust_anchors: Vec<TrustAnchor>,
    /// The profiles.
    pub profiles: Vec<Profile>,
    /// Allowed distance between `X-Amz-Date` and the server clock, in seconds.
    pub clock_skew_seconds: i64,
    /// A pinned server clock (Unix seconds), or `None` for the system clock.
    pub now: Option<i64>,
    /// Lifetime of issued credentials overriding the negotiated duration, in seconds.
    pub credential_lifetime_seconds: Option<i64>,
}

/// A loaded trust anchor.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// Its ARN.
    pub arn: Arn,
    /// Its certificates.
    pub certificates: Vec<Cert>,
    /// Whether it is enabled.
    pub enabled: bool,
}

/// A loaded profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its ARN.
    pub arn: Arn,
    /// The role ARNs it allows, as written.
    pub role_arns: Vec<String>,
    /// The longest session it grants, in seconds.
    pub duration_seconds: i64,
    /// Whether a request may set `roleSessionName`.
    pub accept_role_session_name: bool,
    /// Whether it is enabled.
    pub enabled: bool,
}

impl Config {
    /// Reads and checks a configuration file; certificate paths are relative to its folder.
    pub fn load(path: &Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::Config(format!("cannot read {}: {e}", path.display())))?;
        let file: ConfigFile = serde_json::from_str(&text)
            .map_err(|e| EmulatorError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_file(file, base)
    }

    /// Checks a configuration given as JSON; certificate paths are relative to `base_dir`.
    pub fn from_json(value: serde_json::Value, base_dir: &Path) -> Result<Self, EmulatorError> {
        let file: ConfigFile = serde_json::from_value(value)
            .map_err(|e| EmulatorError::Config(format!("invalid configuration: {e}")))?;
        Self::from_file(file, base_dir)
    }

    /// Checks a parsed configuration file; certificate paths are relative to `base_dir`.
    pub fn from_file(file: ConfigFile, base_dir: &Path) -> Result<Self, EmulatorError> {
        let bad = |m: String| EmulatorError::Config(m);
        if !is_region(&file.region) {
            return Err(bad(format!(
                "region {:?} is not a region name",
                file.region
            )));
        }
        let clock_skew_seconds = file
            .clock_skew_seconds
            .unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS);
        if clock_skew_seconds < 0 {
            return Err(bad("clockSkewSeconds must not be negative".into()));
        }
        if let Some(lifetime) = file.credential_lifetime_seconds {
            if lifetime < 1 {
                return Err(bad("credentialLifetimeSeconds must be at least 1".into()));
            }
        }
        let now = match &file.now {
            None => None,
            Some(text) => Some(
                OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|e| bad(format!("now {text:?} is not an RFC 3339 time: {e}")))?
                    .unix_timestamp(),
            ),
        };

        let mut trust_anchors = Vec::new();
        for anchor in file.trust_anchors {
            let arn = Arn::parse(&anchor.arn)
                .filter(|a| a.is_trust_anchor())
                .ok_or_else(|| bad(format!("{:?} is not a trust anchor ARN", anchor.arn)))?;
            if arn.region != file.region {
                return Err(bad(format!(
                    "trust anchor {} is not in the emulator's region {}",
                    anchor.arn, file.region
                )));
            }
            if anchor.certificates.is_empty() {
                return Err(bad(format!(
                    "trust anchor {} has no certificates",
                    anchor.arn
                )));
            }
            let mut certificates = Vec::new();
            for relative in &anchor.certificates {
                let path = base_dir.join(relative);
                let pem = std::fs::read(&path)
                    .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
                let found = Cert::parse_pem_bundle(&pem)
                    .map_err(|e| bad(format!("{}: {e}", path.display())))?;
                if found.is_empty() {
                    return Err(bad(format!(
                        "{} holds no CERTIFICATE block",
                        path.display()
                    )));
                }
                certificates.extend(found);
            }
            trust_anchors.push(TrustAnchor {
                arn,
                certificates,
                enabled: anchor.enabled,
            });
        }

        let mut profiles = Vec::new();
        for profile in file.profiles {
            let arn = Arn::parse(&profile.arn)
                .filter(|a| a.is_profile())
                .ok_or_else(|| bad(format!("{:?} is not a profile ARN", profile.arn)))?;
            if arn.region != file.region {
                return Err(bad(format!(
                    "profile {} is not in the emulator's region {}",
                    profile.arn, file.region
                )));
            }
            for role in &profile.role_arns {
                if !Arn::parse(role).is_some_and(|a| a.is_role()) {
                    return Err(bad(format!("{role:?} is not an IAM role ARN")));
                }
            }
            let duration_seconds = profile.duration_seconds.unwrap_or(DEFAULT_DURATION_SECONDS);
            if !(MIN_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(&duration_seconds) {
                return Err(bad(format!(
                    "profile {}: durationSeconds must be in {MIN_DURATION_SECONDS}..{MAX_DURATION_SECONDS}",
                    profile.arn
                )));
            }
            profiles.push(Profile {
                arn,
                role_arns: profile.role_arns,
                duration_seconds,
                accept_role_session_name: profile.accept_role_session_name,
                enabled: profile.enabled,
            });
        }

        Ok(Self {
            region: file.region,
            trust_anchors,
            profiles,
            clock_skew_seconds,
            now,
            credential_lifetime_seconds: file.credential_lifetime_seconds,
        })
    }

    /// Whether any configured ARN (anchor, profile or role) belongs to `account`.
    pub fn knows_account(&self, account: &str) -> bool {
        self.trust_anchors.iter().any(|a| a.arn.account == account)
            || self.profiles.iter().any(|p| {
                p.arn.account == account
                    || p.role_arns
                        .iter()
                        .any(|r| Arn::parse(r).is_some_and(|a| a.account == account))
            })
    }
}

/// An Amazon Resource Name: `arn:<partition>:<service>:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// The whole ARN as written.
    pub text: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// `rolesanywhere`, `iam`, ...
    pub service: String,
    /// The region (empty for IAM).
    pub region: String,
    /// The 12-digit account.
    pub account: String,
    /// What follows the account, e.g. `profile/<id>` or `role/<path>/<name>`.
    pub resource: String,
}

impl Arn {
    /// Parses an ARN; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        let token = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if partition.is_empty() || !token(partition) || service.is_empty() || !token(service) {
            return None;
        }
        if !region.is_empty() && !is_region(region) {
            return None;
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if resource.is_empty()
            || resource
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return None;
        }
        Some(Self {
            text: text.to_owned(),
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }

    fn resource_id(&self, kind: &str) -> Option<&str> {
        self.resource
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('/'))
            .filter(|id| !id.is_empty() && !id.contains('/'))
    }

    /// A Roles Anywhere trust anchor ARN.
    pub fn is_trust_anchor(&self) -> bool {
        self.service == "rolesanywhere"
            && !self.region.is_empty()
            && self.resource_id("trust-anchor").is_some()
    }

    /// A Roles Anywhere profile ARN.
    pub fn is_profile(&self) -> bool {
        self.service == "rolesanywhere"
            && !self.region.is_empty()
            && self.resource_id("profile").is_some()
    }

    /// An IAM role ARN (`role/[path/]name`, no region).
    pub fn is_role(&self) -> bool {
        self.service == "iam"
            && self.region.is_empty()
            && self
                .resource
                .strip_prefix("role/")
                .is_some_and(|r| !r.is_empty() && !r.ends_with('/'))
    }

    /// The role's name: the last segment of `role/[path/]name`.
    pub fn role_name(&self) -> &str {
        self.resource.rsplit('/').next().unwrap_or(&self.resource)
    }
}

/// `[a-z0-9-]+`, as the scope and ARNs spell regions.
pub fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_parse_by_kind() {
        let anchor = Arn::parse(
            "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001",
        )
        .expect("anchor");
        assert!(anchor.is_trust_anchor() && !anchor.is_profile());
        assert_eq!(anchor.region, "eu-central-1");
        let role =
            Arn::parse("arn:aws:iam::123456789012:role/path/rolesanywhere-test").expect("role");
        assert!(role.is_role());
        assert_eq!(role.role_name(), "rolesanywhere-test");
        assert!(Arn::parse("arn:aws:iam::12345:role/x").is_none());
        assert!(Arn::parse("not-an-arn").is_none());
        assert!(
            !Arn::parse("arn:aws:rolesanywhere:eu-central-1:123456789012:profile/")
                .is_some_and(|a| a.is_profile())
        );
    }
}
