//! IAM Roles Anywhere authentication of a connection: the signing identity loaded once from the
//! connection's fields, and a credentials provider for `aws-sdk-sqs` that serves temporary
//! credentials from the process-wide cache, calling CreateSession when they are missing or due.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use connector_sdk::{Clock, ComponentId, ConnectorError, SystemClock};

use super::cache::{CacheHandle, CredentialCache, Loader};
use super::session::{SessionHttp, SessionTarget, create_session};
use super::signing::{SessionParams, SigningIdentity};
use crate::config::RolesAnywhereConfig;

static FINGERPRINT_KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// A fingerprint of every auth setting (secrets included, through a hash keyed per process), so an
/// edited component never gets the credentials of its old settings.
pub fn fingerprint(config: &RolesAnywhereConfig) -> u64 {
    let mut hasher = FINGERPRINT_KEYS.build_hasher();
    (
        &config.profile_arn,
        &config.role_arn,
        &config.trust_anchor_arn,
        config.effective_region(),
        &config.roles_anywhere_endpoint_url,
        &config.session_name,
        config.duration_seconds,
        &config.public_certificate,
        &config.certificate_chain,
    )
        .hash(&mut hasher);
    config.private_key.expose().hash(&mut hasher);
    config
        .private_key_passphrase
        .as_ref()
        .map(|p| p.expose())
        .hash(&mut hasher);
    hasher.finish()
}

/// The Roles Anywhere side of one connection component.
pub struct RolesAnywhereAuth {
    component: ComponentId,
    identity: Result<Arc<SigningIdentity>, String>,
    target: SessionTarget,
    role_arn: String,
    trust_anchor_arn: String,
    cache: CacheHandle,
    loader: Loader,
}

impl std::fmt::Debug for RolesAnywhereAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolesAnywhereAuth")
            .field("component", &self.component)
            .field("target", &self.target)
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

struct Request {
    profile_arn: String,
    role_arn: String,
    trust_anchor_arn: String,
    session_name: Option<String>,
    duration_seconds: u32,
}

impl RolesAnywhereAuth {
    /// Loads the identity (no I/O) and prepares the loader; uses the process-wide cache, the
    /// system clock and the shared CreateSession HTTP client.
    pub fn new(component: &ComponentId, config: &RolesAnywhereConfig) -> Self {
        Self::with_parts(
            component,
            config,
            CredentialCache::global(),
            Arc::new(SystemClock),
            SessionHttp::default(),
        )
    }

    /// The same with a given cache, clock and CreateSession HTTP client (tests).
    pub fn with_parts(
        component: &ComponentId,
        config: &RolesAnywhereConfig,
        cache: Arc<CredentialCache>,
        clock: Arc<dyn Clock>,
        http: SessionHttp,
    ) -> Self {
        let identity = SigningIdentity::from_pem(
            &config.public_certificate,
            config.certificate_chain.as_deref(),
            &config.private_key,
            config.private_key_passphrase.as_ref(),
        )
        .map(Arc::new)
        .map_err(|e| e.to_string());
        let target = SessionTarget::new(
            config.effective_region(),
            config.roles_anywhere_endpoint_url.as_deref(),
        );
        let request = Arc::new(Request {
            profile_arn: config.profile_arn.clone(),
            role_arn: config.role_arn.clone(),
            trust_anchor_arn: config.trust_anchor_arn.clone(),
            session_name: config.session_name.clone(),
            duration_seconds: config.duration_seconds,
        });
        let loader: Loader = {
            let identity = identity.clone();
            let target = target.clone();
            let component = component.clone();
            Arc::new(move || {
                let http = http.clone();
                let identity = identity.clone();
                let target = target.clone();
                let request = request.clone();
                let clock = clock.clone();
                let component = component.clone();
                Box::pin(async move {
                    let identity = identity.map_err(|message| {
                        ConnectorError::auth(format!(
                            "the certificate or private key cannot be used: {message}"
                        ))
                    })?;
                    let params = SessionParams {
                        duration_seconds: request.duration_seconds,
                        profile_arn: &request.profile_arn,
                        role_arn: &request.role_arn,
                        trust_anchor_arn: &request.trust_anchor_arn,
                        role_session_name: request.session_name.as_deref(),
                    };
                    tracing::info!(component = %component, endpoint = %target.base_url, "calling IAM Roles Anywhere CreateSession");
                    create_session(&http, &identity, &target, &params, || clock.now()).await
                })
            })
        };
        let fingerprint = fingerprint(config);
        Self {
            component: component.clone(),
            identity,
            target,
            role_arn: config.role_arn.clone(),
            trust_anchor_arn: config.trust_anchor_arn.clone(),
            cache: cache.handle(component, fingerprint),
            loader,
        }
    }

    /// The signing identity, or why it could not be loaded.
    pub fn identity(&self) -> Result<&SigningIdentity, &str> {
        self.identity.as_deref().map_err(String::as_str)
    }

    /// Where CreateSession goes.
    pub fn target(&self) -> &SessionTarget {
        &self.target
    }

    /// The role the credentials are for.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// The region inside the trust anchor ARN.
    pub fn trust_anchor_region(&self) -> Option<&str> {
        self.trust_anchor_arn.split(':').nth(3)
    }

    /// The cached temporary credentials when they are good for more than a minute, without
    /// waiting (the cache hit); `None` when [`credentials`](Self::credentials) must be awaited.
    pub fn cached_credentials(&self) -> Option<Credentials> {
        self.cache.cached(&self.loader)
    }

    /// Temporary credentials: from the cache, or from CreateSession.
    pub async fn credentials(&self) -> Result<Credentials, ConnectorError> {
        self.cache.get(&self.loader).await
    }

    /// When the credentials expire, for messages.
    pub fn expiry_of(credentials: &Credentials) -> Option<SystemTime> {
        credentials.expiry()
    }
}

/// The `aws-sdk-sqs` credentials provider of a Roles Anywhere connection.
#[derive(Debug, Clone)]
pub struct RolesAnywhereProvider(pub Arc<RolesAnywhereAuth>);

impl ProvideCredentials for RolesAnywhereProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        // The hit answers at once: no future is boxed for it.
        if let Some(credentials) = self.0.cached_credentials() {
            return provider::future::ProvideCredentials::ready(Ok(credentials));
        }
        provider::future::ProvideCredentials::new(async move {
            self.0
                .credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}
