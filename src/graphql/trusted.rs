//! Trusted documents (API.md "Trusted documents"): the documents an app ships, known by
//! the SHA-256 of their text, from manifest files (`PERSISTED_DOCUMENTS_FILES`) and from
//! APQ registrations.
//!
//! A request names a document by `documentId` (`sha256:<hex>` or bare), Relay's `doc_id`
//! or APQ's `extensions.persistedQuery.sha256Hash`, on every transport. [`TrustedDocuments::
//! resolve`] turns it into a request with the text (and marks it), before anything looks at
//! the text: so GET's "queries only" and the streaming of subscriptions see the real
//! operation. A manifest's documents are parsed and validated once, at load; a request for
//! one carries [`async_graphql::Prevalidated`], and only what depends on the request (the
//! variables' values, the limits) is checked per request.
//!
//! `PERSISTED_DOCUMENTS`: `off` accepts ids and any text; `audit` also runs any text but
//! counts and logs (by hash) a text in no manifest; `require` runs manifest documents only,
//! by id or identical text. APQ registration (text + hash) works in `off` and `audit`,
//! within [`REGISTERED_MAX_BYTES`] of memory (when full, the registrations are dropped and
//! clients register again, as APQ clients do on `PersistedQueryNotFound`).

use std::{
    any::TypeId,
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
};

use async_graphql::{Request, ServerError, Value, parser::types::ExecutableDocument};
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, PersistedDocuments as Mode};
use crate::error_code::ErrorCode;
use crate::graphql::documents::{MAX_DOCUMENT_BYTES, Parsed};
use crate::graphql::error_codes::{coded, parse_error};
use crate::graphql::schema::Validator;
use crate::metrics::{DocumentOutcome, Metrics};

const FILES: &str = "PERSISTED_DOCUMENTS_FILES";

/// APQ registrations kept at most, in bytes of text.
pub const REGISTERED_MAX_BYTES: usize = 4 << 20;

/// The message of an unknown id: what Apollo Client's APQ link waits for.
pub const NOT_FOUND: &str = "PersistedQueryNotFound";

/// A document of a manifest, parsed and validated at load.
pub struct Trusted {
    pub text: String,
    /// The parsed document, or why it cannot run (it no longer parses or validates against
    /// today's schema: refused per request, never a reason to stop the start).
    pub document: Result<Arc<Parsed>, ServerError>,
}

/// The manifests' documents by the hex SHA-256 of their text.
#[derive(Default)]
pub struct Manifest {
    documents: HashMap<String, Arc<Trusted>>,
}

impl Manifest {
    /// Reads every file; any unreadable file, unknown format or id that is not its text's
    /// SHA-256 fails the whole load. `validate` checks a document against the schema.
    pub fn load(
        files: &[PathBuf],
        validate: &dyn Fn(&ExecutableDocument) -> Result<(), Vec<ServerError>>,
    ) -> Result<Self, ConfigError> {
        let mut documents = HashMap::new();
        for path in files {
            let bad = |why: String| ConfigError::new(FILES, format!("{}: {why}", path.display()));
            let text = std::fs::read_to_string(path)
                .map_err(|error| bad(format!("cannot read: {error}")))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|error| bad(format!("not JSON: {error}")))?;
            for (id, body) in entries(json).map_err(bad)? {
                let hash = sha256_hex(&body);
                if id
                    .strip_prefix("sha256:")
                    .unwrap_or(&id)
                    .to_ascii_lowercase()
                    != hash
                {
                    return Err(bad(format!(
                        "document {id:?} is not the SHA-256 of its text ({hash}); Relay must \
                         write its manifest with `algorithm: SHA256`"
                    )));
                }
                let document = prepare(&body, validate);
                if let Err(error) = &document {
                    tracing::warn!(
                        id = %hash,
                        file = %path.display(),
                        error = %error.message,
                        "a trusted document does not run against this schema; asking for it \
                         answers GRAPHQL_VALIDATION_FAILED"
                    );
                }
                documents.insert(
                    hash,
                    Arc::new(Trusted {
                        text: body,
                        document,
                    }),
                );
            }
        }
        Ok(Self { documents })
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    fn get(&self, hash: &str) -> Option<Arc<Trusted>> {
        self.documents.get(hash).cloned()
    }
}

/// `(id, text)` of each document of one manifest: Apollo's persisted query manifest, or a
/// flat `{id: text}` map (GraphQL Code Generator's client preset, Relay).
fn entries(json: serde_json::Value) -> Result<Vec<(String, String)>, String> {
    let serde_json::Value::Object(map) = json else {
        return Err("a manifest is a JSON object".to_owned());
    };
    if let Some(format) = map.get("format") {
        if format != "apollo-persisted-query-manifest" {
            return Err(format!("unknown manifest format {format}"));
        }
        if map.get("version") != Some(&serde_json::json!(1)) {
            return Err("only version 1 of Apollo's manifest format is known".to_owned());
        }
        let Some(serde_json::Value::Array(operations)) = map.get("operations") else {
            return Err("`operations` must be an array".to_owned());
        };
        return operations
            .iter()
            .map(|operation| {
                match (
                    operation.get("id").and_then(|id| id.as_str()),
                    operation.get("body").and_then(|body| body.as_str()),
                ) {
                    (Some(id), Some(body)) => Ok((id.to_owned(), body.to_owned())),
                    _ => Err("every operation needs a string `id` and `body`".to_owned()),
                }
            })
            .collect();
    }
    map.into_iter()
        .map(|(id, body)| match body {
            serde_json::Value::String(body) => Ok((id, body)),
            _ => Err(format!("document {id:?} is not a string")),
        })
        .collect()
}

/// Parses and validates one manifest document.
fn prepare(
    text: &str,
    validate: &dyn Fn(&ExecutableDocument) -> Result<(), Vec<ServerError>>,
) -> Result<Arc<Parsed>, ServerError> {
    let document = async_graphql::parser::parse_query(text).map_err(parse_error)?;
    if let Err(errors) = validate(&document) {
        let first = errors
            .into_iter()
            .next()
            .map_or_else(|| "Invalid document".to_owned(), |error| error.message);
        return Err(coded(first, ErrorCode::GraphqlValidationFailed));
    }
    Ok(Arc::new(Parsed::new(document)))
}

pub fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// What resolution made of a request; kept in its data for the executor.
#[derive(Clone)]
pub enum Resolution {
    /// A text to parse and validate as usual.
    Plain,
    /// A manifest document: parsed and validated already.
    Trusted(Arc<Trusted>),
    /// Refused before anything runs.
    Refused(ServerError),
}

/// APQ registrations, bounded.
#[derive(Default)]
struct Registered {
    bytes: usize,
    texts: HashMap<String, Arc<str>>,
}

/// The trusted documents in force, and the APQ registrations.
pub struct TrustedDocuments {
    mode: Mode,
    files: Vec<PathBuf>,
    manifest: RwLock<Arc<Manifest>>,
    registered: Mutex<Registered>,
    validate: Validator,
    metrics: Metrics,
}

impl TrustedDocuments {
    /// Loads the manifests (a failure stops the start: exit 2, naming the variable).
    pub fn load(
        mode: Mode,
        files: Vec<PathBuf>,
        validate: Validator,
        metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        if mode == Mode::Require && files.is_empty() {
            return Err(ConfigError::new(
                "PERSISTED_DOCUMENTS",
                "`require` needs PERSISTED_DOCUMENTS_FILES (no document could run)",
            ));
        }
        let manifest = Manifest::load(&files, &*validate)?;
        if !files.is_empty() {
            tracing::info!(
                documents = manifest.len(),
                mode = ?mode,
                "trusted documents loaded"
            );
        }
        Ok(Self {
            mode,
            files,
            manifest: RwLock::new(Arc::new(manifest)),
            registered: Mutex::default(),
            validate,
            metrics,
        })
    }

    /// Reads the manifests again (`SIGHUP`); a load that fails keeps the set in force.
    /// Requests in flight keep the documents they resolved.
    pub fn reload(&self) {
        if self.files.is_empty() {
            tracing::info!("SIGHUP: no PERSISTED_DOCUMENTS_FILES to reload");
            return;
        }
        match Manifest::load(&self.files, &*self.validate) {
            Ok(manifest) => {
                tracing::info!(documents = manifest.len(), "trusted documents reloaded");
                *self.manifest.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(manifest);
            }
            Err(error) => tracing::error!(
                variable = error.variable,
                reason = %error.reason,
                "trusted documents not reloaded; the set in force stays"
            ),
        }
    }

    fn manifest(&self) -> Arc<Manifest> {
        self.manifest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The request with the text of the document it names, and its [`Resolution`] in its
    /// data. Resolving twice changes nothing.
    pub fn resolve(&self, mut request: Request) -> Request {
        if resolution(&request).is_some() || self.plain(&request) {
            return request;
        }
        let resolution = self.resolution(&mut request);
        if let Resolution::Trusted(trusted) = &resolution
            && request.query.is_empty()
        {
            request.query = trusted.text.clone();
        }
        request.data(resolution)
    }

    /// `off` and no id: nothing to look up or count, so nothing is marked (the hot path
    /// of a server without trusted documents costs no lock and no allocation).
    fn plain(&self, request: &Request) -> bool {
        self.mode == Mode::Off
            && request.document_id.is_none()
            && request.doc_id.is_none()
            && !request.extensions.contains_key("persistedQuery")
    }

    fn resolution(&self, request: &mut Request) -> Resolution {
        let id = requested_id(request);
        let manifest = self.manifest();
        let Some(id) = id else {
            return self.text_alone(&manifest, &request.query);
        };
        if request.query.is_empty() {
            if let Some(trusted) = manifest.get(&id) {
                self.metrics.persisted_document(DocumentOutcome::Hit);
                return Resolution::Trusted(trusted);
            }
            if self.mode != Mode::Require
                && let Some(text) = self.registered(&id)
            {
                self.metrics.persisted_document(DocumentOutcome::Hit);
                request.query = text.to_string();
                return Resolution::Plain;
            }
            self.metrics.persisted_document(DocumentOutcome::Miss);
            return Resolution::Refused(coded(NOT_FOUND, ErrorCode::PersistedDocumentNotFound));
        }
        if sha256_hex(&request.query) != id {
            return Resolution::Refused(coded(
                "The document's SHA-256 is not the id sent with it",
                ErrorCode::BadUserInput,
            ));
        }
        if let Some(trusted) = manifest.get(&id) {
            self.metrics.persisted_document(DocumentOutcome::Hit);
            return Resolution::Trusted(trusted);
        }
        if self.mode == Mode::Require {
            return required();
        }
        self.register(id, &request.query);
        Resolution::Plain
    }

    /// A request that sends a text and no id.
    fn text_alone(&self, manifest: &Manifest, text: &str) -> Resolution {
        if self.mode == Mode::Off || text.is_empty() {
            return Resolution::Plain;
        }
        let hash = sha256_hex(text);
        if let Some(trusted) = manifest.get(&hash) {
            self.metrics.persisted_document(DocumentOutcome::Hit);
            return Resolution::Trusted(trusted);
        }
        match self.mode {
            Mode::Require => required(),
            _ => {
                self.metrics
                    .persisted_document(DocumentOutcome::UnknownText);
                tracing::info!(hash = %hash, "a document in no manifest ran (PERSISTED_DOCUMENTS=audit)");
                Resolution::Plain
            }
        }
    }

    fn registered(&self, id: &str) -> Option<Arc<str>> {
        self.lock_registered().texts.get(id).cloned()
    }

    /// An APQ registration: remembered within the memory bound.
    fn register(&self, id: String, text: &str) {
        if text.len() > MAX_DOCUMENT_BYTES {
            return;
        }
        let mut registered = self.lock_registered();
        if registered.texts.contains_key(&id) {
            return;
        }
        if registered.bytes + text.len() > REGISTERED_MAX_BYTES {
            registered.texts.clear();
            registered.bytes = 0;
        }
        registered.bytes += text.len();
        registered.texts.insert(id, Arc::from(text));
        self.metrics.persisted_document(DocumentOutcome::Registered);
    }

    fn lock_registered(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn required() -> Resolution {
    Resolution::Refused(coded(
        "Only trusted documents run here (PERSISTED_DOCUMENTS=require): send the id of a \
         document from the app's manifest",
        ErrorCode::PersistedDocumentRequired,
    ))
}

/// The document id a request names, lowercase hex without `sha256:`; `documentId` first,
/// then Relay's `doc_id`, then APQ's `extensions.persistedQuery.sha256Hash`.
fn requested_id(request: &mut Request) -> Option<String> {
    let id = request
        .document_id
        .take()
        .or_else(|| request.doc_id.take())
        .or_else(|| match request.extensions.get("persistedQuery") {
            Some(Value::Object(persisted)) => match persisted.get("sha256Hash") {
                Some(Value::String(hash)) => Some(hash.clone()),
                _ => None,
            },
            _ => None,
        })?;
    Some(
        id.strip_prefix("sha256:")
            .unwrap_or(&id)
            .to_ascii_lowercase(),
    )
}

/// What [`TrustedDocuments::resolve`] made of `request`, if it marked it (`None`: a plain
/// text).
pub fn resolution(request: &Request) -> Option<&Resolution> {
    request
        .data
        .get(&TypeId::of::<Resolution>())
        .and_then(|data| data.downcast_ref::<Resolution>())
}
