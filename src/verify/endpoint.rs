//! Where the probe connects: the address sshd listens on, reached from loopback where it
//! can be.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::sshd::SshdConfig;

/// Where to connect, and the `from=` that admits exactly that connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub connect: SocketAddr,
    pub from: String,
}

/// `listenaddress` lines of `sshd -T` (`0.0.0.0:22`, `[::]:22`).
pub fn listeners(config: &SshdConfig) -> Vec<SocketAddr> {
    config
        .listen_addresses()
        .into_iter()
        .filter_map(|(addr, port)| Some(SocketAddr::new(addr.parse().ok()?, port)))
        .collect()
}

/// Loopback first: a wildcard or loopback listener is reached on 127.0.0.1 (or ::1); a
/// listener bound to one address only is reached there, from that same address.
pub fn choose_endpoint(listeners: &[SocketAddr]) -> Option<Endpoint> {
    let loopback = |ip: IpAddr| Endpoint {
        connect: SocketAddr::new(ip, 0),
        from: "127.0.0.1,::1".into(),
    };
    let rank = |a: &SocketAddr| -> (u8, Endpoint) {
        let ip = a.ip();
        let (rank, mut endpoint) = match ip {
            IpAddr::V4(v4) if v4 == Ipv4Addr::LOCALHOST || v4.is_unspecified() => {
                (0, loopback(Ipv4Addr::LOCALHOST.into()))
            }
            IpAddr::V6(v6) if v6 == Ipv6Addr::LOCALHOST || v6.is_unspecified() => {
                (1, loopback(Ipv6Addr::LOCALHOST.into()))
            }
            ip if ip.is_loopback() => (2, loopback(ip)),
            ip => (
                3,
                Endpoint {
                    connect: SocketAddr::new(ip, 0),
                    from: ip.to_string(),
                },
            ),
        };
        if rank == 2 {
            endpoint.from = ip.to_string();
        }
        endpoint.connect.set_port(a.port());
        (rank, endpoint)
    };
    listeners
        .iter()
        .map(rank)
        .min_by_key(|(r, _)| *r)
        .map(|(_, e)| e)
}

/// `127.0.0.1:22`, `[::1]:22`: the form ssh's `-L` and sshd's permitopen use.
pub(super) fn socket_text(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
    }
}
