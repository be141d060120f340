//! A dataset to run, parsed and hashed, and a run's inputs checked as the bindings and the HTTP
//! API give them.

use super::*;

/// A dataset to run: its name, its content's SHA-256 (a resumed run must be given the same)
/// and its rows.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Its name (the file's).
    pub name: String,
    /// The SHA-256 of its content, hex.
    pub sha256: String,
    /// Its rows.
    pub rows: Vec<Row>,
}

impl Dataset {
    /// `text` (the contents of file `name`) parsed ([`dataset::parse`]).
    pub fn parse(name: &str, text: &str, template: Option<&str>) -> Result<Self> {
        Self::parse_within(name, text, template, &crate::Limits::local())
    }

    /// [`Dataset::parse`] within a server's `limits` ([`dataset::parse_within`]).
    pub fn parse_within(
        name: &str,
        text: &str,
        template: Option<&str>,
        limits: &crate::Limits,
    ) -> Result<Self> {
        use sha2::Digest as _;
        let rows = dataset::parse_within(name, text, dataset::Format::of(name), template, limits)?;
        let mut h = sha2::Sha256::new();
        h.update(text.as_bytes());
        if let Some(t) = template {
            h.update(b"\0template\0");
            h.update(t.as_bytes());
        }
        let sha256 = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            name: name.to_string(),
            sha256,
            rows,
        })
    }
}

/// A run as the bindings and the HTTP API give it: the dataset's name and text, the prompt
/// template, and the options as JSON (`{"models", "judge"?, "concurrency"?, "repeat"?,
/// "allow_self_judge"?}`), each checked.
pub fn prepare(
    name: &str,
    text: &str,
    template: Option<&str>,
    options_json: &str,
) -> Result<(Dataset, EvalOptions)> {
    let options: EvalOptions = serde_json::from_str(options_json).map_err(|e| {
        let msg = e.to_string();
        let field = [
            "models",
            "judge",
            "concurrency",
            "repeat",
            "allow_self_judge",
        ]
        .into_iter()
        .find(|f| msg.contains(&format!("`{f}`")))
        .unwrap_or("options");
        Error::invalid(field, msg)
    })?;
    options.check()?;
    Ok((Dataset::parse(name, text, template)?, options))
}
