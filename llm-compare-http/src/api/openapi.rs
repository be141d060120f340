//! The OpenAPI 3.1 document, generated from the route annotations and types.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Every route of the server.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "llm-compare", description = "Compare LLMs side by side: POST a comparison, stream its events."),
    paths(
        super::comparisons::create,
        super::comparisons::list,
        super::comparisons::stream,
        super::comparisons::websocket,
        super::comparisons::snapshot,
        super::comparisons::attachment,
        super::comparisons::cassette,
        super::comparisons::tool_results,
        super::comparisons::cancel,
        super::comparisons::vote,
        super::sessions::create,
        super::sessions::list,
        super::sessions::get_one,
        super::sessions::delete_one,
        super::evals::create,
        super::evals::list,
        super::evals::get,
        super::evals::stream,
        super::evals::report,
        super::evals::cancel,
        super::leaderboard::get,
        super::usage::get,
        super::keys::create,
        super::keys::list,
        super::keys::own,
        super::keys::get_one,
        super::keys::update,
        super::keys::revoke,
        super::openai::completions,
        super::responses::create,
        super::responses::retrieve,
        super::anthropic::messages,
        super::anthropic::count_tokens,
        super::meta::models,
        super::meta::tools,
        super::meta::health,
        super::meta::ready,
        super::meta::metrics,
        super::meta::openapi,
    ),
    modifiers(&Security, &Links),
    tags(
        (name = "comparisons", description = "Run comparisons and stream their events"),
        (name = "sessions", description = "Multi-turn comparisons"),
        (name = "evals", description = "Evaluation runs over datasets, with a judge"),
        (name = "leaderboard", description = "Votes as a ranking"),
        (name = "usage", description = "Tokens, cost and budget"),
        (name = "keys", description = "API keys: mint, list, limit, revoke"),
        (name = "openai", description = "OpenAI-compatible endpoints (Chat Completions, Responses)"),
        (name = "anthropic", description = "Anthropic-compatible endpoint (Messages API)"),
        (name = "meta", description = "Catalogue, health, metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// One server-sent event of a stream, as an SSE client parses it (the `data` is the event's
/// JSON: docs/events.md).
#[derive(Debug, utoipa::ToSchema)]
pub struct SseMessage {
    /// The event's type (`status`, `response_chunk`, …, `complete`).
    pub event: String,
    /// The event as JSON.
    pub data: String,
    /// Its `seq` (what `Last-Event-ID` resumes after); absent on a notice outside the log.
    pub id: Option<String>,
    /// How soon to reconnect, ms (on the first event).
    pub retry: Option<u64>,
}

/// OpenAPI links from what a create returns to the operations on what it created: a client
/// generator (and the HTTP fuzz run's stateful phase) follows a new comparison to its
/// snapshot, stream, vote and cancel with its real id instead of a made-up one.
struct Links;

/// An operation: its path and method.
type Operation = (&'static str, &'static str);

/// `(created by, the id in its 201 body, the operations taking it as `{id}`)`.
const LINKS: &[(&str, &str, &[Operation])] = &[
    (
        "/v1/comparisons",
        "/request_id",
        &[
            ("/v1/comparisons/{id}", "get"),
            ("/v1/comparisons/{id}", "delete"),
            ("/v1/comparisons/{id}/stream", "get"),
            ("/v1/comparisons/{id}/preference", "post"),
            ("/v1/comparisons/{id}/cassette", "get"),
            ("/v1/comparisons/{id}/tool_results", "post"),
            ("/v1/comparisons/{id}/attachments/{index}", "get"),
        ],
    ),
    (
        "/v1/evals",
        "/run_id",
        &[
            ("/v1/evals/{id}", "get"),
            ("/v1/evals/{id}", "delete"),
            ("/v1/evals/{id}/stream", "get"),
            ("/v1/evals/{id}/report", "get"),
        ],
    ),
    (
        "/v1/sessions",
        "/id",
        &[
            ("/v1/sessions/{id}", "get"),
            ("/v1/sessions/{id}", "delete"),
        ],
    ),
    (
        "/v1/keys",
        "/id",
        &[
            ("/v1/keys/{id}", "get"),
            ("/v1/keys/{id}", "patch"),
            ("/v1/keys/{id}", "delete"),
        ],
    ),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, link::Link};
        for (create, id, targets) in LINKS {
            let Some(post) = openapi
                .paths
                .paths
                .get_mut(*create)
                .and_then(|item| item.post.as_mut())
            else {
                continue;
            };
            let Some(RefOr::T(created)) = post.responses.responses.get_mut("201") else {
                continue;
            };
            for (path, method) in *targets {
                // A JSON pointer to the operation: `/` in the path is `~1`.
                let operation = format!("#/paths/{}/{method}", path.replace('/', "~1"));
                let mut link = Link::builder()
                    .operation_ref(operation)
                    .parameter("id", format!("$response.body#{id}"));
                if path.ends_with("{index}") {
                    link = link.parameter("index", 0);
                }
                let name = format!(
                    "{method}{}",
                    path.trim_start_matches(create)
                        .replace(['/', '{', '}'], "_")
                        .trim_end_matches('_')
                );
                created.links.insert(name, RefOr::T(link.build()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_names_an_operation_of_the_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut n = 0;
        for (create, _, targets) in LINKS {
            let links = &doc["paths"][*create]["post"]["responses"]["201"]["links"];
            assert_eq!(
                links.as_object().map(|l| l.len()),
                Some(targets.len()),
                "{create}: {links}"
            );
            for (path, method) in *targets {
                assert!(doc["paths"][*path][*method].is_object(), "{method} {path}");
                n += 1;
            }
        }
        assert!(n >= 15);
    }
}
