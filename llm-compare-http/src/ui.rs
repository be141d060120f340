//! The web UI: a page of plain HTML, CSS and JavaScript (no build step) plus vendored
//! libraries (`ui/vendor/`, refreshed by `scripts/vendor-ui`), all embedded in the binary so
//! the server works offline and `cargo build` never needs npm. Served at `/` and `/ui/*`
//! with no key: the files hold no data, and the page asks for a key when the API wants one.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $ty:expr) => {
        Asset {
            name: $name,
            content_type: $ty,
            body: include_bytes!(concat!("../ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("evals.js", JS),
    asset!("format.js", JS),
    asset!("keys.js", JS),
    asset!("leaderboard.js", JS),
    asset!("markdown.js", JS),
    asset!("sse.js", JS),
    asset!("turn.js", JS),
    asset!("turn-state.js", JS),
    asset!("app.css", CSS),
    asset!("icon.svg", "image/svg+xml"),
    asset!("vendor/marked.js", JS),
    asset!("vendor/purify.js", JS),
    asset!("vendor/highlight.js", JS),
    asset!("vendor/highlight.css", CSS),
];

/// Content digests, for `ETag` and revalidation (`304`).
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let d = Sha256::digest(a.body);
            let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// Model output is rendered as HTML (sanitized); this policy is the second wall: no inline
/// or foreign scripts, no foreign connections, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::not_found("no such file").into_response();
    };
    let asset = &ASSETS[i];
    let etag = &ETAGS[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidate every time: a new binary serves new files at the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /ui/{file}`: its scripts, styles and libraries.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

#[cfg(test)]
mod tests {
    /// A module added to `ui/` but not embedded would be a 404 in the page (an import that
    /// fails only in a browser): every file there is served.
    #[test]
    fn every_ui_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let served = name.ends_with(".js") || name.ends_with(".css") || name.ends_with(".html");
            if served && name != "globals.d.ts" {
                assert!(
                    super::ASSETS.iter().any(|a| a.name == name),
                    "ui/{name} is not embedded (add it to ASSETS)"
                );
            }
        }
    }
}
