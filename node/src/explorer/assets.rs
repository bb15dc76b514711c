//! The explorer's files, embedded at compile time, with their content types and entity tags.

use std::collections::HashMap;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its strong entity tag (quoted), derived from the bytes so it changes when they do.
    pub etag: String,
}

/// Embeds `assets/explorer/<path>` (checked at compile time: a missing file fails the build).
macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/explorer/", $path)))),*]
    };
}

/// Every file the explorer serves. A unit test checks that it lists the whole folder.
const FILES: &[(&str, &[u8])] = embed![
    "index.html",
    "style.css",
    "js/api.js",
    "js/app.js",
    "js/dom.js",
    "js/live.js",
    "js/markdown.js",
    "js/snippet.js",
    "js/views/artifact.js",
    "js/views/contribute.js",
    "js/views/convergence.js",
    "js/views/convergences.js",
    "js/views/graph.js",
    "js/views/overview.js",
    "js/views/search.js",
    "js/views/settings.js",
    "vendor/README.md",
    "vendor/cytoscape/LICENSE",
    "vendor/cytoscape/cytoscape.esm.min.mjs",
    "vendor/dompurify/LICENSE",
    "vendor/dompurify/LICENSE-MPL",
    "vendor/dompurify/purify.es.mjs",
    "vendor/marked/LICENSE",
    "vendor/marked/marked.esm.js",
];

/// The files by path, with their entity tags computed once.
static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(path, bytes)| {
            let digest = Sha256::digest(bytes);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            let asset = Asset {
                content_type: content_type(path),
                bytes,
                etag: format!("\"{hex}\""),
            };
            (path, asset)
        })
        .collect()
});

/// The embedded file at `path`, if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.get(path)
}

/// The content type of a file, by its extension. JavaScript modules must be served as
/// JavaScript (browsers refuse a module of another type under `nosniff`).
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Every file in `assets/explorer` (recursively), relative to it.
    fn files_on_disk() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/explorer");
        let mut pending = vec![root.clone()];
        let mut found = Vec::new();
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let relative = path.strip_prefix(&root).unwrap();
                    found.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn every_file_of_the_folder_is_embedded() {
        let mut embedded: Vec<String> = FILES.iter().map(|(path, _)| (*path).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, files_on_disk());
    }

    #[test]
    fn modules_are_javascript_and_tags_differ() {
        assert_eq!(
            find("js/app.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            find("vendor/cytoscape/cytoscape.esm.min.mjs")
                .unwrap()
                .content_type,
            "text/javascript; charset=utf-8"
        );
        assert_ne!(
            find("js/app.js").unwrap().etag,
            find("js/api.js").unwrap().etag
        );
        assert!(find("../Cargo.toml").is_none());
    }
}
