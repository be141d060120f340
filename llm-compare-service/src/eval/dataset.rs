//! Evaluation datasets: JSONL (`{"id"?, "prompt" | "messages", "system"?, "category"?,
//! "expected"?, "vars"?, "assert"?: [...]}` per line) or CSV (columns `prompt`, `id`,
//! `category`, `expected`; any other column is a template variable). A malformed line or row
//! refuses the whole dataset, naming the file, the line and the field.

use std::collections::BTreeMap;

use llm_compare_core::{Error, Message, Result};
use serde::{Deserialize, Serialize};

use super::assertions::Assertion;

/// One row to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Its id (given, or `row-<line>`).
    pub id: String,
    /// The prompt, or…
    pub prompt: Option<String>,
    /// … the conversation.
    pub messages: Option<Vec<Message>>,
    /// A system prompt.
    pub system: Option<String>,
    /// Its category (per-category results).
    pub category: Option<String>,
    /// The expected answer (alone: a `contains` assertion).
    pub expected: Option<String>,
    /// Template variables (`{{name}}` in `--prompt-template`).
    pub vars: BTreeMap<String, String>,
    /// What each answer must satisfy.
    pub assert: Vec<Assertion>,
    /// Its line in the file (1-based), for messages.
    pub line: usize,
}

/// A dataset's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header row, then one row per line.
    Csv,
}

impl Format {
    /// The format of a file named `name` (`.csv`, else JSONL).
    pub fn of(name: &str) -> Self {
        if name.to_ascii_lowercase().ends_with(".csv") {
            Self::Csv
        } else {
            Self::Jsonl
        }
    }
}

/// A JSONL line as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    expected: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    assert: Vec<serde_json::Value>,
}

fn bad(file: &str, line: usize, field: &str, problem: impl std::fmt::Display) -> Error {
    Error::invalid(
        "dataset",
        format!("{file} line {line}: `{field}`: {problem}"),
    )
}

/// `text` (the contents of `file`) as rows; `template` (`--prompt-template`) makes each
/// row's prompt from its variables. Refuses an empty dataset, a malformed line, a duplicate
/// id, a row with neither prompt nor messages (nor template), an unknown variable.
pub fn parse(file: &str, text: &str, format: Format, template: Option<&str>) -> Result<Vec<Row>> {
    let mut rows = match format {
        Format::Jsonl => jsonl(file, text)?,
        Format::Csv => csv_rows(file, text)?,
    };
    if rows.is_empty() {
        return Err(Error::invalid(
            "dataset",
            format!("{file} has no rows: an evaluation needs at least one"),
        ));
    }
    let mut seen = std::collections::HashMap::new();
    for r in &mut rows {
        if let Some(earlier) = seen.insert(r.id.clone(), r.line) {
            return Err(bad(
                file,
                r.line,
                "id",
                format!("`{}` is the id of line {earlier} too", r.id),
            ));
        }
        if let Some(t) = template {
            let mut vars = r.vars.clone();
            if let Some(p) = &r.prompt {
                vars.entry("prompt".into()).or_insert_with(|| p.clone());
            }
            r.prompt = Some(render(t, &vars).map_err(|v| {
                bad(
                    file,
                    r.line,
                    "vars",
                    format!("the prompt template uses `{{{{{v}}}}}`, which this row does not set"),
                )
            })?);
            r.messages = None;
        }
        if r.prompt.is_none() && r.messages.is_none() {
            return Err(bad(
                file,
                r.line,
                "prompt",
                "a row needs `prompt` or `messages` (or a --prompt-template)",
            ));
        }
        if r.assert.is_empty()
            && let Some(e) = &r.expected
        {
            r.assert.push(Assertion::Contains { value: e.clone() });
        }
    }
    Ok(rows)
}

/// `template` with each `{{name}}` replaced by `vars[name]` (or the first missing name).
pub fn render(
    template: &str,
    vars: &BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => return Err(name.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn jsonl(file: &str, text: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(raw).map_err(|e| {
            // serde names the field in its message when it is one (`unknown field`, a type).
            bad(file, line, field_of(&e.to_string()), e)
        })?;
        let id = match parsed.id {
            None => format!("row-{line}"),
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(_) => return Err(bad(file, line, "id", "a non-empty string or a number")),
        };
        let mut vars = BTreeMap::new();
        for (k, v) in parsed.vars {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                _ => {
                    return Err(bad(
                        file,
                        line,
                        &format!("vars.{k}"),
                        "a string, number or boolean",
                    ));
                }
            };
            vars.insert(k, v);
        }
        let mut assert = Vec::with_capacity(parsed.assert.len());
        for (j, a) in parsed.assert.into_iter().enumerate() {
            assert.push(
                Assertion::parse(a).map_err(|e| bad(file, line, &format!("assert[{j}]"), e))?,
            );
        }
        if parsed.prompt.is_some() && parsed.messages.is_some() {
            return Err(bad(
                file,
                line,
                "messages",
                "give `prompt` or `messages`, not both",
            ));
        }
        rows.push(Row {
            id,
            prompt: parsed.prompt,
            messages: parsed.messages,
            system: parsed.system,
            category: parsed.category,
            expected: parsed.expected,
            vars,
            assert,
            line,
        });
    }
    Ok(rows)
}

/// The field a serde error is about: `unknown field `x``, or "dataset" when it names none.
fn field_of(message: &str) -> &str {
    message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
        .or_else(|| {
            message
                .find("for key `")
                .and_then(|i| message[i + 9..].split('`').next())
        })
        .unwrap_or("(line)")
}

fn csv_rows(file: &str, text: &str) -> Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(file, 1, "(header)", e))?
        .clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e
                .position()
                .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
            bad(file, line, "(row)", e)
        })?;
        let line = record
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        let mut row = Row {
            id: format!("row-{line}"),
            prompt: None,
            messages: None,
            system: None,
            category: None,
            expected: None,
            vars: BTreeMap::new(),
            assert: Vec::new(),
            line,
        };
        for (name, value) in headers.iter().zip(record.iter()) {
            let value = value.to_string();
            match name {
                "prompt" => row.prompt = Some(value).filter(|v| !v.is_empty()),
                "id" if !value.is_empty() => row.id = value,
                "id" => {}
                "category" => row.category = Some(value).filter(|v| !v.is_empty()),
                "expected" => row.expected = Some(value).filter(|v| !v.is_empty()),
                "system" => row.system = Some(value).filter(|v| !v.is_empty()),
                other => {
                    row.vars.insert(other.to_string(), value);
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, format: Format) -> String {
        parse("data", text, format, None).unwrap_err().to_string()
    }

    #[test]
    fn jsonl_rows_parse_and_bad_lines_are_named() {
        let rows = parse(
            "d.jsonl",
            "{\"id\": 7, \"prompt\": \"hi\", \"expected\": \"hi\", \"category\": \"greet\"}\n\n\
             {\"messages\": [{\"role\": \"user\", \"content\": \"yo\"}], \"assert\": [{\"type\": \"regex\", \"value\": \"^y\"}]}\n",
            Format::Jsonl,
            None,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, "7");
        assert_eq!(rows[0].assert, [Assertion::Contains { value: "hi".into() }]);
        assert_eq!(rows[1].id, "row-3");
        assert_eq!(rows[1].line, 3);
        assert!(
            err("{\"prompt\": \"a\"}\n{\"promt\": \"b\"}\n", Format::Jsonl)
                .contains("data line 2: `promt`")
        );
        assert!(err("{\"prompt\": 3}\n", Format::Jsonl).contains("data line 1"));
        assert!(err("not json\n", Format::Jsonl).contains("data line 1"));
        assert!(err("{\"system\": \"s\"}\n", Format::Jsonl).contains("`prompt`"));
        assert!(
            err(
                "{\"prompt\": \"a\", \"assert\": [{\"type\": \"nope\"}]}\n",
                Format::Jsonl
            )
            .contains("`assert[0]`: unknown assertion type `nope`")
        );
        assert!(
            err(
                "{\"prompt\": \"a\", \"assert\": [{\"type\": \"regex\", \"value\": \"(\"}]}\n",
                Format::Jsonl
            )
            .contains("`assert[0]`")
        );
        assert!(
            err(
                "{\"id\": \"a\", \"prompt\": \"x\"}\n{\"id\": \"a\", \"prompt\": \"y\"}\n",
                Format::Jsonl
            )
            .contains("line 2: `id`")
        );
        assert!(err("\n\n", Format::Jsonl).contains("no rows"));
    }

    #[test]
    fn csv_columns_are_fields_or_template_variables() {
        let text = "id,city,category,expected\nr1,Paris,geo,France\nr2,\"Oslo, NO\",geo,Norway\n";
        let rows = parse("d.csv", text, Format::Csv, Some("Where is {{city}}?")).unwrap();
        assert_eq!(rows[1].prompt.as_deref(), Some("Where is Oslo, NO?"));
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[0].category.as_deref(), Some("geo"));
        assert_eq!(
            rows[0].assert,
            [Assertion::Contains {
                value: "France".into()
            }]
        );
        let e = parse("d.csv", text, Format::Csv, Some("{{town}}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("d.csv line 2: `vars`") && e.contains("{{town}}"),
            "{e}"
        );
        assert!(err("prompt,x\na,b,c\n", Format::Csv).contains("data line 2"));
        assert!(err("id\nr1\n", Format::Csv).contains("`prompt`"));
    }
}
