//! Redis errors as the registry's typed errors, and request records decoded from their hashes.

use super::*;

/// A Redis failure as the core error: Redis unreachable, dropped or timing out is
/// [`Error::Unavailable`] (503, retryable); anything else is internal. The source goes to the
/// log.
pub(crate) fn redis_err(e: redis::RedisError) -> Error {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        tracing::warn!(target: "llm_compare::registry", error = %e, "redis unavailable");
        Error::unavailable("the request registry (Redis) is unreachable; try again shortly")
    } else {
        tracing::error!(target: "llm_compare::registry", error = %e, "redis error");
        Error::Internal(format!("redis: {e}"))
    }
}

/// Redis could not be reached at start-up.
pub(crate) fn cannot_reach(url: &str, e: &redis::RedisError) -> Error {
    Error::Unavailable {
        message: format!("cannot reach Redis at {url}: {e}"),
        retry_after: Some(Duration::from_secs(1)),
    }
}

/// The notice that ends a subscription when Redis goes away: a request-wide `unavailable`
/// error at the last event's `seq` (not part of the log: resume after `last`).
pub(crate) fn unavailable_notice(last: u64, e: &Error) -> Event {
    Event {
        seq: last,
        kind: EventKind::Error {
            model_index: None,
            model: None,
            code: ErrorCode::Unavailable,
            message: format!("{e}; resume with Last-Event-ID once it is back"),
            retryable: true,
        },
    }
}

/// A request hash field that does not decode: an error, never a default.
pub(crate) fn corrupt(id: &str, field: &str, value: &str) -> Error {
    Error::Internal(format!(
        "request `{id}` in Redis has a corrupt `{field}`: {value:?}"
    ))
}

/// A request hash's `status` (absent: the hash expired between two reads).
pub(crate) fn stored_status(id: &str, value: &str) -> Result<RequestStatus> {
    serde_json::from_value(serde_json::Value::String(value.into()))
        .map_err(|_| corrupt(id, "status", value))
}

/// A request hash (`h`, read as `owner`'s) as the registry's answer; strict, field by field.
pub(crate) fn decode_info(
    owner: &str,
    id: &str,
    h: &HashMap<String, String>,
) -> Result<RequestInfo> {
    let field = |k: &str| h.get(k).map(String::as_str).unwrap_or_default();
    let number = |k: &str| {
        field(k)
            .parse::<u64>()
            .map_err(|_| corrupt(id, k, field(k)))
    };
    let metadata = match field("metadata") {
        "" => None,
        m => Some(serde_json::from_str(m).map_err(|_| corrupt(id, "metadata", m))?),
    };
    let blind = match field("blind") {
        "1" => true,
        "0" => false,
        b => return Err(corrupt(id, "blind", b)),
    };
    Ok(RequestInfo {
        id: id.to_string(),
        owner: owner.to_string(),
        status: stored_status(id, field("status"))?,
        models: serde_json::from_str(field("models"))
            .map_err(|_| corrupt(id, "models", field("models")))?,
        created_at_ms: number("created_at_ms")?,
        metadata,
        blind,
        last_seq: number("last_seq")?,
    })
}

pub(crate) fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no request `{id}` (unknown, expired or not yours)"))
}
