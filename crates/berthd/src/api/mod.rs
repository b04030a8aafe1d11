//! The Docker Engine API over HTTP. Handlers parse input, call one service, and build the
//! response; they never touch the disk themselves.

mod archive;
mod commit;
pub mod containers;
mod exec;
mod images;
mod networks;
mod operations;
pub mod query;
mod stats;
mod system;
pub mod volumes;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_errors::{ErrorKind, HasKind};

use crate::daemon::Daemon;

pub const API_VERSION: &str = "1.47";
pub const MIN_API_VERSION: &str = "1.24";

/// The API version of a request: from its `/vX.Y` prefix, else the newest we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }
    pub fn max() -> ApiVersion {
        ApiVersion::parse(API_VERSION).expect("constant is valid")
    }
    pub fn min() -> ApiVersion {
        ApiVersion::parse(MIN_API_VERSION).expect("constant is valid")
    }
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion(major, minor)
    }
}

/// A requested version outside what we serve; answered before routing.
#[derive(Debug, Clone)]
struct BadVersion(String);

/// An error answered as Docker does: a status code and `{"message": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(kind.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Internal, message)
    }
    pub fn from_kind<E: HasKind + std::fmt::Display>(e: E) -> ApiError {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<berth_image::ImageError> for ApiError {
    fn from(e: berth_image::ImageError) -> ApiError {
        if e.kind() == ErrorKind::Internal {
            tracing::error!(error = %e, "internal error");
        }
        ApiError::from_kind(e)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("worker task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        (self.status, [("content-type", "application/json")], body).into_response()
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// JSON response with Docker's content type.
pub fn json_response(status: StatusCode, v: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(v).expect("API values serialise");
    (status, [("content-type", "application/json")], body).into_response()
}

pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/pause", post(operations::pause))
        .route("/containers/{id}/unpause", post(operations::unpause))
        .route("/containers/{id}/update", post(operations::update))
        .route("/containers/{id}/top", get(operations::top))
        .route("/containers/{id}/rename", post(operations::rename))
        .route("/containers/{id}/restart", post(operations::restart))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/changes", get(commit::changes))
        .route("/commit", post(commit::commit))
        .route("/containers/prune", post(operations::prune))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/resize", post(containers::resize))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}/export", get(archive::export))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::delete),
        )
        .route(
            "/containers/{id}/{action}",
            axum::routing::any(containers::not_found_container),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::delete),
        )
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::delete),
        )
        .route("/images/json", get(images::list))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/create", post(images::create))
        .route("/images/prune", post(images::prune))
        .route("/images/search", get(not_implemented))
        .route(
            "/images/{*rest}",
            get(images::get_dispatch)
                .post(images::post_dispatch)
                .delete(images::delete),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn(common_headers))
        .with_state(daemon)
}

/// Strips the `/vX.Y` prefix before routing and remembers the version, so one route
/// table serves versioned and bare paths.
pub fn rewrite_version(mut req: Request) -> Request {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/v") else {
        req.extensions_mut().insert(ApiVersion::max());
        return req;
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some(v) = ApiVersion::parse(ver) else {
        req.extensions_mut().insert(ApiVersion::max());
        return req;
    };
    if v > ApiVersion::max() {
        req.extensions_mut().insert(BadVersion(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    } else if v < ApiVersion::min() {
        req.extensions_mut().insert(BadVersion(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    req.extensions_mut().insert(v);
    let new_pq = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = new_pq.parse().ok();
    if let Ok(uri) = axum::http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    req
}

async fn common_headers(req: Request, next: Next) -> Response {
    let bad = req.extensions().get::<BadVersion>().cloned();
    let mut resp = match bad {
        Some(BadVersion(msg)) => ApiError::bad_request(msg).into_response(),
        None => next.run(req).await,
    };
    let h = resp.headers_mut();
    h.insert("api-version", HeaderValue::from_static(API_VERSION));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    h.insert("ostype", HeaderValue::from_static("linux"));
    h.insert(
        "server",
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

async fn not_found() -> Response {
    ApiError::not_found("page not found").into_response()
}

async fn not_implemented() -> Response {
    ApiError::new(
        ErrorKind::NotImplemented,
        "this endpoint is not implemented by berth yet",
    )
    .into_response()
}

/// A body that is a sequence of JSON lines (the stream format of load, import, pull …).
pub fn json_lines(lines: &[serde_json::Value]) -> Response {
    let mut body = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut body, l).expect("API values serialise");
        body.extend_from_slice(b"\r\n");
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        Body::from(body),
    )
        .into_response()
}
