//! The network policy: where a program's own requests may go. A file
//! chooses the URL of its `= http` tools and may set a model's `base_url`;
//! the host decides which of those destinations are reachable. Every such
//! request is checked three times: its URL before it is sent (scheme, a
//! host written as an address, `localhost`), the addresses its host name
//! resolves to (so a name pointing at 127.0.0.1 or 169.254.169.254 does not
//! slip through), and every redirect (checked again, or not followed for
//! requests that carry a secret). Destinations the host chose itself (a
//! provider's own service, a base URL from the host's environment or
//! builder) use an unguarded client.

use crate::call_error::ToolError;
use flow_compiler::ir::ErrorKind;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// What a program may reach beyond the hosts the host allowed by name or
/// address ([`NetRule`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetAccess {
    /// Public addresses only (the default): not loopback, private,
    /// link-local (where cloud metadata services answer), shared,
    /// multicast or reserved ranges.
    #[default]
    Public,
    /// Only what an allow rule names.
    Allowed,
    /// Anywhere, as on one's own machine: for programs you wrote.
    Any,
}

impl FromStr for NetAccess {
    type Err = String;

    fn from_str(text: &str) -> Result<NetAccess, String> {
        match text {
            "public" => Ok(NetAccess::Public),
            "allowed" => Ok(NetAccess::Allowed),
            "any" => Ok(NetAccess::Any),
            _ => Err(format!("`{text}` is not a network access (public, allowed or any)")),
        }
    }
}

/// One destination the host allows: a host name (`api.example.com`, or
/// `*.example.com` for its subdomains), an address or a CIDR range
/// (`10.1.0.0/16`, `::1`), each optionally with a port (`127.0.0.1:8080`,
/// `[::1]:8080`, `api.example.com:443`).
///
/// ```
/// let rule: flow_vm::NetRule = "127.0.0.1:8080".parse().expect("a rule");
/// assert_eq!(rule.to_string(), "127.0.0.1/32:8080");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetRule {
    target: Target,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// A lowercase host name; `*.` first for any subdomain.
    Name(String),
    /// An address and the length of the prefix that must match.
    Range(IpAddr, u8),
}

impl FromStr for NetRule {
    type Err = String;

    fn from_str(text: &str) -> Result<NetRule, String> {
        let text = text.trim();
        let bad = || format!("`{text}` is not a host, an address or a CIDR range, with an optional :port");
        if text.is_empty() {
            return Err(bad());
        }
        // `[v6]:port`, `host:port`, `a.b.c.d/n:port`, or a bare v6 address.
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(bad)?.parse::<u16>().map_err(|_| bad())?),
            };
            (addr, port)
        } else if text.matches(':').count() == 1 {
            let (host, port) = text.split_once(':').ok_or_else(bad)?;
            (host, Some(port.parse::<u16>().map_err(|_| bad())?))
        } else {
            (text, None)
        };
        let target = match host.split_once('/') {
            Some((addr, bits)) => {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let bits: u8 = bits.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if bits > max {
                    return Err(bad());
                }
                Target::Range(addr, bits)
            }
            None => match host.parse::<IpAddr>() {
                Ok(addr) => Target::Range(addr, if addr.is_ipv4() { 32 } else { 128 }),
                Err(_) => {
                    let name = host.trim_end_matches('.').to_ascii_lowercase();
                    let plain = name.strip_prefix("*.").unwrap_or(&name);
                    let valid = !plain.is_empty()
                        && plain.split('.').all(|label| {
                            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        });
                    if !valid {
                        return Err(bad());
                    }
                    Target::Name(name)
                }
            },
        };
        Ok(NetRule { target, port })
    }
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.target, self.port) {
            (Target::Name(name), None) => write!(f, "{name}"),
            (Target::Name(name), Some(port)) => write!(f, "{name}:{port}"),
            (Target::Range(addr, bits), None) => write!(f, "{addr}/{bits}"),
            (Target::Range(IpAddr::V6(addr), bits), Some(port)) => write!(f, "[{addr}/{bits}]:{port}"),
            (Target::Range(addr, bits), Some(port)) => write!(f, "{addr}/{bits}:{port}"),
        }
    }
}

impl NetRule {
    fn names(&self, host: &str) -> bool {
        match &self.target {
            Target::Name(name) => match name.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1 && host.ends_with(suffix) && {
                        host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                    }
                }
                None => host == name,
            },
            Target::Range(..) => false,
        }
    }

    fn contains(&self, addr: IpAddr) -> bool {
        let Target::Range(net, bits) = self.target else { return false };
        // A rule written as an IPv4-mapped range matches as the IPv4 range it is.
        let (net, bits) = match (net, canonical(net)) {
            (IpAddr::V6(_), IpAddr::V4(v4)) if bits >= 96 => (IpAddr::V4(v4), bits - 96),
            _ => (net, bits),
        };
        match (net, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => prefix_matches(&net.octets(), &addr.octets(), bits),
            (IpAddr::V6(net), IpAddr::V6(addr)) => prefix_matches(&net.octets(), &addr.octets(), bits),
            _ => false,
        }
    }

    /// Whether `url`'s host (and port) is what this rule names.
    pub(crate) fn matches_url(&self, url: &reqwest::Url) -> bool {
        let port = url.port_or_known_default();
        self.port_ok(port)
            && match url.host() {
                Some(url::Host::Domain(name)) => self.names(&name.trim_end_matches('.').to_ascii_lowercase()),
                Some(url::Host::Ipv4(a)) => self.contains(IpAddr::V4(a)),
                Some(url::Host::Ipv6(a)) => self.contains(IpAddr::V6(a)),
                None => false,
            }
    }

    fn port_ok(&self, port: Option<u16>) -> bool {
        self.port.is_none() || self.port == port
    }
}

fn prefix_matches(net: &[u8], addr: &[u8], bits: u8) -> bool {
    let (whole, rest) = ((bits / 8) as usize, bits % 8);
    if net[..whole] != addr[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        net[whole] & mask == addr[whole] & mask
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// What kind of non-public address `addr` is, or `None` for a public one.
fn special(addr: IpAddr) -> Option<&'static str> {
    match canonical(addr) {
        IpAddr::V4(a) => special_v4(a),
        IpAddr::V6(a) => special_v6(a),
    }
}

fn special_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [x, y, ..] = a.octets();
    Some(match () {
        _ if a.is_loopback() => "a loopback address",
        _ if a.is_link_local() => "a link-local address (where cloud metadata services answer)",
        _ if a.is_private() => "a private address",
        _ if a.is_unspecified() || x == 0 => "an unspecified address",
        _ if x == 100 && (64..128).contains(&y) => "a shared (carrier-grade NAT) address",
        _ if a.is_multicast() || a.is_broadcast() || x >= 240 => "a multicast or reserved address",
        _ if x == 192 && y == 0 && a.octets()[2] == 0 => "a protocol-assignment address",
        _ if x == 198 && (18..20).contains(&y) => "a benchmarking address",
        _ => return None,
    })
}

fn special_v6(a: Ipv6Addr) -> Option<&'static str> {
    let first = a.segments()[0];
    // Addresses that embed an IPv4 address are judged by it (NAT64, 6to4).
    let embedded = |bytes: [u8; 4]| special_v4(Ipv4Addr::from(bytes));
    let o = a.octets();
    Some(match () {
        _ if a.is_loopback() => "a loopback address",
        _ if a.is_unspecified() => "an unspecified address",
        _ if first & 0xffc0 == 0xfe80 => "a link-local address",
        _ if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 => "a private address",
        _ if first & 0xff00 == 0xff00 => "a multicast address",
        _ if first == 0x2001 && a.segments()[1] == 0x0db8 => "a documentation address",
        _ if a.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => return embedded([o[12], o[13], o[14], o[15]]),
        _ if a.segments()[..3] == [0x64, 0xff9b, 1] => "a local NAT64 address",
        _ if first == 0x2001 && a.segments()[1] == 0 => "a Teredo address (it tunnels to an IPv4 address)",
        _ if first == 0x2002 => return embedded([o[2], o[3], o[4], o[5]]),
        _ if a.segments()[..6] == [0; 6] => "an IPv4-compatible address",
        _ => return None,
    })
}

/// Whether `url`'s host is this machine by address (`localhost` is a name
/// anyone's resolver may answer).
pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => canonical(IpAddr::V6(a)).is_loopback(),
        _ => false,
    }
}

/// A credential the host grants a program, and the only hosts it goes to.
#[derive(Clone)]
pub(crate) struct Secret {
    pub value: String,
    pub hosts: Vec<NetRule>,
}

impl Secret {
    /// Whether the secret may go to `url`: one of its hosts, over https
    /// (plain http only to this machine, where nobody on the way reads it).
    pub fn goes_to(&self, url: &reqwest::Url) -> bool {
        let private_way = url.scheme() == "https" || is_loopback(url);
        private_way && !self.value.is_empty() && self.hosts.iter().any(|rule| rule.matches_url(url))
    }
}

/// The host's network policy for a program's own requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NetPolicy {
    pub access: NetAccess,
    pub allow: Vec<NetRule>,
}

/// A request the policy refuses, with why: the error reqwest carries back
/// from the resolver or the redirect check.
#[derive(Debug)]
pub(crate) struct Denied(pub String);

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}

impl NetPolicy {
    /// Whether `url` may be requested, judged by what the URL says (a name
    /// is judged again by its addresses when it resolves).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Denied> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Denied(format!("{url} is not an http or https URL")));
        }
        if self.access == NetAccess::Any {
            return Ok(());
        }
        let port = url.port_or_known_default();
        let host = url.host_str().unwrap_or_default();
        let named = |rule: &&NetRule| rule.port_ok(port);
        match url.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if self.allow.iter().filter(named).any(|r| r.names(&name)) {
                    return Ok(());
                }
                // Named for other ports only: the resolver would let its addresses through.
                if self.allow.iter().any(|r| r.names(&name)) {
                    return Err(Denied(format!("{host} is allowed only on other ports than {}", port.unwrap_or(0))));
                }
                if self.access == NetAccess::Allowed {
                    return Err(Denied(format!("{host} is not among the hosts the network policy allows")));
                }
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(Denied(format!("{host} is this machine, which the network policy does not allow")));
                }
                Ok(())
            }
            Some(url::Host::Ipv4(a)) => self.check_addr(IpAddr::V4(a), port),
            Some(url::Host::Ipv6(a)) => self.check_addr(IpAddr::V6(a), port),
            None => Err(Denied(format!("{url} has no host"))),
        }
    }

    fn check_addr(&self, addr: IpAddr, port: Option<u16>) -> Result<(), Denied> {
        if self.access == NetAccess::Any || self.allow.iter().any(|r| r.port_ok(port) && r.contains(addr)) {
            return Ok(());
        }
        match (self.access, special(addr)) {
            (NetAccess::Public, None) => Ok(()),
            (NetAccess::Public, Some(kind)) => {
                Err(Denied(format!("{addr} is {kind}, which the network policy does not allow")))
            }
            _ => Err(Denied(format!("{addr} is not among the addresses the network policy allows"))),
        }
    }

    /// The addresses of `name` a request may connect to: all of them for a
    /// name an allow rule names, else those the policy allows.
    fn filter(&self, name: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Denied> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if self.access == NetAccess::Any || self.allow.iter().any(|r| r.names(&name)) {
            return Ok(addrs);
        }
        let mut refused = None;
        let kept: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match self.check_addr(a.ip(), None) {
                Ok(()) => true,
                Err(e) => {
                    refused.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (kept.is_empty(), refused) {
            (true, Some(Denied(why))) => Err(Denied(format!("{name} resolves to {why}"))),
            (true, None) => Err(Denied(format!("{name} has no address"))),
            _ => Ok(kept),
        }
    }
}

/// Resolves names for a program's requests, keeping only the addresses
/// the policy allows: the check happens after resolution, so the address
/// connected to is the address checked.
struct Resolver(Arc<NetPolicy>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept = policy.filter(&name, addrs)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How much of an error answer's body is read.
pub(crate) const ERROR_BODY_BYTES: usize = 64 * 1024;

/// How many redirects a program's request follows, each checked.
const MAX_REDIRECTS: usize = 5;

/// Which client a request goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// A destination the host chose: a provider's service, a base URL the
    /// host set or trusts.
    Host,
    /// A destination the program chose.
    Program,
    /// A destination the program chose, with a secret: redirects are not followed.
    ProgramWithSecret,
}

/// An error and its causes, `outer: inner: ...` (reqwest says only
/// "builder error"; the cause says what is wrong, e.g. no CA certificates).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The engine's HTTP clients, built on first use (a flow that makes no
/// request never loads certificates), under one policy.
#[derive(Debug, Default)]
pub(crate) struct Net {
    pub policy: Arc<NetPolicy>,
    clients: [OnceLock<Result<reqwest::Client, String>>; 3],
}

impl Net {
    pub fn new(policy: NetPolicy) -> Net {
        Net { policy: Arc::new(policy), clients: Default::default() }
    }

    /// The client for `reach`; a client that cannot be built (no
    /// certificates on the machine, say) is an error, never a panic.
    pub fn client(&self, reach: Reach) -> Result<reqwest::Client, ToolError> {
        let slot = &self.clients[reach as usize];
        slot.get_or_init(|| self.build(reach).map_err(|e| with_causes(&e)))
            .clone()
            .map_err(|e| ToolError::with_kind(ErrorKind::Limit, format!("no HTTP client: {e}")))
    }

    fn build(&self, reach: Reach) -> reqwest::Result<reqwest::Client> {
        let builder = reqwest::Client::builder();
        if reach == Reach::ProgramWithSecret && self.policy.access == NetAccess::Any {
            // A secret never follows a redirect, whatever the access.
            return builder.redirect(reqwest::redirect::Policy::none()).build();
        }
        if reach == Reach::Host || self.policy.access == NetAccess::Any {
            return builder.build();
        }
        let policy = self.policy.clone();
        let redirect = match reach {
            Reach::ProgramWithSecret => reqwest::redirect::Policy::none(),
            _ => reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(Denied(format!("more than {MAX_REDIRECTS} redirects")));
                }
                match policy.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(Denied(why)) => attempt.error(Denied(format!("a redirect to {why}"))),
                }
            }),
        };
        // No proxy: a proxy would resolve and connect where the policy cannot see.
        builder.no_proxy().redirect(redirect).dns_resolver(Resolver(self.policy.clone())).build()
    }

    /// The client for a request to `url` the program chose, after checking
    /// the URL against the policy.
    pub fn program_client(&self, url: &str, secret: bool) -> Result<reqwest::Client, ToolError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ToolError::new(format!("`{url}` is not a URL the tool can request: {e}")))?;
        self.policy.check_url(&parsed).map_err(|Denied(why)| denied(&why))?;
        self.client(if secret { Reach::ProgramWithSecret } else { Reach::Program })
    }
}

impl Clone for Net {
    /// A copy with the same policy and fresh clients.
    fn clone(&self) -> Net {
        Net { policy: self.policy.clone(), clients: Default::default() }
    }
}

/// Reads a response's body, failing with a `limit` error as soon as it
/// goes past `max` bytes (an endless body is never held whole).
/// A failed read is `failed`'s error.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
    url: &str,
    failed: impl Fn(&reqwest::Error) -> ToolError,
) -> Result<Vec<u8>, ToolError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_big(url, max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
        if body.len() + chunk.len() > max {
            return Err(too_big(url, max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `limit` error for an answer longer than the engine allows.
pub(crate) fn too_big(url: &str, max: usize) -> ToolError {
    ToolError::with_kind(
        ErrorKind::Limit,
        format!("the answer from {url} is longer than {} (the answer limit, max_answer_bytes)", crate::fmt_bytes(max)),
    )
}

/// The `limit` error for a request the policy refuses.
pub(crate) fn denied(why: &str) -> ToolError {
    ToolError::with_kind(
        ErrorKind::Limit,
        format!(
            "not allowed by the network policy: {why} (a host allows a destination with --allow-host or Engine::allow_net)"
        ),
    )
}

/// The policy's refusal inside a request error, if that is what failed it.
pub(crate) fn denial(e: &reqwest::Error) -> Option<ToolError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(Denied(why)) = c.downcast_ref::<Denied>() {
            return Some(denied(why));
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(access: NetAccess, allow: &[&str]) -> NetPolicy {
        NetPolicy { access, allow: allow.iter().map(|r| r.parse().expect("a rule")).collect() }
    }

    fn allowed(p: &NetPolicy, url: &str) -> bool {
        p.check_url(&reqwest::Url::parse(url).expect("a URL")).is_ok()
    }

    #[test]
    fn public_access_refuses_this_machine_private_ranges_and_metadata() {
        let p = policy(NetAccess::Public, &[]);
        for url in [
            "http://127.0.0.1:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/",
            "http://192.168.1.1/",
            "http://172.16.0.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://localhost:3000/",
            "http://api.localhost/",
            "file:///etc/passwd",
            "ftp://example.com/",
        ] {
            assert!(!allowed(&p, url), "{url} must be refused");
        }
        for url in ["https://api.example.com/x", "http://93.184.216.34/", "http://[2606:4700::1111]/"] {
            assert!(allowed(&p, url), "{url} must be allowed");
        }
    }

    #[test]
    fn allow_rules_open_exactly_what_they_name() {
        let p = policy(NetAccess::Allowed, &["127.0.0.1:8080", "*.example.com", "10.1.0.0/16"]);
        assert!(allowed(&p, "http://127.0.0.1:8080/a"));
        assert!(!allowed(&p, "http://127.0.0.1:8081/a"), "another port");
        assert!(allowed(&p, "https://api.example.com/"));
        assert!(!allowed(&p, "https://example.com/"), "`*.` is for subdomains");
        assert!(!allowed(&p, "https://evilexample.com/"));
        assert!(allowed(&p, "http://10.1.200.3/"));
        assert!(!allowed(&p, "http://10.2.0.1/"));
        assert!(!allowed(&p, "https://other.org/"), "allowed access refuses what no rule names");
        let any = policy(NetAccess::Any, &[]);
        assert!(allowed(&any, "http://127.0.0.1/"));
        assert!(!allowed(&any, "file:///etc/passwd"));
    }

    #[test]
    fn a_name_allowed_on_one_port_is_not_allowed_on_others() {
        let p = policy(NetAccess::Public, &["intranet.corp:443"]);
        assert!(allowed(&p, "https://intranet.corp/"));
        assert!(!allowed(&p, "http://intranet.corp:22/"), "the resolver would pass its private addresses");
        let mapped = policy(NetAccess::Allowed, &["::ffff:10.0.0.0/104"]);
        assert!(allowed(&mapped, "http://10.1.2.3/"));
        for url in ["http://[64:ff9b:1::a00:1]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"] {
            assert!(!allowed(&policy(NetAccess::Public, &[]), url), "{url}");
        }
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let p = policy(NetAccess::Public, &[]);
        let local: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let public: SocketAddr = "93.184.216.34:0".parse().expect("an address");
        let refused = p.filter("sneaky.example", vec![local]).expect_err("only loopback");
        assert!(refused.0.contains("loopback"), "{}", refused.0);
        assert_eq!(p.filter("mixed.example", vec![local, public]).expect("one left"), vec![public]);
        let named = policy(NetAccess::Public, &["intranet.corp"]);
        assert_eq!(named.filter("intranet.corp", vec![local]).expect("named"), vec![local]);
    }

    #[test]
    fn rules_parse_and_print() {
        for (text, shown) in [
            ("api.example.com", "api.example.com"),
            ("API.Example.com:443", "api.example.com:443"),
            ("*.example.com", "*.example.com"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("::1", "::1/128"),
            ("[::1]:8080", "[::1/128]:8080"),
        ] {
            assert_eq!(text.parse::<NetRule>().expect(text).to_string(), shown);
        }
        for bad in ["", "a b", "10.0.0.0/33", "host:port", "*.", "http://x", "[::1]junk"] {
            assert!(bad.parse::<NetRule>().is_err(), "{bad:?} must not parse");
        }
    }
}
