//! Whose program connects to the listener: on Linux the socket table names
//! the owner of the other end, so another user's program is refused at
//! `accept`, before a byte of it is read (docs/security.md); elsewhere
//! nobody can tell.

use std::net::{IpAddr, SocketAddr, TcpStream};

/// What the listener does with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Ours, root's, or nobody can tell (not Linux, or the WSL relay).
    Serve,
    /// Another user's program (its uid).
    Foreign(u32),
    /// Linux outside WSL, and the table names no live owner: gone already
    /// (a reset, a close), or orphaned. Refused: fail closed.
    Unknown,
}

/// Looks connections up in the kernel's socket tables. The tables are read
/// once per burst of connections (a flood of a thousand would otherwise
/// read them a thousand times) and again when a peer is not in them.
pub(super) struct PeerCheck {
    /// Our effective uid, which owns the sockets of our programs.
    me: u32,
    /// Whether a peer the table does not list is let through (WSL, whose
    /// localhost relay brings the Windows browser in from outside it).
    trust_unlisted: bool,
    cached: Option<Tables>,
}

/// `/proc/net/tcp` and `/proc/net/tcp6`, as read once.
struct Tables {
    v4: String,
    v6: String,
}

impl Tables {
    fn read() -> Tables {
        let read = |p| std::fs::read_to_string(p).unwrap_or_default();
        Tables {
            v4: read("/proc/net/tcp"),
            v6: read("/proc/net/tcp6"),
        }
    }

    /// The owner of the socket at `peer` connected to `local`: an IPv4
    /// peer in `tcp`, or, when it is an IPv6 socket that connected to the
    /// IPv4-mapped address (`::ffff:127.0.0.1`, as dual-stack programs
    /// such as Java's do), in `tcp6`.
    fn owner(&self, peer: SocketAddr, local: SocketAddr) -> Option<Owner> {
        match (peer.ip(), local.ip()) {
            (IpAddr::V4(p), IpAddr::V4(l)) => socket_owner(&self.v4, peer, local).or_else(|| {
                let mapped = |ip: std::net::Ipv4Addr, port| {
                    SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), port)
                };
                socket_owner(&self.v6, mapped(p, peer.port()), mapped(l, local.port()))
            }),
            _ => socket_owner(&self.v6, peer, local),
        }
    }
}

/// A socket's owner as the table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    uid: u32,
    /// 0 for a socket no program holds any more (closed, orphaned): the
    /// kernel then lists uid 0, which is not root's.
    inode: u64,
}

impl PeerCheck {
    pub(super) fn new() -> PeerCheck {
        PeerCheck {
            me: my_uid(),
            trust_unlisted: is_wsl(),
            cached: None,
        }
    }

    /// Forgets the tables read: the burst of connections is over.
    pub(super) fn forget(&mut self) {
        self.cached = None;
    }

    /// Whose program is at the other end of `stream`.
    pub(super) fn check(&mut self, stream: &TcpStream) -> Verdict {
        if !cfg!(target_os = "linux") {
            return Verdict::Serve;
        }
        let unlisted = if self.trust_unlisted {
            Verdict::Serve
        } else {
            Verdict::Unknown
        };
        let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
            // A reset connection has no peer address any more.
            return unlisted;
        };
        let mut owner = self.cached.as_ref().and_then(|t| t.owner(peer, local));
        if owner.is_none() {
            let tables = self.cached.insert(Tables::read());
            owner = tables.owner(peer, local);
        }
        match owner {
            Some(Owner { inode: 0, .. }) | None => unlisted,
            Some(Owner { uid, .. }) if uid == self.me || uid == 0 => Verdict::Serve,
            Some(Owner { uid, .. }) => Verdict::Foreign(uid),
        }
    }
}

#[cfg(unix)]
fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(not(unix))]
fn my_uid() -> u32 {
    0
}

/// Whether this is Linux under WSL (its kernel says `microsoft`).
fn is_wsl() -> bool {
    cfg!(target_os = "linux")
        && std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .is_ok_and(|r| r.to_ascii_lowercase().contains("microsoft"))
}

/// In a /proc/net/tcp{,6} table, the owner of the socket whose local end
/// is `peer` and remote end `local`.
fn socket_owner(table: &str, peer: SocketAddr, local: SocketAddr) -> Option<Owner> {
    let (want_local, want_remote) = (proc_net_addr(peer), proc_net_addr(local));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9
            && f[1].eq_ignore_ascii_case(&want_local)
            && f[2].eq_ignore_ascii_case(&want_remote))
        .then(|| {
            Some(Owner {
                uid: f[7].parse().ok()?,
                inode: f[9].parse().ok()?,
            })
        })
        .flatten()
    })
}

/// An address as /proc/net/tcp{,6} writes it: each 32-bit word of the
/// address in the machine's byte order, in hex, then `:` and the port.
fn proc_net_addr(addr: SocketAddr) -> String {
    let octets: Vec<u8> = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    let hex: String = octets
        .chunks_exact(4)
        .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    format!("{hex}:{:04X}", addr.port())
}

/// For tests: `::ffff:a.b.c.d` as an address.
#[cfg(test)]
fn mapped(v4: &str) -> std::net::Ipv6Addr {
    v4.parse::<std::net::Ipv4Addr>()
        .expect("an IPv4 address")
        .to_ipv6_mapped()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    const HEAD: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    #[test]
    fn the_owner_of_a_loopback_peer_is_read_from_the_socket_table() {
        let v4 = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let table = format!(
            "{HEAD}\
            0: 0100007F:91AD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
            1: 0100007F:D431 0100007F:91AD 01 00000000:00000000 00:00000000 00000000  1001        0 2 1 0 20 4 30 10 -1\n\
            2: 0100007F:D432 0100007F:91AD 05 00000000:00000000 00:00000000 00000000     0        0 0 3 0\n"
        );
        if cfg!(target_endian = "little") {
            let ours = v4("127.0.0.1:37293");
            assert_eq!(
                socket_owner(&table, v4("127.0.0.1:54321"), ours),
                Some(Owner {
                    uid: 1001,
                    inode: 2
                })
            );
            // Closed by its program: no owner (uid 0 is not root's here).
            assert_eq!(
                socket_owner(&table, v4("127.0.0.1:54322"), ours),
                Some(Owner { uid: 0, inode: 0 })
            );
            assert_eq!(socket_owner(&table, v4("127.0.0.1:1"), ours), None);
            let v6: SocketAddr = "[::1]:80".parse().expect("addr");
            assert_eq!(proc_net_addr(v6), "00000000000000000000000001000000:0050");
            let m = SocketAddr::new(IpAddr::V6(mapped("127.0.0.1")), 80);
            assert_eq!(proc_net_addr(m), "0000000000000000FFFF00000100007F:0050");
        }
    }

    /// A dual-stack client (an IPv6 socket connected to
    /// `::ffff:127.0.0.1`) is listed in `tcp6` only, and found there.
    #[test]
    fn an_ipv4_mapped_peer_is_found_in_tcp6() {
        if cfg!(target_endian = "big") {
            return;
        }
        let tables = Tables {
            v4: HEAD.to_owned(),
            v6: format!(
                "{HEAD}\
                0: 0000000000000000FFFF00000100007F:D431 0000000000000000FFFF00000100007F:91AD 01 00000000:00000000 00:00000000 00000000 1001        0 7 2 0 20 0 0 10 -1\n"
            ),
        };
        let peer: SocketAddr = "127.0.0.1:54321".parse().expect("addr");
        let ours: SocketAddr = "127.0.0.1:37293".parse().expect("addr");
        assert_eq!(
            tables.owner(peer, ours),
            Some(Owner {
                uid: 1001,
                inode: 7
            })
        );
    }

    #[test]
    fn our_own_connections_are_served_over_ipv4_and_the_mapped_form() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut check = PeerCheck::new();
        let client = TcpStream::connect(addr).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        assert_eq!(check.check(&server_side), Verdict::Serve);
        drop(client);
        let Ok(client) = TcpStream::connect((mapped("127.0.0.1"), addr.port())) else {
            eprintln!("skipped the mapped form: no IPv6 sockets here");
            return;
        };
        let (server_side, _) = listener.accept().expect("accept");
        assert_eq!(check.check(&server_side), Verdict::Serve);
        drop(client);
    }

    /// A peer that is gone before it was looked up (reset, closed) is
    /// refused on Linux outside WSL.
    #[test]
    fn a_peer_gone_before_the_check_is_refused_on_linux() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        drop(client);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (server_side, _) = listener.accept().expect("accept");
        let verdict = PeerCheck::new().check(&server_side);
        if cfg!(target_os = "linux") && !is_wsl() {
            assert_eq!(verdict, Verdict::Unknown);
        } else {
            assert_eq!(verdict, Verdict::Serve);
        }
    }
}
