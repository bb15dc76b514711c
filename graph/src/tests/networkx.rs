//! Agreement with an independent implementation: networkx, run on this crate's own exports.
//!
//! A deterministic pseudo-random graph (a few hundred artifacts in three convergences, one of
//! them private; dangling and isolated artifacts; parallel relationships of different kinds;
//! awkward titles) is exported as GraphML and piped into `python3` with networkx, which reports
//! PageRank (unweighted and weighted), shortest-path lengths (hops, and costs with
//! `cost = 1 / weight`) in the three directions, weakly connected components and degrees. The
//! crate must agree: exactly for hops, components and degrees, to 1e-12 (relative) for path
//! costs, which are floating-point sums whose order may differ between two equally short
//! paths, and to 1e-5 per artifact for PageRank (networkx's tolerance 1e-10 on both sides).
//!
//! Python 3 with networkx (and scipy, which networkx's PageRank uses) is required: when any is
//! missing the test FAILS and says so (`python3 -m pip install networkx scipy`). `PYTHON` names
//! another interpreter.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Access, Artifact, ArtifactKind, Direction, ExportFormat, KnowledgeGraph, PageRankParams,
    PathQuery, Relationship, RelationshipKind, Visibility,
};

const NODES: usize = 320;
/// Artifacts `0..DANGLING` have no outgoing relationships.
const DANGLING: usize = 40;
/// Artifacts `CONNECTED..NODES` have no relationships at all.
const CONNECTED: usize = 300;
const EDGES: usize = 1_100;
const PAIRS: usize = 150;

const SCRIPT: &str = r#"
import json, sys
import networkx as nx

G = nx.read_graphml(sys.stdin.buffer)
assert G.is_directed()
pairs = json.loads(sys.argv[1])
out = {
    "nodes": G.number_of_nodes(),
    "edges": G.number_of_edges(),
    "multigraph": G.is_multigraph(),
    "titles": {n: d.get("title") for n, d in G.nodes(data=True)},
    "convergences": {n: d.get("convergence") for n, d in G.nodes(data=True)},
    "edge_kinds": sorted([d["id"], d["kind"], d["weight"]] for _, _, d in G.edges(data=True)),
    "pagerank": nx.pagerank(nx.DiGraph(G), alpha=0.85, tol=1e-10, max_iter=1000, weight=None),
    "pagerank_weighted": nx.pagerank(G, alpha=0.85, tol=1e-10, max_iter=1000, weight="weight"),
    "components": sorted(sorted(c) for c in nx.weakly_connected_components(G)),
    "in_degree": dict(G.in_degree()),
    "out_degree": dict(G.out_degree()),
}
for _, _, d in G.edges(data=True):
    d["cost"] = 1.0 / d["weight"]
# An undirected copy that keeps every edge (a view would merge u->v and v->u of equal keys).
U = nx.MultiGraph()
U.add_nodes_from(G)
U.add_edges_from((u, v, d) for u, v, d in G.edges(data=True))
views = {"out": G, "in": G.reverse(copy=True), "both": U}
paths = []
for s, t in pairs:
    row = {}
    for name, H in views.items():
        for suffix, weight in (("", None), ("_weighted", "cost")):
            try:
                row[name + suffix] = nx.shortest_path_length(H, s, t, weight=weight)
            except nx.NetworkXNoPath:
                row[name + suffix] = None
    paths.append(row)
out["paths"] = paths
json.dump(out, sys.stdout)
"#;

const JSON_SCRIPT: &str = r#"
import json, sys
import networkx as nx

G = nx.node_link_graph(json.load(sys.stdin), edges="edges")
print(json.dumps({
    "directed": G.is_directed(),
    "nodes": G.number_of_nodes(),
    "edges": G.number_of_edges(),
    "titles": {n: d.get("title") for n, d in G.nodes(data=True)},
    "weights": sorted(d["weight"] for _, _, d in G.edges(data=True)),
}))
"#;

struct Fixture {
    graph: KnowledgeGraph,
    ids: Vec<Uuid>,
    titles: HashMap<Uuid, String>,
    public: [Uuid; 2],
}

fn fixture() -> Fixture {
    let mut rng = ChaCha8Rng::seed_from_u64(0x6b67_2026);
    let uuid = |rng: &mut ChaCha8Rng| uuid::Builder::from_random_bytes(rng.random()).into_uuid();
    let public = [uuid(&mut rng), uuid(&mut rng)];
    let private = uuid(&mut rng);
    let mut graph = KnowledgeGraph::new();
    graph.upsert_convergence(public[0], Visibility::Public);
    graph.upsert_convergence(public[1], Visibility::Public);
    graph.upsert_convergence(private, Visibility::Private);
    let awkward = [
        "Fish & <chips>",
        "\"quoted\" and 'single'",
        "line\nbreak and\r\ncarriage",
        "tab\there, bell\u{7} here",
        "ünïcödé — 漢字 🌱",
        "]]> <!-- not a comment -->",
    ];
    let mut ids = Vec::with_capacity(NODES);
    let mut titles = HashMap::new();
    for n in 0..NODES {
        let id = uuid(&mut rng);
        let convergence = match rng.random_range(0..10) {
            0..=4 => public[0],
            5..=7 => public[1],
            _ => private,
        };
        let title = match awkward.get(n % 40) {
            Some(text) => format!("{text} #{n}"),
            None => format!("Artifact {n}"),
        };
        graph.upsert_artifact(Artifact {
            id,
            convergence,
            kind: ArtifactKind::ALL[n % ArtifactKind::ALL.len()],
            title: title.clone(),
        });
        ids.push(id);
        titles.insert(id, title);
    }
    let mut added = 0;
    while added < EDGES {
        let source = rng.random_range(DANGLING..CONNECTED);
        // Half uniform, half skewed towards low indices, so ranks differ.
        let target = if rng.random_bool(0.5) {
            rng.random_range(0..CONNECTED)
        } else {
            let u: f64 = rng.random();
            ((u * u * u) * CONNECTED as f64) as usize
        };
        if source == target {
            continue;
        }
        let kinds = if rng.random_bool(0.12) { 2 } else { 1 };
        let first = rng.random_range(0..RelationshipKind::ALL.len());
        for k in 0..kinds {
            let relationship = Relationship {
                id: uuid(&mut rng),
                source: ids[source],
                target: ids[target],
                kind: RelationshipKind::ALL[(first + k * 3) % RelationshipKind::ALL.len()],
                weight: rng.random_range(1..=1000) as f64 / 1000.0,
            };
            graph
                .upsert_relationship(relationship)
                .unwrap_or_else(|error| panic!("fixture relationship refused: {error}"));
            added += 1;
        }
    }
    Fixture {
        graph,
        ids,
        titles,
        public,
    }
}

/// Runs `script` under python3 with networkx, `input` on standard input; its JSON output.
fn networkx(script: &str, input: &[u8], args: &[String]) -> Value {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python)
        .args(["-c", "import networkx, numpy, scipy"])
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "this test compares against networkx and needs `{python}` ({error}); install \
                 Python 3 and run `python3 -m pip install networkx scipy`"
            )
        });
    assert!(
        probe.status.success(),
        "this test compares against networkx (with scipy), which `{python}` cannot import: \
         run `{python} -m pip install networkx scipy`\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {python}: {error}"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("python runs");
    feeder
        .join()
        .expect("feeder thread")
        .expect("python reads its input");
    assert!(
        output.status.success(),
        "networkx script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("networkx prints JSON")
}

/// What GraphML can carry of a title: characters XML forbids become U+FFFD.
fn xml_safe(title: &str) -> String {
    title
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

fn as_f64(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// Compares one view (access + optional convergence) of the fixture with networkx.
fn check_view(
    fixture: &Fixture,
    access: &Access<'_>,
    convergence: Option<Uuid>,
    pairs: &[(Uuid, Uuid)],
) {
    let graph = &fixture.graph;
    let export = graph.export(access, convergence);
    let mut graphml = Vec::new();
    export
        .write(ExportFormat::GraphMl, &mut graphml)
        .expect("export writes to memory");
    let pair_args = serde_json::to_string(
        &pairs
            .iter()
            .map(|(s, t)| [s.to_string(), t.to_string()])
            .collect::<Vec<_>>(),
    )
    .expect("pairs serialise");
    let nx = networkx(SCRIPT, &graphml, &[pair_args]);
    let label = format!("{access:?} / {convergence:?}");

    // The GraphML carried everything.
    assert_eq!(nx["nodes"], export.nodes().len(), "{label}");
    assert_eq!(nx["edges"], export.edges().len(), "{label}");
    assert_eq!(
        nx["multigraph"], true,
        "{label}: the fixture has parallel edges"
    );
    for node in export.nodes() {
        let key = node.id.to_string();
        assert_eq!(
            nx["titles"][&key].as_str(),
            Some(xml_safe(&fixture.titles[&node.id]).as_str()),
            "{label}: title of {key}"
        );
        assert_eq!(
            nx["convergences"][&key].as_str(),
            Some(node.convergence.to_string().as_str())
        );
    }
    let mut ours: Vec<(String, String, f64)> = export
        .edges()
        .map(|e| (e.id.to_string(), e.kind.to_string(), e.weight))
        .collect();
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    let theirs: Vec<(String, String, f64)> = nx["edge_kinds"]
        .as_array()
        .expect("edge list")
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap_or_default().to_owned(),
                row[1].as_str().unwrap_or_default().to_owned(),
                as_f64(&row[2]),
            )
        })
        .collect();
    assert_eq!(ours, theirs, "{label}: edge ids, kinds and weights (exact)");

    // PageRank, unweighted and weighted.
    for (weighted, key) in [(false, "pagerank"), (true, "pagerank_weighted")] {
        let params = PageRankParams {
            tolerance: 1e-10,
            max_iterations: 1000,
            weighted,
            ..PageRankParams::default()
        };
        let ranks = graph
            .pagerank(access, convergence, &params)
            .expect("converges");
        assert_eq!(ranks.len(), export.nodes().len());
        let mut worst: f64 = 0.0;
        for ranked in ranks.iter() {
            let expected = as_f64(&nx[key][ranked.id.to_string()]);
            let difference = (ranked.score - expected).abs();
            worst = worst.max(difference);
            assert!(
                difference < 1e-5,
                "{label} {key} {}: {} vs networkx {expected}",
                ranked.id,
                ranked.score
            );
        }
        eprintln!("{label} {key}: worst difference from networkx {worst:e}");
    }

    // Components, exactly.
    let components = graph.weakly_connected_components(access, convergence);
    let mut ours: Vec<Vec<String>> = components
        .page(0, usize::MAX)
        .map(|members| members.iter().map(Uuid::to_string).collect())
        .collect();
    ours.sort();
    let theirs: Vec<Vec<String>> =
        serde_json::from_value(nx["components"].clone()).expect("component lists");
    assert_eq!(ours, theirs, "{label}: components");
    assert!(components.count() > 1, "{label}: isolated artifacts exist");

    // Degrees, exactly (parallel relationships each count).
    let degrees = graph.degree_centrality(access, convergence);
    for degree in degrees.iter() {
        let key = degree.id.to_string();
        assert_eq!(nx["in_degree"][&key], degree.in_degree, "{label} in {key}");
        assert_eq!(
            nx["out_degree"][&key], degree.out_degree,
            "{label} out {key}"
        );
    }

    // Shortest paths: hops exactly, costs to rounding.
    let mut found = 0;
    for (row, (from, to)) in nx["paths"].as_array().expect("paths").iter().zip(pairs) {
        for (direction, name) in [
            (Direction::Out, "out"),
            (Direction::In, "in"),
            (Direction::Both, "both"),
        ] {
            let query = |weighted| PathQuery {
                from: *from,
                to: *to,
                direction,
                weighted,
            };
            let hops = graph
                .shortest_path(access, &query(false))
                .expect("visible ends");
            assert_eq!(
                hops.as_ref().map(|p| p.hops as u64),
                row[name].as_u64(),
                "{label}: hops {from} → {to} {name}"
            );
            let cheapest = graph
                .shortest_path(access, &query(true))
                .expect("visible ends");
            let expected = row[format!("{name}_weighted")].as_f64();
            match (&cheapest, expected) {
                (Some(path), Some(cost)) => {
                    assert!(
                        (path.cost - cost).abs() <= 1e-12 * cost.max(1.0),
                        "{label}: cost {from} → {to} {name}: {} vs networkx {cost}",
                        path.cost
                    );
                    // The path is a real one: consecutive, and its edges add up to its cost.
                    assert_eq!(path.nodes.first().map(|n| n.id), Some(*from));
                    assert_eq!(path.nodes.last().map(|n| n.id), Some(*to));
                    assert_eq!(path.edges.len(), path.hops);
                    found += 1;
                }
                (None, None) => {}
                (ours, theirs) => panic!(
                    "{label}: {from} → {to} {name}: ours {:?}, networkx {theirs:?}",
                    ours.as_ref().map(|p| p.cost)
                ),
            }
        }
    }
    if !pairs.is_empty() {
        assert!(
            found > pairs.len(),
            "{label}: too few reachable pairs ({found})"
        );
    }
}

/// Visible artifacts' ids under `access`, and `PAIRS` deterministic pairs of them (including
/// isolated artifacts and one artifact paired with itself).
fn pairs(fixture: &Fixture, access: &Access<'_>) -> Vec<(Uuid, Uuid)> {
    let visible: Vec<Uuid> = fixture
        .ids
        .iter()
        .copied()
        .filter(|id| fixture.graph.artifact(access, *id).is_some())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut pairs: Vec<(Uuid, Uuid)> = (0..PAIRS)
        .map(|_| {
            (
                visible[rng.random_range(0..visible.len())],
                visible[rng.random_range(0..visible.len())],
            )
        })
        .collect();
    pairs.push((visible[0], visible[0]));
    pairs
}

#[test]
fn agrees_with_networkx_on_the_exported_graph() {
    let fixture = fixture();
    let all = Access::All;
    check_view(&fixture, &all, None, &pairs(&fixture, &all));
    let public = Access::PUBLIC;
    check_view(&fixture, &public, None, &pairs(&fixture, &public));
    // One convergence's induced subgraph (paths are not restricted to a convergence).
    check_view(&fixture, &all, Some(fixture.public[0]), &[]);
}

#[test]
fn json_export_loads_in_networkx() {
    let fixture = fixture();
    let export = fixture.graph.export(&Access::PUBLIC, None);
    let mut json = Vec::new();
    export
        .write(ExportFormat::Json, &mut json)
        .expect("export writes to memory");
    let nx = networkx(JSON_SCRIPT, &json, &[]);
    assert_eq!(nx["directed"], true);
    assert_eq!(nx["nodes"], export.nodes().len());
    assert_eq!(nx["edges"], export.edges().len());
    for node in export.nodes() {
        // JSON carries every character, controls included.
        assert_eq!(
            nx["titles"][node.id.to_string()].as_str(),
            Some(fixture.titles[&node.id].as_str())
        );
    }
    let mut weights: Vec<f64> = export.edges().map(|e| e.weight).collect();
    weights.sort_by(f64::total_cmp);
    let theirs: Vec<f64> = serde_json::from_value(nx["weights"].clone()).expect("weights");
    assert_eq!(weights, theirs);
    // Sanity of the fixture itself: dangling and isolated artifacts exist, and parallel edges.
    let degrees: BTreeMap<Uuid, (u32, u32)> = fixture
        .graph
        .degree_centrality(&Access::All, None)
        .iter()
        .map(|d| (d.id, (d.in_degree, d.out_degree)))
        .collect();
    assert!(fixture.ids[..DANGLING].iter().all(|id| degrees[id].1 == 0));
    assert!(
        fixture.ids[CONNECTED..]
            .iter()
            .all(|id| degrees[id] == (0, 0))
    );
}
