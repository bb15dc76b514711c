//! Exports of a visible subgraph: GraphML, JSON (node-link) and CSV.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};

use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};
use serde::Serialize;
use uuid::Uuid;

use crate::access::Access;
use crate::graph::{EdgeView, KnowledgeGraph, NodeView};
use crate::kinds::{ArtifactKind, RelationshipKind, vocabulary};

vocabulary! {
    /// The file formats of [`Export::write`].
    ExportFormat, "export format" {
        /// GraphML: `<key>`s declare node attributes `title`, `kind`, `convergence` (strings)
        /// and edge attributes `id` (the relationship id), `kind` (strings) and `weight`
        /// (double); node ids are artifact ids. Edges carry no XML `id` attribute (igraph would
        /// store it under the same name as the `id` attribute). Loads with networkx's
        /// `read_graphml` (as a `MultiDiGraph` when parallel relationships exist) and igraph's
        /// `Graph.Read_GraphML`, attributes included.
        GraphMl => "graphml",
        /// JSON in networkx's node-link form:
        /// `{"directed": true, "multigraph": true, "graph": {}, "nodes": [{"id", "title",
        /// "kind", "convergence"}], "edges": [{"id", "source", "target", "kind", "weight"}]}`
        /// (`networkx.node_link_graph(data, edges="edges")` reads it).
        Json => "json",
        /// CSV edge list: header `id,source,target,kind,weight`, one relationship a line.
        /// Artifacts without relationships do not appear: use [`ExportFormat::CsvNodes`].
        Csv => "csv",
        /// CSV node list: header `id,title,kind,convergence`, one artifact a line, the title
        /// always quoted (RFC 4180: inner quotes doubled).
        CsvNodes => "csv_nodes",
    }
}

impl ExportFormat {
    /// The media type to serve it with.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::GraphMl => "application/graphml+xml",
            ExportFormat::Json => "application/json",
            ExportFormat::Csv | ExportFormat::CsvNodes => "text/csv; charset=utf-8",
        }
    }
}

/// A copy of the visible subgraph, ready to be written in any [`ExportFormat`]: artifacts
/// sorted by id, relationships sorted by id (so exports are reproducible).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Export {
    nodes: Vec<NodeView>,
    edges: Vec<ExportEdge>,
    /// How the written export names convergences (slugs, say); unnamed ones by id.
    convergence_names: HashMap<Uuid, String>,
}

/// An artifact as the JSON export writes it, its convergence named.
#[derive(Serialize)]
struct JsonNode<'a> {
    id: Uuid,
    title: &'a str,
    kind: ArtifactKind,
    convergence: &'a str,
}

/// A relationship of an export, its endpoints as positions in `Export::nodes` (40 bytes
/// instead of an [`EdgeView`]'s 64: exports copy millions of them).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ExportEdge {
    id: Uuid,
    weight: f64,
    source: u32,
    target: u32,
    kind: RelationshipKind,
}

impl Export {
    /// The artifacts, by id.
    pub fn nodes(&self) -> &[NodeView] {
        &self.nodes
    }

    /// The convergences the exported artifacts belong to.
    pub fn convergences(&self) -> BTreeSet<Uuid> {
        self.nodes.iter().map(|node| node.convergence).collect()
    }

    /// Names convergences in what [`Export::write`] writes (the API uses slugs); a convergence
    /// without a name is written as its id.
    pub fn name_convergences(&mut self, names: HashMap<Uuid, String>) {
        self.convergence_names = names;
    }

    fn convergence_label(&self, id: Uuid) -> Cow<'_, str> {
        match self.convergence_names.get(&id) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(id.to_string()),
        }
    }

    /// The relationships, by id.
    pub fn edges(&self) -> impl ExactSizeIterator<Item = EdgeView> + '_ {
        self.edges.iter().map(|edge| EdgeView {
            id: edge.id,
            source: self.nodes[edge.source as usize].id,
            target: self.nodes[edge.target as usize].id,
            kind: edge.kind,
            weight: edge.weight,
        })
    }

    /// Sorts artifacts and relationships by id (done outside any lock: it is the slow part).
    pub(crate) fn sorted(self) -> Export {
        let mut indexed: Vec<(usize, NodeView)> = self.nodes.into_iter().enumerate().collect();
        indexed.sort_unstable_by_key(|(_, node)| node.id);
        let mut position = vec![0u32; indexed.len()];
        for (new, (old, _)) in indexed.iter().enumerate() {
            position[*old] = new as u32;
        }
        let nodes = indexed.into_iter().map(|(_, node)| node).collect();
        let mut edges = self.edges;
        for edge in &mut edges {
            edge.source = position[edge.source as usize];
            edge.target = position[edge.target as usize];
        }
        edges.sort_unstable_by_key(|edge| edge.id);
        Export {
            nodes,
            edges,
            convergence_names: self.convergence_names,
        }
    }

    /// Writes the export. It makes many small writes: pass a buffered writer (or a `Vec`).
    pub fn write<W: Write>(&self, format: ExportFormat, mut out: W) -> io::Result<()> {
        match format {
            ExportFormat::GraphMl => self.write_graphml(&mut out),
            ExportFormat::Json => self.write_json(&mut out),
            ExportFormat::Csv => self.write_csv_edges(&mut out),
            ExportFormat::CsvNodes => self.write_csv_nodes(&mut out),
        }
    }

    fn write_graphml(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
              <graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" \
              xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
              xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns \
              http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n\
              \x20 <key id=\"n_title\" for=\"node\" attr.name=\"title\" attr.type=\"string\"/>\n\
              \x20 <key id=\"n_kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n\
              \x20 <key id=\"n_convergence\" for=\"node\" attr.name=\"convergence\" attr.type=\"string\"/>\n\
              \x20 <key id=\"e_id\" for=\"edge\" attr.name=\"id\" attr.type=\"string\"/>\n\
              \x20 <key id=\"e_kind\" for=\"edge\" attr.name=\"kind\" attr.type=\"string\"/>\n\
              \x20 <key id=\"e_weight\" for=\"edge\" attr.name=\"weight\" attr.type=\"double\"/>\n\
              \x20 <graph id=\"G\" edgedefault=\"directed\">\n",
        )?;
        for node in &self.nodes {
            write!(out, "    <node id=\"{}\"><data key=\"n_title\">", node.id)?;
            write_xml_escaped(out, &node.title)?;
            write!(
                out,
                "</data><data key=\"n_kind\">{}</data><data key=\"n_convergence\">",
                node.kind
            )?;
            write_xml_escaped(out, &self.convergence_label(node.convergence))?;
            writeln!(out, "</data></node>")?;
        }
        for edge in self.edges() {
            writeln!(
                out,
                "    <edge source=\"{}\" target=\"{}\"><data key=\"e_id\">{}</data>\
                 <data key=\"e_kind\">{}</data><data key=\"e_weight\">{}</data></edge>",
                edge.source, edge.target, edge.id, edge.kind, edge.weight,
            )?;
        }
        out.write_all(b"  </graph>\n</graphml>\n")
    }

    fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"{\"directed\":true,\"multigraph\":true,\"graph\":{},\"nodes\":[")?;
        for (i, node) in self.nodes.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            let convergence = self.convergence_label(node.convergence);
            let node = JsonNode {
                id: node.id,
                title: &node.title,
                kind: node.kind,
                convergence: &convergence,
            };
            serde_json::to_writer(&mut *out, &node)?;
        }
        out.write_all(b"],\"edges\":[")?;
        for (i, edge) in self.edges().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &edge)?;
        }
        out.write_all(b"]}\n")
    }

    fn write_csv_edges(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"id,source,target,kind,weight\n")?;
        for edge in self.edges() {
            writeln!(
                out,
                "{},{},{},{},{}",
                edge.id, edge.source, edge.target, edge.kind, edge.weight
            )?;
        }
        Ok(())
    }

    fn write_csv_nodes(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"id,title,kind,convergence\n")?;
        for node in &self.nodes {
            write!(out, "{},\"", node.id)?;
            out.write_all(node.title.replace('"', "\"\"").as_bytes())?;
            writeln!(
                out,
                "\",{},{}",
                node.kind,
                self.convergence_label(node.convergence)
            )?;
        }
        Ok(())
    }
}

/// Writes `text` as XML character data: markup characters escaped, a carriage return as a
/// character reference (so parsers do not turn it into a line feed), and characters XML 1.0
/// forbids (controls other than tab, line feed and carriage return; U+FFFE, U+FFFF) replaced by
/// U+FFFD.
fn write_xml_escaped(out: &mut impl Write, text: &str) -> io::Result<()> {
    let mut clean_from = 0;
    for (at, ch) in text.char_indices() {
        let replacement = match ch {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\r' => "&#13;",
            '\t' | '\n' => continue,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => "\u{fffd}",
            _ => continue,
        };
        out.write_all(&text.as_bytes()[clean_from..at])?;
        out.write_all(replacement.as_bytes())?;
        clean_from = at + ch.len_utf8();
    }
    out.write_all(&text.as_bytes()[clean_from..])
}

/// What an export copies under [`GraphStore`](crate::GraphStore)'s read lock: fixed-size
/// records and one arena holding every title, so that the copy makes no allocation per
/// artifact. [`ExportCopy::into_export`] builds the [`Export`] (one `String` per title) and
/// sorts it after the lock is released.
#[derive(Debug, Default)]
pub(crate) struct ExportCopy {
    nodes: Vec<CopiedNode>,
    titles: String,
    edges: Vec<ExportEdge>,
}

/// An artifact of an [`ExportCopy`]; its title ends at `title_end` in the arena.
#[derive(Debug, Clone, Copy)]
struct CopiedNode {
    id: Uuid,
    convergence: Uuid,
    title_end: usize,
    kind: ArtifactKind,
}

impl ExportCopy {
    /// Buffers with room for `nodes` artifacts, `title_bytes` of titles and `edges`
    /// relationships, each written once and emptied, so that their pages are mapped before the
    /// lock is taken (a fresh allocation of hundreds of megabytes would otherwise take its page
    /// faults during the copy).
    pub(crate) fn prefaulted(nodes: usize, title_bytes: usize, edges: usize) -> Self {
        let mut copy = ExportCopy {
            nodes: Vec::with_capacity(nodes),
            titles: String::with_capacity(title_bytes),
            edges: Vec::with_capacity(edges),
        };
        let node = CopiedNode {
            id: Uuid::nil(),
            convergence: Uuid::nil(),
            title_end: 0,
            kind: ArtifactKind::Idea,
        };
        copy.nodes.resize(nodes, node);
        copy.nodes.clear();
        copy.titles.extend(std::iter::repeat_n(' ', title_bytes));
        copy.titles.clear();
        let edge = ExportEdge {
            id: Uuid::nil(),
            weight: 0.0,
            source: 0,
            target: 0,
            kind: RelationshipKind::RelatesTo,
        };
        copy.edges.resize(edges, edge);
        copy.edges.clear();
        copy
    }

    /// The export: one [`NodeView`] per artifact, sorted by id (run it outside any lock).
    pub(crate) fn into_export(self) -> Export {
        let mut start = 0;
        let nodes = self
            .nodes
            .iter()
            .map(|node| {
                let title = self.titles[start..node.title_end].to_owned();
                start = node.title_end;
                NodeView {
                    id: node.id,
                    title,
                    kind: node.kind,
                    convergence: node.convergence,
                }
            })
            .collect();
        Export {
            nodes,
            edges: self.edges,
            convergence_names: HashMap::new(),
        }
        .sorted()
    }
}

impl KnowledgeGraph {
    /// Copies the subgraph induced by the artifacts `access` may see (only `convergence`'s,
    /// when given) for export.
    pub fn export(&self, access: &Access<'_>, convergence: Option<Uuid>) -> Export {
        let mut copy = ExportCopy::default();
        self.export_into(access, convergence, &mut copy);
        copy.into_export()
    }

    /// Sizes for [`ExportCopy::prefaulted`]: artifacts, bytes of titles (an upper bound) and
    /// relationships.
    pub(crate) fn export_sizes(&self) -> (usize, usize, usize) {
        (
            self.artifact_count(),
            self.title_heap_bytes(),
            self.relationship_count(),
        )
    }

    /// The copy, appended to `copy`: what [`GraphStore`](crate::GraphStore) does under its
    /// read lock. One pass over the node slots and one over the edge slots, no allocation
    /// when `copy` has room.
    pub(crate) fn export_into(
        &self,
        access: &Access<'_>,
        convergence: Option<Uuid>,
        copy: &mut ExportCopy,
    ) {
        let visible = self.visible_set(access, convergence);
        let mut dense = vec![u32::MAX; self.graph.node_bound()];
        for node in self.graph.node_indices() {
            if self.is_visible(&visible, node) {
                dense[node.index()] = copy.nodes.len() as u32;
                let data = &self.graph[node];
                copy.titles.push_str(&data.title);
                copy.nodes.push(CopiedNode {
                    id: data.id,
                    convergence: self.convergence_id(data.convergence),
                    title_end: copy.titles.len(),
                    kind: data.kind,
                });
            }
        }
        for edge in self.graph.edge_references() {
            let (source, target) = (dense[edge.source().index()], dense[edge.target().index()]);
            if source != u32::MAX && target != u32::MAX {
                copy.edges.push(ExportEdge {
                    id: edge.weight().id,
                    weight: edge.weight().weight,
                    source,
                    target,
                    kind: edge.weight().kind,
                });
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::kinds::Visibility;
    use crate::tests::{art, id, rel, rel_kind};

    fn fixture() -> KnowledgeGraph {
        let mut g = KnowledgeGraph::new();
        let (public, private) = (id(100), id(200));
        g.upsert_convergence(public, Visibility::Public);
        g.upsert_convergence(private, Visibility::Private);
        g.upsert_artifact(art(2, public, "Fish & <chips> \"quoted\" 'single'"));
        g.upsert_artifact(art(1, public, "line\nbreak\r\tand\u{1}bell\u{fffe}"));
        g.upsert_artifact(art(3, private, "secret"));
        g.upsert_relationship(rel(11, 1, 2, 0.1)).unwrap();
        g.upsert_relationship(rel_kind(10, 1, 2, RelationshipKind::Supports, 1.0))
            .unwrap();
        g.upsert_relationship(rel(12, 2, 3, 0.5)).unwrap();
        g
    }

    fn render(export: &Export, format: ExportFormat) -> String {
        let mut out = Vec::new();
        export.write(format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn export_is_the_visible_subgraph_sorted() {
        let g = fixture();
        let export = g.export(&Access::PUBLIC, None);
        let nodes: Vec<u128> = export.nodes().iter().map(|n| n.id.as_u128()).collect();
        let edges: Vec<u128> = export.edges().map(|e| e.id.as_u128()).collect();
        assert_eq!(nodes, vec![1, 2]);
        assert_eq!(edges, vec![10, 11]);
        assert_eq!(g.export(&Access::All, None).edges().len(), 3);
        assert_eq!(g.export(&Access::All, Some(id(200))).nodes().len(), 1);
    }

    #[test]
    fn graphml_escapes_text() {
        let xml = render(
            &fixture().export(&Access::PUBLIC, None),
            ExportFormat::GraphMl,
        );
        assert!(xml.contains("Fish &amp; &lt;chips&gt; &quot;quoted&quot; &apos;single&apos;"));
        assert!(xml.contains("line\nbreak&#13;\tand\u{fffd}bell\u{fffd}</data>"));
        assert!(xml.contains(&format!(
            "<edge source=\"{a}\" target=\"{b}\"><data key=\"e_id\">{e}</data>\
             <data key=\"e_kind\">relates_to</data><data key=\"e_weight\">0.1</data></edge>",
            e = id(11),
            a = id(1),
            b = id(2)
        )));
        assert!(xml.contains("attr.name=\"weight\" attr.type=\"double\""));
        assert!(!xml.contains("secret"));
        assert_eq!(xml.matches("<node ").count(), 2);
        assert_eq!(xml.matches("<edge ").count(), 2);
    }

    #[test]
    fn json_is_node_link() {
        let json = render(&fixture().export(&Access::PUBLIC, None), ExportFormat::Json);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["directed"], true);
        assert_eq!(value["multigraph"], true);
        assert_eq!(value["graph"], serde_json::json!({}));
        assert_eq!(value["nodes"].as_array().unwrap().len(), 2);
        assert_eq!(
            value["nodes"][1]["title"],
            "Fish & <chips> \"quoted\" 'single'"
        );
        assert_eq!(value["edges"][0]["kind"], "supports");
        assert_eq!(value["edges"][0]["weight"], 1.0);
        assert_eq!(value["edges"][1]["source"], id(1).to_string());
        let empty = render(&Export::default(), ExportFormat::Json);
        let value: serde_json::Value = serde_json::from_str(&empty).unwrap();
        assert_eq!(value["edges"], serde_json::json!([]));
    }

    #[test]
    fn csv_edges_and_nodes() {
        let export = fixture().export(&Access::PUBLIC, None);
        let edges = render(&export, ExportFormat::Csv);
        let lines: Vec<&str> = edges.lines().collect();
        assert_eq!(lines[0], "id,source,target,kind,weight");
        assert_eq!(
            lines[2],
            format!("{},{},{},relates_to,0.1", id(11), id(1), id(2))
        );
        assert_eq!(lines.len(), 3);
        let nodes = render(&export, ExportFormat::CsvNodes);
        assert!(nodes.starts_with("id,title,kind,convergence\n"));
        assert!(nodes.contains(&format!(
            "{},\"Fish & <chips> \"\"quoted\"\" 'single'\",idea,{}",
            id(2),
            id(100)
        )));
        assert_eq!(ExportFormat::Csv.media_type(), "text/csv; charset=utf-8");
        assert_eq!(
            "graphml".parse::<ExportFormat>().unwrap(),
            ExportFormat::GraphMl
        );
    }
}
