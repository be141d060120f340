#!/usr/bin/env bash
# Seeds the fuzz corpus with every recorded provider stream, framed as its provider frames it.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/stream_parsers
mkdir -p "$out"
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
root = "../llm-compare-core/tests/fixtures/provider-streams"
expected = json.load(open(os.path.join(root, "expected.json")))
for name, exp in expected.items():
    lines = [l.strip() for l in open(os.path.join(root, name)) if l.strip()]
    lines = [l[6:] if l.startswith("data: ") else l for l in lines]
    wire = exp["wire_format"]
    if wire == "openai-chat":
        body = "".join(f"data: {l}\n\n" for l in lines) + "data: [DONE]\n\n"
    elif wire == "anthropic-messages":
        body = "".join(f"event: {json.loads(l)['type']}\ndata: {l}\n\n" for l in lines)
    else:
        body = "".join(f"data: {l}\r\n\r\n" for l in lines)
    with open(os.path.join(out, name.replace("/", "_")), "wb") as f:
        f.write(b"\x07" + body.encode())
PY
echo "seeded $(ls "$out" | wc -l) inputs in fuzz/$out"
