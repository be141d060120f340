//! Evaluation datasets: JSONL (`{"id"?, "prompt" | "messages", "system"?, "category"?,
//! "expected"?, "vars"?, "assert"?: [...]}` per line) or CSV (columns `prompt`, `id`,
//! `category`, `expected`; any other column is a template variable). A malformed line or row
//! refuses the whole dataset, naming the file, the line and the field.

use std::collections::BTreeMap;

use llm_compare_core::{Error, Message, Result};
use serde::{Deserialize, Serialize};

use super::assertions::Assertion;
use crate::limits::Limits;

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
    parse_within(file, text, format, template, &Limits::local())
}

/// [`parse`] within `limits`: each row is checked as it is read, and the first one past
/// `eval_max_rows`, `eval_max_prompt_bytes` or `eval_max_dataset_bytes` refuses the dataset
/// there ([`Error::LimitExceeded`] naming the limit and the line) — a dataset past a limit
/// costs the rows up to it, never the rest.
pub fn parse_within(
    file: &str,
    text: &str,
    format: Format,
    template: Option<&str>,
    limits: &Limits,
) -> Result<Vec<Row>> {
    let mut intake = Intake {
        file,
        template,
        limits,
        rows: Vec::new(),
        seen: std::collections::HashMap::new(),
        bytes: 0,
    };
    match format {
        Format::Jsonl => jsonl(file, text, &mut intake)?,
        Format::Csv => csv_rows(file, text, &mut intake)?,
    }
    if intake.rows.is_empty() {
        return Err(Error::invalid(
            "dataset",
            format!("{file} has no rows: an evaluation needs at least one"),
        ));
    }
    Ok(intake.rows)
}

/// Rows as they are read: each finished (template, default assertion), checked and counted.
struct Intake<'a> {
    file: &'a str,
    template: Option<&'a str>,
    limits: &'a Limits,
    rows: Vec<Row>,
    seen: std::collections::HashMap<String, usize>,
    /// Bytes of the prompts so far.
    bytes: usize,
}

impl Intake<'_> {
    /// Refuses the row at `line` when the dataset already holds as many as it may.
    fn room(&self, line: usize) -> Result<()> {
        let max = self.limits.eval_max_rows;
        if self.rows.len() >= max {
            return Err(Limits::exceeded(
                "eval_max_rows",
                max,
                "dataset",
                format!(
                    "{} line {line} is row {}: a dataset may hold at most {max} rows",
                    self.file,
                    self.rows.len() + 1
                ),
            ));
        }
        Ok(())
    }

    /// `r` finished and checked, then kept.
    fn push(&mut self, mut r: Row, raw_bytes: usize) -> Result<()> {
        let file = self.file;
        if let Some(earlier) = self.seen.insert(r.id.clone(), r.line) {
            return Err(bad(
                file,
                r.line,
                "id",
                format!("`{}` is the id of line {earlier} too", r.id),
            ));
        }
        if let Some(t) = self.template {
            let mut vars = r.vars.clone();
            if let Some(p) = &r.prompt {
                vars.entry("prompt".into()).or_insert_with(|| p.clone());
            }
            let max = self.limits.eval_max_prompt_bytes;
            r.prompt = Some(render_within(t, &vars, max).map_err(|e| match e {
                RenderError::Missing(v) => bad(
                    file,
                    r.line,
                    "vars",
                    format!("the prompt template uses `{{{{{v}}}}}`, which this row does not set"),
                ),
                RenderError::TooLong => too_long(file, r.line, max),
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
        // A conversation is bounded by its line; a prompt by its own length.
        let size = match &r.prompt {
            Some(p) => p.len() + r.system.as_ref().map_or(0, String::len),
            None => raw_bytes,
        };
        let max = self.limits.eval_max_prompt_bytes;
        if size > max {
            return Err(too_long(file, r.line, max));
        }
        self.bytes = self.bytes.saturating_add(size);
        let max = self.limits.eval_max_dataset_bytes;
        if self.bytes > max {
            return Err(Limits::exceeded(
                "eval_max_dataset_bytes",
                max,
                "dataset",
                format!(
                    "{file} line {}: the prompts so far come to {} bytes, and a dataset's prompts may come to at most {max}",
                    r.line, self.bytes
                ),
            ));
        }
        if r.assert.is_empty()
            && let Some(e) = &r.expected
        {
            r.assert.push(Assertion::Contains { value: e.clone() });
        }
        self.rows.push(r);
        Ok(())
    }
}

fn too_long(file: &str, line: usize, max: usize) -> Error {
    Limits::exceeded(
        "eval_max_prompt_bytes",
        max,
        "dataset",
        format!("{file} line {line}: the row's prompt is longer than {max} bytes"),
    )
}

/// `template` with each `{{name}}` replaced by `vars[name]` (or the first missing name).
pub fn render(
    template: &str,
    vars: &BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    render_within(template, vars, usize::MAX).map_err(|e| match e {
        RenderError::Missing(name) => name,
        RenderError::TooLong => String::new(),
    })
}

/// Why a template did not render.
enum RenderError {
    /// It uses a variable the row does not set.
    Missing(String),
    /// It came out longer than allowed.
    TooLong,
}

/// [`render`], stopping as soon as the text passes `max` bytes (a template repeating a long
/// variable must not be built whole to be found too long).
fn render_within(
    template: &str,
    vars: &BTreeMap<String, String>,
    max: usize,
) -> std::result::Result<String, RenderError> {
    let mut out = String::with_capacity(template.len().min(max));
    let push = |out: &mut String, s: &str| {
        if out.len() + s.len() > max {
            return Err(RenderError::TooLong);
        }
        out.push_str(s);
        Ok(())
    };
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        push(&mut out, &rest[..start])?;
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            push(&mut out, &rest[start..])?;
            return Ok(out);
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => push(&mut out, v)?,
            None => return Err(RenderError::Missing(name.to_string())),
        }
        rest = &after[end + 2..];
    }
    push(&mut out, rest)?;
    Ok(out)
}

fn jsonl(file: &str, text: &str, intake: &mut Intake<'_>) -> Result<()> {
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        intake.room(line)?;
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
        intake.push(
            Row {
                id,
                prompt: parsed.prompt,
                messages: parsed.messages,
                system: parsed.system,
                category: parsed.category,
                expected: parsed.expected,
                vars,
                assert,
                line,
            },
            raw.len(),
        )?;
    }
    Ok(())
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

fn csv_rows(file: &str, text: &str, intake: &mut Intake<'_>) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(file, 1, "(header)", e))?
        .clone();
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
        intake.room(line)?;
        let raw_bytes = record.as_byte_record().as_slice().len();
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
        intake.push(row, raw_bytes)?;
    }
    Ok(())
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

    #[test]
    fn limits_refuse_at_the_first_row_past_them_naming_the_line() {
        let limits = Limits {
            eval_max_rows: 3,
            eval_max_prompt_bytes: 100,
            eval_max_dataset_bytes: 250,
            ..Limits::default()
        };
        let text = "{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\"}\n{\"prompt\": \"c\"}\n{\"prompt\": \"d\"}\nnot even json\n";
        let e = parse_within("d.jsonl", text, Format::Jsonl, None, &limits).unwrap_err();
        let l = e.limit().unwrap();
        assert_eq!((l.limit.as_str(), l.value), ("eval_max_rows", 3));
        // Line 5 is the fourth row; the malformed line after it is never read.
        assert!(e.to_string().contains("d.jsonl line 5 is row 4"), "{e}");
        assert_eq!(
            parse_within(
                "d.jsonl",
                text.split("{\"prompt\": \"d\"}").next().unwrap(),
                Format::Jsonl,
                None,
                &limits
            )
            .unwrap()
            .len(),
            3
        );
        // CSV the same, counted in records.
        let csv = "prompt\na\nb\nc\nd\n";
        let e = parse_within("d.csv", csv, Format::Csv, None, &limits).unwrap_err();
        assert!(e.to_string().contains("d.csv line 5 is row 4"), "{e}");
        // A rendered prompt past its size, found before it is built whole.
        let template = "{{x}}".repeat(1000);
        let e =
            parse_within("d.csv", "x\nabc\n", Format::Csv, Some(&template), &limits).unwrap_err();
        assert_eq!(e.limit().unwrap().limit, "eval_max_prompt_bytes");
        assert!(e.to_string().contains("d.csv line 2"), "{e}");
        // Prompts as given count too, and so do all of them together.
        let long = format!("{{\"prompt\": \"{}\"}}\n", "x".repeat(101));
        let e = parse_within("d.jsonl", &long, Format::Jsonl, None, &limits).unwrap_err();
        assert_eq!(e.limit().unwrap().limit, "eval_max_prompt_bytes");
        let ninety = format!("{{\"prompt\": \"{}\"}}\n", "x".repeat(90)).repeat(3);
        let e = parse_within("d.jsonl", &ninety, Format::Jsonl, None, &limits).unwrap_err();
        assert_eq!(e.limit().unwrap().limit, "eval_max_dataset_bytes");
        assert!(e.to_string().contains("line 3"), "{e}");
        // The local limits take what memory takes.
        assert_eq!(
            parse("d.jsonl", &ninety, Format::Jsonl, None)
                .unwrap()
                .len(),
            3
        );
    }
}
