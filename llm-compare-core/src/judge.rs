//! An LLM judge's prompts and verdicts: the pairwise prompt (which of two answers to one
//! question is better) and the rubric prompt (does an answer meet a rubric), each asking for a
//! JSON verdict, and the parsing of what a judge answered. `sim/judge` reads the same prompts,
//! so evaluations run offline.

use serde::{Deserialize, Serialize};

/// The pairwise verdict's JSON Schema (asked for as `response_format`).
pub fn pairwise_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "winner": {"type": "string", "enum": ["A", "B", "tie"]},
            "reason": {"type": "string"}
        },
        "required": ["winner", "reason"],
        "additionalProperties": false
    })
}

/// The rubric verdict's JSON Schema.
pub fn rubric_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "pass": {"type": "boolean"},
            "reason": {"type": "string"}
        },
        "required": ["pass", "reason"],
        "additionalProperties": false
    })
}

/// The system prompt of a pairwise judgement.
pub const PAIRWISE_SYSTEM: &str = "You are an impartial judge of answers to a question. \
Compare answer A and answer B: which answers the question better (correct, complete, helpful, \
concise)? Ignore their order and length as such. Reply with JSON only: \
{\"winner\": \"A\" | \"B\" | \"tie\", \"reason\": \"one sentence\"}.";

/// The system prompt of a rubric judgement.
pub const RUBRIC_SYSTEM: &str = "You are a strict grader. Decide whether the answer meets \
the rubric. Reply with JSON only: {\"pass\": true | false, \"reason\": \"one sentence\"}.";

/// The user message of a pairwise judgement of answers `a` and `b` to `question`.
pub fn pairwise_prompt(question: &str, a: &str, b: &str) -> String {
    format!(
        "<question>\n{question}\n</question>\n<answer_a>\n{a}\n</answer_a>\n<answer_b>\n{b}\n</answer_b>"
    )
}

/// The user message of a rubric judgement of `answer`.
pub fn rubric_prompt(rubric: &str, question: &str, answer: &str) -> String {
    format!(
        "<rubric>\n{rubric}\n</rubric>\n<question>\n{question}\n</question>\n<answer>\n{answer}\n</answer>"
    )
}

/// The text between `<tag>\n` and `\n</tag>` in `text`.
pub fn section<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>\n");
    let close = format!("\n</{tag}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(&text[start..end])
}

/// Which answer a pairwise judgement preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Winner {
    /// The first answer shown.
    A,
    /// The second answer shown.
    B,
    /// Neither.
    #[serde(rename = "tie")]
    Tie,
}

/// A pairwise verdict as the judge wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairwiseVerdict {
    /// The better answer.
    pub winner: Winner,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// A rubric verdict as the judge wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RubricVerdict {
    /// Whether the answer meets the rubric.
    pub pass: bool,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// The JSON object in a judge's answer (the whole answer, or the first `{…}` in it: judges
/// wrap JSON in prose or code fences), as `T`.
pub fn parse_verdict<T: serde::de::DeserializeOwned>(answer: &str) -> Result<T, String> {
    if let Ok(v) = serde_json::from_str(answer.trim()) {
        return Ok(v);
    }
    let start = answer.find('{');
    let end = answer.rfind('}');
    match (start, end) {
        (Some(s), Some(e)) if s < e => serde_json::from_str(&answer[s..=e])
            .map_err(|err| format!("the judge's verdict is not the JSON asked for: {err}")),
        _ => Err(format!(
            "the judge answered without a JSON verdict: {}",
            answer.chars().take(200).collect::<String>()
        )),
    }
}

/// The distinct words of `text` (lowercase, letters and digits), as `sim/judge` counts them.
pub fn distinct_words(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `sim/judge`'s verdict on a judging prompt: pairwise, the answer containing more distinct
/// words of the question wins (equal: a tie); rubric, the answer passes when it contains
/// at least half of the rubric's distinct words. Anything else: a tie, said so.
pub fn sim_verdict(prompt: &str) -> String {
    if let (Some(q), Some(a), Some(b)) = (
        section(prompt, "question"),
        section(prompt, "answer_a"),
        section(prompt, "answer_b"),
    ) {
        let q = distinct_words(q);
        let count = |t: &str| distinct_words(t).intersection(&q).count();
        let (na, nb) = (count(a), count(b));
        let winner = match na.cmp(&nb) {
            std::cmp::Ordering::Greater => Winner::A,
            std::cmp::Ordering::Less => Winner::B,
            std::cmp::Ordering::Equal => Winner::Tie,
        };
        let verdict = PairwiseVerdict {
            winner,
            reason: format!("answer A has {na} distinct words of the question, answer B {nb}"),
        };
        return serde_json::to_string(&verdict).unwrap_or_default();
    }
    if let (Some(rubric), Some(answer)) = (section(prompt, "rubric"), section(prompt, "answer")) {
        let wanted = distinct_words(rubric);
        let have = distinct_words(answer).intersection(&wanted).count();
        let verdict = RubricVerdict {
            pass: have * 2 >= wanted.len(),
            reason: format!(
                "the answer has {have} of the rubric's {} distinct words",
                wanted.len()
            ),
        };
        return serde_json::to_string(&verdict).unwrap_or_default();
    }
    serde_json::to_string(&PairwiseVerdict {
        winner: Winner::Tie,
        reason: "not a judging prompt".into(),
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_judge_prefers_the_answer_with_more_words_of_the_question() {
        let p = pairwise_prompt("why is the sky blue", "the sky is blue", "lorem ipsum");
        let v: PairwiseVerdict = parse_verdict(&sim_verdict(&p)).unwrap();
        assert_eq!(v.winner, Winner::A);
        let p = pairwise_prompt("why is the sky blue", "lorem", "why is the sky blue");
        let v: PairwiseVerdict = parse_verdict(&sim_verdict(&p)).unwrap();
        assert_eq!(v.winner, Winner::B);
        let p = pairwise_prompt("why", "x", "y");
        let v: PairwiseVerdict = parse_verdict(&sim_verdict(&p)).unwrap();
        assert_eq!(v.winner, Winner::Tie);
        let r = rubric_prompt("mentions Rayleigh scattering", "why", "Rayleigh scattering");
        let v: RubricVerdict = parse_verdict(&sim_verdict(&r)).unwrap();
        assert!(v.pass);
        let r = rubric_prompt("mentions Rayleigh scattering light", "why", "no idea");
        let v: RubricVerdict = parse_verdict(&sim_verdict(&r)).unwrap();
        assert!(!v.pass);
    }

    #[test]
    fn verdicts_are_found_in_prose_and_refused_without_json() {
        let v: PairwiseVerdict =
            parse_verdict("Sure!\n```json\n{\"winner\": \"B\", \"reason\": \"x\"}\n```").unwrap();
        assert_eq!(v.winner, Winner::B);
        assert!(parse_verdict::<PairwiseVerdict>("B is better").is_err());
        assert!(parse_verdict::<PairwiseVerdict>("{\"winner\": \"C\"}").is_err());
    }
}
