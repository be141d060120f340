//! API keys as data (issue 21), over real HTTP: minting, the allow-list (no upstream call),
//! per-key rate, active and budget limits under concurrency, revocation reaching a second
//! server within a second, bad input, and no secret in the database.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Server, call, sim_config, sqlite_url, start_state};
use llm_compare_core::{
    CompareRequest, Engine, ModelPrice, PriceTable, ProviderRegistry, SimConfig, SimProvider,
};
use llm_compare_http::{AppState, ServerOptions};
use llm_compare_service::keys::CreateKey;
use llm_compare_service::roles::*;
use llm_compare_service::{BudgetSettings, SqlStore};
use llm_compare_testkit::mock_upstream::{self, MockConfig, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The sim provider, and `mock/*` models served by a counting loopback upstream.
fn engine(sim: SimConfig, upstream: Option<std::net::SocketAddr>) -> (Engine, Arc<SimProvider>) {
    let sim = Arc::new(SimProvider::new(sim));
    let mut providers = ProviderRegistry::new();
    providers.register(sim.clone());
    if let Some(addr) = upstream {
        providers.register(Arc::new(mock_upstream::provider("mock", addr).unwrap()));
    }
    let mut prices = PriceTable::empty();
    prices.set("sim/lorem", ModelPrice::per_million("1", "2").unwrap());
    prices.set("sim/echo", ModelPrice::per_million("1", "2").unwrap());
    prices.set("sim/slow", ModelPrice::per_million("1", "2").unwrap());
    (Engine::new(providers).with_prices(Arc::new(prices)), sim)
}

/// A server on the store at `url`.
async fn server(url: &str, upstream: Option<std::net::SocketAddr>, sim: SimConfig) -> Server {
    let store = SqlStore::open(url).await.unwrap();
    let (engine, sim) = engine(sim, upstream);
    let options = ServerOptions {
        requests_per_minute: 100_000,
        burst: 100_000,
        ..ServerOptions::default()
    };
    let mut options = options;
    options.registry.max_active_per_owner = 100;
    start_state(AppState::with_store(engine, options, Some(store)), sim).await
}

/// The first admin key, minted as `llm-compare keys create --admin` does: by the operator,
/// on the database.
async fn admin_key(url: &str) -> String {
    common::mint_key(
        url,
        CreateKey {
            user: "root".into(),
            admin: Some(true),
            ..CreateKey::default()
        },
    )
    .await
}

async fn answer(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `method path` as `key` (with a JSON body): the status and the JSON answer.
async fn ask(
    s: &Server,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    answer(call(s, method, path, key, body).await).await
}

/// Mints a key with `body` through the API (as `admin`): (secret, id).
async fn mint(s: &Server, admin: &str, body: Value) -> (String, String) {
    let (status, v) = ask(s, Method::POST, "/v1/keys", Some(admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (
        v["key"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    )
}

/// 20 comparisons of `models` posted at once with `key`: how many were accepted, and the
/// refusals' (status, code, Retry-After).
async fn twenty_at_once(s: &Server, key: &str, body: Value) -> (usize, Vec<(u16, String, bool)>) {
    let posts: Vec<_> = (0..20)
        .map(|_| {
            let r = common::client()
                .post(format!("{}/v1/comparisons", s.url))
                .bearer_auth(key)
                .json(&body)
                .send();
            tokio::spawn(r)
        })
        .collect();
    let mut accepted = 0;
    let mut refused = Vec::new();
    for p in posts {
        let r = p.await.unwrap().unwrap();
        if r.status() == StatusCode::CREATED {
            accepted += 1;
        } else {
            let status = r.status().as_u16();
            let retry = r.headers().contains_key("retry-after");
            let v: Value = r.json().await.unwrap();
            refused.push((
                status,
                v["error"]["code"].as_str().unwrap_or("").to_string(),
                retry,
            ));
        }
    }
    (accepted, refused)
}

#[tokio::test]
async fn keys_are_minted_used_listed_changed_and_revoked() {
    let (dir, url) = sqlite_url();
    let admin = admin_key(&url).await;
    let s = server(&url, None, sim_config()).await;
    // Keys exist: the server is closed to callers without one.
    let (status, v) = ask(&s, Method::GET, "/v1/models", None, None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (secret, id) = mint(
        &s,
        &admin,
        json!({"user": "carol", "name": "ci", "models": ["sim/*"]}),
    )
    .await;
    assert!(secret.starts_with("lcsk_"), "{secret}");
    // Used: a comparison runs as carol.
    let (status, v) = ask(
        &s,
        Method::POST,
        "/v1/comparisons",
        Some(&secret),
        Some(json!({"prompt": "hi", "models": ["sim/echo"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let events = common::read_sse(
        &s,
        Some(&secret),
        v["request_id"].as_str().unwrap(),
        None,
        1000,
    )
    .await;
    assert_eq!(events.last().unwrap().2["status"], "completed");
    let (_, me) = ask(&s, Method::GET, "/v1/keys/self", Some(&secret), None).await;
    assert_eq!(
        (me["user"].as_str(), me["kind"].as_str()),
        (Some("carol"), Some("stored"))
    );
    assert_eq!(me["key"]["id"], id.as_str());
    assert!(me["key"]["last_used_at_ms"].is_i64(), "{me}");
    assert_eq!(me["usage"]["calls"], 1, "{me}");
    // Another user's usage: an admin's to see, not carol's.
    let (status, v) = ask(&s, Method::GET, "/v1/usage?user=root", Some(&secret), None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, v) = ask(&s, Method::GET, "/v1/usage?user=carol", Some(&admin), None).await;
    assert_eq!(
        (status, v["total"]["calls"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    assert!(
        me["key"].get("key").is_none(),
        "the secret is shown once: {me}"
    );
    // Listed (never the secret), one at a time with a cursor.
    let (_, page) = ask(&s, Method::GET, "/v1/keys?limit=1", Some(&admin), None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], id.as_str(), "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = ask(
        &s,
        Method::GET,
        &format!("/v1/keys?limit=1&cursor={cursor}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(rest["data"][0]["user"], "root");
    assert!(rest["next_cursor"].is_null());
    assert!(!page.to_string().contains(&secret) && !rest.to_string().contains(&secret));
    // Changed: the allow-list widens to every model, a name is set.
    let (status, k) = ask(
        &s,
        Method::PATCH,
        &format!("/v1/keys/{id}"),
        Some(&admin),
        Some(json!({"models": null, "name": "ci-2", "rpm": 50})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{k}");
    assert_eq!(
        (k["name"].as_str(), k["rpm"].as_u64()),
        (Some("ci-2"), Some(50))
    );
    assert_eq!(k["models"], json!([]));
    // A user key may not manage keys; unknown ids are 404.
    let (status, v) = ask(&s, Method::GET, "/v1/keys", Some(&secret), None).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = ask(&s, Method::DELETE, "/v1/keys/key_nope", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Revoked: refused, saying so.
    let (status, k) = ask(
        &s,
        Method::DELETE,
        &format!("/v1/keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (status, k["status"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    let (status, v) = ask(&s, Method::GET, "/v1/keys/self", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("revoked"),
        "{v}"
    );
    // An expiring key stops working when it expires, saying so.
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(400))
        .unix_timestamp()
        * 1000
        + i64::from(
            (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(400)).millisecond(),
        );
    let (brief, _) = mint(
        &s,
        &admin,
        json!({"user": "dave", "expires_at": soon.to_string()}),
    )
    .await;
    assert_eq!(
        call(&s, Method::GET, "/v1/keys/self", Some(&brief), None)
            .await
            .status(),
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let v = loop {
        let (status, v) = ask(&s, Method::GET, "/v1/keys/self", Some(&brief), None).await;
        if status == StatusCode::UNAUTHORIZED {
            break v;
        }
        assert!(Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );

    // No secret in the database: neither its file nor its write-ahead log holds one.
    drop(s);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for key in [&admin, &secret, &brief] {
            let body = key.strip_prefix("lcsk_").unwrap();
            assert!(
                !bytes.windows(body.len()).any(|w| w == body.as_bytes()),
                "a secret is in the database files"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn bad_key_bodies_are_400s_naming_the_field() {
    let (dir, url) = sqlite_url();
    let admin = admin_key(&url).await;
    let s = server(&url, None, sim_config()).await;
    for (body, field) in [
        (json!({"user": "x", "scope": "owner"}), "scope"),
        (json!({"user": "x", "models": ["openai/[gpt"]}), "models[0]"),
        (json!({"user": "x", "budget_usd": -1}), "budget_usd"),
        (
            json!({"user": "x", "expires_at": "2001-01-01"}),
            "expires_at",
        ),
        (json!({"user": "bad\u{1b}[31mname"}), "user"),
        (json!({"user": "x", "rpm": 0}), "rpm"),
        (json!({"name": "no user"}), "user"),
        (json!({"user": "x", "colour": "red"}), "colour"),
    ] {
        let (status, v) = ask(
            &s,
            Method::POST,
            "/v1/keys",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (status, v) = ask(
        &s,
        Method::PATCH,
        "/v1/keys/key_nope",
        Some(&admin),
        Some(json!({"rpm": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_model_outside_the_allow_list_is_refused_without_an_upstream_call() {
    let (addr, stats) = spawn("127.0.0.1:0".parse().unwrap(), MockConfig::instant(5))
        .await
        .unwrap();
    let (dir, url) = sqlite_url();
    let admin = admin_key(&url).await;
    let s = server(&url, Some(addr), sim_config()).await;
    let (key, _) = mint(&s, &admin, json!({"user": "erin", "models": ["sim/*"]})).await;
    let refused = |v: &Value| {
        let m = v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(m.contains("mock/mock-1"), "{v}");
    };
    // A comparison (even with an allowed model beside it), a chat completion, a session.
    for (path, body) in [
        (
            "/v1/comparisons",
            json!({"prompt": "hi", "models": ["sim/echo", "mock/mock-1"]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "mock/mock-1", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        ("/v1/sessions", json!({"models": ["mock/mock-1"]})),
    ] {
        let (status, v) = ask(&s, Method::POST, path, Some(&key), Some(body)).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("model_not_allowed")),
            "{path}"
        );
        refused(&v);
    }
    // The catalogue lists what the key may use.
    let (_, models) = ask(&s, Method::GET, "/v1/models", Some(&key), None).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|m| m.starts_with("sim/")) && ids.contains(&"sim/echo"),
        "{ids:?}"
    );
    // Nothing reached the upstream; the admin key (no allow-list) does.
    assert_eq!(stats.started.load(Ordering::Relaxed), 0);
    let (status, v) = ask(
        &s,
        Method::POST,
        "/v1/chat/completions",
        Some(&admin),
        Some(json!({"model": "mock/mock-1", "messages": [{"role": "user", "content": "hi"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(stats.started.load(Ordering::Relaxed), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn per_key_rate_active_and_budget_limits_hold_under_twenty_concurrent_requests() {
    let (dir, url) = sqlite_url();
    let admin = admin_key(&url).await;
    let slow = SimConfig {
        ttft: Duration::from_secs(30),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 200.0,
    };
    let s = server(&url, None, slow).await;
    let body = json!({"prompt": "hi", "models": ["sim/lorem"], "params": {"max_tokens": 100}});
    // 5 requests per minute: exactly 5 of 20 pass, the rest are 429 with Retry-After.
    let (rated, _) = mint(&s, &admin, json!({"user": "fay", "rpm": 5})).await;
    let (accepted, refused) = twenty_at_once(&s, &rated, body.clone()).await;
    assert_eq!(accepted, 5, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| *r == (429, "rate_limited".into(), true)),
        "{refused:?}"
    );
    // 3 at once: exactly 3 run (they wait 30 s for their first token), 17 are 429.
    let (narrow, _) = mint(&s, &admin, json!({"user": "gus", "max_active": 3})).await;
    let (accepted, refused) = twenty_at_once(&s, &narrow, body.clone()).await;
    assert_eq!(accepted, 3, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| *r == (429, "rate_limited".into(), true)),
        "{refused:?}"
    );
    // A budget of 5.5 worst cases, held against the key alone: exactly 5 pass, 15 are 402.
    let (engine, _) = engine(sim_config(), None);
    let calls = engine
        .plan(&serde_json::from_value::<CompareRequest>(json!({"models": ["sim/lorem"], "messages": [{"role": "user", "content": "hi"}], "params": {"max_tokens": 100}})).unwrap())
        .unwrap();
    let worst = BudgetSettings::default()
        .worst_case(&engine, &calls)
        .unwrap()[0];
    let budget_usd = worst as f64 * 5.5 / 1e12;
    let (capped, _) = mint(
        &s,
        &admin,
        json!({"user": "hal", "budget_usd": budget_usd, "period": "day"}),
    )
    .await;
    let (accepted, refused) = twenty_at_once(&s, &capped, body.clone()).await;
    assert_eq!(accepted, 5, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| r.0 == 402 && r.1 == "budget_exceeded"),
        "{refused:?}"
    );
    let (_, me) = ask(&s, Method::GET, "/v1/keys/self", Some(&capped), None).await;
    let reserved = me["budget"]["reserved_usd"].as_f64().unwrap();
    assert!((reserved - 5.0 * worst as f64 / 1e12).abs() < 1e-12, "{me}");
    assert_eq!(me["budget"]["period"], "day");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_a_second_on_another_server() {
    // Two servers sharing PostgreSQL (a cluster's database); SQLite shared by two processes
    // behaves the same, so without PostgreSQL the test uses a SQLite file.
    let (dir, sqlite) = sqlite_url();
    let url = common::postgres_database("the PostgreSQL revocation test")
        .await
        .unwrap_or(sqlite);
    let admin = admin_key(&url).await;
    let a = server(&url, None, sim_config()).await;
    let b = server(&url, None, sim_config()).await;
    let (key, id) = mint(&a, &admin, json!({"user": "ivy"})).await;
    // Minted on A, used on B at once (B looks a key it does not know up once).
    let (status, v) = ask(&b, Method::GET, "/v1/keys/self", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Revoked on A: B refuses it within a second.
    let (status, _) = ask(
        &a,
        Method::DELETE,
        &format!("/v1/keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let revoked = Instant::now();
    let v = loop {
        let (status, v) = ask(&b, Method::GET, "/v1/keys/self", Some(&key), None).await;
        if status == StatusCode::UNAUTHORIZED {
            break v;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "still accepted on B after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!(
        "revocation reached the second server in {:?}",
        revoked.elapsed()
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("revoked"),
        "{v}"
    );
    // Neither server's database holds a secret.
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT CAST(row_to_json(k) AS TEXT) FROM api_keys k")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(rows.len(), 2);
        for (row,) in rows {
            for secret in [&key, &admin] {
                assert!(
                    !row.contains(secret.strip_prefix("lcsk_").unwrap()),
                    "{row}"
                );
            }
        }
        pool.close().await;
    }
    let store = SqlStore::open(&url).await.unwrap();
    assert_eq!(store.all_keys().await.unwrap().len(), 2);
    drop((a, b, store));
    if let Some((server, name)) = url.rsplit_once('/').filter(|_| url.starts_with("postgres")) {
        // The database was this test's alone.
        let pool = sqlx::PgPool::connect(&format!("{server}/postgres"))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
