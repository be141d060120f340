//! `attachment`: comparisons carrying images and files: throughput and memory.

use super::*;

/// The attachment section: one comparison of 8 models (a mock upstream each) carrying one
/// image just under 20 MiB — what the server's resident memory peaks at over its level
/// before, against the 8 × 20 MiB a copy per model would cost.
pub(crate) async fn attachment(args: &Args, out: &mut Value) {
    let (mock_addr, stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    let server = harness::serve(
        &args.bin,
        &server_config(&[("mock", mock_addr)]),
        &[],
        &args.out.join("serve-attachment.log"),
    )
    .unwrap();
    let client = reqwest::Client::new();
    // Warm up: connections to the mock, the allocator.
    let warm = json!({"prompt": "warm", "models": vec!["mock/mock-1"; 8]});
    for _ in 0..5 {
        let id = post_comparison(&client, &server.url, &warm).await;
        let mut ev = open_stream(&client, &server.url, &id).await;
        while ev.next().await.is_some() {}
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_kib();
    let peak_before = harness::peak_rss_kib(server.pid());
    // A PNG signature and then noise (it does not compress; only the signature is checked).
    let size = 20 * 1024 * 1024 - 1024;
    let mut bytes = vec![0u8; size];
    bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    for (i, b) in bytes.iter_mut().enumerate().skip(8) {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    let body = json!({
        "prompt": "What is in this picture?",
        "attachments": [llm_compare_core::Part::from_bytes(&bytes, Some("noise.png")).unwrap()],
        "models": vec!["mock/mock-1"; 8],
    });
    drop(bytes);
    let started = stats.started.load(std::sync::atomic::Ordering::Relaxed);
    let id = post_comparison(&client, &server.url, &body).await;
    let mut ev = open_stream(&client, &server.url, &id).await;
    let mut complete = Value::Null;
    while let Some(Ok(e)) = ev.next().await {
        if e.event == "complete" {
            complete = serde_json::from_str(&e.data).unwrap_or_default();
        }
    }
    let calls = stats.started.load(std::sync::atomic::Ordering::Relaxed) - started;
    let peak = harness::peak_rss_kib(server.pid());
    // An upper bound: the peak over the level before (the peak may be the warm-up's).
    let added = peak.saturating_sub(before);
    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "attachment: {:.1} MiB image to 8 models: RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB; a copy per model: +{:.0} MiB); {} upstream calls, status {}",
        mib(size as u64 / 1024),
        mib(before),
        mib(peak),
        mib(added),
        8.0 * mib(size as u64 / 1024),
        calls,
        complete["status"]
    );
    out["attachment"] = json!({"bytes": size, "models": 8, "rss_before_kib": before,
        "peak_before_kib": peak_before, "peak_after_kib": peak, "added_kib": added,
        "upstream_calls": calls, "status": complete["status"]});
}
