//! The client's address: the TCP peer, or what trusted reverse proxies say it is.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use ipnet::IpNet;

/// The address a request came from, as far as the node can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// The client of a request from `peer` carrying `forwarded` (`X-Forwarded-For` values, in
/// header order). Each proxy appends the address it got the request from, so the list is read
/// right to left while the hop that appended it is trusted; the first address appended by an
/// untrusted hop, or by the client itself, is the client. A header from an untrusted peer is
/// ignored entirely: anyone can send one.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// The client address of `req` under `trusted` proxies.
pub fn of_request(req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok());
    client_ip(peer, forwarded, trusted)
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    /// The address the rate limiter found for the request (the peer outside `/api/v1`).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let known = req.extensions().get::<ClientIp>().copied();
        ready(Ok(known.unwrap_or_else(|| ClientIp(of_request(req, &[])))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn forwarded_addresses_count_only_through_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_default()];
        let spoofed = ["6.6.6.6"];
        assert_eq!(client_ip(ip("9.9.9.9"), spoofed, &proxies), ip("9.9.9.9"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["1.2.3.4"], &proxies),
            ip("1.2.3.4")
        );
        // The client prepended a fake hop; the proxy appended the real address.
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["6.6.6.6, 1.2.3.4, 10.0.0.2"], &proxies),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["garbage"], &proxies),
            ip("10.0.0.1")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), [], &[]), ip("10.0.0.1"));
    }
}
