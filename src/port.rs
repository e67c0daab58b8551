//! `check-port`: can this host open a TCP connection there, and if not, exactly why.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::authorized_keys::{PermitOpen, TargetError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortCheck {
    Reachable { addr: String, latency: Duration },
    Unreachable(String),
}

impl PortCheck {
    pub fn is_reachable(&self) -> bool {
        matches!(self, PortCheck::Reachable { .. })
    }

    pub fn summary(&self, target: &str) -> String {
        match self {
            PortCheck::Reachable { addr, latency } => {
                format!(
                    "{target} is reachable ({addr}, {:.1} ms)",
                    latency.as_secs_f64() * 1000.0
                )
            }
            PortCheck::Unreachable(why) => format!("{target} is not reachable: {why}"),
        }
    }
}

/// Validates `HOST:PORT` the same way `--permit-open` does.
pub fn parse_target(target: &str) -> Result<(String, u16), TargetError> {
    let PermitOpen { host, port } = target.parse()?;
    Ok((host, port))
}

pub fn check(host: &str, port: u16, timeout: Duration) -> PortCheck {
    let addrs: Vec<_> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => return PortCheck::Unreachable(format!("no such host ({e})")),
    };
    if addrs.is_empty() {
        return PortCheck::Unreachable("no such host (no address found)".into());
    }
    let mut last = String::new();
    for addr in addrs {
        let start = Instant::now();
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => {
                return PortCheck::Reachable {
                    addr: addr.to_string(),
                    latency: start.elapsed(),
                }
            }
            Err(e) => last = describe(&e, timeout),
        }
    }
    PortCheck::Unreachable(last)
}

fn describe(e: &std::io::Error, timeout: Duration) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => {
            "connection refused (nothing listens on that port, or a firewall rejects it)".into()
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => format!(
            "timed out after {} ms (a firewall or security group drops the packets)",
            timeout.as_millis()
        ),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            format!("no route to host ({e})")
        }
        _ => e.to_string(),
    }
}
