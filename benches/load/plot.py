"""Plots of a load-harness run: latency against request rate for each system, the latency
each proxy adds, and the soak's server readings over time. Usage: plot.py RESULTS_JSON OUT_DIR
(writes bench-latency.png and bench-added-latency.png when the run had the overhead section,
bench-soak.png when it had the soak)."""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SYSTEMS = [
    ("direct", "mock upstream, direct", "#555555"),
    ("llm_compare", "through llm-compare serve", "#1f77b4"),
    ("litellm", "through LiteLLM proxy", "#d62728"),
]


def points(results):
    """Fixed-rate points (rate, point), the flat-out point apart."""
    fixed, top = [], None
    for p in results["overhead"]["points"]:
        if p["rate"] is None:
            top = p
        else:
            fixed.append((p["rate"], p))
    return fixed, top


def series(fixed, sustained, key, pct):
    xs, ys = [], []
    rows = list(fixed)
    if sustained:
        rows.append((sustained["rate"], sustained))
    for rate, p in sorted(rows, key=lambda r: r[0]):
        run = p.get(key)
        if run and run.get("sustained", True):
            xs.append(rate)
            ys.append(run[pct])
    return xs, ys


def soak(results, out):
    """RSS, open descriptors, runtime tasks and the window p99 against time."""
    s = results["soak"]
    samples = s["samples"]
    t = [x["t_s"] / 60 for x in samples]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.4), sharex=True)
    panels = [
        (axes[0][0], [x["rss_kib"] / 1024 for x in samples], "resident memory, MiB"),
        (axes[0][1], [x["fds"] for x in samples], "open file descriptors"),
        (axes[1][0], [x["tasks"] if x["tasks"] is not None else float("nan") for x in samples], "runtime tasks alive"),
        (axes[1][1], [x["p99_ms"] for x in samples], "p99 latency to the response head, ms (10 s windows)"),
    ]
    for ax, ys, title in panels:
        ax.plot(t, ys, color="#1f77b4", label="RSS" if ax is axes[0][0] else None)
        if ax is axes[0][0]:
            # The server's own accounts beside its RSS (jemalloc builds; missing: not drawn).
            for key, label, color in [
                ("allocated_kib", "allocated (jemalloc)", "#2ca02c"),
                ("retained_kib", "retained comparisons (estimate)", "#ff7f0e"),
            ]:
                vals = [x.get(key) for x in samples]
                if any(v is not None for v in vals):
                    ax.plot(t, [v / 1024 if v is not None else float("nan") for v in vals], color=color, label=label)
            ax.legend(fontsize=7, loc="lower right")
        ax.axvline(s["warmup_s"] / 60, color="#999999", ls=":", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    steal = [x.get("steal_pct") for x in samples]
    if any(v is not None for v in steal):
        # The host's share of the vCPUs beside the p99: a spike of both is the machine's.
        ax2 = axes[1][1].twinx()
        ax2.plot(t, [v if v is not None else float("nan") for v in steal], color="#999999", lw=0.8)
        ax2.set_ylabel("CPU stolen by the host, % (grey)", fontsize=7, color="#777777")
        ax2.set_ylim(bottom=0)
    for ax in axes[1]:
        ax.set_xlabel("minutes (dotted: end of the warm-up, the retention window)")
    fig.suptitle(
        f"Soak: {s['clients']} clients, {s['ops_per_s']:.0f} ops/s of mixed traffic, "
        f"{s['server_errors']} 5xx; RSS after warm-up {s['rss_growth'] * 100:+.1f} %",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out / "bench-soak.png", dpi=110)
    print(f"plot: {out / 'bench-soak.png'}")


def main():
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    if results.get("soak"):
        soak(results, out)
    if results.get("overhead"):
        overhead(results, out)


def overhead(results, out):
    fixed, top = points(results)
    sustained = (results.get("litellm") or {}).get("at_sustained") or None
    machine = results.get("machine", {})
    where = f"{machine.get('cores', '?')} cores, load generator + upstream + proxy on one machine"

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, pct in zip(axes, ["p50", "p99"]):
        for key, label, colour in SYSTEMS:
            xs, ys = series(fixed, sustained, key, pct)
            if xs:
                ax.plot(xs, ys, marker="o", label=label, color=colour)
            if top and top.get(key):
                ax.scatter([top[key]["rps"]], [top[key][pct]], marker="x", s=60, color=colour)
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("requests/s, log (x: flat out, at the rate reached)")
        ax.set_title(f"{pct} latency, streamed chat completion")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms (log)")
    axes[0].legend(fontsize=8)
    fig.suptitle(where, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "bench-latency.png", dpi=110)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key, label, colour in SYSTEMS[1:]:
        for pct, style in [("p50", "--"), ("p99", "-")]:
            xs, ys = [], []
            rows = list(fixed) + ([(sustained["rate"], sustained)] if sustained else [])
            for rate, p in sorted(rows, key=lambda r: r[0]):
                added = p.get(f"added_{key}")
                run = p.get(key)
                if added and run and run.get("sustained", True):
                    xs.append(rate)
                    ys.append(max(added[0 if pct == "p50" else 2], 1e-3))
            if xs:
                ax.plot(xs, ys, style, marker="o", color=colour, label=f"{label}: {pct}")
    ax.axhline(1.0, color="#2ca02c", lw=0.8, ls=":", label="target p99 1 ms")
    ax.axhline(0.3, color="#2ca02c", lw=0.8, ls="-.", label="target p50 0.3 ms")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("requests/s (log)")
    ax.set_ylabel("added latency, ms (log)")
    ax.set_title("Latency added by the proxy (its percentile minus direct)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "bench-added-latency.png", dpi=110)
    print(f"plots: {out / 'bench-latency.png'}, {out / 'bench-added-latency.png'}")


if __name__ == "__main__":
    main()
