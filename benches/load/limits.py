#!/usr/bin/env python3
"""Issue 45's reproductions against one built `llm-compare` binary (docs/benchmarks.md, "Per-caller
limits and the cluster's streams"): each hostile request's answer with the server's RSS before
and after; 1,000 SSE streams on a server of a two-server cluster and the Redis clients they
hold; the time from a POST on one server to `complete` on the other. Needs redis-server.

  benches/load/limits.py BINARY NAME                   # the requests (SQLite, no keys)
  benches/load/limits.py BINARY NAME cluster ['[server]\\n…']   # 1,000 streams (config: the caps)
  benches/load/limits.py BINARY NAME latency           # POST on A -> complete on B
"""
import asyncio, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

binary, name = sys.argv[1], sys.argv[2]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def start(config_text, extra=()):
    port = free_port()
    d = tempfile.mkdtemp(prefix=f"repro-{name}-")
    cfg = os.path.join(d, "llm-compare.toml")
    with open(cfg, "w") as f:
        f.write(config_text)
    p = subprocess.Popen([binary, "--config", cfg, "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", d, *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/health", timeout=1); break
        except Exception:
            time.sleep(0.05)
    return p, url, d

def req(method, url, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"content-type": "application/json"} if body is not None else {}
    h.update(headers or {})
    r = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

def short(text, n=300):
    return text if len(text) <= n else text[:n] + "…"

def main():
    print(f"# {name}: {binary}")
    p, url, d = start("[server]\n")
    time.sleep(0.5)
    # 1. 200,000 one-line rows, one model, a 1,000-character template.
    rows = "".join(json.dumps({"vars": {"q": f"question {i}"}}) + "\n" for i in range(200_000))
    before = rss_mb(p.pid)
    t = time.time()
    status, text = req("POST", url + "/v1/evals", {"dataset": {"name": "big.jsonl", "content": rows},
                                                   "models": ["sim/echo"], "prompt_template": "x" * 1000 + " {{q}}"})
    took = time.time() - t
    time.sleep(1.0)
    after = rss_mb(p.pid)
    print(f"1. POST /v1/evals 200,000 rows ({len(rows)/1e6:.1f} MB): {status} in {took:.2f} s; RSS {before:.0f} -> {after:.0f} MiB; {short(text)}")
    if status == 201:
        run = json.loads(text)["run_id"]
        req("DELETE", url + f"/v1/evals/{run}")
    # 2. A cross-site form post, a rebound host.
    boundary = "XyZ"
    form = (f"--{boundary}\r\ncontent-disposition: form-data; name=\"request\"\r\n\r\n"
            + json.dumps({"prompt": "hi", "models": ["sim/echo"]}) + f"\r\n--{boundary}--\r\n").encode()
    status, text = req("POST", url + "/v1/comparisons", raw=form,
                       headers={"content-type": f"multipart/form-data; boundary={boundary}", "origin": "http://evil.example"})
    print(f"2a. cross-site multipart POST (Origin: http://evil.example): {status} {short(text, 200)}")
    status, text = req("GET", url + "/v1/models", headers={"host": "evil.example"})
    print(f"2b. GET /v1/models with Host: evil.example: {status} {short(text, 160)}")
    # 3. Made-up model names in /metrics.
    _, m0 = req("GET", url + "/metrics")
    for i in range(30):
        models = [f"openai/junk-{i}-{j}-" + "a" * 40 for j in range(8)]
        s, t2 = req("POST", url + "/v1/comparisons", {"prompt": "hi", "models": models})
        if s == 201:
            rid = json.loads(t2)["request_id"]
            req("GET", url + f"/v1/comparisons/{rid}/stream")
    _, m1 = req("GET", url + "/metrics")
    print(f"3. 30 comparisons x 8 made-up model names (240 names): /metrics {len(m0.splitlines())} -> {len(m1.splitlines())} lines")
    print(f"   RSS at the end: {rss_mb(p.pid):.0f} MiB")
    # 4. A client that trickles its headers.
    host, port = url[len("http://"):].split(":")
    c = socket.create_connection((host, int(port)))
    c.settimeout(0.01)
    slow = b"GET /health HTTP/1.1\r\nhost: " + host.encode() + b"\r\nx-slow: " + b"z" * 200 + b"\r\n\r\n"
    t0, outcome = time.time(), "still open after 15 s"
    for byte in slow:
        if time.time() - t0 > 15:
            break
        try:
            c.send(bytes([byte]))
            data = c.recv(100)
            outcome = f"answered {data[:20]!r} after {time.time() - t0:.1f} s" if data else f"closed after {time.time() - t0:.1f} s"
            break
        except socket.timeout:
            pass
        except OSError as e:
            outcome = f"cut off ({e}) after {time.time() - t0:.1f} s"
            break
        time.sleep(0.1)
    c.close()
    print(f"4. headers trickled a byte per 100 ms: {outcome}")
    p.terminate(); p.wait()
    shutil.rmtree(d, ignore_errors=True)

async def cluster(redis_url, config_text, n=1000):
    """n open SSE streams on server B of comparisons running on server A; Redis's clients."""
    a, url_a, da = start(config_text, ("--registry", redis_url))
    b, url_b, db = start(config_text, ("--registry", redis_url))
    ids = []
    for _ in range(n):
        s, t = req("POST", url_a + "/v1/comparisons", {"prompt": "wait", "models": ["sim/slow"]})
        assert s == 201, t
        ids.append(json.loads(t)["request_id"])
    host, port = url_b[len("http://"):].split(":")
    writers = []
    for i in ids:
        r, w = await asyncio.open_connection(host, int(port))
        w.write(f"GET /v1/comparisons/{i}/stream HTTP/1.1\r\nhost: {host}:{port}\r\n\r\n".encode())
        await w.drain()
        writers.append((r, w))
    ok = 0
    for r, _ in writers:
        line = await asyncio.wait_for(r.readline(), 10)
        ok += line.startswith(b"HTTP/1.1 200")
    out = subprocess.run(["redis-cli", "-u", redis_url, "CLIENT", "LIST"], capture_output=True, text=True).stdout
    clients = len(out.strip().splitlines()) - 1
    print(f"5. {ok} of {n} SSE streams open on B (comparisons running on A): Redis has {clients} clients of the two servers; RSS A {rss_mb(a.pid):.0f} MiB, B {rss_mb(b.pid):.0f} MiB")
    for _, w in writers:
        w.close()
    for p in (a, b):
        p.terminate(); p.wait()

def latency(binary_cfg, n=200):
    """POST on A, stream on B: ms from the POST to `complete` on B, for sim/slow at 100 ms."""
    import http.client, statistics
    redis_url, rp = own_redis()
    a, url_a, _ = start(binary_cfg, ("--registry", redis_url))
    b, url_b, _ = start(binary_cfg, ("--registry", redis_url))
    host, port = url_b[len("http://"):].split(":")
    times = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        s, t = req("POST", url_a + "/v1/comparisons", {"prompt": "x", "models": ["sim/slow"]})
        rid = json.loads(t)["request_id"]
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", f"/v1/comparisons/{rid}/stream")
        r = c.getresponse()
        while True:
            line = r.fp.readline()
            if not line or line.startswith(b"event: complete"):
                break
        dt = (time.perf_counter() - t0) * 1e3
        c.close()
        if i >= 20:
            times.append(dt)
    times.sort()
    print(f"6. POST on A -> complete on B (sim/slow, 100 ms to its answer), {n} runs: median {statistics.median(times):.2f} ms, p90 {times[int(n*0.9)]:.2f}, p99 {times[int(n*0.99)]:.2f}")
    for p in (a, b):
        p.terminate(); p.wait()
    rp.terminate(); rp.wait()

def own_redis():
    """A throwaway redis-server: (url, process)."""
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", tempfile.mkdtemp(prefix="repro-redis-")], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}", p


if __name__ == "__main__":
    mode = sys.argv[3] if len(sys.argv) > 3 else "requests"
    if mode == "latency":
        latency("[server]\nmax_active_per_user = 5000\nrequests_per_minute = 0\n[sim]\nslow_ttft_ms = 100\ntokens_per_s = 0\n")
    elif mode == "cluster":
        url, rp = own_redis()
        cfg = sys.argv[4].replace("\\n", "\n") if len(sys.argv) > 4 else "[server]\nmax_active_per_user = 5000\nrequests_per_minute = 0\n"
        try:
            asyncio.run(cluster(url, cfg))
        finally:
            rp.terminate(); rp.wait()
    else:
        main()
