//! The API key check on a request's path: `Service::authenticate` with a stored key (the
//! cache hit every valid request takes), a static key, an open server, and a wrong key (the
//! miss: one database lookup), over a SQLite store with 1,000 keys.
//!
//! `cargo bench -p llm-compare-benches --bench auth`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use llm_compare_core::{Engine, InMemoryRegistry, ProviderRegistry};
use llm_compare_service::keys::CreateKey;
use llm_compare_service::{Principal, Service, SqlStore};

fn service(rt: &tokio::runtime::Runtime, keys: usize) -> (Service, Vec<String>) {
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!(
            "llm-compare-bench-auth-{}-{keys}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqlStore::open(&format!("sqlite://{}", dir.join("db.sqlite").display()))
            .await
            .unwrap();
        let service = Service::new(
            Engine::new(ProviderRegistry::with_sim()),
            Arc::new(InMemoryRegistry::default()),
            Some(store),
            Vec::new(),
        )
        .with_static_keys([("static-user", "static-secret")]);
        let mut secrets = Vec::new();
        for i in 0..keys {
            let body = CreateKey {
                user: format!("user-{i}"),
                models: Some(vec!["sim/*".into(), "openai/gpt-4o-mini".into()]),
                rpm: Some(600),
                ..CreateKey::default()
            };
            secrets.push(
                service
                    .create_key(&Principal::operator(), body)
                    .await
                    .unwrap()
                    .key,
            );
        }
        (service, secrets)
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (keyed, secrets) = service(&rt, 1_000);
    let open = Service::new(
        Engine::new(ProviderRegistry::with_sim()),
        Arc::new(InMemoryRegistry::default()),
        None,
        Vec::new(),
    );
    let mut g = c.benchmark_group("authenticate");
    let mut i = 0;
    g.bench_function("stored_key", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 1) % secrets.len();
            let s = secrets[i].clone();
            let keyed = &keyed;
            async move { keyed.authenticate(Some(&s)).await.unwrap() }
        })
    });
    g.bench_function("static_key", |b| {
        b.to_async(&rt)
            .iter(|| async { keyed.authenticate(Some("static-secret")).await.unwrap() })
    });
    g.bench_function("open_server", |b| {
        b.to_async(&rt)
            .iter(|| async { open.authenticate(None).await.unwrap() })
    });
    g.bench_function("wrong_key_db_miss", |b| {
        b.to_async(&rt).iter(|| async {
            keyed
                .authenticate(Some("lcsk_not-a-key-at-all"))
                .await
                .unwrap_err()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
