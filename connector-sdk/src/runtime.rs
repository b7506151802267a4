//! The runtime side of a connector: a type-erased [`Connector`] built from one [`Connection`] type
//! and its [`Operation`] types, which validates components, builds and caches connections and
//! operations, and guarantees one result per document.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::cache::BoundedCache;
use crate::component::{Component, ComponentId, ComponentKind};
use crate::connector::{
    Connection, ConnectorInfo, ObjectType, Operation, OperationInfo, PropertyInfo, StepStatus,
    TestStep,
};
use crate::context::{DeliveryWork, ExecutionContext};
use crate::descriptor::{
    ConnectionDescriptor, Descriptor, FieldSchema, OperationDescriptor, PropertyDescriptor,
};
use crate::document::{
    Batch, Document, DocumentResult, Echo, INVALID_DOCUMENT, InputDocument, Outcome, ResultStatus,
};
use crate::error::{ConnectorError, FieldError};
use crate::listen::{ListenContext, ListenHost, Listener, Ready};
use crate::protocol::ListenerState;
use crate::schema::config_schema;

/// The highest protocol version this SDK speaks: what a plugin offers and a host asks for at
/// `initialize`, and what the descriptor's `protocolVersion` says.
pub const PROTOCOL_VERSION: &str = "1.1";

/// Every protocol version this SDK speaks, oldest first (the last is [`PROTOCOL_VERSION`]): a
/// plugin answers a host with the highest of them that the host knows, and names them all
/// (`data.supported`) when it refuses a version.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] = &["1.0", "1.1"];

/// How many connection (and operation) components are kept built at once.
pub const DEFAULT_CACHE_CAPACITY: usize = 256;

trait ErasedConnection: Send + Sync {
    fn test<'a>(&'a self, ctx: &'a ExecutionContext) -> BoxFuture<'a, Vec<TestStep>>;
    fn browse<'a>(
        &'a self,
        ctx: &'a ExecutionContext,
        operation_type: &'a str,
        filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<ObjectType>, ConnectorError>>;
    fn as_any(&self) -> &dyn Any;
}

impl<C: Connection> ErasedConnection for C {
    fn test<'a>(&'a self, ctx: &'a ExecutionContext) -> BoxFuture<'a, Vec<TestStep>> {
        Box::pin(Connection::test(self, ctx))
    }

    fn browse<'a>(
        &'a self,
        ctx: &'a ExecutionContext,
        operation_type: &'a str,
        filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<ObjectType>, ConnectorError>> {
        Box::pin(Connection::browse(self, ctx, operation_type, filter))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

trait ErasedOperation: Send + Sync {
    fn execute<'a>(
        &'a self,
        ctx: &'a ExecutionContext,
        connection: &'a dyn ErasedConnection,
        batch: &'a Batch,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;
}

impl<O: Operation> ErasedOperation for O {
    fn execute<'a>(
        &'a self,
        ctx: &'a ExecutionContext,
        connection: &'a dyn ErasedConnection,
        batch: &'a Batch,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        match connection.as_any().downcast_ref::<O::Connection>() {
            Some(connection) => Box::pin(Operation::execute(self, ctx, connection, batch)),
            None => Box::pin(async {
                Err(ConnectorError::internal(
                    "the operation was given a connection of another connector",
                ))
            }),
        }
    }
}

type ConnectFn =
    fn(&ComponentId, Map<String, Value>) -> Result<Arc<dyn ErasedConnection>, ConnectorError>;
type BuildFn = fn(Map<String, Value>) -> Result<Arc<dyn ErasedOperation>, ConnectorError>;
type ListenerBuildFn = fn(Map<String, Value>) -> Result<Arc<dyn ErasedListener>, ConnectorError>;

trait ErasedListener: Send + Sync {
    fn listen<'a>(
        &'a self,
        ctx: &'a ListenContext,
        connection: &'a dyn ErasedConnection,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;
}

impl<L: Listener> ErasedListener for L {
    fn listen<'a>(
        &'a self,
        ctx: &'a ListenContext,
        connection: &'a dyn ErasedConnection,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        match connection.as_any().downcast_ref::<L::Connection>() {
            Some(connection) => Box::pin(Listener::listen(self, ctx, connection)),
            None => Box::pin(async {
                Err(ConnectorError::internal(
                    "the listener was given a connection of another connector",
                ))
            }),
        }
    }
}

fn build_listener_erased<L: Listener>(
    fields: Map<String, Value>,
) -> Result<Arc<dyn ErasedListener>, ConnectorError> {
    let config = deserialize_config::<L::Config>(fields)?;
    Ok(Arc::new(L::build(config)?))
}

/// How an operation type is built: an operation run by `execute`, or a listener.
#[derive(Clone, Copy)]
enum Builder {
    Operation(BuildFn),
    Listener(ListenerBuildFn),
}

struct OperationType {
    /// Its fields' schema, sharing the compiled validator with the descriptor.
    fields: FieldSchema,
    build: Builder,
    takes_input: bool,
}

fn deserialize_config<T: serde::de::DeserializeOwned>(
    fields: Map<String, Value>,
) -> Result<T, ConnectorError> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| {
        ConnectorError::config(format!(
            "the component's fields do not fit the connector: {e}"
        ))
    })
}

fn connect_erased<C: Connection>(
    id: &ComponentId,
    fields: Map<String, Value>,
) -> Result<Arc<dyn ErasedConnection>, ConnectorError> {
    let config = deserialize_config::<C::Config>(fields)?;
    Ok(Arc::new(C::connect(id, config)?))
}

fn build_erased<O: Operation>(
    fields: Map<String, Value>,
) -> Result<Arc<dyn ErasedOperation>, ConnectorError> {
    let config = deserialize_config::<O::Config>(fields)?;
    Ok(Arc::new(O::build(config)?))
}

/// Builds a [`Connector`] from a connection type and its operation types.
pub struct ConnectorBuilder {
    info: ConnectorInfo,
    connection_schema: Value,
    connect: ConnectFn,
    operations: BTreeMap<&'static str, (OperationInfo, Value, Builder)>,
    operation_order: Vec<&'static str>,
    cache_capacity: usize,
}

impl ConnectorBuilder {
    /// Adds an operation type. Its `Connection` must be the connector's connection type.
    pub fn operation<O: Operation>(self) -> Self {
        self.with_type(
            O::info(),
            config_schema::<O::Config>(),
            Builder::Operation(build_erased::<O>),
        )
    }

    /// Adds a listener type (protocol 1.1 `listen`). Its `Connection` must be the connector's
    /// connection type.
    pub fn listener<L: Listener>(self) -> Self {
        let info = OperationInfo {
            takes_input: false,
            ..L::info()
        };
        self.with_type(
            info,
            config_schema::<L::Config>(),
            Builder::Listener(build_listener_erased::<L>),
        )
    }

    fn with_type(mut self, info: OperationInfo, schema: Value, build: Builder) -> Self {
        if !self.operations.contains_key(info.operation_type) {
            self.operation_order.push(info.operation_type);
        }
        self.operations
            .insert(info.operation_type, (info, schema, build));
        self
    }

    /// How many built connections and operations to keep (default 256); the least recently used
    /// is dropped beyond that.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity.max(1);
        self
    }

    /// The connector. Panics if a generated schema is not valid JSON Schema, which is a bug in a
    /// config type caught by the connector's first test.
    pub fn build(self) -> Connector {
        let mut operations = HashMap::new();
        let mut descriptor_operations = Vec::new();
        for op_type in &self.operation_order {
            let (info, schema, build) = &self.operations[op_type];
            let fields = FieldSchema::new(schema.clone());
            #[allow(clippy::expect_used)]
            fields
                .validator()
                .expect("an operation's generated schema is valid JSON Schema");
            descriptor_operations.push(OperationDescriptor {
                operation_type: info.operation_type.to_owned(),
                label: info.label.to_owned(),
                description: info.description.to_owned(),
                takes_input: info.takes_input,
                fields: fields.clone(),
                input_properties: info.input_properties.iter().map(described).collect(),
                output_properties: info.output_properties.iter().map(described).collect(),
                listener: matches!(build, Builder::Listener(_)),
            });
            operations.insert(
                info.operation_type.to_owned(),
                OperationType {
                    fields,
                    build: *build,
                    takes_input: info.takes_input,
                },
            );
        }
        let connection = FieldSchema::new(self.connection_schema);
        #[allow(clippy::expect_used)]
        connection
            .validator()
            .expect("the connection's generated schema is valid JSON Schema");
        let descriptor = Descriptor {
            id: self.info.id.to_owned(),
            name: self.info.name.to_owned(),
            version: self.info.version.to_owned(),
            description: self.info.description.to_owned(),
            protocol_version: PROTOCOL_VERSION.to_owned(),
            connection: ConnectionDescriptor { fields: connection },
            operations: descriptor_operations,
        };
        Connector {
            info: self.info,
            descriptor,
            connect: self.connect,
            operations,
            connections: Mutex::new(ComponentCache::new(self.cache_capacity)),
            built_operations: Mutex::new(ComponentCache::new(self.cache_capacity)),
            building: BuildGates::default(),
            hasher: RandomState::new(),
            connections_built: AtomicU64::new(0),
        }
    }
}

/// A document property as the descriptor lists it.
fn described(property: &PropertyInfo) -> PropertyDescriptor {
    PropertyDescriptor {
        name: property.name.to_owned(),
        description: property.description.to_owned(),
    }
}

/// Built connections or operations by component id, each with the fingerprint of the settings
/// it was built from.
struct ComponentCache<T>(BoundedCache<ComponentId, (u64, T)>);

impl<T: Clone> ComponentCache<T> {
    fn new(capacity: usize) -> Self {
        Self(BoundedCache::new(capacity))
    }

    /// The value kept for `id`, when it was built from the same settings.
    fn get(&mut self, id: &ComponentId, fingerprint: u64) -> Option<T> {
        match self.0.get(id) {
            Some((kept, value)) if *kept == fingerprint => Some(value.clone()),
            _ => None,
        }
    }

    /// Keeps `value` for `id`, in place of the least recently used entry when full.
    fn insert(&mut self, id: &ComponentId, fingerprint: u64, value: T) {
        self.0.insert(id.clone(), (fingerprint, value));
    }

    fn get_or_try_insert(
        &mut self,
        id: &ComponentId,
        fingerprint: u64,
        build: impl FnOnce() -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        if let Some(value) = self.get(id, fingerprint) {
            return Ok(value);
        }
        let value = build()?;
        self.insert(id, fingerprint, value.clone());
        Ok(value)
    }
}

/// One gate per component id whose connection is being built: the first caller builds, the
/// others wait on the gate and then find the connection in the cache. Entries live only while
/// somebody holds their gate.
#[derive(Default)]
struct BuildGates {
    gates: Mutex<HashMap<ComponentId, Arc<tokio::sync::Mutex<()>>>>,
}

impl BuildGates {
    fn gate(&self, id: &ComponentId) -> Arc<tokio::sync::Mutex<()>> {
        self.gates.lock().entry(id.clone()).or_default().clone()
    }

    /// Gives `gate` back; the last holder removes it.
    fn release(&self, id: &ComponentId, gate: Arc<tokio::sync::Mutex<()>>) {
        let mut gates = self.gates.lock();
        // Held by the map and by `gate`: nobody else waits on it.
        if Arc::strong_count(&gate) == 2 {
            gates.remove(id);
        }
    }
}

/// Feeds a field's value to `hasher` as it is, without writing it out as text first (that text
/// would be one more copy of a secret left in freed memory).
fn hash_value(value: &Value, hasher: &mut impl Hasher) {
    match value {
        Value::Null => 0u8.hash(hasher),
        Value::Bool(flag) => (1u8, flag).hash(hasher),
        Value::Number(number) => {
            2u8.hash(hasher);
            match (number.as_u64(), number.as_i64(), number.as_f64()) {
                (Some(unsigned), _, _) => (0u8, unsigned).hash(hasher),
                (None, Some(signed), _) => (1u8, signed).hash(hasher),
                (None, None, float) => (2u8, float.map(f64::to_bits)).hash(hasher),
            }
        }
        Value::String(text) => (3u8, text).hash(hasher),
        Value::Array(items) => {
            (4u8, items.len()).hash(hasher);
            for item in items {
                hash_value(item, hasher);
            }
        }
        Value::Object(members) => {
            (5u8, members.len()).hash(hasher);
            for (key, member) in members {
                key.hash(hasher);
                hash_value(member, hasher);
            }
        }
    }
}

fn not_executable(component: &Component) -> ConnectorError {
    ConnectorError::invalid_fields(vec![FieldError {
        field: "operationType".into(),
        label: "Operation type".into(),
        message: format!(
            "operation component {} has operation type \"{}\", which is a listener: start it \
             with listen (protocol 1.1) instead of execute",
            component.id,
            component.operation_type.as_deref().unwrap_or_default()
        ),
    }])
}

/// A listener started by [`Connector::start_listener`], running in its own task.
pub struct RunningListener {
    ctx: Arc<ListenContext>,
    ready: Option<Ready>,
    task: tokio::task::JoinHandle<Result<(), ConnectorError>>,
}

impl RunningListener {
    /// Waits until the listener polls; its error when it ended before.
    pub async fn ready(&mut self) -> Result<(), ConnectorError> {
        let Some(ready) = self.ready.take() else {
            return Ok(());
        };
        if ready.wait().await {
            return Ok(());
        }
        match (&mut self.task).await {
            Ok(Err(error)) => Err(error),
            Ok(Ok(())) => Err(ConnectorError::internal(
                "the listener ended before it polled",
            )),
            Err(_) => Err(ConnectorError::internal("the listener's task was lost")),
        }
    }

    /// Tells the listener to stop polling; with `drain` false, also to release what waits for
    /// an answer at once.
    pub fn stop(&self, drain: bool) {
        self.ctx.stopping().cancel();
        if !drain {
            self.ctx.abandoned().cancel();
        }
    }

    /// The token that, cancelled, releases what the listener holds at once.
    pub(crate) fn abandon_handle(&self) -> tokio_util::sync::CancellationToken {
        self.ctx.abandoned().clone()
    }

    /// Whether the listener's task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the listener to end; its error, if it ended with one.
    pub async fn finished(self) -> Result<(), ConnectorError> {
        self.task
            .await
            .unwrap_or_else(|_| Err(ConnectorError::internal("the listener's task was lost")))
    }
}

/// Counters a host or a test can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorStats {
    /// Connections built since start (one per component id and settings, unless evicted).
    pub connections_built: u64,
}

/// A connector ready to serve: its descriptor, validation, and the three calls of the protocol.
pub struct Connector {
    info: ConnectorInfo,
    descriptor: Descriptor,
    connect: ConnectFn,
    operations: HashMap<String, OperationType>,
    connections: Mutex<ComponentCache<Arc<dyn ErasedConnection>>>,
    built_operations: Mutex<ComponentCache<Arc<dyn ErasedOperation>>>,
    building: BuildGates,
    hasher: RandomState,
    connections_built: AtomicU64,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("id", &self.info.id)
            .field("version", &self.info.version)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Starts a connector with its connection type; add operations with
    /// [`ConnectorBuilder::operation`].
    pub fn builder<C: Connection>(info: ConnectorInfo) -> ConnectorBuilder {
        ConnectorBuilder {
            info,
            connection_schema: config_schema::<C::Config>(),
            connect: connect_erased::<C>,
            operations: BTreeMap::new(),
            operation_order: Vec::new(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// What the connector is.
    pub fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    /// The connector descriptor: connection fields, and each operation with its fields and
    /// document properties.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The descriptor as the checked-in file holds it: pretty JSON with a final newline.
    pub fn descriptor_file_text(&self) -> String {
        self.descriptor.file_text()
    }

    /// Counters for tests and hosts.
    pub fn stats(&self) -> ConnectorStats {
        ConnectorStats {
            connections_built: self.connections_built.load(Ordering::Relaxed),
        }
    }

    /// Checks a connection component's fields against the descriptor: every field error at once.
    pub fn validate_connection(&self, component: &Component) -> Result<(), Vec<FieldError>> {
        self.descriptor.validate_connection(component).map(|_| ())
    }

    /// Checks an operation component's fields against its operation's schema.
    pub fn validate_operation(&self, component: &Component) -> Result<(), Vec<FieldError>> {
        self.descriptor.validate_operation(component).map(|_| ())
    }

    fn check_component(
        &self,
        component: &Component,
        kind: ComponentKind,
    ) -> Result<(), Vec<FieldError>> {
        self.descriptor.check_identity(component, kind)
    }

    fn operation_type(&self, component: &Component) -> Result<&OperationType, Vec<FieldError>> {
        let name = component.operation_type.as_deref().unwrap_or_default();
        match self.operations.get(name) {
            Some(op_type) => Ok(op_type),
            // The descriptor lists the same types, and says which there are.
            None => Err(self
                .descriptor
                .operation_of(component)
                .err()
                .unwrap_or_default()),
        }
    }

    fn fingerprint(&self, component: &Component) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        component.operation_type.hash(&mut hasher);
        // Sorted by key, so the same fields in another order are the same settings.
        let mut fields: Vec<(&String, &Value)> = component.fields.iter().collect();
        fields.sort_by_key(|(key, _)| *key);
        for (key, value) in fields {
            key.hash(&mut hasher);
            hash_value(value, &mut hasher);
        }
        hasher.finish()
    }

    /// The built connection of `component`, from the cache or built now.
    ///
    /// Building runs on a blocking thread and outside the cache's lock, one build per component
    /// id at a time: a connection whose build is slow (a key derivation, say) holds up only the
    /// calls for that same component, which wait for it and then share it.
    async fn connection_for(
        &self,
        component: &Component,
    ) -> Result<Arc<dyn ErasedConnection>, ConnectorError> {
        // Checked on every call, not only when built: the kind and connector are not part of
        // the fingerprint, so a cached component must not vouch for one that reuses its id.
        self.check_component(component, ComponentKind::Connection)
            .map_err(ConnectorError::invalid_fields)?;
        let fingerprint = self.fingerprint(component);
        if let Some(connection) = self.connections.lock().get(&component.id, fingerprint) {
            return Ok(connection);
        }
        let gate = self.building.gate(&component.id);
        let built = {
            let _building = gate.lock().await;
            self.build_connection(component, fingerprint).await
        };
        self.building.release(&component.id, gate);
        built
    }

    /// Builds the connection of `component` unless a caller that held its gate before did.
    async fn build_connection(
        &self,
        component: &Component,
        fingerprint: u64,
    ) -> Result<Arc<dyn ErasedConnection>, ConnectorError> {
        if let Some(connection) = self.connections.lock().get(&component.id, fingerprint) {
            return Ok(connection);
        }
        let fields = self
            .descriptor
            .connection
            .fields
            .validate(&component.fields)
            .map_err(ConnectorError::invalid_fields)?;
        let connect = self.connect;
        let id = component.id.clone();
        let connection = tokio::task::spawn_blocking(move || connect(&id, fields))
            .await
            .map_err(|failed| {
                let why = match failed.try_into_panic() {
                    Ok(panic) => panic_message(&panic),
                    Err(_) => "the build was cancelled".to_owned(),
                };
                ConnectorError::internal(format!(
                    "internal error while building connection {} ({why}); report it with the \
                     plugin's log",
                    component.id
                ))
            })??;
        self.connections
            .lock()
            .insert(&component.id, fingerprint, connection.clone());
        self.connections_built.fetch_add(1, Ordering::Relaxed);
        tracing::info!(component = %component.id, "connection built");
        Ok(connection)
    }

    fn operation_for(
        &self,
        component: &Component,
    ) -> Result<Arc<dyn ErasedOperation>, ConnectorError> {
        self.check_component(component, ComponentKind::Operation)
            .map_err(ConnectorError::invalid_fields)?;
        let fingerprint = self.fingerprint(component);
        let mut cache = self.built_operations.lock();
        cache.get_or_try_insert(&component.id, fingerprint, || {
            let op_type = self
                .operation_type(component)
                .map_err(ConnectorError::invalid_fields)?;
            let Builder::Operation(build) = op_type.build else {
                return Err(not_executable(component));
            };
            let fields = op_type
                .fields
                .validate(&component.fields)
                .map_err(ConnectorError::invalid_fields)?;
            build(fields)
        })
    }

    /// Starts the listener of the operation component `operation` (a listener type) on
    /// `connection`, reaching the host through `host`; it runs in a task of its own until
    /// stopped (see [`RunningListener`](crate::listen::RunningListener)). An error when the
    /// components are invalid or the operation is no listener.
    pub async fn start_listener(
        &self,
        listener_id: &str,
        connection: &Component,
        operation: &Component,
        host: Arc<dyn ListenHost>,
    ) -> Result<RunningListener, ConnectorError> {
        let built_connection = self.connection_for(connection).await?;
        self.check_component(operation, ComponentKind::Operation)
            .map_err(ConnectorError::invalid_fields)?;
        let op_type = self
            .operation_type(operation)
            .map_err(ConnectorError::invalid_fields)?;
        let Builder::Listener(build) = op_type.build else {
            return Err(ConnectorError::invalid_fields(vec![FieldError {
                field: "operationType".into(),
                label: "Operation type".into(),
                message: format!(
                    "operation component {} has operation type \"{}\", which is no listener: run \
                     it with execute",
                    operation.id,
                    operation.operation_type.as_deref().unwrap_or_default()
                ),
            }]));
        };
        let fields = op_type
            .fields
            .validate(&operation.fields)
            .map_err(ConnectorError::invalid_fields)?;
        let listener = build(fields)?;
        let (ctx, ready) = ListenContext::new(listener_id, host);
        let ctx = Arc::new(ctx);
        let task = tokio::spawn({
            let ctx = ctx.clone();
            async move {
                let ran = AssertUnwindSafe(listener.listen(&ctx, &*built_connection))
                    .catch_unwind()
                    .await;
                let outcome = ran.unwrap_or_else(|panic| {
                    Err(ConnectorError::internal(format!(
                        "internal error in the listener ({}); report it with the plugin's log",
                        panic_message(&panic)
                    )))
                });
                let (message, kind) = match &outcome {
                    Ok(()) => ("stopped".to_owned(), None),
                    Err(error) => (error.display_chain(), Some(error.kind().as_str())),
                };
                ctx.status(ListenerState::Stopped, message, kind);
                outcome
            }
        });
        Ok(RunningListener {
            ctx,
            ready: Some(ready),
            task,
        })
    }

    /// Test Connection: validates the settings (an error listing every field at fault when they
    /// are invalid), then runs the connection's own steps.
    pub async fn test_connection(
        &self,
        ctx: &ExecutionContext,
        component: &Component,
    ) -> Result<Vec<TestStep>, ConnectorError> {
        let connection = self.connection_for(component).await?;
        let mut steps = vec![TestStep::passed(
            "Settings valid",
            "every field of the connection is filled in and well formed",
        )];
        match AssertUnwindSafe(connection.test(ctx)).catch_unwind().await {
            Ok(more) => steps.extend(more),
            Err(panic) => steps.push(TestStep::failed(
                "Connection checked",
                format!(
                    "internal error in the connector ({}); report it with the plugin's log",
                    panic_message(&panic)
                ),
            )),
        }
        Ok(steps)
    }

    /// Whether a Test Connection's steps add up to a pass: no step failed.
    pub fn passed(steps: &[TestStep]) -> bool {
        steps.iter().all(|s| s.status != StepStatus::Failed)
    }

    /// Lists what an operation of `operation_type` can pick from.
    pub async fn browse(
        &self,
        ctx: &ExecutionContext,
        component: &Component,
        operation_type: &str,
        filter: Option<&str>,
    ) -> Result<Vec<ObjectType>, ConnectorError> {
        if !self.operations.contains_key(operation_type) {
            return Err(ConnectorError::config(format!(
                "this connector has no operation type \"{operation_type}\" to browse for"
            )));
        }
        let connection = self.connection_for(component).await?;
        match AssertUnwindSafe(connection.browse(ctx, operation_type, filter))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(panic) => Err(ConnectorError::internal(format!(
                "internal error while browsing ({})",
                panic_message(&panic)
            ))),
        }
    }

    /// Runs an operation over a batch of documents: exactly one result per input document, in
    /// input order, whatever the operation does (returns early, fails, or panics).
    ///
    /// For an operation that takes input, a result other than `SUCCESS` carries the input
    /// document, unchanged, as its one output. The work the operation registered with
    /// [`ExecutionContext::after_delivery`] runs (with `delivered` true) before this returns:
    /// the results are delivered by being returned.
    ///
    /// An error is returned only when the request cannot be served at all (invalid components).
    pub async fn execute(
        &self,
        ctx: &ExecutionContext,
        connection: &Component,
        operation: &Component,
        documents: Vec<Document>,
    ) -> Result<Vec<DocumentResult>, ConnectorError> {
        let documents = documents.into_iter().map(InputDocument::Document).collect();
        let (results, deferred) = self
            .execute_deferred(ctx, connection, operation, documents)
            .await?;
        deferred.run(true).await;
        Ok(results)
    }

    /// [`Connector::execute`] over documents as read off the wire, without running the work
    /// registered with [`ExecutionContext::after_delivery`]: it comes back as a [`Deferred`],
    /// for the caller to run once it knows whether the results reached the host.
    ///
    /// A document that could not be read ([`InputDocument::Malformed`]) gets an
    /// `APPLICATION_ERROR` with `statusCode` `InvalidDocument`, a message naming its index and
    /// what is wrong, and no output; the operation runs over the other documents only (its
    /// [`Batch`] holds them alone, [`Batch::input_index`] gives each one's index in the
    /// request), and their results keep their indexes in the request.
    pub async fn execute_deferred(
        &self,
        ctx: &ExecutionContext,
        connection: &Component,
        operation: &Component,
        documents: Vec<InputDocument>,
    ) -> Result<(Vec<DocumentResult>, Deferred), ConnectorError> {
        let (results, _, deferred) = self
            .execute_outputs(ctx, connection, operation, documents, false)
            .await?;
        Ok((results, deferred))
    }

    /// [`Connector::execute_deferred`]; with `added` (protocol 1.1 `"outputs": "added"`), an
    /// output that is the input document is only the properties the operation added, and the
    /// second list says, per result, whether its first output is one (empty without `added`).
    pub(crate) async fn execute_outputs(
        &self,
        ctx: &ExecutionContext,
        connection: &Component,
        operation: &Component,
        documents: Vec<InputDocument>,
        added: bool,
    ) -> Result<(Vec<DocumentResult>, Vec<bool>, Deferred), ConnectorError> {
        let built_connection = self.connection_for(connection).await?;
        let built_operation = self.operation_for(operation)?;
        let op_name = operation.operation_type.clone().unwrap_or_default();
        let takes_input = self
            .operations
            .get(&op_name)
            .is_some_and(|op_type| op_type.takes_input);
        // The work registered during this call is this call's alone, even when the caller shares
        // one context between calls.
        let ctx = ctx.for_one_execution();

        let total = documents.len();
        let mut readable = Vec::with_capacity(total);
        let mut input_indexes = Vec::new();
        let mut unreadable = Vec::new();
        for (index, document) in documents.into_iter().enumerate() {
            match document {
                InputDocument::Document(document) => {
                    readable.push(document);
                    input_indexes.push(index);
                }
                InputDocument::Malformed(why) => unreadable.push(unreadable_result(index, why)),
            }
        }
        let (results, delta) = if readable.is_empty() && !unreadable.is_empty() {
            // Nothing to run the operation over (not even a trigger document).
            (Vec::new(), Vec::new())
        } else {
            let batch = if unreadable.is_empty() {
                Batch::new(readable)
            } else {
                Batch::with_input_indexes(readable, input_indexes)
            };
            self.run_operation(
                &ctx,
                &*built_connection,
                &*built_operation,
                &op_name,
                batch,
                Echo {
                    input: takes_input,
                    added,
                },
            )
            .await
        };
        if unreadable.is_empty() {
            return Ok((results, delta, Deferred::new(&ctx)));
        }
        let deferred = Deferred::new(&ctx);
        // Both lists are in input order: merged by index (an unreadable document has no output).
        let mut merged = Vec::with_capacity(total);
        let mut merged_delta = Vec::with_capacity(if added { total } else { 0 });
        let mut delta = delta.into_iter();
        let mut results = results.into_iter().peekable();
        for unreadable in unreadable {
            while let Some(result) = results.next_if(|r| r.index < unreadable.index) {
                merged.push(result);
                merged_delta.extend(delta.next());
            }
            merged.push(unreadable);
            if added {
                merged_delta.push(false);
            }
        }
        merged.extend(results);
        merged_delta.extend(delta);
        Ok((merged, merged_delta, deferred))
    }

    /// Runs the operation over `batch` and turns what it recorded into one result per document;
    /// with `echo`, what the results carry of their input documents.
    async fn run_operation(
        &self,
        ctx: &ExecutionContext,
        built_connection: &dyn ErasedConnection,
        built_operation: &dyn ErasedOperation,
        op_name: &str,
        batch: Batch,
        echo: Echo,
    ) -> (Vec<DocumentResult>, Vec<bool>) {
        let outcome = AssertUnwindSafe(built_operation.execute(ctx, built_connection, &batch))
            .catch_unwind()
            .await;
        match outcome {
            Ok(Ok(())) => batch.into_results_echoing(
                |index| {
                    Outcome::failure(format!(
                        "the {op_name} operation returned no result for document {index}; \
                         this is a bug in the connector, and the document was not processed"
                    ))
                },
                echo,
            ),
            Ok(Err(err)) => {
                tracing::warn!(
                    execution = %ctx.execution_id,
                    error = %err.display_chain(),
                    "the {op_name} operation failed"
                );
                batch.into_results_echoing(
                    |index| {
                        let mut outcome = Outcome::from_error(&err);
                        outcome.message = Some(format!(
                            "document {index} was not processed: {}",
                            err.display_chain()
                        ));
                        outcome
                    },
                    echo,
                )
            }
            Err(panic) => {
                let reason = panic_message(&panic);
                tracing::error!(execution = %ctx.execution_id, reason = %reason, "the {op_name} operation panicked");
                batch.into_results_echoing(
                    |index| {
                        Outcome::failure(format!(
                            "internal error in the {op_name} operation ({reason}); document \
                             {index} was not processed"
                        ))
                    },
                    echo,
                )
            }
        }
    }
}

/// The result of document `index`, which could not be read.
fn unreadable_result(index: usize, why: String) -> DocumentResult {
    DocumentResult {
        index,
        status: ResultStatus::ApplicationError,
        status_code: Some(INVALID_DOCUMENT.to_owned()),
        message: Some(format!("document {index} could not be read: {why}")),
        outputs: Vec::new(),
    }
}

/// The work an execution registered with [`ExecutionContext::after_delivery`], to run once the
/// caller knows whether the results reached the host. Returned by
/// [`Connector::execute_deferred`].
#[must_use = "the work must be run, with whether the results were delivered"]
pub struct Deferred {
    execution_id: String,
    works: Vec<DeliveryWork>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("execution_id", &self.execution_id)
            .field("works", &self.works.len())
            .finish()
    }
}

impl Deferred {
    fn new(ctx: &ExecutionContext) -> Self {
        Self {
            execution_id: ctx.execution_id.clone(),
            works: ctx.deliveries().take(),
        }
    }

    /// How many pieces of work were registered.
    pub fn len(&self) -> usize {
        self.works.len()
    }

    /// Whether no work was registered.
    pub fn is_empty(&self) -> bool {
        self.works.is_empty()
    }

    /// Runs every piece of work, in the order registered, telling each whether the results were
    /// `delivered`. A panicking piece is logged and the others still run.
    pub async fn run(mut self, delivered: bool) {
        let works = std::mem::take(&mut self.works);
        if works.is_empty() {
            return;
        }
        if !delivered {
            tracing::warn!(
                execution = %self.execution_id,
                skipped = works.len(),
                "the results were not delivered; {} piece(s) of work that depend on delivery \
                 are told to skip or undo",
                works.len()
            );
        }
        for work in works {
            let ran = AssertUnwindSafe(async move { work(delivered).await })
                .catch_unwind()
                .await;
            if let Err(panic) = ran {
                tracing::error!(
                    execution = %self.execution_id,
                    reason = %panic_message(&panic),
                    "work registered to run after delivery panicked"
                );
            }
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if !self.works.is_empty() {
            tracing::warn!(
                execution = %self.execution_id,
                dropped = self.works.len(),
                "work registered to run after delivery was dropped without being run"
            );
        }
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic".to_owned()
    }
}
