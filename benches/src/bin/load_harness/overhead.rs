//! `overhead` and `litellm`: the latency llm-compare (and LiteLLM) add over the mock upstream.

use super::*;

/// The overhead and litellm sections, which share the upstream and the proxies.
pub(crate) async fn overhead(args: &Args, oha: &Oha, with_litellm: bool, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    let threads = args.server_threads.to_string();
    let env: &[(&str, &str)] = if args.server_threads > 0 {
        &[("TOKIO_WORKER_THREADS", &threads)]
    } else {
        &[]
    };
    let proxy = harness::serve(
        &args.bin,
        &server_config(&[("mock", mock_addr)]),
        env,
        &args.out.join("serve-overhead.log"),
    )
    .unwrap();
    let mut litellm_note = args.litellm_missing.clone();
    let litellm = match (&args.litellm, with_litellm) {
        (Some(bin), true) => {
            let port = harness::free_port().unwrap();
            let upstream = format!("http://{mock_addr}/v1");
            match harness::litellm(bin, port, "mock-1", &upstream, args.litellm_workers) {
                Ok(p) => Some(p),
                Err(e) => {
                    litellm_note = Some(e);
                    None
                }
            }
        }
        (None, true) => {
            litellm_note.get_or_insert_with(|| "no --litellm given".into());
            None
        }
        _ => None,
    };
    let up = Upstream {
        url: format!("http://{mock_addr}/v1/chat/completions"),
        proxy,
        litellm,
    };
    let ours_url = format!("{}/v1/chat/completions", up.proxy.url);
    let direct_body = chat_body("mock-1");
    let ours_body = chat_body("mock/mock-1");
    let s = args.seconds;
    // Warm-up: connections, allocator, the first-request paths of each.
    load(oha, up.url.clone(), Some(direct_body.clone()), Some(200), 2).await;
    load(oha, ours_url.clone(), Some(ours_body.clone()), Some(200), 2).await;

    let lite_url = up
        .litellm
        .as_ref()
        .map(|p| format!("{}/v1/chat/completions", p.url));
    // LiteLLM's top rate first: it says which fixed rates it can be asked for.
    let mut lite_max = None;
    if let Some(url) = &lite_url {
        load(oha, url.clone(), Some(direct_body.clone()), Some(20), 3).await;
        let r = load(oha, url.clone(), Some(direct_body.clone()), None, s).await;
        eprintln!("litellm max: {:.0} req/s", r.rps);
        lite_max = Some(r);
    }

    let mut points = Vec::new();
    let mut rates: Vec<Option<u64>> = args.rates.iter().copied().map(Some).collect();
    rates.push(None);
    for rate in rates {
        let direct = load(oha, up.url.clone(), Some(direct_body.clone()), rate, s).await;
        let ours = load(oha, ours_url.clone(), Some(ours_body.clone()), rate, s).await;
        let lite = match (&lite_url, rate, &lite_max) {
            (Some(url), Some(r), Some(m)) if (r as f64) <= m.rps => {
                Some(load(oha, url.clone(), Some(direct_body.clone()), rate, s).await)
            }
            (Some(_), None, Some(m)) => Some(m.clone()),
            _ => None,
        };
        eprintln!(
            "rate {}: direct p50 {:.3} p99 {:.3} | llm-compare p50 {:.3} p99 {:.3} ({:.0} req/s){}",
            fmt_rate(rate),
            direct.p50,
            direct.p99,
            ours.p50,
            ours.p99,
            ours.rps,
            lite.as_ref()
                .map(|l| format!(" | litellm p50 {:.3} p99 {:.3}", l.p50, l.p99))
                .unwrap_or_default()
        );
        points.push((rate, direct, ours, lite));
    }

    // The highest fixed rate LiteLLM sustains: from 80 % of its top rate down in 20 % steps.
    let mut at_sustained = Value::Null;
    if let (Some(url), Some(m)) = (&lite_url, &lite_max) {
        let mut rate = ((m.rps * 0.8) as u64 / 10 * 10).max(10);
        for _ in 0..4 {
            let lite = load(oha, url.clone(), Some(direct_body.clone()), Some(rate), s).await;
            if lite.sustained() {
                let direct = load(
                    oha,
                    up.url.clone(),
                    Some(direct_body.clone()),
                    Some(rate),
                    s,
                )
                .await;
                let ours = load(
                    oha,
                    ours_url.clone(),
                    Some(ours_body.clone()),
                    Some(rate),
                    s,
                )
                .await;
                let (a_ours, a_lite) = (added(&ours, &direct), added(&lite, &direct));
                at_sustained = json!({"rate": rate, "direct": run_json(&direct),
                    "llm_compare": run_json(&ours), "litellm": run_json(&lite),
                    "added_llm_compare": a_ours, "added_litellm": a_lite,
                    "p99_ratio": a_lite[2] / a_ours[2].max(0.001)});
                break;
            }
            rate = (rate as f64 * 0.8) as u64 / 10 * 10;
        }
    }

    out["overhead"] = json!({
        "request": "POST /v1/chat/completions, stream: true",
        "chunks": args.chunks,
        "connections": args.connections,
        "server_threads": args.server_threads,
        "seconds": s,
        "points": points.iter().map(|(rate, d, o, l)| json!({
            "rate": rate,
            "direct": run_json(d),
            "llm_compare": run_json(o),
            "litellm": l.as_ref().map(run_json),
            "added_llm_compare": added(o, d),
            "added_litellm": l.as_ref().map(|l| added(l, d)),
        })).collect::<Vec<_>>(),
    });
    out["litellm"] = match (&lite_max, &litellm_note) {
        (Some(m), _) => json!({"workers": args.litellm_workers, "max": run_json(m),
            "at_sustained": at_sustained}),
        (None, Some(why)) if with_litellm => json!({"skipped": why}),
        _ => Value::Null,
    };
}
