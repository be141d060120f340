#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a circle.

Usage: scripts/module-cycles.py CRATE_SRC_DIR [DEPTH]

Reads every `crate::…` path in the crate's non-test Rust code (comments and `#[cfg(test)]`
modules skipped), maps each to the top-level module it names (DEPTH 2: the module one level
down, for the modules inside a folder), resolves names the crate root re-exports, and
reports every strongly connected set of more than one module with the edges inside it.
The core's layering (docs/architecture.md) is meant to be a DAG; scripts/test runs this.
"""
import collections
import os
import re
import sys

root = sys.argv[1]
depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1


def module_of(path):
    parts = os.path.relpath(path, root)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def code(path):
    text = open(path, encoding="utf-8").read()
    # Unit tests may reach anywhere; cut at the first test module.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod\s", text)
    if cut:
        text = text[: cut.start()]
    return "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))


def paths(text):
    """Every path after `crate::`, with `{a, b::{c}}` groups expanded."""
    out = []

    def expand(prefix, s, i):
        # s[i] == '{'; returns index after matching '}'
        i += 1
        item = ""
        while i < len(s):
            ch = s[i]
            if ch == "{":
                i = expand(prefix + item, s, i)
                item = ""
                continue
            if ch in ",}":
                if item.strip():
                    out.append(prefix + item.strip())
                item = ""
                if ch == "}":
                    return i + 1
            else:
                item += ch
            i += 1
        return i

    for m in re.finditer(r"\bcrate::", text):
        j = m.end()
        seg = re.match(r"[A-Za-z_0-9:]*", text[j:]).group(0)
        k = j + len(seg)
        if k < len(text) and text[k] == "{":
            expand(seg, text, k)
        else:
            out.append(seg)
    return [re.sub(r"\s+", "", p).strip(":") for p in out if p]


# Names the crate root re-exports: `pub use a::b::{X, Y}` maps X and Y to module a.
reexport = {}
lib = os.path.join(root, "lib.rs")
if os.path.exists(lib):
    for m in re.finditer(r"pub use ([a-z_0-9:]+)::\{([^}]*)\}|pub use ([a-z_0-9:]+)::(\w+);", code(lib)):
        base = (m.group(1) or m.group(3)).split("::")
        names = m.group(2).split(",") if m.group(2) else [m.group(4)]
        for n in names:
            n = n.strip()
            if n:
                reexport[n] = tuple(base)

edges = collections.defaultdict(set)
for d, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs"):
            continue
        p = os.path.join(d, f)
        src = module_of(p)
        if not src:
            continue
        for path in paths(code(p)):
            segs = [s for s in path.split("::") if s and s != "self"]
            mods = []
            for s in segs:
                if s[0].isupper():
                    if not mods and s in reexport:
                        mods = list(reexport[s])
                    break
                mods.append(s)
            if not mods:
                continue
            a, b = src[:depth], tuple(mods[:depth])
            if depth > 1 and a[:1] != b[:1]:
                continue  # depth 2 looks inside one folder at a time
            if a != b:
                edges[a].add(b)

index, low, stack, on, cycles = {}, {}, [], set(), []
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            cycles.append(comp)


for v in list(edges):
    if v not in index:
        visit(v)
name = "::".join
for comp in cycles:
    print("import circle:", ", ".join(sorted(name(c) for c in comp)))
    for a in sorted(comp):
        for b in sorted(edges[a]):
            if b in comp:
                print(f"    {name(a)} -> {name(b)}")
modules = {m for m in edges} | {m for e in edges.values() for m in e}
if cycles:
    sys.exit(1)
print(f"{root}: {len(modules)} modules (depth {depth}), no import circle")
