#!/usr/bin/env python3
"""Generate llm-compare-core/data/prices.tsv, the compact price table bundled in the crate.

Source: ../shared/data/model_prices_and_context_window.json (LiteLLM's table, MIT). Keeps the
chat models of the providers llm-compare supports, keyed `provider/model` as llm-compare names
them, with prices in USD per 1M tokens written as exact decimals (no float noise).

Usage: scripts/gen-prices.py [SOURCE.json] [OUT.tsv]
"""
import hashlib
import json
import os
import re
import sys
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "model_prices_and_context_window.json")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "llm-compare-core", "data", "prices.tsv")

# LiteLLM provider name -> llm-compare provider name.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "groq": "groq",
    "openrouter": "openrouter",
    "xai": "xai",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "together_ai": "together",
    "ollama": "ollama",
}
COLUMNS = [
    ("input", "input_cost_per_token"),
    ("output", "output_cost_per_token"),
    ("cache_read", "cache_read_input_token_cost"),
    ("cache_write", "cache_creation_input_token_cost"),
    ("reasoning", "output_cost_per_reasoning_token"),
]


# Prompt-size tiers: above a prompt of N tokens every token of the call is billed at the tier's
# rates (Gemini's "above 200k", OpenAI's "above 272k", …). LiteLLM names them `…_above_Nk_tokens`.
TIER_COLUMNS = [
    ("tier_input", "input_cost_per_token"),
    ("tier_output", "output_cost_per_token"),
    ("tier_cache_read", "cache_read_input_token_cost"),
    ("tier_cache_write", "cache_creation_input_token_cost"),
]
# Rates of other token kinds, after the tier columns (older readers' column numbers stay put).
EXTRA_COLUMNS = [
    ("cache_write_1h", "cache_creation_input_token_cost_above_1hr"),
    ("audio_input", "input_cost_per_audio_token"),
    ("audio_output", "output_cost_per_audio_token"),
]
# What a model takes and does (LiteLLM's `supports_*` flags): `name` known yes, `!name` known
# no, absent unknown. The last column.
CAPABILITIES = [
    ("vision", "supports_vision"),
    ("pdf", "supports_pdf_input"),
    ("response_schema", "supports_response_schema"),
    ("tools", "supports_function_calling"),
    ("reasoning", "supports_reasoning"),
]


def capabilities_of(entry):
    caps = [name if entry[field] else "!" + name
            for name, field in CAPABILITIES if isinstance(entry.get(field), bool)]
    return ",".join(caps) or "-"


TIER = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")


def tier_of(entry):
    """The prompt-size tier: [threshold tokens, input, output, cache_read, cache_write] or '-'s."""
    thresholds = sorted(int(m.group(1)) for m in map(TIER.match, entry) if m)
    if not thresholds:
        return ["-"] * (1 + len(TIER_COLUMNS))
    k = thresholds[0]
    cols = [str(k * 1000)]
    for _, field in TIER_COLUMNS:
        v = entry.get(f"{field}_above_{k}k_tokens")
        cols.append(per_million(v) if isinstance(v, (int, float)) else "-")
    return cols


def per_million(value):
    """USD per token (a JSON float) -> USD per 1M tokens as an exact decimal string."""
    d = (Decimal(repr(float(value))) * 1_000_000).normalize()
    # The crate stores pico-USD per token: at most 6 decimals per 1M tokens are exact.
    if d.as_tuple().exponent < -6:
        d = d.quantize(Decimal("0.000001"))
    s = format(d, "f")
    return s


def main():
    with open(SRC, "rb") as f:
        raw = f.read()
    data = json.loads(raw)
    # The table's version: the source data's hash (the file carries no date of its own).
    version = "sha256:" + hashlib.sha256(raw).hexdigest()[:12]
    rows = {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or entry.get("mode") != "chat":
            continue
        ours = PROVIDERS.get(entry.get("litellm_provider"))
        if ours is None or "input_cost_per_token" not in entry or "output_cost_per_token" not in entry:
            continue
        name = key
        for prefix in (entry["litellm_provider"] + "/", ours + "/"):
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        model_id = f"{ours}/{name}"
        if "\t" in model_id or model_id in rows:
            continue
        cols = [model_id, str(entry.get("max_input_tokens") or entry.get("max_tokens") or "-"),
                str(entry.get("max_output_tokens") or "-")]
        for _, field in COLUMNS:
            v = entry.get(field)
            cols.append(per_million(v) if isinstance(v, (int, float)) else "-")
        cols.extend(tier_of(entry))
        for _, field in EXTRA_COLUMNS:
            v = entry.get(field)
            cols.append(per_million(v) if isinstance(v, (int, float)) else "-")
        cols.append(capabilities_of(entry))
        rows[model_id] = cols
    with open(OUT, "w") as f:
        f.write("# Generated by scripts/gen-prices.py from LiteLLM's model_prices_and_context_window.json (MIT).\n")
        f.write(f"# version: {version}\n")
        f.write("# Prices in USD per 1M tokens; '-' = not given. Do not edit by hand: override prices in configuration.\n")
        f.write("# model\tmax_input_tokens\tmax_output_tokens\t" + "\t".join(c for c, _ in COLUMNS)
                + "\ttier_above_tokens\t" + "\t".join(c for c, _ in TIER_COLUMNS)
                + "\t" + "\t".join(c for c, _ in EXTRA_COLUMNS) + "\tcapabilities\n")
        for model_id in sorted(rows):
            f.write("\t".join(rows[model_id]) + "\n")
    print(f"wrote {len(rows)} models to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
