//! Whose program connects to the listener: on Linux the socket table names
//! the owner of the other end, so another user's program is refused
//! (docs/security.md); elsewhere nobody can tell.

use std::net::{IpAddr, SocketAddr, TcpStream};

/// The uid of the program at the other end of `stream` when it is another
/// user's (not ours, not root's); `None` when it is ours or cannot be
/// told. Linux lists every TCP socket with its owner in /proc/net/tcp{,6};
/// a peer missing there (say a browser on the Windows side of WSL, through
/// the localhost relay) is let through, as on other systems.
pub(super) fn foreign_peer(stream: &TcpStream) -> Option<u32> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let (peer, local) = (stream.peer_addr().ok()?, stream.local_addr().ok()?);
    let table = if peer.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let uid = socket_owner(&std::fs::read_to_string(table).ok()?, peer, local)?;
    let ours = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<u32>()
        .ok()?;
    (uid != ours && uid != 0).then_some(uid)
}

/// In a /proc/net/tcp{,6} table, the owner of the socket whose local end
/// is `peer` and remote end `local`.
fn socket_owner(table: &str, peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let (want_local, want_remote) = (proc_net_addr(peer), proc_net_addr(local));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 7
            && f[1].eq_ignore_ascii_case(&want_local)
            && f[2].eq_ignore_ascii_case(&want_remote))
        .then(|| f[7].parse().ok())
        .flatten()
    })
}

/// An address as /proc/net/tcp{,6} writes it: each 32-bit word of the
/// address in the machine's byte order, in hex, then `:` and the port.
fn proc_net_addr(addr: SocketAddr) -> String {
    let words: Vec<u32> = match addr.ip() {
        IpAddr::V4(ip) => vec![u32::from_ne_bytes(ip.octets())],
        IpAddr::V6(ip) => ip
            .octets()
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    };
    let hex: String = words.iter().map(|w| format!("{w:08X}")).collect();
    format!("{hex}:{:04X}", addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_owner_of_a_loopback_peer_is_read_from_the_socket_table() {
        let v4 = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:91AD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
            1: 0100007F:D431 0100007F:91AD 01 00000000:00000000 00:00000000 00000000  1001        0 2 1 0 20 4 30 10 -1\n";
        if cfg!(target_endian = "little") {
            let (peer, ours) = (v4("127.0.0.1:54321"), v4("127.0.0.1:37293"));
            assert_eq!(socket_owner(table, peer, ours), Some(1001));
            assert_eq!(socket_owner(table, v4("127.0.0.1:1"), ours), None);
            let v6: SocketAddr = "[::1]:80".parse().expect("addr");
            assert_eq!(proc_net_addr(v6), "00000000000000000000000001000000:0050");
        }
    }

    #[test]
    fn our_own_connections_are_not_foreign() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server_side, _) = listener.accept().expect("accept");
        assert_eq!(foreign_peer(&server_side), None);
        drop(client);
    }
}
