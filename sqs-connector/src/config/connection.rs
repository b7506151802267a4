//! The connection component's fields (`../spec/connector.md`): pure data, validated against the
//! descriptor before they get here.

// The doc comments of these fields are the descriptions users read in the descriptor, where
// `<region>` or `<Name>` is a placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::borrow::Cow;

use connector_sdk::Secret;
use connector_sdk::schema::{Variant, dropdown, switch};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;

use super::regions::{REGION_PATTERN, REGION_PATTERN_MESSAGE, REGIONS};

/// The region used when none is chosen.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The Roles Anywhere region used when none is chosen.
pub const DEFAULT_ROLES_ANYWHERE_REGION: &str = "eu-central-1";
/// The session duration used when none is set.
pub const DEFAULT_DURATION_SECONDS: u32 = 3600;

// No user or password in the host part (`https://user:pass@host`): they would be sent and logged
// with every request, and AWS endpoints never take them.
const URL_PATTERN: &str = "^https?://[^\\s/?#@]+([/?#]\\S*)?$";
const URL_MESSAGE: &str = "is not a URL without a user or password: give the scheme and host, like https://sqs.us-east-1.amazonaws.com or http://127.0.0.1:4566";
const PEM_CERT_PATTERN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_KEY_PATTERN: &str = "-----BEGIN [A-Z ]*PRIVATE KEY-----";

/// The fields of an Amazon SQS connection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SqsConnectionConfig {
    /// How the connector authenticates: access keys, or temporary credentials from IAM Roles Anywhere.
    #[serde(flatten)]
    pub authentication: Authentication,

    /// The AWS Region in which your account resides. Select the name of the region; the custom
    /// region, when set, is used instead.
    #[schemars(
        title = "AWS SQS Region",
        schema_with = "region_dropdown",
        extend("default" = DEFAULT_REGION, "x-order" = 5, "x-extensible" = true)
    )]
    #[serde(default = "default_region")]
    pub region: String,

    /// Type the region in which your account resides, in lowercase with dashes (for example
    /// us-east-2). When set, the connection uses it instead of the region in the drop-down box.
    #[schemars(
        title = "Custom AWS SQS Region",
        regex(pattern = REGION_PATTERN),
        extend("x-pattern-message" = REGION_PATTERN_MESSAGE, "x-order" = 6, "x-extensible" = true, "x-widget" = "text", "x-overrides" = "region")
    )]
    pub custom_region: Option<String>,

    /// Replaces the regional SQS endpoint: a VPC endpoint, a FIPS endpoint, or an SQS-compatible
    /// server. Leave empty to use the region's endpoint.
    #[schemars(
        title = "SQS endpoint URL",
        regex(pattern = URL_PATTERN),
        extend("x-pattern-message" = URL_MESSAGE, "x-order" = 7, "x-extensible" = true, "x-widget" = "url")
    )]
    pub endpoint_url: Option<String>,
}

fn default_region() -> String {
    DEFAULT_REGION.to_owned()
}

fn default_roles_anywhere_region() -> String {
    DEFAULT_ROLES_ANYWHERE_REGION.to_owned()
}

fn default_duration() -> u32 {
    DEFAULT_DURATION_SECONDS
}

fn region_dropdown(_: &mut SchemaGenerator) -> Schema {
    dropdown(REGIONS)
}

impl SqsConnectionConfig {
    /// The SQS region in effect: the custom region when set, else the dropdown's.
    pub fn effective_region(&self) -> &str {
        self.custom_region.as_deref().unwrap_or(&self.region)
    }
}

/// The authentication type and the fields it brings.
#[derive(Debug, Deserialize)]
#[serde(tag = "authenticationType")]
pub enum Authentication {
    /// An access key id and secret access key (with an optional session token).
    #[serde(rename = "ACCESS_KEYS")]
    AccessKeys(AccessKeysConfig),
    /// Temporary credentials from AWS IAM Roles Anywhere, obtained with an X.509 certificate.
    #[serde(rename = "ROLES_ANYWHERE")]
    RolesAnywhere(Box<RolesAnywhereConfig>),
}

/// The value of `authenticationType` for access keys.
pub const ACCESS_KEYS: &str = "ACCESS_KEYS";
/// The value of `authenticationType` for IAM Roles Anywhere.
pub const ROLES_ANYWHERE: &str = "ROLES_ANYWHERE";

impl JsonSchema for Authentication {
    fn schema_name() -> Cow<'static, str> {
        "Authentication".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = switch(
            "authenticationType",
            "Authentication Type",
            "Select how the connector authenticates: with your access keys, or with AWS IAM Roles \
             Anywhere, which trades an X.509 certificate for temporary security credentials. \
             Amazon recommends temporary credentials over long-term access keys.",
            vec![
                Variant {
                    value: ACCESS_KEYS,
                    label: "Access keys",
                    schema: generator.root_schema_for::<AccessKeysConfig>(),
                },
                Variant {
                    value: ROLES_ANYWHERE,
                    label: "AWS IAM Roles Anywhere",
                    schema: generator.root_schema_for::<RolesAnywhereConfig>(),
                },
            ],
        );
        if let Some(tag) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut("authenticationType"))
            .and_then(|t| t.as_object_mut())
        {
            tag.insert("x-order".into(), 1.into());
        }
        schema
    }
}

/// The fields of access-key authentication.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeysConfig {
    /// The access key id of your AWS account or IAM user (it starts with AKIA, or ASIA for
    /// temporary keys).
    #[schemars(title = "Amazon AWS access key", length(min = 16, max = 128), extend("x-order" = 2, "x-extensible" = true))]
    pub access_key: String,

    /// The secret access key that belongs to the access key. It is stored encrypted and never shown again.
    #[schemars(title = "Amazon AWS secret key", extend("x-order" = 3, "x-extensible" = true))]
    pub secret_key: Secret,

    /// For temporary access keys you already hold (keys starting with ASIA): their session token.
    #[schemars(title = "Session token", extend("x-order" = 4, "x-extensible" = true))]
    pub session_token: Option<Secret>,
}

/// The fields of IAM Roles Anywhere authentication.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolesAnywhereConfig {
    /// The Amazon Resource Name (ARN) of the Roles Anywhere profile.
    #[schemars(
        title = "Profile ARN",
        regex(pattern = r"^arn:aws[a-z-]*:rolesanywhere:[a-z0-9-]+:[0-9]{12}:profile/[A-Za-z0-9-]+$"),
        extend("x-pattern-message" = "is not a profile ARN: it looks like arn:aws:rolesanywhere:eu-central-1:123456789012:profile/<id>", "x-order" = 8)
    )]
    pub profile_arn: String,

    /// The Amazon Resource Name (ARN) of the IAM role to assume.
    #[schemars(
        title = "Role ARN",
        regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$"),
        extend("x-pattern-message" = "is not a role ARN: it looks like arn:aws:iam::123456789012:role/<name>", "x-order" = 9)
    )]
    pub role_arn: String,

    /// The Amazon Resource Name (ARN) of the trust anchor.
    #[schemars(
        title = "Trust Anchor ARN",
        regex(pattern = r"^arn:aws[a-z-]*:rolesanywhere:[a-z0-9-]+:[0-9]{12}:trust-anchor/[A-Za-z0-9-]+$"),
        extend("x-pattern-message" = "is not a trust anchor ARN: it looks like arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/<id>", "x-order" = 10)
    )]
    pub trust_anchor_arn: String,

    /// The AWS Region of your IAM Roles Anywhere service. If it is not in the list, type it in
    /// the custom region field.
    #[schemars(
        title = "AWS Roles Anywhere Region",
        schema_with = "region_dropdown",
        extend("default" = DEFAULT_ROLES_ANYWHERE_REGION, "x-order" = 11, "x-extensible" = true)
    )]
    #[serde(default = "default_roles_anywhere_region")]
    pub roles_anywhere_region: String,

    /// The AWS Region of your IAM Roles Anywhere service, in lowercase with dashes (for example
    /// us-east-2). When set, it is used instead of the drop-down's region.
    #[schemars(
        title = "AWS Roles Anywhere Custom Region",
        regex(pattern = REGION_PATTERN),
        extend("x-pattern-message" = REGION_PATTERN_MESSAGE, "x-order" = 12, "x-extensible" = true, "x-widget" = "text", "x-overrides" = "rolesAnywhereRegion")
    )]
    pub roles_anywhere_custom_region: Option<String>,

    /// Replaces https://rolesanywhere.<region>.amazonaws.com, for example with a FIPS or private endpoint.
    #[schemars(
        title = "Roles Anywhere endpoint URL",
        regex(pattern = URL_PATTERN),
        extend("x-pattern-message" = URL_MESSAGE, "x-order" = 13, "x-extensible" = true, "x-widget" = "url")
    )]
    pub roles_anywhere_endpoint_url: Option<String>,

    /// A name for the role session. Optional; when set, 2 to 64 letters, digits or the
    /// characters + = , . @ - _ (the profile must accept custom session names).
    #[schemars(
        title = "Session name",
        regex(pattern = r"^[\w+=,.@-]{2,64}$"),
        extend("x-pattern-message" = "is not a valid session name: use 2 to 64 letters, digits or + = , . @ - _", "x-order" = 14)
    )]
    pub session_name: Option<String>,

    /// How long the temporary credentials last, from 900 seconds (15 minutes) to 3600 seconds (1 hour).
    #[schemars(title = "Duration (in seconds)", range(min = 900, max = 3600), extend("default" = DEFAULT_DURATION_SECONDS, "x-order" = 15, "x-widget" = "number"))]
    #[serde(default = "default_duration")]
    pub duration_seconds: u32,

    /// The client certificate (PEM) issued by the CA your trust anchor trusts.
    #[schemars(
        title = "Public certificate",
        regex(pattern = PEM_CERT_PATTERN),
        extend("x-pattern-message" = "is not a PEM certificate: paste the text from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----", "x-order" = 16, "x-widget" = "textarea")
    )]
    pub public_certificate: String,

    /// The intermediate CA certificates (PEM, at most 5) between your certificate and the trust anchor.
    #[schemars(
        title = "Certificate chain",
        regex(pattern = PEM_CERT_PATTERN),
        extend("x-pattern-message" = "is not a PEM certificate chain: paste one or more -----BEGIN CERTIFICATE----- blocks", "x-order" = 17, "x-widget" = "textarea")
    )]
    pub certificate_chain: Option<String>,

    /// The private key (PEM) of the certificate: RSA (2048 bits or more), EC P-256 or P-384, in
    /// PKCS#1, SEC1 or PKCS#8 form, optionally encrypted PKCS#8.
    #[schemars(
        title = "Private key",
        regex(pattern = PEM_KEY_PATTERN),
        extend("x-pattern-message" = "is not a PEM private key: paste the text from -----BEGIN ... PRIVATE KEY----- to its END line", "x-order" = 18, "x-widget" = "textarea")
    )]
    pub private_key: Secret,

    /// The passphrase of an encrypted (PKCS#8) private key. Leave empty for an unencrypted key.
    #[schemars(title = "Private key passphrase", extend("x-order" = 19))]
    pub private_key_passphrase: Option<Secret>,
}

impl RolesAnywhereConfig {
    /// The Roles Anywhere region in effect: the custom region when set, else the dropdown's.
    pub fn effective_region(&self) -> &str {
        self.roles_anywhere_custom_region
            .as_deref()
            .unwrap_or(&self.roles_anywhere_region)
    }
}
