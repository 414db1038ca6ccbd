//! [`Discovery`]: turns configured addresses (static, `dns+`, `dnssrv+`) into the current list
//! of member addresses. Used for ingesters by the distributor and for compactor members.

use std::collections::BTreeSet;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::error::{Error, Result};

/// One configured address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberAddress {
    /// `host:port`, used as it is.
    Static(String),
    /// `dns+host:port`: one member per A/AAAA record of `host`.
    Dns {
        /// The name looked up.
        host: String,
        /// The port every member listens on.
        port: u16,
    },
    /// `dnssrv+name`: one member per SRV record (`target:port`).
    DnsSrv(String),
}

impl MemberAddress {
    /// Parses one configured address; the error says what is wrong with it.
    pub fn parse(address: &str) -> Result<Self, String> {
        if let Some(name) = address.strip_prefix("dnssrv+") {
            if name.is_empty() || name.contains(':') {
                return Err(format!(
                    "{address:?}: dnssrv+ takes a DNS name without a port, e.g. dnssrv+_grpc._tcp.ingester"
                ));
            }
            return Ok(MemberAddress::DnsSrv(name.to_owned()));
        }
        let (is_dns, host_port) = match address.strip_prefix("dns+") {
            Some(rest) => (true, rest),
            None => (false, address),
        };
        let Some((host, port)) = host_port.rsplit_once(':') else {
            return Err(format!("{address:?}: expected host:port"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{address:?}: {port:?} is not a port number"))?;
        if host.is_empty() || port == 0 {
            return Err(format!("{address:?}: expected host:port"));
        }
        Ok(if is_dns {
            MemberAddress::Dns {
                host: host.to_owned(),
                port,
            }
        } else {
            MemberAddress::Static(host_port.to_owned())
        })
    }

    fn needs_dns(&self) -> bool {
        !matches!(self, MemberAddress::Static(_))
    }
}

/// Resolves the configured addresses into member addresses (`host:port`).
#[derive(Clone)]
pub struct Discovery {
    addresses: Vec<MemberAddress>,
    resolver_opt: Option<TokioResolver>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Discovery of `addresses`, with the system's resolver (`/etc/resolv.conf`) when one of
    /// them needs DNS.
    pub fn new(addresses: &[String]) -> Result<Self> {
        let parsed = parse_all(addresses)?;
        let resolver_opt = if parsed.iter().any(MemberAddress::needs_dns) {
            let mut builder = TokioResolver::builder_tokio()
                .map_err(|error| Error::Resolver(error.to_string()))?;
            disable_cache(builder.options_mut());
            Some(
                builder
                    .build()
                    .map_err(|error| Error::Resolver(error.to_string()))?,
            )
        } else {
            None
        };
        Ok(Discovery {
            addresses: parsed,
            resolver_opt,
        })
    }

    /// Discovery of `addresses` asking the DNS server at `name_server` (UDP) only: tests and
    /// deployments with a dedicated resolver.
    pub fn with_name_server(
        addresses: &[String],
        name_server: std::net::SocketAddr,
    ) -> Result<Self> {
        let parsed = parse_all(addresses)?;
        let mut server = NameServerConfig::udp(name_server.ip());
        for connection in &mut server.connections {
            connection.port = name_server.port();
        }
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            TokioRuntimeProvider::default(),
        );
        disable_cache(builder.options_mut());
        let resolver = builder
            .build()
            .map_err(|error| Error::Resolver(error.to_string()))?;
        Ok(Discovery {
            addresses: parsed,
            resolver_opt: Some(resolver),
        })
    }

    /// The current member addresses, sorted and without duplicates. A DNS name with no
    /// records contributes no member; any other DNS failure fails the whole round (the caller
    /// keeps the members it had).
    pub async fn resolve(&self) -> Result<Vec<String>> {
        let mut members = BTreeSet::new();
        for address in &self.addresses {
            match address {
                MemberAddress::Static(host_port) => {
                    members.insert(host_port.clone());
                }
                MemberAddress::Dns { host, port } => {
                    let resolver = self.resolver()?;
                    match resolver.lookup_ip(host.as_str()).await {
                        Ok(lookup) => {
                            for ip in lookup.iter() {
                                members.insert(std::net::SocketAddr::new(ip, *port).to_string());
                            }
                        }
                        Err(error) if error.is_no_records_found() || error.is_nx_domain() => {}
                        Err(error) => return Err(dns_error(host, &error)),
                    }
                }
                MemberAddress::DnsSrv(name) => {
                    let resolver = self.resolver()?;
                    match resolver.srv_lookup(name.as_str()).await {
                        Ok(lookup) => {
                            for record in lookup.answers() {
                                if let RData::SRV(srv) = &record.data {
                                    let target = srv.target.to_utf8();
                                    let target = target.trim_end_matches('.');
                                    if !target.is_empty() {
                                        members.insert(format!("{target}:{}", srv.port));
                                    }
                                }
                            }
                        }
                        Err(error) if error.is_no_records_found() || error.is_nx_domain() => {}
                        Err(error) => return Err(dns_error(name, &error)),
                    }
                }
            }
        }
        Ok(members.into_iter().collect())
    }

    fn resolver(&self) -> Result<&TokioResolver> {
        self.resolver_opt
            .as_ref()
            .ok_or_else(|| Error::Resolver("no resolver configured".to_owned()))
    }
}

fn parse_all(addresses: &[String]) -> Result<Vec<MemberAddress>> {
    addresses
        .iter()
        .enumerate()
        .map(|(index, address)| {
            MemberAddress::parse(address).map_err(|message| Error::InvalidConfig {
                key: format!("addresses[{index}]"),
                message,
            })
        })
        .collect()
}

/// Every refresh must see the records as they are now, not as a cache remembers them.
fn disable_cache(options: &mut ResolverOpts) {
    options.cache_size = 0;
    options.attempts = 1;
}

fn dns_error(name: &str, error: &dyn std::fmt::Display) -> Error {
    Error::Dns {
        name: name.to_owned(),
        message: error.to_string(),
    }
}
