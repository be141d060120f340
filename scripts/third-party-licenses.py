#!/usr/bin/env python3
"""Writes the licences of every crate compiled into the given workspace packages (normal
dependencies, for one target platform): a table of crate, version and licence, then each
distinct licence text found in the crates' sources (LICENSE*, LICENCE*, COPYING*, NOTICE*),
with the crates it came from. Used by scripts/dist for the release artifacts.

Usage: cargo metadata --format-version 1 --locked --filter-platform TRIPLE \
         | scripts/third-party-licenses.py PACKAGE... > THIRD-PARTY-LICENSES.txt
"""
import json
import pathlib
import sys


def main() -> int:
    roots = set(sys.argv[1:])
    meta = json.load(sys.stdin)
    packages = {p["id"]: p for p in meta["packages"]}
    workspace = set(meta["workspace_members"])
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    start = [i for i in workspace if packages[i]["name"] in roots]
    missing = roots - {packages[i]["name"] for i in start}
    if missing:
        print(f"error: not workspace packages: {sorted(missing)}", file=sys.stderr)
        return 1
    # Walk normal (not dev, not build) dependencies: what ends up in the artifact.
    seen, todo = set(), list(start)
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        for dep in nodes[i]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    crates = sorted((packages[i] for i in seen - workspace), key=lambda p: (p["name"], p["version"]))

    out = ["Third-party software in this artifact", "=" * 37, ""]
    out.append(f"{len(crates)} crates from crates.io are compiled into it:")
    out.append("")
    for p in crates:
        out.append(f"  {p['name']} {p['version']}: {p.get('license') or p.get('license_file') or 'see its text below'}")
    texts: dict[str, list[str]] = {}
    for p in crates:
        root = pathlib.Path(p["manifest_path"]).parent
        files = sorted(
            f for f in root.iterdir()
            if f.is_file() and f.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE"))
        )
        for f in files:
            text = f.read_text(encoding="utf-8", errors="replace").strip()
            texts.setdefault(text, []).append(f"{p['name']} {p['version']} ({f.name})")
    for text, owners in texts.items():
        out += ["", "-" * 78, "Used by: " + ", ".join(owners), "", text]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
