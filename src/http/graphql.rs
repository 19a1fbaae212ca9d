//! GraphQL over HTTP: `POST /graphql` (JSON only, batches bounded) and `GET /graphql`
//! (queries only). Builds the request's auth context from the headers — parsing only,
//! never failing — and attaches it, then answers `application/json` or
//! `application/graphql-response+json` as the client accepts.

use std::net::SocketAddr;

use async_graphql::{BatchRequest, BatchResponse, Request, parser::types::OperationType};
use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};

use super::error_response;
use super::router::HttpState;
use crate::auth::context::{AuthContext, Presented, RefreshCookie};
use crate::graphql::ClientAddr;
use crate::graphql::error_codes::failed_before_execution;

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
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type must be application/json",
        );
    }
    let batch = match parse_body(&body, app.state.config.graphql_max_batch) {
        Ok(batch) => batch,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
    };
    let attach = request_data(&app, &headers, peer);
    let response = app
        .schema
        .execute_batch(match batch {
            BatchRequest::Single(request) => BatchRequest::Single(attach(request)),
            BatchRequest::Batch(requests) => {
                BatchRequest::Batch(requests.into_iter().map(attach).collect())
            }
        })
        .await;
    respond(&headers, response)
}

/// `GET /graphql`: GraphiQL for a browser, otherwise a query from the URL. A mutation over
/// GET is refused with 405, so links and prefetches cannot change state.
pub async fn get(
    State(app): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let query_string = uri.query().unwrap_or_default();
    let has_query = url_has_query(query_string);
    if !has_query && accepts(&headers, "text/html") {
        return super::graphiql::page(State(app)).await;
    }
    let request = match async_graphql::http::parse_query_string(query_string) {
        Ok(request) if has_query => request,
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "GET /graphql needs a `query` parameter",
            );
        }
    };
    if selected_operation_type(&request).is_some_and(|ty| ty != OperationType::Query) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Mutations and subscriptions must use POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    debug_assert_eq!(method, Method::GET);
    let attach = request_data(&app, &headers, peer);
    let response = app.schema.execute(attach(request)).await;
    respond(&headers, BatchResponse::Single(response))
}

/// A JSON object is one request; a JSON array of 1 to `max_batch` objects is a batch.
/// Anything else (including `[]`, which serde would read as an empty request) is refused.
fn parse_body(body: &[u8], max_batch: usize) -> Result<BatchRequest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("Malformed JSON body: {e}"))?;
    let request = |value: serde_json::Value| {
        if !value.is_object() {
            return Err("Each GraphQL request must be a JSON object".to_owned());
        }
        serde_json::from_value::<Request>(value)
            .map_err(|e| format!("Malformed GraphQL request: {e}"))
    };
    match value {
        serde_json::Value::Array(requests) => {
            if requests.is_empty() || requests.len() > max_batch {
                return Err(format!("A batch must hold 1 to {max_batch} operations"));
            }
            Ok(BatchRequest::Batch(
                requests
                    .into_iter()
                    .map(request)
                    .collect::<Result<_, _>>()?,
            ))
        }
        value => Ok(BatchRequest::Single(request(value)?)),
    }
}

fn url_has_query(query_string: &str) -> bool {
    query_string
        .split('&')
        .any(|pair| pair == "query" || pair.starts_with("query="))
}

/// The operation a GET request would run; `None` when the document does not parse (the
/// executor then reports the parse error).
fn selected_operation_type(request: &Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let mut operations = document.operations.iter();
    match request.operation_name.as_deref() {
        Some(name) => operations
            .find(|(op_name, _)| op_name.map(|n| n.as_str()) == Some(name))
            .map(|(_, op)| op.node.ty),
        None => {
            let (_, first) = operations.next()?;
            Some(first.node.ty)
        }
    }
}

/// Attaches what every operation of this HTTP request shares: the credential as presented
/// (parsed once here), and the client address.
fn request_data(
    app: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> impl Fn(Request) -> Request {
    let location = app.state.config.jwt_token_location;
    let presented = Presented::from_headers(headers, location);
    let refresh_cookie = RefreshCookie::from_headers(headers, location);
    let client = client_addr(headers, peer, app.state.config.trust_proxy_headers);
    let state = app.state.clone();
    move |request: Request| {
        request
            .data(AuthContext::new(
                presented.clone(),
                refresh_cookie.clone(),
                state.clone(),
            ))
            .data(ClientAddr(client.clone()))
    }
}

/// The peer address, or the first `X-Forwarded-For` entry behind a trusted proxy.
fn client_addr(headers: &HeaderMap, peer: SocketAddr, trust_proxy: bool) -> String {
    if trust_proxy {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if let Some(forwarded) = forwarded {
            return forwarded.to_owned();
        }
    }
    peer.ip().to_string()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(JSON))
}

fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            part.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
        })
}

/// Serializes the response in the media type the client accepts. With
/// `application/graphql-response+json`, a request that failed before execution is a 400
/// (GraphQL over HTTP); `data` is omitted whenever execution never started.
fn respond(headers: &HeaderMap, response: BatchResponse) -> Response {
    let graphql_response = accepts(headers, GRAPHQL_RESPONSE_JSON);
    let content_type = if graphql_response {
        GRAPHQL_RESPONSE_JSON
    } else {
        JSON
    };
    let mut http_headers = HeaderMap::new();
    let mut status = StatusCode::OK;
    let body = match response {
        BatchResponse::Single(response) => {
            if graphql_response && failed_before_execution(&response) {
                status = StatusCode::BAD_REQUEST;
            }
            http_headers.extend(response.http_headers.clone());
            response_json(response)
        }
        BatchResponse::Batch(responses) => serde_json::Value::Array(
            responses
                .into_iter()
                .map(|response| {
                    http_headers.extend(response.http_headers.clone());
                    response_json(response)
                })
                .collect(),
        ),
    };
    let mut http = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    for (name, value) in http_headers.iter() {
        if name == header::SET_COOKIE {
            http.headers_mut().append(name, value.clone());
        }
    }
    http
}

fn response_json(response: async_graphql::Response) -> serde_json::Value {
    let before_execution = failed_before_execution(&response);
    let mut json = serde_json::to_value(&response).unwrap_or_else(|_| {
        serde_json::json!({
            "errors": [{ "message": "Internal server error",
                         "extensions": { "code": "INTERNAL_SERVER_ERROR" } }]
        })
    });
    if before_execution && let Some(object) = json.as_object_mut() {
        object.remove("data");
    }
    json
}
