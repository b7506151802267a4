//! The "echo" connector the integration tests drive, in process and through the test plugin.
//!
//! Its connection has a secret (`apiKey`, which must start with `key-`), a required endpoint, and
//! a region choice whose `CUSTOM` value makes `customRegion` required. Each operation misbehaves
//! in one way the SDK must absorb: missing results, an error, a panic, a slow batch, a duplicate
//! record, a process crash, refused documents, a wait for cancellation; DEFERRED and WAIT
//! register work to run after delivery, which records what it was told in [`deliveries`].
//!
//! GATE is not part of the connector: a test that serves the connector in process takes
//! [`connector_with_gate`] to hold executions until it opens their gate.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use connector_sdk::schema::{Variant, switch};
use connector_sdk::{
    Batch, ComponentId, Connection, Connector, ConnectorBuilder, ConnectorError, ConnectorInfo,
    Document, ExecutionContext, ObjectType, Operation, OperationInfo, Outcome, PropertyInfo,
    Secret, TestStep,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;

/// The connector id components name.
pub(crate) const CONNECTOR_ID: &str = "echo";

/// The API key the fake service refuses: Test Connection fails its last step with it.
pub(crate) const REVOKED_KEY: &str = "key-revoked";

/// The message of the FAILING operation's error.
pub(crate) const FAILING_MESSAGE: &str = "the echo service is throttling requests";

/// The message of the PANICKING operation's panic.
pub(crate) const PANIC_MESSAGE: &str = "the echo operation lost its mind";

/// The log message the SLOW operation writes when it starts waiting.
pub(crate) const SLOW_STARTED: &str = "SLOW operation started";

/// The log message the WAIT operation writes when it starts waiting for cancellation.
pub(crate) const WAIT_STARTED: &str = "WAIT operation started";

/// The log message the WAIT operation writes when its execution was cancelled.
pub(crate) const WAIT_CANCELLED: &str = "WAIT operation cancelled";

/// The status code WAIT gives the documents of a cancelled execution.
pub(crate) const CANCELLED: &str = "CANCELLED";

/// The status code REFUSING gives every document.
pub(crate) const REFUSED: &str = "Refused";

/// A connection whose endpoint is this takes [`SLOW_CONNECT`] to build (blocking its thread,
/// the way a costly key derivation does).
pub(crate) const SLOW_ENDPOINT: &str = "https://slow-connect.echo.test";

/// How long a connection to [`SLOW_ENDPOINT`] takes to build.
pub(crate) const SLOW_CONNECT: Duration = Duration::from_millis(1500);

/// How many connections to [`SLOW_ENDPOINT`] were built.
pub(crate) static SLOW_CONNECTS: AtomicU64 = AtomicU64::new(0);

/// What work after delivery was told, in the order it ran: the tick it ran at (see [`tick`]), the
/// execution id and `delivered`.
static DELIVERIES: Mutex<Vec<(u64, String, bool)>> = Mutex::new(Vec::new());

/// A counter shared by everything a test wants to put in order (writes, work after delivery).
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The next tick of the shared counter.
pub(crate) fn tick() -> u64 {
    TICKS.fetch_add(1, Ordering::SeqCst)
}

/// What work after delivery of `execution_id` was told so far: the tick it ran at and
/// `delivered`, in the order it ran.
#[allow(dead_code)]
pub(crate) fn deliveries(execution_id: &str) -> Vec<(u64, bool)> {
    DELIVERIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|(_, id, _)| id == execution_id)
        .map(|(tick, _, delivered)| (*tick, *delivered))
        .collect()
}

/// Registers work after delivery that records (and logs) what it is told.
fn record_delivery(ctx: &ExecutionContext) {
    let execution_id = ctx.execution_id.clone();
    ctx.after_delivery(move |delivered| {
        Box::pin(async move {
            tracing::info!(execution = %execution_id, delivered, "work after delivery ran");
            DELIVERIES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((tick(), execution_id, delivered));
        })
    });
}

/// The objects `browse` knows, by label.
pub(crate) const QUEUES: [&str; 3] = ["orders", "orders-dlq", "invoices"];

const INFO: ConnectorInfo = ConnectorInfo {
    id: CONNECTOR_ID,
    name: "Echo",
    version: "0.0.1",
    description: "A connector for the SDK's own tests: it echoes documents back.",
};

/// The connection's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EchoConfig {
    /// The base URL of the echo service.
    #[schemars(title = "Endpoint URL", pattern(r"^https?://"))]
    endpoint: String,
    /// The account's API key, as the echo service issued it (it starts with `key-`).
    #[schemars(title = "API Key", pattern(r"^key-[A-Za-z0-9-]+$"))]
    api_key: Secret,
    #[serde(flatten)]
    region: Region,
}

/// Which region the account lives in.
#[derive(Debug, Deserialize)]
#[serde(tag = "regionType")]
enum Region {
    #[serde(rename = "STANDARD")]
    Standard(StandardRegion),
    #[serde(rename = "CUSTOM")]
    Custom(CustomRegion),
}

/// The standard region brings no field.
#[derive(Debug, Deserialize, JsonSchema)]
struct StandardRegion {}

/// A custom region is named.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CustomRegion {
    /// The region's name, lowercase with dashes (`eu-north-7`).
    #[schemars(title = "Custom Region", pattern(r"^[a-z]{2}-[a-z]+-[0-9]+$"))]
    custom_region: String,
}

impl JsonSchema for Region {
    fn schema_name() -> Cow<'static, str> {
        "Region".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        switch(
            "regionType",
            "Region Type",
            "Whether the account lives in the standard region or a custom one.",
            vec![
                Variant {
                    value: "STANDARD",
                    label: "Standard region",
                    schema: generator.root_schema_for::<StandardRegion>(),
                },
                Variant {
                    value: "CUSTOM",
                    label: "Custom region",
                    schema: generator.root_schema_for::<CustomRegion>(),
                },
            ],
        )
    }
}

/// An account of the echo service.
#[derive(Debug)]
struct EchoConnection {
    endpoint: String,
    api_key: Secret,
    region: String,
}

impl Connection for EchoConnection {
    type Config = EchoConfig;

    fn connect(_id: &ComponentId, config: EchoConfig) -> Result<Self, ConnectorError> {
        if config.endpoint == SLOW_ENDPOINT {
            std::thread::sleep(SLOW_CONNECT);
            SLOW_CONNECTS.fetch_add(1, Ordering::SeqCst);
        }
        let region = match config.region {
            Region::Standard(StandardRegion {}) => "standard".to_owned(),
            Region::Custom(custom) => custom.custom_region,
        };
        Ok(Self {
            endpoint: config.endpoint,
            api_key: config.api_key,
            region,
        })
    }

    async fn test(&self, _ctx: &ExecutionContext) -> Vec<TestStep> {
        let key = if self.api_key.expose() == REVOKED_KEY {
            TestStep::failed(
                "API key accepted",
                "the echo service refused the API key; create a new key and enter it",
            )
        } else {
            TestStep::passed("API key accepted", "the echo service accepted the API key")
        };
        vec![
            TestStep::passed(
                "Endpoint parsed",
                format!("will call {} in region {}", self.endpoint, self.region),
            ),
            key,
        ]
    }

    async fn browse(
        &self,
        _ctx: &ExecutionContext,
        _operation_type: &str,
        filter: Option<&str>,
    ) -> Result<Vec<ObjectType>, ConnectorError> {
        Ok(QUEUES
            .iter()
            .filter(|name| filter.is_none_or(|prefix| name.starts_with(prefix)))
            .map(|name| ObjectType {
                id: format!("{}/queues/{name}", self.endpoint),
                label: (*name).to_owned(),
            })
            .collect())
    }
}

/// The options of operations that have none.
#[derive(Debug, Deserialize, JsonSchema)]
struct NoOptions {}

/// The SLOW operation's options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SlowOptions {
    /// How long the batch takes, in milliseconds.
    #[schemars(title = "Delay (ms)", range(max = 60000))]
    delay_ms: u64,
}

const INDEX_PROPERTY: PropertyInfo = PropertyInfo {
    name: "echo.index",
    description: "The position of the input document in its batch.",
};

fn info(
    operation_type: &'static str,
    label: &'static str,
    description: &'static str,
) -> OperationInfo {
    OperationInfo {
        operation_type,
        label,
        description,
        takes_input: true,
        input_properties: &[],
        output_properties: &[INDEX_PROPERTY],
    }
}

/// The document echoed for input `index`: the same body and properties, plus `echo.index`.
pub(crate) fn echoed(index: usize, document: &Document) -> Document {
    document
        .clone()
        .with_property(INDEX_PROPERTY.name, index.to_string())
}

/// ECHO: every document back as a success, with `echo.index` added. Logs the key, redacted.
struct Echo;

impl Operation for Echo {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info(
            "ECHO",
            "Echo",
            "Returns every document, with its index added.",
        )
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        tracing::info!(
            execution = %ctx.execution_id,
            documents = batch.len(),
            "ECHO to {} with API key {:?}",
            connection.endpoint,
            connection.api_key
        );
        for (index, document) in batch.documents().iter().enumerate() {
            batch.succeed(index, vec![echoed(batch.input_index(index), document)]);
        }
        Ok(())
    }
}

/// PARTIAL: records a success for the even documents only, and returns `Ok`.
struct Partial;

impl Operation for Partial {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info("PARTIAL", "Partial", "Forgets the odd documents.")
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        _ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        for (index, document) in batch.documents().iter().enumerate().step_by(2) {
            batch.succeed(index, vec![echoed(batch.input_index(index), document)]);
        }
        Ok(())
    }
}

/// FAILING: records a success for the first document, then returns a transient error.
struct Failing;

impl Operation for Failing {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info(
            "FAILING",
            "Failing",
            "Echoes the first document, then fails.",
        )
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        _ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        if let Some(first) = batch.documents().first() {
            batch.succeed(0, vec![echoed(batch.input_index(0), first)]);
        }
        Err(ConnectorError::transient(FAILING_MESSAGE))
    }
}

/// PANICKING: records a success for the first document, then panics.
struct Panicking;

impl Operation for Panicking {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info(
            "PANICKING",
            "Panicking",
            "Echoes the first document, then panics.",
        )
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        _ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        if let Some(first) = batch.documents().first() {
            batch.succeed(0, vec![echoed(batch.input_index(0), first)]);
        }
        panic!("{PANIC_MESSAGE}");
    }
}

/// SLOW: waits `delayMs`, then echoes every document.
struct Slow {
    delay: Duration,
}

impl Operation for Slow {
    type Connection = EchoConnection;
    type Config = SlowOptions;

    fn info() -> OperationInfo {
        info("SLOW", "Slow", "Waits, then echoes every document.")
    }

    fn build(config: SlowOptions) -> Result<Self, ConnectorError> {
        Ok(Self {
            delay: Duration::from_millis(config.delay_ms),
        })
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        tracing::info!(
            execution = %ctx.execution_id,
            delay_ms = self.delay.as_millis() as u64,
            "{SLOW_STARTED}"
        );
        tokio::time::sleep(self.delay).await;
        for (index, document) in batch.documents().iter().enumerate() {
            batch.succeed(index, vec![echoed(batch.input_index(index), document)]);
        }
        Ok(())
    }
}

/// DOUBLE: records a success for every document, then a failure for each of them again.
struct Double;

impl Operation for Double {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info(
            "DOUBLE",
            "Double",
            "Records two results for every document.",
        )
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        _ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        for (index, document) in batch.documents().iter().enumerate() {
            batch.succeed(index, vec![echoed(batch.input_index(index), document)]);
        }
        for index in 0..batch.len() {
            batch.fail(index, "a second result that must be ignored");
        }
        Ok(())
    }
}

/// CRASH: ends the whole process with status 3, as a plugin crash would.
struct Crash;

impl Operation for Crash {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info("CRASH", "Crash", "Ends the plugin process with status 3.")
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        _ctx: &ExecutionContext,
        _connection: &EchoConnection,
        _batch: &Batch,
    ) -> Result<(), ConnectorError> {
        tracing::error!("CRASH operation: exiting with status 3");
        std::process::exit(3);
    }
}

/// DEFERRED: echoes every document and registers work to run after delivery.
struct Deferred;

impl Operation for Deferred {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info(
            "DEFERRED",
            "Deferred",
            "Echoes every document; records whether its results were delivered.",
        )
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        for (index, document) in batch.documents().iter().enumerate() {
            batch.succeed(index, vec![echoed(batch.input_index(index), document)]);
        }
        record_delivery(ctx);
        Ok(())
    }
}

/// WAIT: registers work after delivery, then waits (at most 30 s) for the execution to be
/// cancelled; every document then fails with `CANCELLED`.
struct Wait;

impl Operation for Wait {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info(
            "WAIT",
            "Wait",
            "Waits until the execution is cancelled, then fails every document.",
        )
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        record_delivery(ctx);
        tracing::info!(execution = %ctx.execution_id, "{WAIT_STARTED}");
        let cancelled =
            tokio::time::timeout(Duration::from_secs(30), ctx.cancellation.cancelled()).await;
        if cancelled.is_ok() {
            tracing::info!(execution = %ctx.execution_id, "{WAIT_CANCELLED}");
        }
        for index in 0..batch.len() {
            let outcome = match cancelled {
                Ok(()) => {
                    Outcome::failure("the execution was cancelled").with_status_code(CANCELLED)
                }
                Err(_) => Outcome::failure("the execution was never cancelled"),
            };
            batch.record(index, outcome);
        }
        Ok(())
    }
}

/// REFUSING: refuses every document with an application error, and gives no output.
struct Refusing;

impl Operation for Refusing {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info("REFUSING", "Refusing", "Refuses every document.")
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        _ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        for index in 0..batch.len() {
            batch.application_error(
                index,
                REFUSED,
                format!("document {} is refused", batch.input_index(index)),
            );
        }
        Ok(())
    }
}

/// POLL: takes no input (like a receive); fails its trigger document.
struct Poll;

impl Operation for Poll {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        OperationInfo {
            takes_input: false,
            ..info(
                "POLL",
                "Poll",
                "Takes no input; fails its trigger document.",
            )
        }
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        _ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        for index in 0..batch.len() {
            batch.fail(index, "the echo service has nothing to poll");
        }
        Ok(())
    }
}

/// The executions whose GATE operation started, and those whose gate is open.
static GATES: Mutex<(BTreeSet<String>, BTreeSet<String>)> =
    Mutex::new((BTreeSet::new(), BTreeSet::new()));

fn gates() -> std::sync::MutexGuard<'static, (BTreeSet<String>, BTreeSet<String>)> {
    GATES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the GATE operation of `execution_id` started.
#[allow(dead_code)]
pub(crate) fn gate_started(execution_id: &str) -> bool {
    gates().0.contains(execution_id)
}

/// Opens the gate of `execution_id`: its GATE operation (running or to come) echoes and ends.
#[allow(dead_code)]
pub(crate) fn open_gate(execution_id: &str) {
    gates().1.insert(execution_id.to_owned());
}

/// GATE: records that it started, waits (at most 30 s, or until cancelled) until the test opens
/// the execution's gate, then echoes every document.
struct Gate;

impl Operation for Gate {
    type Connection = EchoConnection;
    type Config = NoOptions;

    fn info() -> OperationInfo {
        info(
            "GATE",
            "Gate",
            "Waits until the test opens the execution's gate, then echoes every document.",
        )
    }

    fn build(_config: NoOptions) -> Result<Self, ConnectorError> {
        Ok(Self)
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        _connection: &EchoConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        gates().0.insert(ctx.execution_id.clone());
        let open = async {
            while !gates().1.contains(&ctx.execution_id) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            () = open => {}
            () = ctx.cancellation.cancelled() => {}
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        for (index, document) in batch.documents().iter().enumerate() {
            batch.succeed(index, vec![echoed(batch.input_index(index), document)]);
        }
        Ok(())
    }
}

/// The echo connector's builder, with every operation added.
pub(crate) fn builder() -> ConnectorBuilder {
    Connector::builder::<EchoConnection>(INFO)
        .operation::<Echo>()
        .operation::<Partial>()
        .operation::<Failing>()
        .operation::<Panicking>()
        .operation::<Slow>()
        .operation::<Double>()
        .operation::<Crash>()
        .operation::<Deferred>()
        .operation::<Wait>()
        .operation::<Refusing>()
        .operation::<Poll>()
}

/// The echo connector.
pub(crate) fn connector() -> Connector {
    builder().build()
}

/// The echo connector with the GATE operation besides the others.
#[allow(dead_code)]
pub(crate) fn connector_with_gate() -> Connector {
    builder().operation::<Gate>().build()
}
