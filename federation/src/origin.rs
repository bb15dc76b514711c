//! Instances: who owns a URL, whether two URLs share an origin, whether one is blocked.

use url::Url;

/// The instance a URL belongs to: its lower-case host, with `:port` when the URL names one.
/// This is also the suffix of a remote convergence's local slug (`slug@instance`).
pub fn instance(url: &Url) -> Option<String> {
    let host = url.host_str()?.trim_end_matches('.').to_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// Whether both URLs belong to the same instance.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    match (instance(a), instance(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether `url` belongs to an entry of a block list. An entry `host` blocks the host on every
/// port and all its subdomains; `host:port` blocks that port only.
pub fn is_blocked<'a>(url: &Url, blocked: impl IntoIterator<Item = &'a str>) -> bool {
    let Some(with_port) = instance(url) else {
        return true;
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_lowercase();
    blocked
        .into_iter()
        .any(|entry| entry == with_port || entry == host || host.ends_with(&format!(".{entry}")))
}

/// Normalises a block-list entry typed by an admin: a bare host or `host:port`, or a URL.
pub fn block_entry(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let url = if raw.contains("://") {
        Url::parse(raw).ok()?
    } else {
        Url::parse(&format!("http://{raw}")).ok()?
    };
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return None;
    }
    instance(&url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn instances_keep_ports_and_ignore_case() {
        assert_eq!(
            instance(&url("http://LocalHost:8081/c/x")).as_deref(),
            Some("localhost:8081")
        );
        assert_eq!(
            instance(&url("https://lemmy.ml/c/x")).as_deref(),
            Some("lemmy.ml")
        );
        assert!(same_origin(
            &url("http://localhost:1/a"),
            &url("http://localhost:1/b")
        ));
        assert!(!same_origin(
            &url("http://localhost:1/a"),
            &url("http://localhost:2/a")
        ));
    }

    #[test]
    fn block_entries_match_hosts_ports_and_subdomains() {
        let list = ["evil.example", "localhost:9000"];
        assert!(is_blocked(&url("https://evil.example/x"), list));
        assert!(is_blocked(&url("https://a.evil.example/x"), list));
        assert!(!is_blocked(&url("https://notevil.example/x"), list));
        assert!(is_blocked(&url("http://localhost:9000/x"), list));
        assert!(!is_blocked(&url("http://localhost:9001/x"), list));
        assert_eq!(
            block_entry(" Evil.Example ").as_deref(),
            Some("evil.example")
        );
        assert_eq!(
            block_entry("http://localhost:9000/").as_deref(),
            Some("localhost:9000")
        );
        assert_eq!(block_entry("http://x/path"), None);
        assert_eq!(block_entry("not a host"), None);
    }
}
