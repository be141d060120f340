//! Attachments (`content` in the core): a part built from a file, a URL or bytes, its type
//! sniffed from the bytes — the same helper the CLI's `--image` / `--file` use.

use llm_compare_core::Part;
use pyo3::prelude::*;

use crate::error::to_py;

/// The part (JSON) of a file path or an `https://` / `data:` URL.
#[pyfunction]
pub fn attachment_from_path(source: &str) -> PyResult<String> {
    part_json(Part::from_path_or_url(source))
}

/// The part (JSON) of `data`, named `name`.
#[pyfunction]
#[pyo3(signature = (data, name = None))]
pub fn attachment_from_bytes(data: &[u8], name: Option<&str>) -> PyResult<String> {
    part_json(Part::from_bytes(data, name))
}

fn part_json(part: llm_compare_core::Result<Part>) -> PyResult<String> {
    let part = part.map_err(to_py)?;
    serde_json::to_string(&part).map_err(|e| crate::error::invalid("attachment", e.to_string()))
}
