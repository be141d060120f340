//! Attachments (`content` in the core): a part built from a file, a URL or bytes, its type
//! sniffed from the bytes — the same helper the CLI's `--image` / `--file` use.

use llm_compare_core::Part;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::error::OrJs;
use crate::registry::to_json;

/// The part (JSON) of a file path or an `https://` / `data:` URL.
#[napi]
pub fn attachment_from_path(source: String) -> napi::Result<String> {
    to_json(&Part::from_path_or_url(&source).or_js()?)
}

/// The part (JSON) of `data`, named `name`.
#[napi]
pub fn attachment_from_bytes(data: Buffer, name: Option<String>) -> napi::Result<String> {
    to_json(&Part::from_bytes(&data, name.as_deref()).or_js()?)
}
