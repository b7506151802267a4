//! The credential cache: the cost of a hit (`CredentialCache::get` on a warm entry) against plain
//! lookups, and how many CreateSession calls 1,000 concurrent executions make on a cold cache
//! (through the plugin, a Roles Anywhere connection against the harness's emulator).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::config::Credentials;
use connector_sdk::host::{
    ClientError, ExecuteParams, ExecuteResult, PluginCommand, PluginProcess,
};
use connector_sdk::{Component, ComponentId, Document, ResultStatus, SystemClock};
use serde_json::json;
use sqs_connector::auth::cache::{CacheSettings, CredentialCache, Loader, TemporaryCredentials};
use test_harness::emulator::{Config, ServeOptions, serve};

use crate::report::{self, Report, Row, Unit};
use crate::{Args, raw, say};

/// Nanoseconds per operation of the three loops, in one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HitCosts {
    /// `CacheHandle::cached` on a warm entry: what a connection pays per SQS call.
    pub cache_get: f64,
    /// `CredentialCache::get` by component id on a warm entry (finds the handle first).
    pub lookup_get: f64,
    /// A `HashMap<ComponentId, Credentials>` lookup under a `parking_lot::Mutex`, plus the clone.
    pub map_lookup: f64,
    /// A clone of the credentials alone (an `Arc` clone and drop).
    pub arc_clone: f64,
}

fn credentials(expires_at: SystemTime) -> Credentials {
    Credentials::new(
        "ASIABENCHBENCHBENCH0",
        "bench-temporary-secret",
        Some("bench-session-token".into()),
        Some(expires_at),
        "bench",
    )
}

fn per_op(started: Instant, iterations: u64) -> f64 {
    started.elapsed().as_nanos() as f64 / iterations as f64
}

/// Runs the three loops of `iterations` each on a current-thread runtime.
pub(crate) fn hit_costs(iterations: u64) -> Result<HitCosts, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let cache = Arc::new(CredentialCache::new(
            CacheSettings::default(),
            Arc::new(SystemClock),
        ));
        let loader: Loader = Arc::new(|| {
            Box::pin(async {
                let expires_at = SystemTime::now() + Duration::from_secs(3600);
                Ok(TemporaryCredentials {
                    credentials: credentials(expires_at),
                    expires_at,
                })
            })
        });
        let id = ComponentId::new("conn-bench-cache");
        let fingerprint = 0x5eed;
        // Warm the entry.
        cache
            .get(&id, fingerprint, &loader)
            .await
            .map_err(|e| e.display_chain())?;

        let handle = cache.handle(&id, fingerprint);
        let started = Instant::now();
        for _ in 0..iterations {
            let hit = black_box(&handle)
                .cached(&loader)
                .ok_or("the warm entry was not a hit")?;
            black_box(hit);
        }
        let cache_get = per_op(started, iterations);

        let started = Instant::now();
        for _ in 0..iterations {
            let hit = cache
                .get(black_box(&id), fingerprint, &loader)
                .await
                .map_err(|e| e.display_chain())?;
            black_box(hit);
        }
        let lookup_get = per_op(started, iterations);
        if cache.loads() != 1 {
            return Err(format!(
                "the warm cache loaded {} times instead of once",
                cache.loads()
            ));
        }

        let held = credentials(SystemTime::now() + Duration::from_secs(3600));
        let map = parking_lot::Mutex::new(HashMap::from([(id.clone(), held.clone())]));
        let started = Instant::now();
        for _ in 0..iterations {
            black_box(map.lock().get(black_box(&id)).cloned());
        }
        let map_lookup = per_op(started, iterations);

        let started = Instant::now();
        for _ in 0..iterations {
            black_box(black_box(&held).clone());
        }
        let arc_clone = per_op(started, iterations);
        Ok(HitCosts {
            cache_get,
            lookup_get,
            map_lookup,
            arc_clone,
        })
    })
}

async fn execute_owned(
    plugin: &PluginProcess,
    params: ExecuteParams,
) -> Result<ExecuteResult, ClientError> {
    plugin.execute(&params).await
}

/// What the cold-cache run found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColdRun {
    /// Concurrent executions started.
    pub executions: usize,
    /// CreateSession calls the emulator accepted.
    pub create_sessions: u64,
    /// CreateSession calls the emulator refused.
    pub refused: u64,
    /// Wall time of the executions, seconds.
    pub seconds: f64,
}

const PROFILE: &str =
    "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000002";
const ROLE: &str = "arn:aws:iam::123456789012:role/rolesanywhere-test";
const ANCHOR: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001";

/// `executions` SEND executions of one document each, all at once, through a fresh plugin
/// process on a Roles Anywhere connection nobody used yet; counts the CreateSession calls.
pub(crate) async fn cold_cache(
    plugin_path: &Path,
    emulator_config: &Path,
    endpoint: &str,
    client: &aws_sdk_sqs::Client,
    executions: usize,
) -> Result<ColdRun, String> {
    let keys = emulator_config
        .parent()
        .unwrap_or(Path::new("."))
        .join("../rolesanywhere/keys");
    let read = |name: &str| {
        std::fs::read_to_string(keys.join(name))
            .map_err(|e| format!("{}: {e}", keys.join(name).display()))
    };
    let config = Config::load(emulator_config).map_err(|e| e.to_string())?;
    let (_, emulator) = serve(config, ServeOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let fields = json!({
        "authenticationType": "ROLES_ANYWHERE",
        "region": raw::REGION,
        "endpointUrl": endpoint,
        "profileArn": PROFILE,
        "roleArn": ROLE,
        "trustAnchorArn": ANCHOR,
        "rolesAnywhereRegion": "eu-central-1",
        "rolesAnywhereEndpointUrl": emulator.url(),
        "sessionName": "connector-bench",
        "durationSeconds": 3600,
        "publicCertificate": read("leaf-p256-chain-cert.pem")?,
        "certificateChain": read("chain-intermediate.pem")?,
        "privateKey": read("p256-key-pkcs8-encrypted.pem")?,
        "privateKeyPassphrase": "password",
    });
    let connection = Component::connection(
        "bench-conn-roles-anywhere",
        sqs_connector::CONNECTOR_ID,
        fields.as_object().cloned().unwrap_or_default(),
    );
    let queue =
        raw::create_queue(client, &format!("bench-cold-cache-{}", std::process::id())).await?;
    let operation = crate::connector::send_operation("bench-op-cold", &queue, 16);
    let plugin = PluginProcess::spawn(PluginCommand::new(plugin_path, &["serve"]))
        .await
        .map_err(|e| format!("starting the plugin: {e}"))?;
    let before = emulator.stats();
    let started = Instant::now();
    let calls = (0..executions).map(|n| {
        execute_owned(
            &plugin,
            ExecuteParams {
                execution_id: format!("bench-cold-{n}"),
                process_name: "bench".into(),
                connection: connection.clone(),
                operation: operation.clone(),
                documents: vec![Document::new(format!("{{\"execution\":{n}}}"))],
            },
        )
    });
    let answers = futures::future::join_all(calls).await;
    let seconds = started.elapsed().as_secs_f64();
    let after = emulator.stats();
    let _ = plugin.shutdown().await;
    emulator.shutdown().await;
    for answer in answers {
        let answer = answer.map_err(|e| format!("a cold-cache execution failed: {e}"))?;
        if let Some(r) = answer
            .results
            .iter()
            .find(|r| r.status != ResultStatus::Success)
        {
            return Err(format!(
                "a cold-cache execution did not succeed: {} {}",
                r.status,
                r.message.as_deref().unwrap_or("")
            ));
        }
    }
    raw::expect_count(client, &queue, executions as u64).await?;
    raw::delete_queue(client, &queue).await;
    Ok(ColdRun {
        executions,
        create_sessions: after.accepted - before.accepted,
        refused: after.rejected - before.rejected,
        seconds,
    })
}

/// The cost of a cache hit against plain lookups, `repetitions` runs of each loop.
pub(crate) fn hits(args: &Args, report: &mut Report) -> Result<(), String> {
    say(format!(
        "credential cache hit: {} iterations x {} runs",
        args.cache_iterations, args.repetitions
    ));
    let mut costs = Vec::new();
    for _ in 0..args.repetitions {
        let cost = hit_costs(args.cache_iterations)?;
        say(format!(
            "  get {:.1} ns, get by id {:.1} ns, map {:.1} ns, clone {:.1} ns",
            cost.cache_get, cost.lookup_get, cost.map_lookup, cost.arc_clone
        ));
        costs.push(cost);
    }
    let work = format!("{} lookups", report::thousands(args.cache_iterations));
    report.add(Row::new(
        "Credential cache",
        "map",
        "Baseline: `HashMap<ComponentId, Credentials>` lookup under a `parking_lot::Mutex`, plus the clone",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.map_lookup).collect(),
        None,
    ));
    report.add(Row::new(
        "Credential cache",
        "cache-hit",
        "`CacheHandle::cached` on a warm entry (cache hit): what each SQS call of a connection pays",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.cache_get).collect(),
        Some("map"),
    ));
    report.add(Row::new(
        "Credential cache",
        "cache-hit-by-id",
        "`CredentialCache::get` by component id (the handle looked up in the locked map first)",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.lookup_get).collect(),
        Some("map"),
    ));
    report.add(Row::new(
        "Credential cache",
        "arc-clone",
        "For scale: `Credentials::clone` alone (one `Arc` clone and drop)",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.arc_clone).collect(),
        Some("map"),
    ));
    Ok(())
}
