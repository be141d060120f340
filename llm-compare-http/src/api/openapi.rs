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
        super::chat::completions,
        super::meta::models,
        super::meta::tools,
        super::meta::health,
        super::meta::ready,
        super::meta::metrics,
        super::meta::openapi,
    ),
    modifiers(&Security),
    tags(
        (name = "comparisons", description = "Run comparisons and stream their events"),
        (name = "sessions", description = "Multi-turn comparisons"),
        (name = "evals", description = "Evaluation runs over datasets, with a judge"),
        (name = "leaderboard", description = "Votes as a ranking"),
        (name = "usage", description = "Tokens, cost and budget"),
        (name = "keys", description = "API keys: mint, list, limit, revoke"),
        (name = "openai", description = "OpenAI-compatible endpoint"),
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
