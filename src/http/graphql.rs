//! GraphQL over HTTP: `POST /graphql` (JSON only, batches bounded) and `GET /graphql`
//! (queries only; HEAD is routed here too). Builds the request's auth context from the
//! headers — parsing only, never failing — and attaches it, then answers
//! `application/json` or `application/graphql-response+json` as the client accepts.
//! A single operation goes through the response cache when it is on.
//! `e2e/audit.mjs` checks this file against the GraphQL-over-HTTP audit of `graphql-http`.

use std::{net::SocketAddr, sync::Arc};

use async_graphql::{BatchRequest, BatchResponse, Request, parser::types::OperationType};
use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::HttpState;
use super::response_cache::{Answer, Class, Lookup, RequestKey, ResponseCache};
use super::streams::{self, Kind};
use super::{WireResponse, error_response};
use crate::auth::credentials::{Presented, RefreshCookie};
use crate::error_code::ErrorCode;
use crate::graphql::context::{AuthContext, OperationLive};
use crate::graphql::error_codes::{code_of, failed_before_execution};
use crate::graphql::errors::ApiError;
use crate::graphql::execution::Executed;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// `POST /graphql`.
pub async fn post(
    State(app): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "Content-Type must be application/json",
        );
    }
    // A subscription asking for a stream (SSE, or Apollo's multipart) is answered as one,
    // and so is any single operation from a client that accepts only SSE. The document a
    // request names by id is resolved first: the operation's type is its document's.
    let stream = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .and_then(Kind::wanted);
    if let Some(kind) = stream.filter(|_| is_single(&body))
        && let Ok(BatchRequest::Single(request)) =
            parse_body(&body, app.state.config.graphql_max_batch)
    {
        let request = app.executor.resolve(request);
        if selected_operation_type(&request) == Some(OperationType::Subscription)
            || (kind == Kind::Sse
                && !accepts(&headers, JSON)
                && !accepts(&headers, GRAPHQL_RESPONSE_JSON))
        {
            return subscribe(&app, &headers, peer, request, kind).await;
        }
        if let Some(cache) = &app.cache {
            return through_cache(&app, cache, &headers, peer, body.clone(), || Ok(request)).await;
        }
        let attach = request_data(&app, &headers, peer);
        let response = app.executor.execute(attach(request)).await;
        return respond(&headers, BatchResponse::Single(response));
    }
    if let Some(cache) = app.cache.as_ref().filter(|_| is_single(&body)) {
        let max_batch = app.state.config.graphql_max_batch;
        let parse = || match parse_body(&body, max_batch) {
            Ok(BatchRequest::Single(request)) => Ok(request),
            Ok(BatchRequest::Batch(_)) => Err("A single request was expected".to_owned()),
            Err(message) => Err(message),
        };
        return through_cache(&app, cache, &headers, peer, body.clone(), parse).await;
    }
    let batch = match parse_body(&body, app.state.config.graphql_max_batch) {
        Ok(batch) => batch,
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, &message);
        }
    };
    let attach = request_data(&app, &headers, peer);
    let response = match batch {
        BatchRequest::Single(request) => {
            BatchResponse::Single(app.executor.execute(attach(request)).await)
        }
        BatchRequest::Batch(requests) => BatchResponse::Batch(
            app.executor
                .execute_batch(requests.into_iter().map(attach).collect())
                .await,
        ),
    };
    respond(&headers, response)
}

/// A subscription over HTTP ([`streams`](super::streams)): its events as a stream, which
/// ends with the subscription or when its credential goes bad.
async fn subscribe(
    app: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    request: Request,
    kind: Kind,
) -> Response {
    // The credential as the stream follows it (the operation resolves its own as usual).
    // A cookie needs its CSRF header here, as for a mutation: the stream may run one.
    // The operation gets the same context, so the token is verified once.
    let client = super::client_info(headers, peer, &app.state.config);
    let auth = Arc::new(auth_context(app, headers).with_client(client.clone()));
    let claims = match auth.principal_for_mutation().await {
        Ok(principal) => Some(principal.claims.clone()),
        Err(error @ ApiError::CsrfFailed(_)) => return streams::refuse(kind, &error),
        // No usable token: the operation's guards answer for themselves.
        Err(_) => None,
    };
    let (live, listening) = tokio::sync::watch::channel(false);
    let request = request
        .data(auth)
        .data(client)
        .data(OperationLive::new(live, Arc::default()));
    let responses = app.executor.execute_stream(request);
    streams::respond(
        kind,
        responses,
        listening,
        app.state.revocations.clone(),
        claims,
        app.state.config.jwt_leeway,
        &app.state.metrics,
    )
}

/// `GET /graphql`: GraphiQL for a browser, otherwise a query from the URL. A mutation over
/// GET is refused with 405, so links and prefetches cannot change state. axum routes HEAD
/// here as well: it is answered like GET (the body is dropped), never refused.
pub async fn get(
    State(app): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let params = match Query::<GetParams>::try_from_uri(&uri) {
        Ok(Query(params)) => params,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                &format!("Malformed query string: {e}"),
            );
        }
    };
    let request = match params.into_request() {
        Ok(Some(request)) => request,
        Ok(None) if accepts(&headers, "text/html") => {
            return super::graphiql::page(State(app)).await;
        }
        Ok(None) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "GET /graphql needs a `query` parameter",
            );
        }
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, &message);
        }
    };
    // A document named by id: its type decides, like a text's.
    let request = app.executor.resolve(request);
    if selected_operation_type(&request).is_some_and(|ty| ty != OperationType::Query) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "Mutations and subscriptions must use POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if let Some(cache) = &app.cache {
        // `?` and the query string: no JSON body starts with `?`.
        let key = Bytes::from(format!("?{}", uri.query().unwrap_or_default()));
        return through_cache(&app, cache, &headers, peer, key, || Ok(request)).await;
    }
    let attach = request_data(&app, &headers, peer);
    let response = app.executor.execute(attach(request)).await;
    respond(&headers, BatchResponse::Single(response))
}

/// One operation, answered from the cache when it holds the answer for this caller, else
/// executed (and its answer kept when it may be: `http::response_cache`).
async fn through_cache(
    app: &HttpState,
    cache: &ResponseCache,
    headers: &HeaderMap,
    peer: SocketAddr,
    key: RequestKey,
    parse: impl FnOnce() -> Result<Request, String>,
) -> Response {
    // Read before anything executes: an answer that raced a write is not kept.
    let version = cache.version();
    let auth = Arc::new(auth_context(app, headers));
    let anonymous = auth.presented_nothing();
    let cached = match cache.lookup(&key) {
        Lookup::Hit(body) => Some(body),
        Lookup::TryPrincipal if anonymous => cache.get(&key, Class::Anonymous),
        Lookup::TryPrincipal => match auth.principal_unrecorded().await {
            Ok(principal) => cache.get(&key, Class::of(&principal)),
            Err(_) => None,
        },
        Lookup::Miss => None,
    };
    if let Some(cached) = cached {
        app.executor
            .count_cached(cached.operation.as_deref(), cached.refused);
        return answer(headers, StatusCode::OK, cached.body);
    }
    let request = match parse() {
        Ok(request) => request,
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, &message);
        }
    };
    let request =
        request
            .data(auth.clone())
            .data(super::client_info(headers, peer, &app.state.config));
    let Executed {
        response,
        cacheable,
        operation,
    } = app.executor.execute_cacheable(request).await;
    // Errors make an answer the caller's own, except the guards' refusals of a caller who
    // presented nothing: every such caller gets those.
    let refused_anonymous = anonymous
        && !response.errors.is_empty()
        && response
            .errors
            .iter()
            .all(|error| code_of(error) == Some(ErrorCode::AuthorizationRequired));
    if !cacheable
        || (!response.errors.is_empty() && !refused_anonymous)
        || !response.extensions.is_empty()
        || response.http_headers.contains_key(header::SET_COOKIE)
    {
        return respond(headers, BatchResponse::Single(response));
    }
    let class = if !auth.consulted() {
        Some(Class::Public)
    } else if anonymous {
        // What the guards read was "nothing presented": the same for every such caller.
        Some(Class::Anonymous)
    } else {
        auth.principal_unrecorded()
            .await
            .ok()
            .map(|principal| Class::of(&principal))
    };
    let body = match serde_json::to_vec(&WireResponse(&response)) {
        Ok(body) => Bytes::from(body),
        Err(_) => return respond(headers, BatchResponse::Single(response)),
    };
    if let Some(class) = class {
        let kept = Answer {
            body: body.clone(),
            operation,
            refused: refused_anonymous,
        };
        cache.put(key, class, version, kept);
    }
    answer(headers, StatusCode::OK, body)
}

/// The GET parameters of GraphQL over HTTP, read by hand rather than with
/// `async_graphql::http::parse_query_string`, which expects `operation_name` and so
/// silently drops the spec's `operationName`. `variables` and `extensions` are JSON text.
#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
    /// A trusted document's id (`graphql::trusted`), instead of `query`.
    #[serde(rename = "documentId")]
    document_id: Option<String>,
    /// The same, as Relay names it.
    doc_id: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

impl GetParams {
    /// `None` without a `query` parameter. Otherwise the request a POST body with the same
    /// fields would give, so GET and POST accept and refuse the same values.
    fn into_request(self) -> Result<Option<Request>, String> {
        let variables = json_param("variables", self.variables)?;
        let extensions = json_param("extensions", self.extensions)?;
        // Without a query, a document id (or APQ's hash in `extensions`) names one.
        let names_a_document = self.document_id.is_some()
            || self.doc_id.is_some()
            || extensions.get("persistedQuery").is_some();
        if self.query.is_none() && !names_a_document {
            return Ok(None);
        }
        request_from_json(serde_json::json!({
            "query": self.query.unwrap_or_default(),
            "operationName": self.operation_name,
            "variables": variables,
            "extensions": extensions,
            "documentId": self.document_id,
            "doc_id": self.doc_id,
        }))
        .map(Some)
    }
}

/// A JSON-valued GET parameter; absent or empty (what a form with an empty field sends)
/// is `null`, as if the field were left out.
fn json_param(name: &str, text: Option<String>) -> Result<serde_json::Value, String> {
    match text.filter(|text| !text.is_empty()) {
        None => Ok(serde_json::Value::Null),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| format!("The `{name}` parameter is not JSON: {e}")),
    }
}

/// A JSON object is one request; a JSON array of 1 to `max_batch` objects is a batch.
/// Anything else (including `[]`, which serde would read as an empty request) is refused.
fn parse_body(body: &[u8], max_batch: usize) -> Result<BatchRequest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("Malformed JSON body: {e}"))?;
    match value {
        serde_json::Value::Array(requests) => {
            if requests.is_empty() || requests.len() > max_batch {
                return Err(format!("A batch must hold 1 to {max_batch} operations"));
            }
            Ok(BatchRequest::Batch(
                requests
                    .into_iter()
                    .map(request_from_json)
                    .collect::<Result<_, _>>()?,
            ))
        }
        value => Ok(BatchRequest::Single(request_from_json(value)?)),
    }
}

/// One request object. Wrong types (`"query": 5`, `"variables": "x"`) are refused here,
/// as a 400, rather than left for the executor.
fn request_from_json(value: serde_json::Value) -> Result<Request, String> {
    if !value.is_object() {
        return Err("Each GraphQL request must be a JSON object".to_owned());
    }
    serde_json::from_value::<Request>(value).map_err(|e| format!("Malformed GraphQL request: {e}"))
}

/// The type of the operation a GET request could run; `None` when the document does not
/// parse or names no such operation (the executor then reports the error). Without an
/// operation name, a document of several operations may hold a mutation next to queries:
/// the executor would refuse to choose, but GET does not rely on that and reports the
/// mutation. (The operations are a hash map, so "the first one" means nothing.)
fn selected_operation_type(request: &Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let mut operations = document.operations.iter();
    match request.operation_name.as_deref() {
        Some(name) => operations
            .find(|(op_name, _)| op_name.map(|n| n.as_str()) == Some(name))
            .map(|(_, op)| op.node.ty),
        None => {
            let types: Vec<OperationType> = operations.map(|(_, op)| op.node.ty).collect();
            types
                .iter()
                .copied()
                .find(|ty| *ty != OperationType::Query)
                .or(types.first().copied())
        }
    }
}

/// Attaches what every operation of this HTTP request shares: the credential as presented
/// (parsed once here), and where the request came from.
fn request_data(
    app: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> impl Fn(Request) -> Request {
    let location = app.state.config.jwt_token_location;
    let presented = Presented::from_headers(headers, location);
    let refresh_cookie = RefreshCookie::from_headers(headers, location);
    let client = super::client_info(headers, peer, &app.state.config);
    let state = app.state.clone();
    move |request: Request| {
        request
            .data(Arc::new(
                AuthContext::new(presented.clone(), refresh_cookie.clone(), state.clone())
                    .with_client(client.clone()),
            ))
            .data(client.clone())
    }
}

/// The credential of one operation, as presented.
fn auth_context(app: &HttpState, headers: &HeaderMap) -> AuthContext {
    let location = app.state.config.jwt_token_location;
    AuthContext::new(
        Presented::from_headers(headers, location),
        RefreshCookie::from_headers(headers, location),
        app.state.clone(),
    )
}

/// A body that is one JSON object (not a batch): its first non-blank byte is `{`.
fn is_single(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(JSON))
}

/// True when `Accept` names `mime` without `q=0`, which means "not acceptable" (RFC 9110
/// §12.4.2): `application/json, application/graphql-response+json;q=0` asks for JSON.
/// Other weights and wildcards are not weighed: JSON is what anything else gets.
fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            parts
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
                && !parts.any(is_zero_weight)
        })
}

fn is_zero_weight(param: &str) -> bool {
    param.split_once('=').is_some_and(|(name, value)| {
        name.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
    })
}

/// Serializes the response in the media type the client accepts. With
/// `application/graphql-response+json`, a request that failed before execution is a 400
/// (GraphQL over HTTP); `data` is omitted whenever execution never started.
fn respond(headers: &HeaderMap, response: BatchResponse) -> Response {
    let graphql_response = accepts(headers, GRAPHQL_RESPONSE_JSON);
    let responses: &[async_graphql::Response] = match &response {
        BatchResponse::Single(response) => std::slice::from_ref(response),
        BatchResponse::Batch(responses) => responses,
    };
    // API.md Data safety: the database could not take the request: 503, whatever the
    // media type, with the wait in `Retry-After` as in `extensions.retryAfter`.
    let retry_after = responses
        .iter()
        .flat_map(|response| &response.errors)
        .filter(|error| code_of(error) == Some(ErrorCode::ServiceUnavailable))
        .filter_map(
            |error| match error.extensions.as_ref()?.get("retryAfter")? {
                async_graphql::Value::Number(n) => n.as_u64(),
                _ => None,
            },
        )
        .max();
    // A batch refused whole (over its budget) is a failure before execution too.
    let status = if retry_after.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else if graphql_response && responses.iter().all(failed_before_execution) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = match &response {
        BatchResponse::Single(response) => serde_json::to_vec(&WireResponse(response)),
        BatchResponse::Batch(responses) => {
            serde_json::to_vec(&responses.iter().map(WireResponse).collect::<Vec<_>>())
        }
    };
    let body = body.unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialize a response");
        br#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
    });
    let mut http = answer(headers, status, Bytes::from(body));
    if let Some(seconds) = retry_after {
        http.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    // Only `Set-Cookie` is taken from the operations, every one appended: a batch with two
    // cookie-setting operations keeps all of them (the last one wins in the browser).
    for response in responses {
        for cookie in response.http_headers.get_all(header::SET_COOKIE) {
            http.headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
    }
    http
}

/// A serialized answer in the media type the client accepts.
fn answer(headers: &HeaderMap, status: StatusCode, body: Bytes) -> Response {
    let content_type = if accepts(headers, GRAPHQL_RESPONSE_JSON) {
        GRAPHQL_RESPONSE_JSON
    } else {
        JSON
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
