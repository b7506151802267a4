//! The studio's HTTP API, which the page calls with JSON: the descriptor, the component files,
//! Test Connection, browse and a one-off execute, all through the one plugin process.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use connector_sdk::host::{ClientError, ExecuteParamsRef, INVALID_FIELDS, PluginProcess};
use connector_sdk::{Component, ComponentKind, Descriptor, Document, FieldError};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fields::{self, Draft, Vault};
use super::{assets, files, guard};

/// The most a request body may hold (documents pasted for "try it" included).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The studio: the plugin, the component folder and the secrets the page handed over.
pub(crate) struct Studio {
    plugin: Arc<PluginProcess>,
    dir: PathBuf,
    vault: Mutex<Vault>,
    guard: Arc<guard::Guard>,
    executions: AtomicU64,
}

impl Studio {
    /// A studio over a started plugin and a component folder.
    pub(crate) fn new(plugin: Arc<PluginProcess>, dir: PathBuf, guard: guard::Guard) -> Self {
        Self {
            plugin,
            dir,
            vault: Mutex::new(Vault::default()),
            guard: Arc::new(guard),
            executions: AtomicU64::new(0),
        }
    }

    fn descriptor(&self) -> Arc<Descriptor> {
        self.plugin.descriptor()
    }

    fn connector(&self) -> String {
        self.descriptor().id.clone()
    }

    /// The schema of a draft's kind, or a 400 answer.
    fn schema_of(&self, draft: &Draft) -> Result<Value, Box<Response>> {
        fields::schema(
            &self.descriptor(),
            draft.kind,
            draft.operation_type.as_deref(),
        )
        .cloned()
        .ok_or_else(|| {
            Box::new(bad_request(format!(
                "{} is not an operation type of this connector",
                draft.operation_type.as_deref().unwrap_or("(none)")
            )))
        })
    }

    /// The protocol component of a draft, or the answer with its field errors.
    fn component(&self, draft: &Draft, part: Part) -> Result<Component, Box<Response>> {
        let schema = self.schema_of(draft)?;
        fields::resolve(
            draft,
            &self.connector(),
            &schema,
            &mut self.vault.lock(),
            &self.dir,
        )
        .map_err(|errors| Box::new(field_errors(part, errors)))
    }

    /// Makes sure the plugin runs (it is started again after it exited).
    async fn running(&self) -> Result<&PluginProcess, Box<Response>> {
        self.plugin
            .ensure_running()
            .await
            .map_err(|err| Box::new(plugin_failed(&err)))?;
        Ok(&self.plugin)
    }
}

/// Which form of the page a field error belongs to.
#[derive(Debug, Clone, Copy)]
enum Part {
    Connection,
    Operation,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Connection => "connection",
            Part::Operation => "operation",
        }
    }
}

/// The routes, behind the guard.
pub(crate) fn router(studio: Arc<Studio>) -> Router {
    let guard = studio.guard.clone();
    Router::new()
        .route("/", get(assets::index))
        .route("/studio.css", get(assets::css))
        .route("/studio.js", get(assets::js))
        .route("/api/descriptor", get(descriptor))
        .route("/api/components", get(list_components))
        .route("/api/components/load", post(load_component))
        .route("/api/components/save", post(save_component))
        .route("/api/secrets", post(keep_secrets))
        .route("/api/test-connection", post(test_connection))
        .route("/api/browse", post(browse))
        .route("/api/execute", post(execute))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        .with_state(studio)
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

fn field_errors(part: Part, errors: Vec<FieldError>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": format!("the {} has invalid fields", part.name()),
            "part": part.name(),
            "fieldErrors": errors,
        })),
    )
        .into_response()
}

fn plugin_failed(err: &ClientError) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        Json(json!({ "error": format!("the connector plugin could not do it: {err}") })),
    )
        .into_response()
}

/// A failed call's answer: the plugin's field errors (-32001) for the part they belong to.
fn call_failed(err: &ClientError, part: Part) -> Response {
    match err {
        ClientError::Rpc(rpc) if rpc.code == INVALID_FIELDS => {
            let errors = rpc.field_errors();
            if errors.is_empty() {
                bad_request(rpc.message.clone())
            } else {
                field_errors(part, errors)
            }
        }
        other => plugin_failed(other),
    }
}

/// `GET /api/descriptor`: what the forms are made from.
async fn descriptor(State(studio): State<Arc<Studio>>) -> Json<Value> {
    Json(json!({
        "descriptor": &*studio.descriptor(),
        "protocolVersion": studio.plugin.protocol_version(),
        "components": studio.dir.display().to_string(),
        "secretsDir": fields::SECRETS_DIR,
    }))
}

/// `GET /api/components`: the component files of the folder.
async fn list_components(State(studio): State<Arc<Studio>>) -> Json<Value> {
    Json(json!({ "files": files::list(&studio.dir) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoadRequest {
    file: String,
    draft: String,
}

/// `POST /api/components/load`: a component file, secrets masked (kept for the draft).
async fn load_component(
    State(studio): State<Arc<Studio>>,
    Json(request): Json<LoadRequest>,
) -> Response {
    let value = match files::read(&studio.dir, &request.file) {
        Ok(value) => value,
        Err(message) => return bad_request(message),
    };
    let kind = match value["kind"].as_str() {
        Some("connection") => ComponentKind::Connection,
        Some("operation") => ComponentKind::Operation,
        _ => return bad_request(format!("{} has no valid \"kind\"", request.file)),
    };
    let descriptor = studio.descriptor();
    let Some(schema) = fields::schema(&descriptor, kind, value["operationType"].as_str()) else {
        return bad_request(format!(
            "{} is an operation type this connector does not have",
            request.file
        ));
    };
    let mut shown = fields::mask(&value, schema, &mut studio.vault.lock(), &request.draft);
    let mut value = value;
    fields::wipe(&mut value);
    shown["file"] = json!(request.file);
    Json(json!({ "component": shown })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SaveRequest {
    component: Draft,
    #[serde(default)]
    store_secrets: bool,
    #[serde(default)]
    overwrite: bool,
}

/// `POST /api/components/save`: writes `<id>.json` (secrets as references unless
/// `storeSecrets`); refuses to replace a file unless `overwrite`. The answer carries the
/// host's check of the fields against the descriptor (`fieldErrors`, empty when valid).
async fn save_component(
    State(studio): State<Arc<Studio>>,
    Json(request): Json<SaveRequest>,
) -> Response {
    let draft = &request.component;
    if !files::valid_id(&draft.id) {
        return field_errors(
            part_of(draft),
            vec![FieldError {
                field: "id".into(),
                label: "Component id".into(),
                message: "use letters, digits, '.', '_' and '-', starting with a letter or a \
                          digit (it names the file <id>.json)"
                    .into(),
            }],
        );
    }
    let path = files::path_for(&studio.dir, &draft.id);
    if path.exists() && !request.overwrite {
        return (
            StatusCode::CONFLICT,
            Json(json!({
                "error": format!("{} exists: save again to replace it", path.display()),
                "exists": true,
            })),
        )
            .into_response();
    }
    let schema = match studio.schema_of(draft) {
        Ok(schema) => schema,
        Err(response) => return *response,
    };
    let connector = studio.connector();
    let (file, secret_files) = match fields::to_file(
        draft,
        &connector,
        &schema,
        &mut studio.vault.lock(),
        request.store_secrets,
    ) {
        Ok(written) => written,
        Err(errors) => return field_errors(part_of(draft), errors),
    };
    if let Err(err) = files::write(&studio.dir, &draft.id, &file, &secret_files) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("cannot save into {}: {err}", studio.dir.display()) })),
        )
            .into_response();
    }
    // What `run` will say of the saved component, when its references can be read here.
    let check = match fields::resolve(
        draft,
        &connector,
        &schema,
        &mut studio.vault.lock(),
        &studio.dir,
    ) {
        Ok(component) => match studio.descriptor().validate(&component) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        },
        Err(errors) => errors,
    };
    Json(json!({
        "file": format!("{}.json", draft.id),
        "path": path.display().to_string(),
        "secretFiles": secret_files.iter().map(|s| &s.relative).collect::<Vec<_>>(),
        "part": part_of(draft).name(),
        "fieldErrors": check,
    }))
    .into_response()
}

fn part_of(draft: &Draft) -> Part {
    match draft.kind {
        ComponentKind::Connection => Part::Connection,
        ComponentKind::Operation => Part::Operation,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SecretsRequest {
    draft: String,
    kind: ComponentKind,
    #[serde(default)]
    operation_type: Option<String>,
    fields: serde_json::Map<String, Value>,
}

impl Drop for SecretsRequest {
    fn drop(&mut self) {
        self.fields.values_mut().for_each(fields::wipe);
    }
}

/// `POST /api/secrets`: the page hands over secret values typed in a draft; the studio keeps
/// them (for the draft's later `{"keep": true}`) and answers which it kept, never a value.
/// Fields that are not secrets, or not text, are refused.
async fn keep_secrets(
    State(studio): State<Arc<Studio>>,
    Json(request): Json<SecretsRequest>,
) -> Response {
    let descriptor = studio.descriptor();
    let Some(schema) = fields::schema(&descriptor, request.kind, request.operation_type.as_deref())
    else {
        return bad_request("no such operation type");
    };
    let secrets = fields::secret_keys(schema);
    let part = match request.kind {
        ComponentKind::Connection => Part::Connection,
        ComponentKind::Operation => Part::Operation,
    };
    let refused: Vec<FieldError> = request
        .fields
        .iter()
        .filter(|(key, value)| !secrets.contains(*key) || !value.is_string())
        .map(|(key, _)| FieldError {
            field: key.clone(),
            label: fields::label(schema, key),
            message: "is not a secret field: send it with the component".into(),
        })
        .collect();
    if !refused.is_empty() {
        return field_errors(part, refused);
    }
    let mut vault = studio.vault.lock();
    let mut kept = Vec::new();
    for (key, value) in &request.fields {
        if let Some(text) = value.as_str() {
            vault.put(
                &request.draft,
                key,
                zeroize::Zeroizing::new(text.to_owned()),
            );
            kept.push(key.clone());
        }
    }
    Json(json!({ "kept": kept })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TestConnectionRequest {
    connection: Draft,
}

/// `POST /api/test-connection`: the plugin's steps, or its field errors (422).
async fn test_connection(
    State(studio): State<Arc<Studio>>,
    Json(request): Json<TestConnectionRequest>,
) -> Response {
    let connection = match studio.component(&request.connection, Part::Connection) {
        Ok(component) => component,
        Err(response) => return *response,
    };
    let plugin = match studio.running().await {
        Ok(plugin) => plugin,
        Err(response) => return *response,
    };
    match plugin.test_connection(&connection).await {
        Ok(result) => Json(json!(result)).into_response(),
        Err(err) => call_failed(&err, Part::Connection),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BrowseRequest {
    connection: Draft,
    operation_type: String,
    #[serde(default)]
    filter: Option<String>,
}

/// `POST /api/browse`: the objects (queues) the plugin lists for an operation type.
async fn browse(State(studio): State<Arc<Studio>>, Json(request): Json<BrowseRequest>) -> Response {
    let connection = match studio.component(&request.connection, Part::Connection) {
        Ok(component) => component,
        Err(response) => return *response,
    };
    let plugin = match studio.running().await {
        Ok(plugin) => plugin,
        Err(response) => return *response,
    };
    let filter = request.filter.as_deref().filter(|f| !f.is_empty());
    match plugin
        .browse(&connection, &request.operation_type, filter)
        .await
    {
        Ok(result) => Json(json!(result)).into_response(),
        Err(err) => call_failed(&err, Part::Connection),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExecuteRequest {
    connection: Draft,
    operation: Draft,
    /// JSONL: one Document object per line.
    #[serde(default)]
    documents: String,
}

/// `POST /api/execute`: runs the operation once over the documents (JSONL); one result per
/// document. A RECEIVE (an operation that takes no input) without documents gets one empty
/// trigger document. Listeners are refused: they run with `test-harness listen`.
async fn execute(
    State(studio): State<Arc<Studio>>,
    Json(request): Json<ExecuteRequest>,
) -> Response {
    let descriptor = studio.descriptor();
    let operation_type = request.operation.operation_type.clone().unwrap_or_default();
    let Some(entry) = descriptor.operation(&operation_type) else {
        return bad_request(format!(
            "{operation_type:?} is not an operation type of this connector"
        ));
    };
    if entry.listener {
        return bad_request(format!(
            "{operation_type} is a listener: save it and run it with test-harness listen \
             --process FILE; \"try it\" runs the other operations"
        ));
    }
    let documents = match parse_documents(&request.documents) {
        Ok(documents) if documents.is_empty() && !entry.takes_input => {
            vec![Document::new(Vec::new())]
        }
        Ok(documents) if documents.is_empty() => {
            return bad_request("type or paste at least one document (one JSON object per line)");
        }
        Ok(documents) => documents,
        Err(message) => return bad_request(message),
    };
    let connection = match studio.component(&request.connection, Part::Connection) {
        Ok(component) => component,
        Err(response) => return *response,
    };
    let operation = match studio.component(&request.operation, Part::Operation) {
        Ok(component) => component,
        Err(response) => return *response,
    };
    // The host's own check first, so that each error is shown on its own form.
    for (component, part) in [
        (&connection, Part::Connection),
        (&operation, Part::Operation),
    ] {
        if let Err(errors) = descriptor.validate(component) {
            return field_errors(part, errors);
        }
    }
    let plugin = match studio.running().await {
        Ok(plugin) => plugin,
        Err(response) => return *response,
    };
    let number = studio.executions.fetch_add(1, Ordering::Relaxed) + 1;
    let execution_id = format!("studio-{}-{number}", std::process::id());
    match plugin
        .execute_ref(&ExecuteParamsRef {
            execution_id: &execution_id,
            process_name: "studio",
            connection: &connection,
            operation: &operation,
            documents: &documents,
        })
        .await
    {
        Ok(result) => Json(json!(result)).into_response(),
        Err(err) => call_failed(&err, Part::Operation),
    }
}

/// Documents from JSONL text; an error names the line.
fn parse_documents(text: &str) -> Result<Vec<Document>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line).map_err(|e| {
                format!(
                    "line {}: not a document ({{\"data\": \"...\", \"properties\": {{...}}}}): {e}",
                    number + 1
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_read_line_by_line_and_errors_name_the_line() {
        let documents = parse_documents(
            "{\"data\": \"a\"}\n\n{\"data\": \"b\", \"properties\": {\"k\": \"v\"}}\n",
        )
        .unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[1].property("k"), Some("v"));
        let err = parse_documents("{\"data\": \"a\"}\nnot json").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
