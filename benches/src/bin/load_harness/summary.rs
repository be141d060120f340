//! The machine's description and the Markdown summary of every section's results.

use super::*;

pub(crate) fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({"cpu": cpu, "cores": cores, "memory_gib": (mem_kib as f64 / 1048576.0).round(),
        "kernel": kernel.trim()})
}

/// A percentage as the summary shows it (`–` where it was not measured).
pub(crate) fn pct(v: &Value) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.1} %"))
}

pub(crate) fn ms(v: &Value) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.3}"))
}

/// A verdict as the summary table shows it.
pub(crate) fn verdict(met: &Value) -> &'static str {
    if met.as_bool() == Some(true) {
        "**met**"
    } else {
        "**not met**"
    }
}

/// The summary table, in Markdown.
pub(crate) fn summary(out: &Value) {
    println!("\n# Load harness summary\n");
    if let Some(by_section) = out["steal_pct"].as_object() {
        // A VM's vCPUs given to other guests: the numbers below hold for this host as it was.
        let sections: Vec<String> = by_section
            .iter()
            .filter(|(k, _)| *k != "run")
            .map(|(k, v)| format!("{k} {}", pct(v)))
            .collect();
        println!(
            "CPU time stolen by the host: {} of the run ({})\n",
            pct(&out["steal_pct"]["run"]),
            sections.join(", ")
        );
    }
    if let Some(points) = out["overhead"]["points"].as_array() {
        println!("## Added latency, POST /v1/chat/completions (streamed) through each proxy, ms\n");
        println!(
            "| rate (req/s) | direct p50 / p99 | llm-compare p50 / p90 / p99 added | LiteLLM p50 / p90 / p99 added | achieved req/s (direct / llm-compare / LiteLLM) |"
        );
        println!("|---|---|---|---|---|");
        // Without a LiteLLM run its column says so; with one, a rate it was not asked for is
        // above its top rate.
        let lite_ran = !out["litellm"]["max"].is_null();
        for p in points {
            let a = &p["added_llm_compare"];
            let l = &p["added_litellm"];
            let lite = if !lite_ran {
                "not run".to_string()
            } else if l.is_null() {
                "not sustained".to_string()
            } else {
                format!("{} / {} / {}", ms(&l[0]), ms(&l[1]), ms(&l[2]))
            };
            println!(
                "| {} | {} / {} | {} / {} / {} | {lite} | {:.0} / {:.0} / {} |",
                p["rate"].as_u64().map_or("max".into(), |r| r.to_string()),
                ms(&p["direct"]["p50"]),
                ms(&p["direct"]["p99"]),
                ms(&a[0]),
                ms(&a[1]),
                ms(&a[2]),
                p["direct"]["rps"].as_f64().unwrap_or(0.0),
                p["llm_compare"]["rps"].as_f64().unwrap_or(0.0),
                p["litellm"]["rps"]
                    .as_f64()
                    .map_or("–".into(), |r| format!("{r:.0}")),
            );
        }
        if let Some(p) = points.iter().find(|p| p["rate"].as_u64() == Some(2000)) {
            let a = &p["added_llm_compare"];
            println!(
                "\nllm-compare at 2,000 req/s: added p50 ≤ 0.3 ms: {} ms {}; added p99 ≤ 1 ms: {} ms {} (CPU stolen by the host: {} direct, {} through llm-compare)",
                ms(&a[0]),
                verdict(&json!(a[0].as_f64().is_some_and(|v| v <= 0.3))),
                ms(&a[2]),
                verdict(&json!(a[2].as_f64().is_some_and(|v| v <= 1.0))),
                pct(&p["direct"]["steal_pct"]),
                pct(&p["llm_compare"]["steal_pct"]),
            );
        }
    }
    let lite = &out["litellm"];
    if let Some(why) = lite["skipped"].as_str() {
        println!("\nLiteLLM: not run ({why})");
    } else if !lite["at_sustained"].is_null() {
        let s = &lite["at_sustained"];
        let ratio = s["p99_ratio"].as_f64().unwrap_or(f64::NAN);
        println!(
            "\nLiteLLM top rate {:.0} req/s; at {} req/s (highest it sustains): added p99 LiteLLM {} ms vs llm-compare {} ms: {ratio:.0}× (≥ 50× lower: {})",
            lite["max"]["rps"].as_f64().unwrap_or(0.0),
            s["rate"],
            ms(&s["added_litellm"][2]),
            ms(&s["added_llm_compare"][2]),
            verdict(&json!(ratio >= 50.0))
        );
    }
    let m = &out["memory"];
    if !m.is_null() {
        println!(
            "\n## Memory: {} open 4-model SSE streams: {:.1} KiB per stream (RSS {:.1} → {:.1} MiB), all open after {:.2} s, {} completed\n",
            m["streams"],
            m["kib_per_stream"].as_f64().unwrap_or(0.0),
            m["rss_before_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            m["rss_peak_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            m["all_open_after_s"].as_f64().unwrap_or(0.0),
            m["completed"]
        );
    }
    if let Some(c) = out["cancel"].as_object() {
        println!("## Client disconnect → upstream cancelled, ms\n");
        println!("| case | p50 | p90 | max | missed |");
        println!("|---|---|---|---|---|");
        for (case, v) in c {
            println!(
                "| {case} | {} | {} | {} | {} |",
                ms(&v["p50_ms"]),
                ms(&v["p90_ms"]),
                ms(&v["max_ms"]),
                v["missed"]
            );
        }
    }
    if let Some(points) = out["auth"]["points"].as_array() {
        println!("\n## API key check: keyed vs open server (ms, mean of 2 runs each)\n");
        println!("| rate | open p50 | keyed p50 | added p50 | open p99 | keyed p99 | added p99 |");
        println!("|---|---|---|---|---|---|---|");
        for p in points {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                p["rate"],
                ms(&p["open_p50"]),
                ms(&p["keyed_p50"]),
                ms(&p["added_p50"]),
                ms(&p["open_p99"]),
                ms(&p["keyed_p99"]),
                ms(&p["added_p99"])
            );
        }
    }
    let s = &out["soak"];
    if !s.is_null() {
        let v = &s["verdicts"];
        println!(
            "\n## Soak: {} clients for {:.0} s, {:.0} ops/s, p50 / p99 {} / {} ms\n",
            s["clients"],
            s["seconds"].as_f64().unwrap_or(0.0),
            s["ops_per_s"].as_f64().unwrap_or(0.0),
            ms(&s["p50_ms"]),
            ms(&s["p99_ms"])
        );
        println!("| target | measured | verdict |\n|---|---|---|");
        println!(
            "| zero 5xx | {} 5xx ({} other errors) | {} |",
            s["server_errors"],
            s["other_errors"],
            verdict(&v["no_5xx"])
        );
        println!(
            "| RSS growth after the warm-up ({:.0} s) < 5 % | {:.1} → {:.1} MiB ({:+.2} %, {:+.2} MiB/min) | {} |",
            s["warmup_s"].as_f64().unwrap_or(0.0),
            s["rss_warm_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            s["rss_end_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            s["rss_growth"].as_f64().unwrap_or(f64::NAN) * 100.0,
            s["rss_slope_mib_per_min"].as_f64().unwrap_or(f64::NAN),
            verdict(&v["rss_growth_under_5pct"])
        );
        println!(
            "| open file descriptors flat | {} → {} | {} |",
            s["fd_warm"],
            s["fd_end"],
            verdict(&v["fd_flat"])
        );
    }
    let f = &out["failover"];
    if f["verdicts"].is_object() {
        let v = &f["verdicts"];
        println!(
            "\n## Failover: 2 servers ({}, Redis registry), {} clients for {} s, A killed (SIGKILL) at {} s, back after {:.1} s\n",
            f["database"].as_str().unwrap_or("?"),
            f["clients"],
            f["seconds"],
            f["kill_at_s"],
            f["restarted_after_s"].as_f64().unwrap_or(f64::NAN)
        );
        println!("| target | measured | verdict |\n|---|---|---|");
        println!(
            "| every event once, in order, to `complete` | {} comparisons, {} broken ({} resumed on another server) | {} |",
            f["comparisons"],
            f["broken"],
            f["resumed"],
            verdict(&v["no_event_lost_or_duplicated"])
        );
        println!(
            "| every broken stream resumed | longest wait of a survivor's stream p50 / max {} / {} ms | {} |",
            ms(&f["resume_gap_ms_p50"]),
            ms(&f["resume_gap_ms_max"]),
            verdict(&v["every_stream_resumed"])
        );
        println!(
            "| the dead server's comparisons `interrupted` by its own restart, no other | A: {} completed, {} interrupted ({} running at the kill; {} stored so); B: {} completed, {} interrupted | {} |",
            f["killed_server"]["completed"],
            f["killed_server"]["interrupted"],
            f["running_on_a_at_kill"],
            f["stored_interrupted"],
            f["surviving_server"]["completed"],
            f["surviving_server"]["interrupted"],
            verdict(&json!(
                v["only_the_killed_servers_interrupted"] == true && v["store_agrees"] == true
            ))
        );
        println!(
            "| zero 5xx | {} 5xx ({} POSTs tried again on the other server) | {} |",
            f["server_errors"],
            f["post_retries"],
            verdict(&v["no_5xx"])
        );
    }
    if let Some(points) = out["doors"]["points"].as_array() {
        println!("\n## Each door's added latency (streamed, the same upstream answer), ms\n");
        println!("| rate (req/s) | door | added p50 / p90 / p99 | achieved req/s |");
        println!("|---|---|---|---|");
        for pt in points {
            for (door, d) in pt["doors"].as_object().into_iter().flatten() {
                let a = &d["added"];
                println!(
                    "| {} | {door} | {} / {} / {} | {:.0} |",
                    pt["rate"],
                    ms(&a[0]),
                    ms(&a[1]),
                    ms(&a[2]),
                    d["run"]["rps"].as_f64().unwrap_or(0.0)
                );
            }
            for (door, ratio) in pt["over_chat_p50"].as_object().into_iter().flatten() {
                println!(
                    "\nAt {} req/s, {door} adds {:.2}× what chat completions adds (p50; target ≤ 1.10).",
                    pt["rate"],
                    ratio.as_f64().unwrap_or(0.0)
                );
            }
            println!();
        }
    }
    if let Some(p) = out["post"].as_object() {
        println!("\n## POST /v1/comparisons, 2 zero-delay sim models each (written through)\n");
        println!("| backend | rate asked | achieved | p50 ms | p99 ms | errors |");
        println!("|---|---|---|---|---|---|");
        for (backend, b) in p {
            for pt in b["points"].as_array().into_iter().flatten() {
                let r = &pt["run"];
                println!(
                    "| {backend} | {} | {:.0} req/s{} | {} | {} | {} |",
                    pt["rate"].as_u64().map_or("max".into(), |r| r.to_string()),
                    r["rps"].as_f64().unwrap_or(0.0),
                    if r["sustained"].as_bool() == Some(false) {
                        " (not sustained)"
                    } else {
                        ""
                    },
                    ms(&r["p50"]),
                    ms(&r["p99"]),
                    r["errors"]
                );
            }
            println!(
                "| {backend} | GET /health (floor) | {:.0} req/s | {} | {} | {} |",
                b["health"]["rps"].as_f64().unwrap_or(0.0),
                ms(&b["health"]["p50"]),
                ms(&b["health"]["p99"]),
                b["health"]["errors"]
            );
        }
        let best = |backend: &str| {
            p.get(backend)
                .and_then(|b| b["points"].as_array())
                .into_iter()
                .flatten()
                .filter(|pt| pt["run"]["sustained"].as_bool() == Some(true))
                .map(|pt| pt["run"]["rps"].as_f64().unwrap_or(0.0))
                .fold(0.0, f64::max)
        };
        let at_2000 = p
            .get("sqlite")
            .and_then(|b| b["points"].as_array())
            .and_then(|pts| pts.iter().find(|pt| pt["rate"].as_u64() == Some(2000)))
            .map(|pt| &pt["run"]);
        let p99 = at_2000.and_then(|r| r["p99"].as_f64());
        println!(
            "\nSQLite: ≥ 3,000 comparisons/s sustained: {:.0}/s {}; p99 POST ≤ 10 ms at 2,000/s: {} {}{}",
            best("sqlite"),
            verdict(&json!(best("sqlite") >= 3000.0)),
            p99.map_or("not run".into(), |v| format!("{v:.2} ms")),
            verdict(&json!(p99.is_some_and(|v| v <= 10.0))),
            at_2000.map_or(String::new(), |r| format!(
                " (CPU stolen by the host: {})",
                pct(&r["steal_pct"])
            ))
        );
    }
}
