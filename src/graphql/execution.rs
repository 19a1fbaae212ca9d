//! The one path every operation takes, over HTTP and WebSocket alike: parse once (a
//! document seen before is not parsed again: `graphql::documents`), check the limits (a batch budgeted as a whole), execute with the parsed document, and code
//! the errors async-graphql produced itself.

use std::sync::Arc;

use async_graphql::parser::types as parser;
use async_graphql::{Request, Response, ServerError, futures_util::stream::BoxStream};
use futures_util::{StreamExt, stream::FuturesOrdered};

use crate::db::Health;
use crate::error_code::ErrorCode;
use crate::graphql::cacheable;
use crate::graphql::documents::{Documents, Parsed};
use crate::graphql::error_codes::{
    VariableArguments, code_errors, code_of, missing_required_variable, parse_error,
    subscription_needs_a_stream,
};
use crate::graphql::limits::{Cost, Limits};
use crate::graphql::schema::{self, AppSchema};
use crate::graphql::trusted::{self, Resolution, TrustedDocuments};
use crate::metrics::{Metrics, OperationType};
use crate::state::AppState;
use crate::telemetry;

/// Executes requests against the schema; cheap to clone.
#[derive(Clone)]
pub struct Executor {
    schema: AppSchema,
    limits: Arc<Limits>,
    documents: Arc<Documents>,
    trusted: Arc<TrustedDocuments>,
    metrics: Metrics,
    health: Arc<Health>,
}

/// A request that parsed and is within its own limits.
struct Prepared {
    request: Request,
    cost: Cost,
    variables: VariableArguments,
    /// The response cache may keep its answer (`graphql::cacheable`).
    cacheable: bool,
    /// `None` when the document names no runnable operation (it will be refused).
    r#type: Option<OperationType>,
    /// The operation's name; `None` when anonymous.
    name: Option<Arc<str>>,
    /// A document of the parsed-document cache not yet validated for this operation: it
    /// is marked validated once it executes.
    to_validate: Option<Arc<Parsed>>,
}

/// An operation's response, whether the response cache may keep it (when it has no
/// errors), and its name (kept with a cached answer for the log line of a later hit).
pub struct Executed {
    pub response: Response,
    pub cacheable: bool,
    pub operation: Option<Arc<str>>,
}

impl Executor {
    /// The schema the server runs (`schema::build`) and its limits, from the state; the
    /// trusted documents in force.
    pub fn new(state: AppState, trusted: Arc<TrustedDocuments>) -> Self {
        let limits = Limits::new(&state.config, &schema::sdl());
        Self {
            metrics: state.metrics.clone(),
            health: state.health.clone(),
            schema: schema::build(state),
            limits: Arc::new(limits),
            documents: Arc::default(),
            trusted,
        }
    }

    /// The request with the text of the trusted document it names (`graphql::trusted`):
    /// for a transport that must see the operation before it runs (GET's "queries only",
    /// a subscription's stream). Every operation is resolved anyway before it runs.
    pub fn resolve(&self, request: Request) -> Request {
        self.trusted.resolve(request)
    }

    fn prepare(&self, request: Request) -> Result<Prepared, ServerError> {
        let mut request = self.trusted.resolve(request);
        let (parsed, prevalidated) = match trusted::resolution(&request) {
            Some(Resolution::Refused(error)) => return Err(error.clone()),
            Some(Resolution::Trusted(trusted)) => (trusted.document.clone()?, true),
            Some(Resolution::Plain) | None => {
                let parsed = self.documents.parse(&request.query).map_err(parse_error)?;
                let validated = parsed.validated(request.operation_name.as_deref());
                (parsed, validated)
            }
        };
        let document = &parsed.document;
        let cost = self.limits.check(
            document,
            request.operation_name.as_deref(),
            &request.variables,
        )?;
        if let Some(operation) =
            cacheable::selected_operation(document, request.operation_name.as_deref())
            && let Some(error) = missing_required_variable(operation, &request.variables)
        {
            return Err(error);
        }
        let variables = parsed.variables.clone();
        let cacheable = cacheable::is_cacheable(document, request.operation_name.as_deref());
        let r#type = cacheable::selected_operation(document, request.operation_name.as_deref())
            .map(|operation| match operation.node.ty {
                parser::OperationType::Query => OperationType::Query,
                parser::OperationType::Mutation => OperationType::Mutation,
                parser::OperationType::Subscription => OperationType::Subscription,
            });
        let name = cacheable::selected_operation_name(document, request.operation_name.as_deref())
            .map(Arc::from);
        request.set_parsed_query(document.clone());
        if prevalidated {
            // Validated at load or by an earlier request: async-graphql checks only what
            // depends on the request.
            request = request.data(async_graphql::Prevalidated);
        }
        Ok(Prepared {
            request,
            cost,
            variables,
            cacheable,
            r#type,
            name,
            to_validate: (!prevalidated).then_some(parsed),
        })
    }

    async fn run(&self, prepared: Prepared) -> Response {
        let operation = prepared.request.operation_name.clone();
        let mut response = self.schema.execute(prepared.request).await;
        // Data means it passed validation (which answers no data) and ran.
        if let Some(parsed) = prepared.to_validate
            && response.data != async_graphql::Value::Null
        {
            parsed.mark_validated(operation.as_deref());
        }
        code_errors(&mut response, &prepared.variables);
        self.count(prepared.r#type, &response);
        self.note_unavailable(&response);
        response
    }

    /// A response that says the database could not take it marks the database unfit for
    /// writes until a probe proves otherwise (`/healthz`).
    fn note_unavailable(&self, response: &Response) {
        if response
            .errors
            .iter()
            .any(|error| code_of(error) == Some(ErrorCode::ServiceUnavailable))
        {
            self.health.failed();
        }
    }

    /// An operation's outcome, for the metrics (API.md Operations).
    fn count(&self, r#type: Option<OperationType>, response: &Response) {
        if let Some(r#type) = r#type {
            self.metrics.operation(r#type, response.errors.is_empty());
        }
    }

    /// The auth failures of one request (a batch is one), each code once.
    fn count_auth_failures<'a>(&self, responses: impl IntoIterator<Item = &'a Response>) {
        self.metrics.auth_failures(
            responses
                .into_iter()
                .flat_map(|response| response.errors.iter().filter_map(code_of)),
        );
    }

    /// One operation.
    pub async fn execute(&self, request: Request) -> Response {
        self.execute_cacheable(request).await.response
    }

    /// An operation answered from the response cache, for the metrics (a query; without
    /// errors, or with the guards' refusals of an anonymous caller: `refused`) and the
    /// request's log line.
    pub fn count_cached(&self, operation: Option<&str>, refused: bool) {
        self.metrics.operation(OperationType::Query, !refused);
        if refused {
            self.metrics
                .auth_failures([ErrorCode::AuthorizationRequired]);
        }
        if let Some(name) = operation {
            telemetry::record_operation(name);
        }
    }

    /// A request over HTTP answered with one response: a subscription is refused (it is
    /// streamed when the client asks for a stream: `http::streams`).
    fn prepare_single(&self, request: Request) -> Result<Prepared, ServerError> {
        let prepared = self.prepare(request)?;
        if prepared.r#type == Some(OperationType::Subscription) {
            return Err(subscription_needs_a_stream());
        }
        Ok(prepared)
    }

    /// One operation over HTTP (its name goes on the request's log line).
    pub async fn execute_cacheable(&self, request: Request) -> Executed {
        let executed = match self.prepare_single(request) {
            Ok(prepared) => {
                let (cacheable, operation) = (prepared.cacheable, prepared.name.clone());
                if let Some(name) = &operation {
                    telemetry::record_operation(name);
                }
                Executed {
                    response: self.run(prepared).await,
                    cacheable,
                    operation,
                }
            }
            Err(error) => Executed {
                response: Response::from_errors(vec![error]),
                cacheable: false,
                operation: None,
            },
        };
        self.count_auth_failures([&executed.response]);
        executed
    }

    /// A batch, its operations run concurrently. Over the batch's budget (complexity,
    /// aliases, directives and mutation root fields summed) nothing runs, and every
    /// operation answers the refusal (API.md "Limits").
    pub async fn execute_batch(&self, requests: Vec<Request>) -> Vec<Response> {
        let prepared: Vec<Result<Prepared, ServerError>> = requests
            .into_iter()
            .map(|r| self.prepare_single(r))
            .collect();
        record_batch_names(&prepared);
        let total = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .fold(Cost::default(), |sum, p| sum + p.cost);
        if let Err(refusal) = self.limits.within(total) {
            return prepared
                .iter()
                .map(|_| Response::from_errors(vec![refusal.clone()]))
                .collect();
        }
        let responses: Vec<Response> = prepared
            .into_iter()
            .map(|p| async move {
                match p {
                    Ok(prepared) => self.run(prepared).await,
                    Err(error) => Response::from_errors(vec![error]),
                }
            })
            .collect::<FuturesOrdered<_>>()
            .collect()
            .await;
        self.count_auth_failures(&responses);
        responses
    }

    /// An operation over a WebSocket (one log line per socket, so no name is recorded): a
    /// subscription's stream of events, or the single
    /// response of a query or mutation.
    pub fn execute_stream(&self, request: Request) -> BoxStream<'static, Response> {
        match self.prepare(request) {
            Ok(prepared) => {
                let variables = prepared.variables;
                let r#type = prepared.r#type;
                let executor = self.clone();
                let mut first = true;
                self.schema
                    .execute_stream(prepared.request)
                    .map(move |mut response| {
                        code_errors(&mut response, &variables);
                        // An operation counts once, by its first answer (a subscription
                        // that starts well, or fails at once); each answer's auth failures
                        // count (every event is authorized anew).
                        if std::mem::take(&mut first) {
                            executor.count(r#type, &response);
                        }
                        executor.count_auth_failures([&response]);
                        executor.note_unavailable(&response);
                        response
                    })
                    .boxed()
            }
            Err(error) => {
                futures_util::stream::once(async move { Response::from_errors(vec![error]) })
                    .boxed()
            }
        }
    }
}

/// A batch's operation names on its log line: `a,b,-` (`-` anonymous or refused); nothing
/// when none has a name.
fn record_batch_names(prepared: &[Result<Prepared, ServerError>]) {
    let names: Vec<&str> = prepared
        .iter()
        .map(|p| {
            p.as_ref()
                .ok()
                .and_then(|p| p.name.as_deref())
                .unwrap_or("-")
        })
        .collect();
    if names.iter().any(|name| *name != "-") {
        telemetry::record_operation(&names.join(","));
    }
}
