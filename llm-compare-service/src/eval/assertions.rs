//! What an answer must satisfy in an evaluation: `equals`, `contains`, `icontains`, `regex`,
//! `is_json`, `json_schema`, `max_latency_ms`, `max_cost_usd` (checked here), and
//! `llm_rubric` (graded by the judge, in the run).

use serde::{Deserialize, Serialize};

/// One assertion (`{"type": "contains", "value": "Paris"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assertion {
    /// The answer (trimmed) is exactly `value`.
    Equals {
        /// The text.
        value: String,
    },
    /// The answer contains `value`.
    Contains {
        /// The text.
        value: String,
    },
    /// The answer contains `value`, ignoring case.
    Icontains {
        /// The text.
        value: String,
    },
    /// The answer matches the regular expression `value`.
    Regex {
        /// The expression (Rust `regex` syntax).
        value: String,
    },
    /// The answer is JSON.
    IsJson,
    /// The answer is JSON valid against the schema `value`.
    JsonSchema {
        /// The JSON Schema.
        value: serde_json::Value,
    },
    /// The answer took at most `value` milliseconds.
    MaxLatencyMs {
        /// The limit.
        value: f64,
    },
    /// The answer cost at most `value` USD.
    MaxCostUsd {
        /// The limit.
        value: f64,
    },
    /// The judge finds the answer meets the rubric `value`.
    LlmRubric {
        /// The rubric.
        value: String,
    },
}

/// The types, as named in datasets.
pub const TYPES: [&str; 9] = [
    "equals",
    "contains",
    "icontains",
    "regex",
    "is_json",
    "json_schema",
    "max_latency_ms",
    "max_cost_usd",
    "llm_rubric",
];

/// An assertion's outcome on one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "AssertionOutcome"))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AssertionOutcome))]
pub struct Outcome {
    /// The assertion's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the answer satisfies it.
    pub passed: bool,
    /// Why not (or, for a judged one, the judge's reason).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<String>"))]
    pub reason: String,
}

/// What an assertion is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The text.
    pub text: &'a str,
    /// The latency, in milliseconds.
    pub latency_ms: f64,
    /// The cost, in USD (None: unpriced).
    pub cost_usd: Option<f64>,
}

impl Assertion {
    /// An assertion from a dataset's JSON, checked: a known type, a regex that compiles, a
    /// schema that is one, a non-negative limit.
    pub fn parse(v: serde_json::Value) -> Result<Self, String> {
        let kind = v
            .get("type")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or("an assertion needs a `type`")?;
        if !TYPES.contains(&kind.as_str()) {
            return Err(format!(
                "unknown assertion type `{kind}`; the types are: {}",
                TYPES.join(", ")
            ));
        }
        let a: Assertion = serde_json::from_value(v).map_err(|e| format!("`{kind}`: {e}"))?;
        match &a {
            Assertion::Regex { value } => {
                regex::Regex::new(value).map_err(|e| format!("`regex`: a bad expression: {e}"))?;
            }
            Assertion::JsonSchema { value } => {
                if !llm_compare_core::tools::is_schema(value) {
                    return Err("`json_schema`: `value` is not a JSON Schema object".into());
                }
            }
            Assertion::MaxLatencyMs { value } | Assertion::MaxCostUsd { value } => {
                if !(value.is_finite() && *value >= 0.0) {
                    return Err(format!("`{kind}`: `value` must be a number ≥ 0"));
                }
            }
            Assertion::Equals { .. }
            | Assertion::Contains { .. }
            | Assertion::Icontains { .. }
            | Assertion::IsJson
            | Assertion::LlmRubric { .. } => {}
        }
        Ok(a)
    }

    /// The type's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Assertion::Equals { .. } => "equals",
            Assertion::Contains { .. } => "contains",
            Assertion::Icontains { .. } => "icontains",
            Assertion::Regex { .. } => "regex",
            Assertion::IsJson => "is_json",
            Assertion::JsonSchema { .. } => "json_schema",
            Assertion::MaxLatencyMs { .. } => "max_latency_ms",
            Assertion::MaxCostUsd { .. } => "max_cost_usd",
            Assertion::LlmRubric { .. } => "llm_rubric",
        }
    }

    /// Checks `answer` (None for `llm_rubric`: the judge grades it).
    pub fn check(&self, answer: Answer<'_>) -> Option<Outcome> {
        let quote = |s: &str| s.chars().take(80).collect::<String>();
        let (passed, reason) = match self {
            Assertion::Equals { value } => {
                let ok = answer.text.trim() == value.trim();
                (ok, format!("the answer is not `{}`", quote(value)))
            }
            Assertion::Contains { value } => (
                answer.text.contains(value.as_str()),
                format!("the answer does not contain `{}`", quote(value)),
            ),
            Assertion::Icontains { value } => (
                answer.text.to_lowercase().contains(&value.to_lowercase()),
                format!("the answer does not contain `{}` (any case)", quote(value)),
            ),
            Assertion::Regex { value } => (
                regex::Regex::new(value).is_ok_and(|r| r.is_match(answer.text)),
                format!("the answer does not match /{value}/"),
            ),
            Assertion::IsJson => {
                match serde_json::from_str::<serde_json::Value>(answer.text.trim()) {
                    Ok(_) => (true, String::new()),
                    Err(e) => (false, format!("the answer is not JSON: {e}")),
                }
            }
            Assertion::JsonSchema { value } => {
                match serde_json::from_str::<serde_json::Value>(answer.text.trim()) {
                    Err(e) => (false, format!("the answer is not JSON: {e}")),
                    Ok(doc) => match jsonschema::validator_for(value) {
                        Err(e) => (false, format!("the schema is not valid: {e}")),
                        Ok(v) => {
                            let errors: Vec<String> = v
                                .iter_errors(&doc)
                                .map(|e| format!("{}: {e}", e.instance_path()))
                                .collect();
                            (errors.is_empty(), errors.join("; "))
                        }
                    },
                }
            }
            Assertion::MaxLatencyMs { value } => (
                answer.latency_ms <= *value,
                format!("took {:.0} ms, over {value} ms", answer.latency_ms),
            ),
            Assertion::MaxCostUsd { value } => match answer.cost_usd {
                Some(c) => (c <= *value, format!("cost ${c}, over ${value}")),
                None => (false, "the model is not priced: its cost is unknown".into()),
            },
            Assertion::LlmRubric { .. } => return None,
        };
        Some(Outcome {
            kind: self.kind().to_string(),
            passed,
            reason: if passed { String::new() } else { reason },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(a: serde_json::Value, text: &str) -> bool {
        Assertion::parse(a)
            .unwrap()
            .check(Answer {
                text,
                latency_ms: 120.0,
                cost_usd: Some(0.002),
            })
            .unwrap()
            .passed
    }

    #[test]
    fn each_type_checks_what_it_says() {
        assert!(check(
            json!({"type": "equals", "value": "Paris"}),
            " Paris\n"
        ));
        assert!(!check(
            json!({"type": "equals", "value": "Paris"}),
            "Paris."
        ));
        assert!(check(json!({"type": "contains", "value": "ar"}), "Paris"));
        assert!(!check(json!({"type": "contains", "value": "AR"}), "Paris"));
        assert!(check(json!({"type": "icontains", "value": "AR"}), "Paris"));
        assert!(check(
            json!({"type": "regex", "value": "^P\\w+s$"}),
            "Paris"
        ));
        assert!(check(json!({"type": "is_json"}), "{\"a\": 1}"));
        assert!(!check(json!({"type": "is_json"}), "{a: 1}"));
        let schema = json!({"type": "object", "required": ["a"]});
        assert!(check(
            json!({"type": "json_schema", "value": schema}),
            "{\"a\": 1}"
        ));
        assert!(!check(
            json!({"type": "json_schema", "value": schema}),
            "{\"b\": 1}"
        ));
        assert!(check(json!({"type": "max_latency_ms", "value": 120}), ""));
        assert!(!check(json!({"type": "max_latency_ms", "value": 100}), ""));
        assert!(check(json!({"type": "max_cost_usd", "value": 0.002}), ""));
        assert!(!check(json!({"type": "max_cost_usd", "value": 0.001}), ""));
        let rubric = Assertion::parse(json!({"type": "llm_rubric", "value": "polite"})).unwrap();
        assert!(
            rubric
                .check(Answer {
                    text: "",
                    latency_ms: 0.0,
                    cost_usd: None
                })
                .is_none()
        );
    }

    #[test]
    fn bad_assertions_are_refused_naming_what_is_wrong() {
        let e = |v| Assertion::parse(v).unwrap_err();
        assert!(e(json!({"type": "nope"})).contains("unknown assertion type `nope`"));
        assert!(e(json!({"value": "x"})).contains("`type`"));
        assert!(e(json!({"type": "regex", "value": "("})).contains("bad expression"));
        assert!(e(json!({"type": "contains"})).contains("`value`"));
        assert!(e(json!({"type": "max_cost_usd", "value": -1})).contains("≥ 0"));
        assert!(e(json!({"type": "json_schema", "value": 3})).contains("JSON Schema"));
        assert!(e(json!({"type": "contains", "value": "x", "extra": 1})).contains("extra"));
    }
}
