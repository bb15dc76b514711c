"""Times GETs as a researcher's script makes them: Python `requests` in one Session, with its
default headers (Accept-Encoding: gzip, deflate; keep-alive) and with Accept-Encoding: identity,
p50 of 40 after a warm-up, twice. Each node named on the command line is first given a public
convergence `m` with 500 artifacts and 3,000 relationships (one batch).

    python3 bench/requests_latency.py before=http://localhost:18081,<token> after=http://localhost:18082,<token>

Run two builds side by side (e.g. before and after a change) to compare them in one run.
"""
import random, statistics, sys, time
import requests

def seed(base, token):
    s = requests.Session()
    h = {"Authorization": f"Bearer {token}"}
    s.post(f"{base}/api/v1/convergences", json={"slug": "m", "name": "M", "visibility": "public"}, headers=h).raise_for_status()
    rng = random.Random(7)
    words = ["node", "graph", "garden", "water", "seed", "library", "market", "bridge", "forest", "school"]
    arts = [{"key": f"a{i}", "kind": "idea", "title": f"{rng.choice(words)} {rng.choice(words)} {i}",
             "body": " ".join(rng.choice(words) for _ in range(40))} for i in range(500)]
    pairs = set()
    while len(pairs) < 3000:
        a, b = rng.randrange(500), rng.randrange(500)
        if a != b:
            pairs.add((a, b))
    rels = [{"source": f"a{a}", "target": f"a{b}", "kind": "supports", "weight": 0.5} for a, b in sorted(pairs)]
    r = s.post(f"{base}/api/v1/convergences/m/batch", json={"artifacts": arts, "relationships": rels}, headers=h)
    r.raise_for_status()
    ids = [a["id"] for a in r.json()["artifacts"]]
    deadline = time.time() + 60
    while time.time() < deadline:
        n = s.get(f"{base}/api/v1/search", params={"q": "", "limit": 1}).json().get("estimated_total", 0)
        e = s.get(f"{base}/api/v1/graph/neighborhood/{ids[0]}", params={"depth": 1}).json()
        if n == 500 and e.get("edges"):
            return ids
        time.sleep(0.2)
    raise SystemExit("not indexed")

def p50(session, url, params, headers, n=40):
    session.get(url, params=params, headers=headers)  # warm-up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = session.get(url, params=params, headers=headers)
        r.content
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), r.headers.get("content-encoding", "identity"), len(r.content)

nodes = [arg.split("=", 1) for arg in sys.argv[1:]]
prepared = []
for name, spec in nodes:
    base, token = spec.split(",")
    prepared.append((name, base, seed(base, token)))
for round_ in (1, 2):
    for name, base, ids in prepared:
        s = requests.Session()
        for label, url, params in [
            ("search q=node", f"{base}/api/v1/search", {"q": "node"}),
            ("neighbourhood depth 2 out", f"{base}/api/v1/graph/neighborhood/{ids[0]}", {"depth": 2, "direction": "out"}),
        ]:
            d, enc, size = p50(s, url, params, None)
            i, _, isize = p50(s, url, params, {"Accept-Encoding": "identity"})
            print(f"pass {round_} {name:7} {label:28} default {d:6.2f} ms ({enc}, {size} B)  identity {i:6.2f} ms ({isize} B)")
