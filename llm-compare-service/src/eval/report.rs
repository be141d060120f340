//! A run's report as one self-contained HTML file (inline CSS and SVG, no script, no outside
//! URL): pass rates with their intervals, cost against quality with the Pareto front, latency
//! distributions, a per-category table and the rows where the models disagree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{RowReport, Summary};

/// Colours of the models, in order (cycled).
const COLOURS: [&str; 8] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777",
];

/// Most disagreeing rows listed.
const MAX_DISAGREEMENTS: usize = 200;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// The `q` quantile of sorted `v` (linear interpolation).
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let pos = q * (v.len() - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - pos.floor())
}

/// The indexes of the points (cost, quality) no other point beats on both (cheaper or as
/// cheap, and better or as good, one of them strictly), by cost.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let (c, q) = points[i];
            !points
                .iter()
                .enumerate()
                .any(|(j, &(cj, qj))| j != i && cj <= c && qj >= q && (cj < c || qj > q))
        })
        .collect();
    front.sort_by(|a, b| points[*a].0.total_cmp(&points[*b].0));
    front
}

/// The report of run `summary` over `rows`, its dataset named `dataset`.
pub fn render(dataset: &str, summary: &Summary, rows: &[RowReport]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation {id}</title><style>{CSS}</style></head><body>\
         <h1>Evaluation report</h1><p class=\"meta\">run <code>{id}</code> · dataset <code>{ds}</code> · {n} rows · models ${cost:.4} · judge ${judge:.4}</p>",
        id = esc(&summary.run_id),
        ds = esc(dataset),
        n = summary.rows,
        cost = summary.cost_usd,
        judge = summary.judge_cost_usd,
    );
    pass_rates(&mut h, summary);
    scatter(&mut h, summary);
    latencies(&mut h, summary, rows);
    categories(&mut h, summary, rows);
    disagreements(&mut h, summary, rows);
    h.push_str("</body></html>\n");
    h
}

fn pass_rates(h: &mut String, s: &Summary) {
    h.push_str("<h2>Pass rates</h2><p class=\"note\">Bars: the pass rate; whiskers: its Wilson 95 % interval.</p><table><tr><th>model</th><th>pass rate</th><th></th><th>95% CI</th><th>judge rating</th><th>mean cost</th><th>mean latency</th></tr>");
    for (i, m) in s.models.iter().enumerate() {
        let (lo, hi) = m.pass_ci;
        let _ = write!(
            h,
            "<tr><td><span class=\"dot\" style=\"background:{c}\"></span>{name}</td><td>{rate}</td>\
             <td><svg width=\"220\" height=\"16\" role=\"img\" aria-label=\"{rate}\"><rect x=\"0\" y=\"3\" width=\"200\" height=\"10\" fill=\"#eee\"/>\
             <rect x=\"0\" y=\"3\" width=\"{w:.1}\" height=\"10\" fill=\"{c}\"/>\
             <line x1=\"{l:.1}\" x2=\"{r:.1}\" y1=\"8\" y2=\"8\" stroke=\"#111\"/><line x1=\"{l:.1}\" x2=\"{l:.1}\" y1=\"3\" y2=\"13\" stroke=\"#111\"/><line x1=\"{r:.1}\" x2=\"{r:.1}\" y1=\"3\" y2=\"13\" stroke=\"#111\"/></svg></td>\
             <td>{lo}–{hi}</td><td>{judge}</td><td>${cost:.6}</td><td>{lat:.0} ms</td></tr>",
            c = colour(i),
            name = esc(&m.model),
            rate = pct(m.pass_rate),
            w = m.pass_rate * 200.0,
            l = lo * 200.0,
            r = hi * 200.0,
            lo = pct(lo),
            hi = pct(hi),
            judge = m
                .judge_rating
                .map_or_else(|| "–".into(), |r| format!("{r:.2}")),
            cost = m.mean_cost_usd,
            lat = m.mean_latency_ms,
        );
    }
    h.push_str("</table>");
    if s.better.is_empty() {
        h.push_str("<p class=\"note\">No model passes significantly more rows than another (exact McNemar test on the paired rows, p &lt; 0.05).</p>");
    } else {
        h.push_str("<ul class=\"better\">");
        for b in &s.better {
            let _ = write!(
                h,
                "<li><b>{}</b> is better than <b>{}</b> (exact McNemar p = {:.4})</li>",
                esc(&b.better),
                esc(&b.than),
                b.p_value
            );
        }
        h.push_str("</ul>");
    }
}

fn scatter(h: &mut String, s: &Summary) {
    // Quality: the pass rate (with a judge and no assertion telling models apart, the
    // judge's rating says more, but one axis keeps the report comparable across runs).
    let points: Vec<(f64, f64)> = s
        .models
        .iter()
        .map(|m| (m.mean_cost_usd, m.pass_rate))
        .collect();
    let front = pareto_front(&points);
    let max_cost = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let (w, ht, pad) = (560.0, 320.0, 48.0);
    let x = |c: f64| {
        if max_cost > 0.0 {
            pad + c / max_cost * (w - 2.0 * pad)
        } else {
            w / 2.0
        }
    };
    let y = |q: f64| ht - pad - q * (ht - 2.0 * pad);
    let _ = write!(
        h,
        "<h2>Cost and quality</h2><p class=\"note\">Each model's mean cost per answer against its pass rate; the line joins the Pareto front (no other model is both cheaper and better).</p>\
         <svg class=\"chart\" width=\"{w}\" height=\"{ht}\" role=\"img\" aria-label=\"cost against pass rate\">\
         <line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/><line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{b}\" stroke=\"#999\"/>\
         <text x=\"{mid}\" y=\"{ht0}\" text-anchor=\"middle\">mean cost per answer (USD, 0 – {max_cost:.6})</text>\
         <text x=\"12\" y=\"{midy}\" transform=\"rotate(-90 12 {midy})\" text-anchor=\"middle\">pass rate</text>\
         <text x=\"{lx}\" y=\"{top}\" text-anchor=\"end\">100%</text><text x=\"{lx}\" y=\"{b}\" text-anchor=\"end\">0%</text>",
        b = ht - pad,
        r = w - pad,
        mid = w / 2.0,
        ht0 = ht - 10.0,
        midy = ht / 2.0,
        lx = pad - 4.0,
        top = pad + 4.0,
    );
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|&i| format!("{:.1},{:.1}", x(points[i].0), y(points[i].1)))
            .collect();
        let _ = write!(
            h,
            "<polyline class=\"pareto\" points=\"{}\" fill=\"none\" stroke=\"#111\" stroke-dasharray=\"4 3\"/>",
            path.join(" ")
        );
    }
    for (i, (m, p)) in s.models.iter().zip(&points).enumerate() {
        let on = front.contains(&i);
        let _ = write!(
            h,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r}\" fill=\"{c}\" data-pareto=\"{on}\"><title>{name}: {q}, ${cost:.6}</title></circle>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"12\" text-anchor=\"{anchor}\">{name}</text>",
            cx = x(p.0),
            cy = y(p.1),
            r = if on { 7 } else { 5 },
            c = colour(i),
            name = esc(&m.model),
            q = pct(p.1),
            cost = p.0,
            // Labels near the right edge go left of their point.
            tx = if x(p.0) > w * 0.7 {
                x(p.0) - 9.0
            } else {
                x(p.0) + 9.0
            },
            anchor = if x(p.0) > w * 0.7 { "end" } else { "start" },
            ty = y(p.1) - 6.0,
        );
    }
    h.push_str("</svg>");
}

fn latencies(h: &mut String, s: &Summary, rows: &[RowReport]) {
    let per_model: Vec<Vec<f64>> = (0..s.models.len())
        .map(|i| {
            let mut v: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.results.get(i))
                .filter(|o| o.error.is_none())
                .map(|o| o.latency_ms)
                .collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let max = per_model
        .iter()
        .filter_map(|v| v.last().copied())
        .fold(0.0, f64::max)
        .max(1.0);
    let (w, row_h, left) = (560.0, 34.0, 150.0);
    #[allow(clippy::cast_precision_loss)]
    let ht = row_h * s.models.len() as f64 + 30.0;
    let x = |v: f64| left + v / max * (w - left - 20.0);
    let _ = write!(
        h,
        "<h2>Latency</h2><p class=\"note\">Per model: the box spans the 25th to 75th percentile, the mark is the median, the whiskers reach the minimum and the 95th percentile (answers that failed left out).</p>\
         <svg class=\"chart\" width=\"{w}\" height=\"{ht}\" role=\"img\" aria-label=\"latency distributions\">"
    );
    for (i, v) in per_model.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let cy = 20.0 + row_h * i as f64;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            cy + 4.0,
            esc(&s.models[i].model)
        );
        if v.is_empty() {
            continue;
        }
        let (mn, q1, med, q3, p95) = (
            v[0],
            quantile(v, 0.25),
            quantile(v, 0.5),
            quantile(v, 0.75),
            quantile(v, 0.95),
        );
        let _ = write!(
            h,
            "<g class=\"box\" data-median=\"{med:.1}\"><line x1=\"{a:.1}\" x2=\"{e:.1}\" y1=\"{cy:.1}\" y2=\"{cy:.1}\" stroke=\"#555\"/>\
             <rect x=\"{b:.1}\" y=\"{top:.1}\" width=\"{bw:.1}\" height=\"16\" fill=\"{c}\" fill-opacity=\"0.35\" stroke=\"{c}\"/>\
             <line x1=\"{m:.1}\" x2=\"{m:.1}\" y1=\"{top:.1}\" y2=\"{bot:.1}\" stroke=\"#111\" stroke-width=\"2\"/>\
             <text x=\"{e2:.1}\" y=\"{ty:.1}\" font-size=\"11\">median {med:.0} ms</text></g>",
            a = x(mn),
            e = x(p95),
            b = x(q1),
            bw = (x(q3) - x(q1)).max(1.0),
            m = x(med),
            top = cy - 8.0,
            bot = cy + 8.0,
            c = colour(i),
            e2 = (x(p95) + 6.0).min(w - 110.0),
            ty = cy - 10.0,
        );
    }
    let _ = write!(
        h,
        "<text x=\"{left}\" y=\"{:.1}\" font-size=\"11\">0</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{max:.0} ms</text></svg>",
        ht - 2.0,
        w - 20.0,
        ht - 2.0
    );
}

fn categories(h: &mut String, s: &Summary, rows: &[RowReport]) {
    // category → per model (passed, run)
    let mut by: BTreeMap<&str, Vec<(u32, u32)>> = BTreeMap::new();
    for r in rows {
        let cat = r.category.as_deref().unwrap_or("(none)");
        let e = by
            .entry(cat)
            .or_insert_with(|| vec![(0, 0); s.models.len()]);
        for (i, o) in r.results.iter().enumerate().take(s.models.len()) {
            e[i].1 += 1;
            if o.passed {
                e[i].0 += 1;
            }
        }
    }
    h.push_str("<h2>By category</h2><table class=\"cats\"><tr><th>category</th>");
    for m in &s.models {
        let _ = write!(h, "<th>{}</th>", esc(&m.model));
    }
    h.push_str("</tr>");
    for (cat, cells) in &by {
        let _ = write!(h, "<tr><td>{}</td>", esc(cat));
        for (passed, run) in cells {
            let rate = if *run == 0 {
                0.0
            } else {
                f64::from(*passed) / f64::from(*run)
            };
            let _ = write!(
                h,
                "<td>{} <span class=\"n\">({passed}/{run})</span></td>",
                pct(rate)
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn disagreements(h: &mut String, s: &Summary, rows: &[RowReport]) {
    let split: Vec<&RowReport> = rows
        .iter()
        .filter(|r| {
            let first = r.results.first().map(|o| o.passed);
            r.results.iter().any(|o| Some(o.passed) != first)
        })
        .collect();
    let _ = write!(
        h,
        "<h2>Where the models disagree</h2><p class=\"note\">{} of {} rows pass for some models and fail for others{}.</p>",
        split.len(),
        rows.len(),
        if split.len() > MAX_DISAGREEMENTS {
            format!("; the first {MAX_DISAGREEMENTS} are shown")
        } else {
            String::new()
        }
    );
    if split.is_empty() {
        return;
    }
    h.push_str("<table class=\"rows\"><tr><th>row</th><th>category</th>");
    for m in &s.models {
        let _ = write!(h, "<th>{}</th>", esc(&m.model));
    }
    h.push_str("</tr>");
    for r in split.iter().take(MAX_DISAGREEMENTS) {
        let _ = write!(
            h,
            "<tr><td><code>{}</code>{}</td><td>{}</td>",
            esc(&r.row_id),
            if r.repeat > 0 {
                format!(" #{}", r.repeat + 1)
            } else {
                String::new()
            },
            esc(r.category.as_deref().unwrap_or(""))
        );
        for o in &r.results {
            let text: String = o.text.chars().take(160).collect();
            let why: Vec<String> = o
                .assertions
                .iter()
                .filter(|a| !a.passed)
                .map(|a| format!("{}: {}", a.kind, a.reason))
                .chain(o.error.clone())
                .collect();
            let _ = write!(
                h,
                "<td class=\"{cls}\"><b>{mark}</b> {text}{ell}{why}</td>",
                cls = if o.passed { "pass" } else { "fail" },
                mark = if o.passed { "✓" } else { "✗" },
                text = esc(&text),
                ell = if o.text.chars().count() > 160 {
                    "…"
                } else {
                    ""
                },
                why = if why.is_empty() {
                    String::new()
                } else {
                    format!("<div class=\"why\">{}</div>", esc(&why.join("; ")))
                },
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#111}\
h1{margin:0 0 4px}h2{margin:28px 0 6px;font-size:18px}.meta,.note{color:#555}\
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #e5e5e5;padding:4px 10px;text-align:left;vertical-align:top}\
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px}\
.chart{border:1px solid #eee;background:#fcfcfc}.n{color:#888;font-size:12px}\
.rows td{max-width:320px;font-size:13px}.pass{background:#f0fdf4}.fail{background:#fef2f2}.why{color:#991b1b;font-size:12px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pareto_front_keeps_only_models_nothing_beats_on_both() {
        // (cost, quality): b is dominated by a (cheaper and better); c is dearer but best.
        let pts = [(1.0, 0.8), (2.0, 0.7), (3.0, 0.9), (1.0, 0.8)];
        assert_eq!(pareto_front(&pts), vec![0, 3, 2]);
        assert_eq!(pareto_front(&[(0.0, 0.5)]), vec![0]);
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [10.0, 20.0, 30.0, 40.0, 50.0];
        assert!((quantile(&v, 0.5) - 30.0).abs() < 1e-9);
        assert!((quantile(&v, 0.25) - 20.0).abs() < 1e-9);
        assert!((quantile(&v, 0.95) - 48.0).abs() < 1e-9);
    }

    fn row(id: &str, category: &str, passed: [bool; 2], latency: [f64; 2]) -> RowReport {
        RowReport {
            row_id: id.into(),
            repeat: 0,
            category: Some(category.into()),
            comparison_id: format!("c-{id}"),
            results: ["sim/echo", "<b>evil</b>"]
                .iter()
                .zip(passed)
                .zip(latency)
                .map(|((m, p), l)| super::super::ModelOutcome {
                    model: (*m).into(),
                    text: format!("answer to {id} <script>alert(1)</script>"),
                    passed: p,
                    assertions: vec![super::super::assertions::Outcome {
                        kind: "contains".into(),
                        passed: p,
                        reason: if p {
                            String::new()
                        } else {
                            "missing `x`".into()
                        },
                    }],
                    cost_usd: if *m == "sim/echo" { 0.001 } else { 0.002 },
                    latency_ms: l,
                    error: None,
                })
                .collect(),
            judge: None,
        }
    }

    #[test]
    fn a_report_is_self_contained_and_shows_every_part() {
        let rows = vec![
            row("r1", "math", [true, false], [100.0, 300.0]),
            row("r2", "math", [true, true], [120.0, 280.0]),
            row("r3", "prose", [false, false], [90.0, 310.0]),
        ];
        let summary = super::super::summarize("run-1".into(), &rows);
        let html = render("d.jsonl", &summary, &rows);
        for outside in ["http://", "https://", "<script", "<link", "src=", "@import"] {
            assert!(!html.contains(outside), "the report holds `{outside}`");
        }
        assert!(html.contains("&lt;b&gt;evil&lt;/b&gt;"));
        // Per category: echo passed 2/2 of math, the other 1/2.
        assert!(html.contains("100.0% <span class=\"n\">(2/2)</span>"));
        assert!(html.contains("50.0% <span class=\"n\">(1/2)</span>"));
        // Only r1 splits the models.
        assert!(html.contains("1 of 3 rows pass for some models"));
        assert!(html.contains("<code>r1</code>"));
        assert!(!html.contains("<code>r2</code>"));
        // echo is cheaper and better: alone on the front.
        assert_eq!(html.matches("data-pareto=\"true\"").count(), 1);
        assert!(html.contains("median 100 ms"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
