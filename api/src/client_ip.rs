//! The client's IP address, the one rate limits count and logs show: the TCP
//! peer, unless the peer is one of `http.trusted_proxies`. Only then is
//! `X-Forwarded-For` believed, and the client is the rightmost address in it
//! that is not itself a trusted proxy (each proxy appends the peer it saw, so
//! everything left of the first untrusted hop may be forged).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use poem::{Endpoint, Middleware, Request};

/// The resolved client address, in the request's extensions (handlers take
/// it as `Data<&ClientIp>`). `None` only for a peer without an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

impl ClientIp {
    /// What per-IP limits count by: the address itself for IPv4, its /64 for
    /// IPv6, since one host commonly holds a whole /64 and could otherwise
    /// take a fresh address (and a fresh budget) for every request.
    pub fn limit_key(&self) -> String {
        match self.0 {
            Some(IpAddr::V6(v6)) => ipnet::Ipv6Net::new(v6, 64)
                .map(|net| net.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
            _ => self.to_string(),
        }
    }
}

/// The header.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Middleware that resolves [`ClientIp`] once per request; outermost, so the
/// request span and every handler see the same address.
#[derive(Clone)]
pub struct ResolveClientIp {
    trusted: Arc<[IpNet]>,
}

impl ResolveClientIp {
    /// Believes `X-Forwarded-For` only from peers in `trusted`.
    pub fn new(trusted: &[IpNet]) -> Self {
        Self {
            trusted: trusted.into(),
        }
    }
}

impl<E: Endpoint> Middleware<E> for ResolveClientIp {
    type Output = ResolveClientIpEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ResolveClientIpEndpoint {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

/// See [`ResolveClientIp`].
pub struct ResolveClientIpEndpoint<E> {
    inner: E,
    trusted: Arc<[IpNet]>,
}

impl<E: Endpoint> Endpoint for ResolveClientIpEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        let peer = request
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_canonical());
        let client = peer.map(|peer| {
            let chain: Vec<&str> = request
                .headers()
                .get_all(FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            resolve(peer, &chain, &self.trusted)
        });
        request.extensions_mut().insert(ClientIp(client));
        self.inner.call(request).await
    }
}

/// The client behind `peer`, given the `X-Forwarded-For` header lines in
/// order. Walks the chain from the right while the hop is trusted; an
/// unparsable entry stops the walk at the last trusted hop.
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_for.iter().flat_map(|line| line.split(','));
    let mut client = peer;
    for hop in hops.collect::<Vec<_>>().into_iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        let ip = ip.to_canonical();
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a = super::ClientIp(Some("2001:db8:1:3::1".parse().unwrap()));
        let b = super::ClientIp(Some("2001:db8:1:3:ffff::104".parse().unwrap()));
        let c = super::ClientIp(Some("2001:db8:1:4::1".parse().unwrap()));
        assert_eq!(a.limit_key(), b.limit_key());
        assert_ne!(a.limit_key(), c.limit_key());
        let v4 = super::ClientIp(Some("192.0.2.7".parse().unwrap()));
        assert_eq!(v4.limit_key(), "192.0.2.7");
    }

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let peer = ip("198.51.100.9");
        assert_eq!(resolve(peer, &["203.0.113.1"], &[]), peer);
        assert_eq!(
            resolve(peer, &["203.0.113.1"], &nets(&["10.0.0.0/8"])),
            peer
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let peer = ip("127.0.0.1");
        // The leftmost entry is whatever the client claimed: ignored.
        let chain = ["1.2.3.4, 203.0.113.7, 10.0.0.2"];
        assert_eq!(resolve(peer, &chain, &trusted), ip("203.0.113.7"));
        // Several header lines form one list, in order.
        assert_eq!(
            resolve(peer, &["1.2.3.4", "203.0.113.7", "10.0.0.2"], &trusted),
            ip("203.0.113.7")
        );
        // Every hop trusted: the leftmost one.
        assert_eq!(
            resolve(peer, &["10.0.0.3, 10.0.0.2"], &trusted),
            ip("10.0.0.3")
        );
        // No header: the proxy itself.
        assert_eq!(resolve(peer, &[], &trusted), peer);
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            resolve(peer, &["nonsense, 10.0.0.2"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(resolve(peer, &["2001:db8::1"], &trusted), ip("2001:db8::1"));
    }
}
