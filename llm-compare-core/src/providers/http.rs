//! Sending a streaming request and turning the response into [`ProviderEvent`]s: status and
//! error-body mapping to typed errors, SSE framing (any chunking: split UTF-8, split CRLF),
//! and the provider's [`StreamParser`]. Shared by every wire format.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::providers::provider::{ProviderEvent, ProviderStream};
use crate::types::error::{Error, ErrorCode, ProviderError, Result};

/// Parses one provider's SSE events into normalized events. Pure: no I/O.
pub trait StreamParser: Send + 'static {
    /// Handles one SSE event (`event` is its `event:` field, empty when absent).
    fn parse(&mut self, event: &str, data: &str, out: &mut Vec<ProviderEvent>) -> Result<()>;

    /// Whether the stream's terminal marker was seen (`[DONE]`, `message_stop`): nothing
    /// after it is read.
    fn is_done(&self) -> bool;

    /// The body ended: emits the final usage and finish, or fails if the stream was cut
    /// short before the provider said it was complete.
    fn finish(&mut self, out: &mut Vec<ProviderEvent>) -> Result<()>;
}

/// A request ready to send.
pub struct HttpRequest {
    /// Full URL.
    pub url: String,
    /// Headers (credentials included; never logged).
    pub headers: Vec<(String, String)>,
    /// JSON body, with a placeholder string where each of `blobs` goes.
    pub body: serde_json::Value,
    /// The attachments' base64, sent where their placeholders are.
    pub blobs: Blobs,
}

impl std::fmt::Debug for HttpRequest {
    // The headers hold the credentials: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("url", &self.url)
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// The body as it is sent: the JSON around the attachments, and each attachment's
    /// base64 as bytes shared with the request (no copy per model).
    pub fn body_chunks(&self) -> Result<Vec<Bytes>> {
        let json = serde_json::to_vec(&self.body)
            .map_err(|e| Error::Internal(format!("cannot serialize a request body: {e}")))?;
        self.blobs.splice(Bytes::from(json))
    }

    /// The body as one JSON value, attachments in place (for tests and inspection).
    pub fn body_json(&self) -> Result<serde_json::Value> {
        let bytes: Vec<u8> = self.body_chunks()?.concat();
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("a request body does not parse: {e}")))
    }
}

/// Attachments at least this large are sent as shared bytes; smaller ones are copied into
/// the JSON (one chunk is cheaper than several for them).
const BLOB_MIN: usize = 16 * 1024;

/// The large base64 strings of a request body. A wire format's builder asks
/// [`Blobs::text`] for the string to put in its JSON: a placeholder that
/// [`HttpRequest::body_chunks`] replaces with the shared bytes, so 8 models sent one
/// 20 MiB image hold it once, not 8 × (JSON value + serialized body).
#[derive(Debug, Default)]
pub struct Blobs {
    /// Placeholders are made (else the text goes in the JSON as is).
    shared: bool,
    /// Makes placeholders unguessable, so a prompt cannot forge one.
    nonce: u64,
    items: Vec<Bytes>,
}

impl Blobs {
    /// Attachments copied into the JSON (tests; small bodies).
    pub fn inline() -> Self {
        Self::default()
    }

    /// Large attachments replaced by placeholders, sent as shared bytes.
    pub fn shared() -> Self {
        Self {
            shared: true,
            nonce: fastrand::u64(..),
            items: Vec::new(),
        }
    }

    /// What to write in the JSON for `data` (base64: no character JSON escapes).
    pub fn text<'a>(&mut self, data: crate::types::content::B64<'a>) -> std::borrow::Cow<'a, str> {
        if !self.shared || data.len() < BLOB_MIN {
            return std::borrow::Cow::Borrowed(data.as_str());
        }
        self.items.push(data.shared());
        std::borrow::Cow::Owned(format!(
            "\u{1}{}{}\u{1}",
            self.marker(),
            self.items.len() - 1
        ))
    }

    /// The placeholder's start, as serialized JSON writes it (`\u0001` escaped).
    fn marker(&self) -> String {
        format!("lcblob{:016x}.", self.nonce)
    }

    /// `json` with every placeholder replaced by its bytes, as chunks.
    fn splice(&self, json: Bytes) -> Result<Vec<Bytes>> {
        if self.items.is_empty() {
            return Ok(vec![json]);
        }
        let open = format!("\\u0001{}", self.marker());
        let text = std::str::from_utf8(&json)
            .map_err(|e| Error::Internal(format!("a request body is not UTF-8: {e}")))?;
        let mut chunks = Vec::with_capacity(self.items.len() * 2 + 1);
        let mut at = 0;
        while let Some(found) = text[at..].find(&open) {
            let start = at + found;
            let digits = start + open.len();
            let end = text[digits..]
                .find("\\u0001")
                .map(|n| digits + n)
                .ok_or_else(|| Error::Internal("a request body's placeholder is cut".into()))?;
            let item = text[digits..end]
                .parse::<usize>()
                .ok()
                .and_then(|i| self.items.get(i))
                .ok_or_else(|| Error::Internal("a request body's placeholder is unknown".into()))?;
            chunks.push(json.slice(at..start));
            chunks.push(item.clone());
            at = end + "\\u0001".len();
        }
        chunks.push(json.slice(at..));
        Ok(chunks)
    }
}

/// Most bytes of an error body kept for the message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Sends `req` and streams its SSE body through `parser`.
pub async fn send_sse(
    client: &reqwest::Client,
    req: HttpRequest,
    parser: Box<dyn StreamParser>,
) -> Result<ProviderStream> {
    let mut chunks = req.body_chunks()?;
    let mut builder = client
        .post(&req.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    builder = if chunks.len() == 1 {
        builder.body(chunks.remove(0))
    } else {
        // Sent with its length (not chunked): some APIs refuse chunked uploads.
        let len: usize = chunks.iter().map(Bytes::len).sum();
        builder
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(futures::stream::iter(
                chunks.into_iter().map(Ok::<_, std::io::Error>),
            )))
    };
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    // The current trace (`traceparent`), when the embedder exports traces.
    for (k, v) in crate::trace::propagation_headers() {
        builder = builder.header(k, v);
    }
    let resp = builder.send().await.map_err(transport_error)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    if !(200..300).contains(&status) {
        let body = read_limited(resp).await;
        return Err(http_error(status, retry_after(&headers), &body).into());
    }
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("text/event-stream") {
        let body = read_limited(resp).await;
        // Some gateways answer 200 with a JSON error; others with an HTML page.
        let mut e = if content_type.contains("json") && error_message(&body).is_some() {
            http_error(500, None, &body)
        } else {
            ProviderError::new(
                ErrorCode::Parse,
                format!(
                    "expected an event stream, got `{}`: {}",
                    if content_type.is_empty() {
                        "no content type"
                    } else {
                        &content_type
                    },
                    snippet(&body)
                ),
            )
        };
        e.status = Some(status);
        return Err(e.into());
    }
    Ok(parse_sse(resp.bytes_stream(), parser))
}

/// Turns a byte stream carrying SSE into provider events via `parser`. Works for any
/// chunking of the body.
pub fn parse_sse<S, E>(bytes: S, mut parser: Box<dyn StreamParser>) -> ProviderStream
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let stream = async_stream::stream! {
        let mut bytes = std::pin::pin!(bytes);
        let mut framer = super::sse::SseFramer::new();
        let mut out = Vec::new();
        'body: loop {
            match bytes.next().await {
                Some(Ok(chunk)) => {
                    if let Err(e) = framer.push(&chunk) {
                        yield Err(ProviderError::new(ErrorCode::Parse, format!("the stream broke: {e}")).into());
                        return;
                    }
                    while let Some(ev) = framer.next_event() {
                        if let Err(e) = parser.parse(&ev.event, &ev.data, &mut out) {
                            for e in out.drain(..) { yield Ok(e); }
                            yield Err(e);
                            return;
                        }
                        for e in out.drain(..) { yield Ok(e); }
                        if parser.is_done() {
                            break 'body;
                        }
                    }
                }
                Some(Err(e)) => {
                    yield Err(ProviderError::new(ErrorCode::Network, format!("the stream broke: {e}")).into());
                    return;
                }
                None => break,
            }
        }
        match parser.finish(&mut out) {
            Ok(()) => for e in out.drain(..) { yield Ok(e); },
            Err(e) => yield Err(e),
        }
    };
    stream.boxed()
}

async fn read_limited(resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut s = resp.bytes_stream();
    while let Some(Ok(chunk)) = s.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_BODY_LIMIT {
            body.truncate(ERROR_BODY_LIMIT);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A transport failure (connect refused, reset, timeout) as a typed error.
pub fn transport_error(e: reqwest::Error) -> Error {
    let code = if e.is_timeout() {
        ErrorCode::Timeout
    } else {
        ErrorCode::Network
    };
    // reqwest's Display includes the URL, which never carries credentials here (keys go in
    // headers), and the cause chain, which says what failed.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ProviderError::new(code, msg).into()
}

/// `Retry-After` (seconds or an HTTP date) or `retry-after-ms`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The provider's own message in an error body (OpenAI, Anthropic, Gemini and most
/// compatible servers put it at `error.message`, some at `message` or `error`).
pub fn error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let v = if let Some(first) = v.as_array().and_then(|a| a.first()) {
        first.clone()
    } else {
        v
    };
    let pick = |v: &serde_json::Value| v.as_str().map(str::to_string);
    v.pointer("/error/message")
        .and_then(pick)
        .or_else(|| v.get("error").and_then(pick))
        .or_else(|| v.get("message").and_then(pick))
        .or_else(|| v.get("detail").and_then(pick))
}

/// The provider's error type or code in an error body (`error.type`, `error.code`,
/// `error.status`).
fn error_kind(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    let v = if let Some(first) = v.as_array().and_then(|a| a.first()) {
        first.clone()
    } else {
        v
    };
    [
        "/error/type",
        "/error/code",
        "/error/status",
        "/type",
        "/code",
    ]
    .iter()
    .filter_map(|p| v.pointer(p))
    .filter_map(|x| {
        x.as_str()
            .map(str::to_string)
            .or_else(|| x.as_i64().map(|n| n.to_string()))
    })
    .collect::<Vec<_>>()
    .join(" ")
}

fn snippet(body: &str) -> String {
    let squashed: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = squashed.chars().take(200).collect();
    if squashed.chars().count() > 200 {
        s.push('…');
    }
    if s.is_empty() {
        "(empty body)".into()
    } else {
        s
    }
}

/// Classifies an error by its message and kind: context length and content filters hide
/// behind plain 400s.
pub fn classify(default: ErrorCode, kind: &str, message: &str) -> ErrorCode {
    let text = format!("{kind} {message}").to_ascii_lowercase();
    if text.contains("context_length")
        || text.contains("context length")
        || text.contains("context window")
        || text.contains("prompt is too long")
        || text.contains("too many tokens")
        || text.contains("maximum context")
    {
        ErrorCode::ContextLengthExceeded
    } else if text.contains("content_filter")
        || text.contains("content filter")
        || text.contains("content_policy")
        || text.contains("content management policy")
        || text.contains("safety")
    {
        ErrorCode::ContentFilter
    } else {
        default
    }
}

/// A non-2xx answer as a typed error.
pub fn http_error(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let base = match status {
        401 | 403 => ErrorCode::Auth,
        408 => ErrorCode::Timeout,
        429 => ErrorCode::RateLimited,
        503 | 529 => ErrorCode::Overloaded,
        500..=599 => ErrorCode::Server,
        _ => ErrorCode::BadRequest,
    };
    let kind = error_kind(body);
    let message = error_message(body).unwrap_or_else(|| snippet(body));
    let code = if base == ErrorCode::BadRequest {
        classify(base, &kind, &message)
    } else {
        base
    };
    let mut e = ProviderError::new(code, format!("HTTP {status}: {message}"));
    e.status = Some(status);
    e.retry_after = retry_after;
    e
}

/// A malformed chunk as a typed error (the offending data shortened).
pub fn parse_error(what: &str, data: &str, e: &dyn std::fmt::Display) -> Error {
    ProviderError::new(
        ErrorCode::Parse,
        format!("malformed {what}: {e}: {}", snippet(data)),
    )
    .into()
}

/// The stream ended before the provider said it was complete.
pub fn cut_short() -> Error {
    ProviderError::new(
        ErrorCode::Network,
        "the stream ended before the response was complete (connection closed early)",
    )
    .into()
}

/// A base64 plain-text file's text (invalid UTF-8 was refused by `Content::check`).
pub(crate) fn decoded_text(data: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(data.trim_end())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A plain-text file as text for APIs without a text-document part: its name, then its text.
pub(crate) fn file_text(name: Option<&str>, data: &str) -> String {
    match name {
        Some(n) => format!("{n}:\n{}", decoded_text(data)),
        None => decoded_text(data),
    }
}

/// Parses a tool call's JSON arguments for APIs that want an object (empty or invalid → `{}`).
pub(crate) fn arguments_object(arguments: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}))
}

/// Appends a turn of `role` holding `items` under `key` (`content` / `parts`), merging it into
/// the previous turn when that has the same role: APIs that want alternating roles get
/// consecutive tool results as one user turn.
pub(crate) fn push_merged(
    turns: &mut Vec<serde_json::Value>,
    role: &str,
    key: &str,
    items: Vec<serde_json::Value>,
) {
    if let Some(last) = turns.last_mut()
        && last["role"] == role
        && let Some(existing) = last[key].as_array_mut()
    {
        existing.extend(items);
        return;
    }
    turns.push(serde_json::json!({"role": role, key: items}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        assert_eq!(http_error(401, None, "").code, ErrorCode::Auth);
        assert_eq!(http_error(429, None, "").code, ErrorCode::RateLimited);
        assert_eq!(http_error(529, None, "").code, ErrorCode::Overloaded);
        assert_eq!(
            http_error(502, None, "<html>bad gateway</html>").code,
            ErrorCode::Server
        );
        let e = http_error(
            400,
            None,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
        );
        assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
        assert!(e.message.contains("maximum context length"));
        let e = http_error(
            400,
            None,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
        );
        assert_eq!(e.code, ErrorCode::ContextLengthExceeded);
        let e = http_error(
            400,
            None,
            r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}"#,
        );
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert_eq!(e.message, "HTTP 400: API key not valid.");
        assert!(!e.retryable);
        assert!(http_error(500, None, "").retryable);
    }

    #[test]
    fn large_base64_is_spliced_in_as_the_requests_own_bytes() {
        use crate::types::content::{Part, Source};
        let data: std::sync::Arc<str> = "QUJD".repeat(BLOB_MIN).into();
        let part = Part::Image {
            media_type: Some("image/png".into()),
            data: Some(data.clone()),
            url: None,
        };
        let Some(Source::Bytes { data: b64, .. }) = part.source() else {
            panic!("bytes")
        };
        let small_part = Part::Image {
            media_type: Some("image/png".into()),
            data: Some("QUJD".into()),
            url: None,
        };
        let Some(Source::Bytes { data: small, .. }) = small_part.source() else {
            panic!("bytes")
        };
        let forged = "\u{1}lcblob0000000000000000.0\u{1}";
        let mut blobs = Blobs::shared();
        let body = serde_json::json!({
            "a": format!("data:image/png;base64,{}", blobs.text(b64)),
            "b": [blobs.text(b64), forged],
            "small": blobs.text(small),
        });
        let req = HttpRequest {
            url: String::new(),
            headers: Vec::new(),
            body,
            blobs,
        };
        let chunks = req.body_chunks().unwrap();
        // JSON, blob, JSON, blob, JSON: the blobs point into the request's own string.
        assert_eq!(chunks.len(), 5);
        for blob in [&chunks[1], &chunks[3]] {
            assert_eq!(blob.as_ptr(), data.as_ptr());
            assert_eq!(blob.len(), data.len());
        }
        let v = req.body_json().unwrap();
        assert_eq!(v["a"], format!("data:image/png;base64,{data}"));
        assert_eq!(v["b"][0], &*data);
        // A forged placeholder (another nonce) is left as the text it is.
        assert_eq!(v["b"][1], forged);
        assert_eq!(v["small"], "QUJD");
        // Inline: no placeholders at all.
        let mut inline = Blobs::inline();
        assert_eq!(inline.text(b64), &*data);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    }
}
