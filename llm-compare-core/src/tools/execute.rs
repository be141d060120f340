//! Running one tool call under the limits every source of tools shares: arguments checked,
//! the call on its own task, a timeout, the result cut to size.

use super::*;

/// Runs `call` on `tools` under `limits`: arguments checked (JSON, an object, valid against
/// the tool's schema), the call run on its own task (a panic is an error result, not a crashed
/// comparison) and abandoned at the timeout, its text cut to the size limit.
pub async fn execute(
    tools: Arc<dyn ToolExecutor>,
    call: &ToolCall,
    limits: ToolLimits,
) -> ToolResult {
    // Tokio's clock: the one the timeout runs on (and tests pause).
    let started = tokio::time::Instant::now();
    let span = crate::trace::tool_call(&call.name, &call.id);
    let output = run_checked(tools, call, limits)
        .instrument(span.clone())
        .await;
    if output.is_error {
        crate::trace::record_error(&span, "tool_error");
    }
    ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: cap(output.content, limits.max_result_bytes),
        is_error: output.is_error,
        duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        replayed: output.replayed,
    }
}

async fn run_checked(
    tools: Arc<dyn ToolExecutor>,
    call: &ToolCall,
    limits: ToolLimits,
) -> ToolOutput {
    let arguments = match arguments(tools.as_ref(), call) {
        Ok(v) => v,
        Err(out) => return out,
    };
    let name = call.name.clone();
    // Its own task: a panic is caught there, and dropping the handle at the timeout (or
    // when the comparison is cancelled) aborts the tool's work.
    let task = tokio::spawn(async move { tools.call(&name, arguments).await }.in_current_span());
    let abort = task.abort_handle();
    let _abort_on_drop = AbortOnDrop(abort);
    match tokio::time::timeout(limits.timeout, task).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.is_panic() => {
            ToolOutput::error(format!("the tool `{}` failed (it panicked)", call.name))
        }
        Ok(Err(_)) => ToolOutput::error(format!("the tool `{}` was cancelled", call.name)),
        Err(_) => ToolOutput::error(format!(
            "the tool `{}` did not answer within {} s",
            call.name,
            limits.timeout.as_secs_f64()
        )),
    }
}

/// Whether `v` is a JSON Schema of the kind tools take: an object, valid as a schema.
pub fn is_schema(v: &Value) -> bool {
    v.is_object() && jsonschema::validator_for(v).is_ok()
}

/// `call`'s arguments, checked: a tool of `tools`, JSON, an object, valid against the
/// tool's schema — or the error result the model gets.
pub(crate) fn arguments(
    tools: &dyn ToolExecutor,
    call: &ToolCall,
) -> std::result::Result<Value, ToolOutput> {
    let offered = tools.tools();
    let Some(tool) = offered.iter().find(|t| t.function.name == call.name) else {
        let names: Vec<&str> = offered.iter().map(|t| t.function.name.as_str()).collect();
        return Err(ToolOutput::error(format!(
            "no tool `{}`; the tools are: {}",
            call.name,
            names.join(", ")
        )));
    };
    let raw = if call.arguments.trim().is_empty() {
        "{}"
    } else {
        &call.arguments
    };
    let arguments: Value = match serde_json::from_str(raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(ToolOutput::error("the arguments must be a JSON object")),
        Err(e) => {
            return Err(ToolOutput::error(format!(
                "the arguments are not JSON: {e}"
            )));
        }
    };
    if let Some(schema) = &tool.function.parameters
        && let Ok(validator) = jsonschema::validator_for(schema)
    {
        let errors: Vec<String> = validator
            .iter_errors(&arguments)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            return Err(ToolOutput::error(format!(
                "the arguments do not match the tool's schema: {}",
                errors.join("; ")
            )));
        }
    }
    Ok(arguments)
}

/// Aborts a tool's task when its call is given up (timeout, cancel).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `content` with its text cut to `max` bytes (at a character boundary), marked.
fn cap(content: Content, max: usize) -> Content {
    match content {
        Content::Text(s) => Content::Text(cap_text(s, max)),
        // Parts share the budget: text parts are cut to what is left of it (media parts are
        // bounded by `Content::check`).
        Content::Parts(parts) => {
            let mut left = max;
            Content::Parts(
                parts
                    .into_iter()
                    .map(|p| match p {
                        crate::types::content::Part::Text { text } => {
                            let text = cap_text(text, left);
                            left = left.saturating_sub(text.len());
                            crate::types::content::Part::Text { text }
                        }
                        other => other,
                    })
                    .collect(),
            )
        }
    }
}

/// `s` cut to `max` bytes (at a character boundary), saying so.
fn cap_text(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let total = s.len();
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    s.push_str(&format!("\n[… truncated: {total} bytes, {max} kept]"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::content::Part;

    #[test]
    fn a_result_is_cut_to_the_cap_in_text_and_in_text_parts_together() {
        let Content::Text(t) = cap(Content::Text("é".repeat(100)), 51) else {
            panic!("text stays text")
        };
        assert!(
            t.starts_with(&"é".repeat(25)) && t.contains("truncated: 200 bytes"),
            "{t}"
        );
        // Issue 45: parts escaped the cap. Two text parts share it.
        let parts = Content::Parts(vec![
            Part::Text {
                text: "a".repeat(40),
            },
            Part::Text {
                text: "b".repeat(40),
            },
        ]);
        let Content::Parts(parts) = cap(parts, 50) else {
            panic!("parts stay parts")
        };
        let texts: Vec<&str> = parts
            .iter()
            .map(|p| match p {
                Part::Text { text } => text.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(texts[0], "a".repeat(40));
        assert!(
            texts[1].starts_with(&"b".repeat(10)) && texts[1].contains("10 kept"),
            "{}",
            texts[1]
        );
        assert!(!texts[1].starts_with(&"b".repeat(11)));
    }
}
