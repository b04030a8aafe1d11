//! HTTP/1.1 client for the Docker Engine API that berthd serves on a UNIX socket.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::net::{TcpStream, UnixStream};

/// A connection to the daemon, whatever the transport.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

use crate::error::{CliError, Result};

/// The newest API version this client speaks; older daemons negotiate down.
pub const MAX_API_VERSION: &str = "1.47";
/// What docker assumes when the daemon sends no `API-Version` header.
const FALLBACK_API_VERSION: &str = "1.24";
pub const DEFAULT_HOST: &str = "unix:///run/berth.sock";

pub type Body = BoxBody<Bytes, std::io::Error>;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// Plain HTTP over TCP (`tcp://host:port`), which docker also accepts.
    Tcp(String),
}

/// A parsed `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// As the user gave it (normalised), for messages.
    pub url: String,
    pub address: Address,
}

impl Host {
    /// Accepts `unix:///path`, `unix://` (default socket), a bare absolute path and
    /// `tcp://host[:port]` (port 2375 by default, as docker).
    pub fn parse(value: &str) -> Result<Host> {
        let value = value.trim();
        if let Some(rest) = value.strip_prefix("tcp://") {
            let hostport = rest.trim_end_matches('/');
            if hostport.is_empty() {
                return Err(CliError::other(format!(
                    "Invalid bind address format: {value}"
                )));
            }
            let has_port = hostport
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
            let hostport = if has_port {
                hostport.to_string()
            } else {
                format!("{hostport}:2375")
            };
            return Ok(Host {
                url: format!("tcp://{hostport}"),
                address: Address::Tcp(hostport),
            });
        }
        let default_socket = DEFAULT_HOST.trim_start_matches("unix://");
        let path = match value.strip_prefix("unix://") {
            _ if value.is_empty() => default_socket,
            Some("") => default_socket,
            Some(rest) => rest,
            None if value.starts_with('/') => value,
            None => {
                return Err(CliError::other(format!(
                    "Invalid bind address format: {value}"
                )))
            }
        };
        Ok(Host {
            url: format!("unix://{path}"),
            address: Address::Unix(PathBuf::from(path)),
        })
    }

    /// `-H`, else `BERTH_HOST`, else `DOCKER_HOST`, else the default socket.
    pub fn from_flag_or_env(flag: Option<&str>) -> Result<Host> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let value = flag
            .map(str::to_string)
            .or_else(|| env("BERTH_HOST"))
            .or_else(|| env("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        Host::parse(&value)
    }
}

#[derive(Clone)]
pub struct Client {
    host: Host,
    /// Negotiated on first use.
    version: Option<String>,
    /// The daemon's `OSType` from the ping ("linux"), once negotiated.
    os_type: String,
}

/// Query parameters; repeated keys are allowed (e.g. `names=a&names=b`).
pub type Query<'a> = Vec<(&'a str, String)>;

impl Client {
    pub fn new(host: Host) -> Client {
        Client {
            host,
            version: None,
            os_type: String::new(),
        }
    }

    /// The API version requests use (negotiating it if needed).
    pub async fn api_version(&mut self) -> Result<String> {
        if self.version.is_none() {
            self.negotiate().await?;
        }
        Ok(self
            .version
            .clone()
            .unwrap_or_else(|| MAX_API_VERSION.to_string()))
    }

    /// The daemon's operating system as its ping reports it ("" if it does not say).
    pub async fn os_type(&mut self) -> Result<String> {
        self.api_version().await?;
        Ok(self.os_type.clone())
    }

    /// docker's `Ping` + `NegotiateAPIVersionPing`: HEAD /_ping, falling back to GET.
    async fn negotiate(&mut self) -> Result<()> {
        let mut resp = self
            .send(Method::HEAD, "/_ping".into(), empty(), None)
            .await?;
        if !matches!(
            resp.status(),
            StatusCode::OK | StatusCode::INTERNAL_SERVER_ERROR
        ) {
            resp = self
                .send(Method::GET, "/_ping".into(), empty(), None)
                .await?;
        }
        let server = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or(FALLBACK_API_VERSION)
            .to_string();
        let version = if version_less(MAX_API_VERSION, &server) {
            MAX_API_VERSION.to_string()
        } else {
            server
        };
        self.version = Some(version);
        self.os_type = resp
            .headers()
            .get("ostype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Ok(())
    }

    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<Body>> {
        let stream: Box<dyn Stream> = match &self.host.address {
            Address::Unix(path) => Box::new(
                UnixStream::connect(path)
                    .await
                    .map_err(|e| self.connect_error(e))?,
            ),
            Address::Tcp(addr) => Box::new(
                TcpStream::connect(addr)
                    .await
                    .map_err(|e| self.connect_error(e))?,
            ),
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| CliError::other(format!("error during connect: {e}")))?;
        tokio::spawn(async move {
            // Errors surface through the request/response instead. Upgrades are
            // allowed so that `attach` can take the connection over.
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    /// docker sends a dummy host name over UNIX sockets.
    fn host_header(&self) -> &str {
        match &self.host.address {
            Address::Unix(_) => "api.moby.localhost",
            Address::Tcp(addr) => addr,
        }
    }

    fn connect_error(&self, e: std::io::Error) -> CliError {
        let url = &self.host.url;
        CliError::Connect(match (e.kind(), &self.host.address) {
            (std::io::ErrorKind::PermissionDenied, Address::Unix(path)) => format!(
                "permission denied while trying to connect to the berth daemon socket at {url}: dial unix {}: connect: permission denied",
                path.display()
            ),
            _ => format!("Cannot connect to the berth daemon at {url}. Is the berth daemon running?"),
        })
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: String,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>> {
        self.send_with_headers(method, path_and_query, body, content_type, &[])
            .await
    }

    async fn send_with_headers(
        &self,
        method: Method,
        path_and_query: String,
        body: Body,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>> {
        let mut sender = self.connect().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(hyper::header::HOST, self.host_header())
            .header(
                hyper::header::USER_AGENT,
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(body)
            .map_err(|e| CliError::other(format!("invalid request: {e}")))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| CliError::other(format!("error during connect: {e}")))
    }

    /// Sends a request to `/v{version}{path}` and turns error statuses into
    /// [`CliError::Daemon`] (docker's `checkResponseErr`).
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        query: &Query<'_>,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>> {
        let version = self.api_version().await?;
        let url = format!("/v{version}{}{}", escape_path(path), encode_query(query));
        let resp = self.send(method, url.clone(), body, content_type).await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(response_error(resp, &url).await);
        }
        Ok(resp)
    }

    /// POST with a JSON body (`/containers/create`).
    pub async fn post_json(
        &mut self,
        path: &str,
        query: &Query<'_>,
        body: &Value,
    ) -> Result<Response<Incoming>> {
        let bytes =
            Bytes::from(serde_json::to_vec(body).map_err(|e| CliError::other(e.to_string()))?);
        let body = Full::new(bytes).map_err(|never| match never {}).boxed();
        self.request(Method::POST, path, query, body, Some("application/json"))
            .await
    }

    /// POST with extra headers (`X-Registry-Auth` for pulls).
    pub async fn post_with_headers(
        &mut self,
        path: &str,
        query: &Query<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>> {
        let version = self.api_version().await?;
        let url = format!("/v{version}{}{}", escape_path(path), encode_query(query));
        let resp = self
            .send_with_headers(Method::POST, url.clone(), empty(), None, headers)
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(response_error(resp, &url).await);
        }
        Ok(resp)
    }

    /// docker's `postHijacked`: an HTTP upgrade (`Upgrade: tcp`) after which the
    /// connection carries the raw (or multiplexed) stream both ways.
    pub async fn hijack(&mut self, path: &str, query: &Query<'_>) -> Result<Hijacked> {
        self.hijack_with(path, query, None).await
    }

    /// [`Client::hijack`] with a JSON body (`/exec/{id}/start`).
    pub async fn hijack_json(&mut self, path: &str, body: &Value) -> Result<Hijacked> {
        self.hijack_with(path, &Vec::new(), Some(body)).await
    }

    async fn hijack_with(
        &mut self,
        path: &str,
        query: &Query<'_>,
        json_body: Option<&Value>,
    ) -> Result<Hijacked> {
        let version = self.api_version().await?;
        let url = format!("/v{version}{}{}", escape_path(path), encode_query(query));
        let (body, content_type) = match json_body {
            Some(v) => {
                let bytes = serde_json::to_vec(v).map_err(|e| CliError::other(e.to_string()))?;
                (
                    Full::new(Bytes::from(bytes))
                        .map_err(|never| match never {})
                        .boxed(),
                    "application/json",
                )
            }
            None => (empty(), "text/plain"),
        };
        let resp = self
            .send_with_headers(
                Method::POST,
                url.clone(),
                body,
                Some(content_type),
                &[("connection", "Upgrade"), ("upgrade", "tcp")],
            )
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            return Err(response_error(resp, &url).await);
        }
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            // An old-style hijack without the 101: the body is the stream.
            return Ok(Hijacked::Body(resp.into_body()));
        }
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(|e| CliError::other(format!("error during connect: {e}")))?;
        Ok(Hijacked::Upgraded(TokioIo::new(upgraded)))
    }

    pub async fn get(&mut self, path: &str, query: &Query<'_>) -> Result<Response<Incoming>> {
        self.request(Method::GET, path, query, empty(), None).await
    }

    pub async fn get_json(&mut self, path: &str, query: &Query<'_>) -> Result<Value> {
        let resp = self.get(path, query).await?;
        read_json(resp).await
    }

    /// GET returning the raw body (inspect prints the daemon's JSON as sent).
    pub async fn get_raw(&mut self, path: &str, query: &Query<'_>) -> Result<Bytes> {
        let resp = self.get(path, query).await?;
        read_body(resp).await
    }

    pub async fn post(&mut self, path: &str, query: &Query<'_>) -> Result<Response<Incoming>> {
        self.request(Method::POST, path, query, empty(), None).await
    }

    pub async fn delete(&mut self, path: &str, query: &Query<'_>) -> Result<Response<Incoming>> {
        self.request(Method::DELETE, path, query, empty(), None)
            .await
    }
}

/// A hijacked attach connection.
pub enum Hijacked {
    /// The upgraded connection: read output, write stdin.
    Upgraded(TokioIo<hyper::upgrade::Upgraded>),
    /// The daemon answered without upgrading: output only, as a response body.
    Body(Incoming),
}

pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Streams a reader (a file, stdin) as a chunked request body.
pub fn reader_body<R: AsyncRead + Send + Sync + 'static>(reader: R) -> Body {
    let stream = tokio_util::io::ReaderStream::new(reader).map(|chunk| chunk.map(Frame::data));
    BodyExt::boxed(StreamBody::new(stream))
}

pub async fn read_body(resp: Response<Incoming>) -> Result<Bytes> {
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::other(format!("error reading response: {e}")))?;
    Ok(collected.to_bytes())
}

pub async fn read_json(resp: Response<Incoming>) -> Result<Value> {
    let bytes = read_body(resp).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CliError::other(format!("error decoding response: {e}")))
}

/// docker's `checkResponseErr`: JSON `{"message"}` when the content type says JSON,
/// otherwise the body text.
async fn response_error(resp: Response<Incoming>, url: &str) -> CliError {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct == "application/json");
    let status_text = match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    let body = match read_body(resp).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    if body.is_empty() {
        return CliError::other(format!(
            "request returned {status_text} for API route and version http://api.moby.localhost{url}, check if the server supports the requested API version"
        ));
    }
    let message = if is_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => match v.get("message").and_then(Value::as_str) {
                Some(m) if !m.is_empty() => m.trim().to_string(),
                _ => {
                    return CliError::other(format!(
                        "Error response from daemon: API returned a {} ({}) but provided no error-message",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or("")
                    ))
                }
            },
            Err(e) => return CliError::other(format!("Error reading JSON: {e}")),
        }
    } else {
        String::from_utf8_lossy(&body).trim().to_string()
    };
    CliError::Daemon {
        status: status.as_u16(),
        message,
    }
}

/// Compares dotted API versions numerically ("1.9" < "1.47").
pub fn version_less(a: &str, b: &str) -> bool {
    let parse = |v: &str| {
        v.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let (pa, pb) = (parse(a), parse(b));
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).copied().unwrap_or(0),
            pb.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

/// Escapes a path as Go's `url.URL.String()` does (`/` and sub-delimiters stay).
pub fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url.Values.Encode()`: keys sorted, values query-escaped; "" for no parameters.
pub fn encode_query(query: &Query<'_>) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<&(&str, String)> = query.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0)); // stable: repeated keys keep their order
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect();
    format!("?{}", encoded.join("&"))
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        let unix = |p: &str| Address::Unix(PathBuf::from(p));
        assert_eq!(
            Host::parse("unix:///tmp/x.sock").unwrap().address,
            unix("/tmp/x.sock")
        );
        assert_eq!(Host::parse("unix://").unwrap().url, DEFAULT_HOST);
        assert_eq!(Host::parse("").unwrap().url, DEFAULT_HOST);
        assert_eq!(
            Host::parse("/tmp/y.sock").unwrap().url,
            "unix:///tmp/y.sock"
        );
        let tcp = Host::parse("tcp://127.0.0.1:2376").unwrap();
        assert_eq!(tcp.address, Address::Tcp("127.0.0.1:2376".into()));
        assert_eq!(
            Host::parse("tcp://localhost").unwrap().url,
            "tcp://localhost:2375"
        );
        assert!(Host::parse("ssh://x").is_err());
        assert!(Host::parse("nonsense").is_err());
    }

    #[test]
    fn compares_versions() {
        assert!(version_less("1.9", "1.47"));
        assert!(version_less("1.46", "1.47"));
        assert!(!version_less("1.47", "1.47"));
        assert!(!version_less("1.48", "1.47"));
    }

    #[test]
    fn encodes_queries_like_go() {
        let q: Query = vec![
            ("names", "a b".into()),
            ("all", "1".into()),
            ("names", "c/d:e".into()),
        ];
        assert_eq!(encode_query(&q), "?all=1&names=a+b&names=c%2Fd%3Ae");
        assert_eq!(encode_query(&Vec::new()), "");
        assert_eq!(
            escape_path("/images/busybox:latest/json"),
            "/images/busybox:latest/json"
        );
        assert_eq!(escape_path("/images/a b/json"), "/images/a%20b/json");
    }
}
