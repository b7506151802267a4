//! The process-wide credential cache: temporary credentials per connection component, reused by
//! every operation and every execution until they are about to expire, renewed ahead of expiry,
//! obtained by one caller at a time per component.
//!
//! Rules (`../spec/connector.md`, `../spec/rolesanywhere.md` §4.3):
//! - credentials with less than 60 seconds left count as expired and are never handed out;
//! - a renewal starts in the background when less than 5 minutes (or half the lifetime, if that is
//!   shorter) remain, so executions rarely wait;
//! - one load at a time per component: concurrent callers on a cold cache wait for the one load;
//! - when a renewal fails, the last good credentials are kept while they are still valid;
//! - each entry carries a fingerprint of the auth settings: a component edited under the same id
//!   never gets the credentials of its old settings;
//! - at most `capacity` components are kept (least recently used dropped); time comes from an
//!   injected clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use aws_credential_types::Credentials;
use connector_sdk::{
    BoundedCache, COARSE_CLOCK_LAG, Clock, ComponentId, ConnectorError, SystemClock,
};
use futures::future::BoxFuture;
use parking_lot::Mutex;

/// Temporary credentials and the moment they expire.
#[derive(Clone, Debug)]
pub struct TemporaryCredentials {
    /// The credentials (their `Debug` redacts the secrets).
    pub credentials: Credentials,
    /// When they stop working.
    pub expires_at: SystemTime,
}

/// Loads fresh credentials for one component (a CreateSession call).
pub type Loader =
    Arc<dyn Fn() -> BoxFuture<'static, Result<TemporaryCredentials, ConnectorError>> + Send + Sync>;

/// The cache's rules, in numbers.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Credentials with less than this left are expired (60 s).
    pub min_remaining: Duration,
    /// Renew in the background when less than this remains (5 min; capped at half the lifetime).
    pub refresh_before: Duration,
    /// How long to wait after a failed background renewal before trying again.
    pub retry_after_failure: Duration,
    /// The most components kept: at least as many as the connections the runtime keeps built
    /// (256), or a runtime cycling through more Roles Anywhere connections than this would make
    /// a CreateSession on every call.
    pub capacity: usize,
    /// How long one load (CreateSession, with its own retries) may take in all: below the SQS
    /// attempt timeout, so a slow Roles Anywhere endpoint is reported as such.
    pub load_timeout: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            min_remaining: Duration::from_secs(60),
            refresh_before: Duration::from_secs(300),
            retry_after_failure: Duration::from_secs(10),
            capacity: 256,
            load_timeout: Duration::from_secs(20),
        }
    }
}

struct Entry {
    temporary: TemporaryCredentials,
    loaded_at: SystemTime,
}

struct Partition {
    /// Unique in the process (never reused, unlike an address): what a thread's last hit names.
    serial: u64,
    /// Counts the replacements of `current`: a thread's last hit is used only while it is equal.
    generation: AtomicU64,
    id: ComponentId,
    fingerprint: u64,
    /// Read without a lock on every hit; replaced whole by a load.
    current: ArcSwapOption<Entry>,
    // Held while loading: the single flight.
    loading: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
    failed_at: Mutex<Option<SystemTime>>,
    /// The last load that failed with nothing valid to fall back on: callers within
    /// `retry_after_failure` of it get its error instead of a load of their own each.
    last_failure: Mutex<Option<Failure>>,
    /// When it was last used, in whole seconds of the cache's clock (least recently used are
    /// dropped first).
    last_used: AtomicU64,
}

/// Whole seconds since 1970, the unit of [`Partition::last_used`].
fn seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The source of [`Partition::serial`].
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(0);

/// What a thread was last handed from the cache, kept so that its next hit on the same
/// partition reads no shared state but the generation and the clock.
struct ThreadHit {
    serial: u64,
    generation: u64,
    credentials: Credentials,
    /// Handed out while the coarse clock is before this (expiry - min_remaining - the lag).
    usable_until: SystemTime,
    /// A background renewal is due from this moment.
    refresh_from: SystemTime,
}

thread_local! {
    static LAST_HIT: std::cell::RefCell<Option<ThreadHit>> = const { std::cell::RefCell::new(None) };
}

impl Partition {
    /// Puts new credentials in place; threads' copies of the old ones are no longer used.
    fn replace(&self, entry: Entry) {
        self.current.store(Some(Arc::new(entry)));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Marks it used at `now`: a write only when the second changed, so hits from many threads
    /// mostly only read the shared word.
    fn touch(&self, now: SystemTime) {
        let now = seconds(now);
        if self.last_used.load(Ordering::Relaxed) != now {
            self.last_used.store(now, Ordering::Relaxed);
        }
    }
}

/// One component's place in the cache, which its connection holds: a hit reads the current
/// credentials without a lock or a map lookup, and costs one reference count (the credentials').
pub struct CacheHandle {
    cache: Arc<CredentialCache>,
    partition: Arc<Partition>,
}

impl std::fmt::Debug for CacheHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheHandle")
            .field("component", &self.partition.id)
            .finish_non_exhaustive()
    }
}

/// A failed load, remembered (a `ConnectorError` is not `Clone`: its parts are).
#[derive(Clone)]
struct Failure {
    at: SystemTime,
    kind: connector_sdk::ErrorKind,
    message: String,
}

/// Clears a flag when dropped, also when the task holding it panics.
struct ClearOnDrop(Arc<Partition>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
    }
}

/// The cache. [`CredentialCache::global`] is the one a plugin process uses.
pub struct CredentialCache {
    settings: CacheSettings,
    clock: Arc<dyn Clock>,
    /// Dropped least recently used first, by [`Partition::last_used`]: hits through a handle
    /// mark it without the map.
    partitions: Mutex<BoundedCache<ComponentId, Arc<Partition>>>,
    loads: AtomicU64,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("settings", &self.settings)
            .field("components", &self.partitions.lock().len())
            .finish()
    }
}

static GLOBAL: LazyLock<Arc<CredentialCache>> = LazyLock::new(|| {
    Arc::new(CredentialCache::new(
        CacheSettings::default(),
        Arc::new(SystemClock),
    ))
});

/// Lifetime left, exactly: 59.5 s left is less than 60 s, whatever second it is.
fn remaining(expires_at: SystemTime, now: SystemTime) -> Duration {
    expires_at.duration_since(now).unwrap_or(Duration::ZERO)
}

impl CredentialCache {
    /// A cache with its own settings and clock (tests; the plugin uses [`CredentialCache::global`]).
    pub fn new(settings: CacheSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            clock,
            partitions: Mutex::new(BoundedCache::with_last_used(
                settings.capacity,
                |partition| partition.last_used.load(Ordering::Relaxed),
            )),
            loads: AtomicU64::new(0),
        }
    }

    /// The process-wide cache.
    pub fn global() -> Arc<CredentialCache> {
        GLOBAL.clone()
    }

    /// How many loads (CreateSession calls) this cache has started.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// How many components it holds.
    pub fn len(&self) -> usize {
        self.partitions.lock().len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn partition(&self, id: &ComponentId, fingerprint: u64) -> Arc<Partition> {
        let now = self.clock.now();
        let mut partitions = self.partitions.lock();
        if let Some(partition) = partitions.get(id)
            && partition.fingerprint == fingerprint
        {
            partition.touch(now);
            return partition.clone();
        }
        let partition = Arc::new(Partition {
            id: id.clone(),
            fingerprint,
            current: ArcSwapOption::empty(),
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            failed_at: Mutex::new(None),
            last_failure: Mutex::new(None),
            last_used: AtomicU64::new(seconds(now)),
        });
        partitions.insert(id.clone(), partition.clone());
        partition
    }

    fn refresh_margin(&self, entry: &Entry) -> Duration {
        let lifetime = entry
            .temporary
            .expires_at
            .duration_since(entry.loaded_at)
            .unwrap_or(Duration::ZERO);
        self.settings.refresh_before.min(lifetime / 2)
    }

    /// The place of a component's credentials (with the fingerprint of its auth settings),
    /// created when it has none. A connection takes it once and gets its credentials from it.
    pub fn handle(self: &Arc<Self>, id: &ComponentId, fingerprint: u64) -> CacheHandle {
        CacheHandle {
            cache: self.clone(),
            partition: self.partition(id, fingerprint),
        }
    }

    /// Credentials for a component: [`CacheHandle::get`] of its [`handle`](Self::handle).
    pub async fn get(
        self: &Arc<Self>,
        id: &ComponentId,
        fingerprint: u64,
        loader: &Loader,
    ) -> Result<Credentials, ConnectorError> {
        self.handle(id, fingerprint).get(loader).await
    }
}

impl CacheHandle {
    /// The cached credentials, without waiting, when they have more than `min_remaining` left
    /// by the coarse clock (so more than [`COARSE_CLOCK_LAG`] beyond it): the hit, with no
    /// lock, no allocation and one reference count (the credentials'). Starts a background
    /// renewal when one is due. `None`: call [`get`](Self::get).
    pub fn cached(&self, loader: &Loader) -> Option<Credentials> {
        let cache = &self.cache;
        let partition = &self.partition;
        let now = cache.clock.now_coarse();
        // Read before `current`: a replacement in between makes the copy below stale at once.
        let generation = partition.generation.load(Ordering::Acquire);
        let from_thread = LAST_HIT.with_borrow(|last| match last {
            Some(hit)
                if hit.serial == partition.serial
                    && hit.generation == generation
                    && now < hit.usable_until =>
            {
                Some((hit.credentials.clone(), now >= hit.refresh_from))
            }
            _ => None,
        });
        let (credentials, due) = match from_thread {
            Some(found) => found,
            None => {
                let current = partition.current.load();
                let entry = current.as_ref()?;
                let expires_at = entry.temporary.expires_at;
                let usable_until = expires_at
                    .checked_sub(cache.settings.min_remaining + COARSE_CLOCK_LAG)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                if now >= usable_until {
                    return None;
                }
                let refresh_from = expires_at
                    .checked_sub(cache.refresh_margin(entry))
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                let credentials = entry.temporary.credentials.clone();
                LAST_HIT.set(Some(ThreadHit {
                    serial: partition.serial,
                    generation,
                    credentials: credentials.clone(),
                    usable_until,
                    refresh_from,
                }));
                (credentials, now >= refresh_from)
            }
        };
        partition.touch(now);
        if due {
            cache.refresh_in_background(partition, loader);
        }
        Some(credentials)
    }

    /// Credentials for the component: cached ones while they have more than `min_remaining`
    /// left, else fresh ones from `loader` (one load at a time per component).
    pub async fn get(&self, loader: &Loader) -> Result<Credentials, ConnectorError> {
        if let Some(credentials) = self.cached(loader) {
            return Ok(credentials);
        }
        let cache = &self.cache;
        let partition = &self.partition;
        // Close to `min_remaining`, or nothing cached: the exact clock decides.
        let now = cache.clock.now();
        partition.touch(now);
        if let Some(entry) = &*partition.current.load() {
            let left = remaining(entry.temporary.expires_at, now);
            if left >= cache.settings.min_remaining {
                cache.refresh_in_background(partition, loader);
                return Ok(entry.temporary.credentials.clone());
            }
        }
        let _loading = partition.loading.lock().await;
        // Another caller may have loaded while this one waited.
        let now = cache.clock.now();
        if let Some(entry) = &*partition.current.load()
            && remaining(entry.temporary.expires_at, now) >= cache.settings.min_remaining
        {
            return Ok(entry.temporary.credentials.clone());
        }
        // A load that just failed is not repeated by every caller that waited for it: they get
        // its error until `retry_after_failure` has passed.
        if let Some(failure) = partition.last_failure.lock().clone()
            && now.duration_since(failure.at).unwrap_or(Duration::ZERO)
                < cache.settings.retry_after_failure
        {
            return Err(ConnectorError::new(
                failure.kind,
                format!(
                    "{} (the last attempt failed {} s ago; the next is made {} s after it)",
                    failure.message,
                    now.duration_since(failure.at).unwrap_or_default().as_secs(),
                    cache.settings.retry_after_failure.as_secs()
                ),
            ));
        }
        match cache.load(&partition.id, loader).await {
            Ok(entry) => {
                let credentials = entry.temporary.credentials.clone();
                partition.replace(entry);
                *partition.last_failure.lock() = None;
                Ok(credentials)
            }
            Err(err) => {
                *partition.last_failure.lock() = Some(Failure {
                    at: cache.clock.now(),
                    kind: err.kind(),
                    message: err.display_chain(),
                });
                Err(err)
            }
        }
    }
}

impl CredentialCache {
    async fn load(&self, id: &ComponentId, loader: &Loader) -> Result<Entry, ConnectorError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let budget = self.settings.load_timeout;
        let temporary = tokio::time::timeout(budget, loader()).await.map_err(|_| {
            ConnectorError::transient(format!(
                "IAM Roles Anywhere did not issue temporary credentials for connection {id} \
                     within {} s; check the Roles Anywhere endpoint and region, and that this \
                     runtime can reach it",
                budget.as_secs_f64()
            ))
        })??;
        let loaded_at = self.clock.now();
        let left = remaining(temporary.expires_at, loaded_at);
        if left < self.settings.min_remaining {
            return Err(ConnectorError::auth(format!(
                "the temporary credentials obtained for connection {id} expire in {} s, less than the {} s the connector needs; check the Duration setting and the clock of this runtime",
                left.as_secs(),
                self.settings.min_remaining.as_secs()
            )));
        }
        tracing::info!(component = %id, expires_in_seconds = left.as_secs(), "temporary credentials obtained");
        Ok(Entry {
            temporary,
            loaded_at,
        })
    }

    fn refresh_in_background(self: &Arc<Self>, partition: &Arc<Partition>, loader: &Loader) {
        let now = self.clock.now();
        if let Some(failed) = *partition.failed_at.lock()
            && now.duration_since(failed).unwrap_or(Duration::ZERO)
                < self.settings.retry_after_failure
        {
            return;
        }
        if partition.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        let partition = partition.clone();
        let loader = loader.clone();
        tokio::spawn(async move {
            let id = &partition.id;
            // A panic in the loader must not leave renewals off for good.
            let _clear = ClearOnDrop(partition.clone());
            let _loading = partition.loading.lock().await;
            let still_due = partition.current.load().as_ref().is_none_or(|entry| {
                remaining(entry.temporary.expires_at, cache.clock.now())
                    <= cache.refresh_margin(entry)
            });
            if still_due {
                match cache.load(id, &loader).await {
                    Ok(entry) => {
                        partition.replace(entry);
                        *partition.failed_at.lock() = None;
                    }
                    Err(err) => {
                        tracing::warn!(component = %id, error = %err.display_chain(), "renewing temporary credentials failed; the current ones stay in use while they are valid");
                        *partition.failed_at.lock() = Some(cache.clock.now());
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::ManualClock;
    use std::sync::atomic::AtomicUsize;

    fn start() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    struct Fixture {
        cache: Arc<CredentialCache>,
        clock: ManualClock,
        calls: Arc<AtomicUsize>,
        fail: Arc<AtomicBool>,
        loader: Loader,
    }

    fn fixture(lifetime: Duration) -> Fixture {
        let clock = ManualClock::new(start());
        let cache = Arc::new(CredentialCache::new(
            CacheSettings::default(),
            Arc::new(clock.clone()),
        ));
        let calls = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(false));
        let loader: Loader = {
            let (calls, fail, clock) = (calls.clone(), fail.clone(), clock.clone());
            Arc::new(move || {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                let failing = fail.load(Ordering::SeqCst);
                let expires_at = clock.now() + lifetime;
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if failing {
                        return Err(ConnectorError::auth("CreateSession refused"));
                    }
                    Ok(TemporaryCredentials {
                        credentials: Credentials::new(
                            format!("ASIA{n:016}"),
                            "secret",
                            Some("token".into()),
                            Some(expires_at),
                            "test",
                        ),
                        expires_at,
                    })
                })
            })
        };
        Fixture {
            cache,
            clock,
            calls,
            fail,
            loader,
        }
    }

    fn id(name: &str) -> ComponentId {
        ComponentId::new(name)
    }

    #[tokio::test]
    async fn reuses_credentials_until_less_than_sixty_seconds_remain() {
        let f = fixture(Duration::from_secs(61));
        let first = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        let again = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        assert_eq!(first.access_key_id(), again.access_key_id());
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        f.clock.advance(Duration::from_secs(2));
        let renewed = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        assert_ne!(
            renewed.access_key_id(),
            first.access_key_id(),
            "59 s left counts as expired"
        );
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_hit_without_waiting_leaves_the_last_second_before_the_rule_to_the_exact_clock() {
        let f = fixture(Duration::from_secs(3600));
        let handle = f.cache.handle(&id("c"), 1);
        assert!(handle.cached(&f.loader).is_none(), "nothing cached yet");
        let first = handle.get(&f.loader).await.unwrap();
        let hit = handle.cached(&f.loader).expect("a hit");
        assert_eq!(hit.access_key_id(), first.access_key_id());
        // 60.5 s left: not a hit by the coarse clock (within its lag of the 60 s rule), but the
        // exact clock still hands the credentials out without a load.
        f.clock.advance(Duration::from_millis(3_539_500));
        assert!(handle.cached(&f.loader).is_none());
        let exact = handle.get(&f.loader).await.unwrap();
        assert_eq!(exact.access_key_id(), first.access_key_id());
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        // 59.5 s left: expired for both.
        f.clock.advance(Duration::from_secs(1));
        let renewed = handle.get(&f.loader).await.unwrap();
        assert_ne!(renewed.access_key_id(), first.access_key_id());
    }

    #[tokio::test]
    async fn a_thread_gets_renewed_credentials_as_soon_as_they_replace_its_copy() {
        let f = fixture(Duration::from_secs(3600));
        let handle = f.cache.handle(&id("c"), 1);
        let first = handle.get(&f.loader).await.unwrap();
        // Fills this thread's copy, then uses it.
        for _ in 0..3 {
            let hit = handle.cached(&f.loader).expect("a hit");
            assert_eq!(hit.access_key_id(), first.access_key_id());
        }
        // 200 s left: a renewal is due; the hit still answers with the current credentials and
        // starts it in the background.
        f.clock.advance(Duration::from_secs(3400));
        let during = handle.cached(&f.loader).expect("still a hit");
        assert_eq!(during.access_key_id(), first.access_key_id());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            f.calls.load(Ordering::SeqCst),
            2,
            "renewed in the background"
        );
        let renewed = handle.cached(&f.loader).expect("a hit");
        assert_ne!(
            renewed.access_key_id(),
            first.access_key_id(),
            "the thread's copy of the old credentials is not used once they were replaced"
        );
        // Another component's handle on the same thread gets its own credentials.
        let other = f.cache.handle(&id("d"), 1);
        let theirs = other.get(&f.loader).await.unwrap();
        assert_eq!(
            other.cached(&f.loader).unwrap().access_key_id(),
            theirs.access_key_id()
        );
        assert_eq!(
            handle.cached(&f.loader).unwrap().access_key_id(),
            renewed.access_key_id()
        );
    }

    #[tokio::test]
    async fn two_hundred_concurrent_callers_on_a_cold_cache_make_one_load() {
        let f = fixture(Duration::from_secs(3600));
        let calls = (0..200).map(|_| {
            let (cache, loader) = (f.cache.clone(), f.loader.clone());
            tokio::spawn(async move {
                cache
                    .get(&id("c"), 7, &loader)
                    .await
                    .unwrap()
                    .access_key_id()
                    .to_owned()
            })
        });
        let keys: Vec<String> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(keys.iter().all(|k| k == &keys[0]));
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_edited_component_never_gets_the_old_credentials() {
        let f = fixture(Duration::from_secs(3600));
        let old = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        let edited = f.cache.get(&id("c"), 2, &f.loader).await.unwrap();
        assert_ne!(old.access_key_id(), edited.access_key_id());
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            f.cache.len(),
            1,
            "the old settings' entry is replaced, not kept"
        );
    }

    #[tokio::test]
    async fn renews_in_the_background_and_keeps_the_old_ones_when_renewal_fails() {
        let f = fixture(Duration::from_secs(3600));
        let first = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        // Four minutes left: inside the five-minute window, still valid.
        f.clock.advance(Duration::from_secs(3600 - 240));
        f.fail.store(true, Ordering::SeqCst);
        let during = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        assert_eq!(
            during.access_key_id(),
            first.access_key_id(),
            "callers do not wait for the renewal"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            f.calls.load(Ordering::SeqCst),
            2,
            "a background renewal was tried"
        );
        let kept = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        assert_eq!(
            kept.access_key_id(),
            first.access_key_id(),
            "the last good credentials are kept"
        );
        f.fail.store(false, Ordering::SeqCst);
        f.clock.advance(Duration::from_secs(11));
        f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let renewed = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        assert_ne!(
            renewed.access_key_id(),
            first.access_key_id(),
            "the renewal succeeded later"
        );
    }

    #[tokio::test]
    async fn a_failed_load_with_nothing_valid_is_an_error() {
        let f = fixture(Duration::from_secs(3600));
        f.fail.store(true, Ordering::SeqCst);
        let err = f.cache.get(&id("c"), 1, &f.loader).await.unwrap_err();
        assert_eq!(err.message(), "CreateSession refused");
    }

    #[tokio::test]
    async fn credentials_too_short_to_use_are_refused() {
        let f = fixture(Duration::from_secs(30));
        let err = f.cache.get(&id("c"), 1, &f.loader).await.unwrap_err();
        assert!(
            err.message().contains("expire in 30 s"),
            "{}",
            err.message()
        );
    }

    #[tokio::test]
    async fn keeps_at_most_capacity_components() {
        let f = fixture(Duration::from_secs(3600));
        let capacity = CacheSettings::default().capacity;
        for n in 0..capacity + 6 {
            f.cache
                .get(&id(&format!("c{n}")), 1, &f.loader)
                .await
                .unwrap();
        }
        assert_eq!(f.cache.len(), capacity);
    }

    #[tokio::test]
    async fn the_default_capacity_holds_every_connection_the_runtime_keeps() {
        assert!(CacheSettings::default().capacity >= 256);
    }

    #[tokio::test]
    async fn credentials_with_59_and_a_half_seconds_left_are_expired() {
        let f = fixture(Duration::from_secs(3600));
        f.clock.advance(Duration::from_millis(250));
        let first = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        // 60.5 s left: still served.
        f.clock.advance(Duration::from_millis(3_600_000 - 60_500));
        let same = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        assert_eq!(first.access_key_id(), same.access_key_id());
        // 59.5 s left: never handed out.
        f.clock.advance(Duration::from_secs(1));
        let renewed = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        assert_ne!(first.access_key_id(), renewed.access_key_id());
    }

    #[tokio::test]
    async fn a_failed_cold_load_is_shared_by_its_waiters_and_remembered_for_a_while() {
        let f = fixture(Duration::from_secs(3600));
        f.fail.store(true, Ordering::SeqCst);
        let calls = (0..200).map(|_| {
            let (cache, loader) = (f.cache.clone(), f.loader.clone());
            async move { cache.get(&id("c"), 1, &loader).await }
        });
        let results = futures::future::join_all(calls).await;
        assert!(results.iter().all(Result::is_err));
        assert_eq!(
            f.calls.load(Ordering::SeqCst),
            1,
            "one CreateSession for 200 callers"
        );
        f.clock.advance(Duration::from_secs(5));
        assert!(f.cache.get(&id("c"), 1, &f.loader).await.is_err());
        assert_eq!(
            f.calls.load(Ordering::SeqCst),
            1,
            "still within the backoff window"
        );
        f.clock.advance(Duration::from_secs(6));
        f.fail.store(false, Ordering::SeqCst);
        assert!(f.cache.get(&id("c"), 1, &f.loader).await.is_ok());
        assert_eq!(
            f.calls.load(Ordering::SeqCst),
            2,
            "the next window loads again"
        );
    }

    #[tokio::test]
    async fn a_load_that_outlasts_its_budget_is_an_error_naming_roles_anywhere() {
        let clock = ManualClock::new(start());
        let settings = CacheSettings {
            load_timeout: Duration::from_millis(50),
            ..CacheSettings::default()
        };
        let cache = Arc::new(CredentialCache::new(settings, Arc::new(clock)));
        let slow: Loader = Arc::new(|| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(ConnectorError::auth("never"))
            })
        });
        let err = cache.get(&id("c"), 1, &slow).await.unwrap_err();
        assert!(
            err.message().contains("IAM Roles Anywhere did not issue"),
            "{}",
            err.message()
        );
    }

    #[tokio::test]
    async fn a_panicking_renewal_leaves_renewals_on() {
        let f = fixture(Duration::from_secs(600));
        let first = f.cache.get(&id("c"), 1, &f.loader).await.unwrap();
        let panics = Arc::new(AtomicBool::new(true));
        let panicking: Loader = {
            let (panics, loader) = (panics.clone(), f.loader.clone());
            Arc::new(move || {
                if panics.swap(false, Ordering::SeqCst) {
                    return Box::pin(async { panic!("a bug in the loader") });
                }
                loader()
            })
        };
        // Within the renewal margin (5 min of 10): the renewal starts, and panics.
        f.clock.advance(Duration::from_secs(400));
        f.cache.get(&id("c"), 1, &panicking).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The next call starts another renewal, which succeeds.
        f.cache.get(&id("c"), 1, &panicking).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let renewed = f.cache.get(&id("c"), 1, &panicking).await.unwrap();
        assert_ne!(renewed.access_key_id(), first.access_key_id());
    }
}
