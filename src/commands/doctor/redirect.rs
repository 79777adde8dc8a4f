//! `doctor`'s redirect check: the browser sign-in's loopback port, when
//! one is pinned, can be bound now (no other program holds it).

use super::{check, Check, Level};
use crate::config::HostConfig;

/// The pinned port's check; `None` when any free port will do.
pub(super) fn port(cfg: &HostConfig) -> Option<Check> {
    let base = cfg.remote.base_url();
    let port = cfg.redirect.port.filter(|p| *p != 0)?;
    let ip = match cfg.redirect.host.as_str() {
        "localhost" => "127.0.0.1",
        h => h,
    };
    Some(match std::net::TcpListener::bind((ip, port)) {
        Ok(_) => check(
            Some(&base),
            "redirect",
            Level::Ok,
            format!("port {port} of {} is free", cfg.redirect_uri),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => check(
            Some(&base),
            "redirect",
            Level::Fail,
            format!(
                "port {port} of the redirect {} is in use by another program, so a sign-in \
                 cannot receive Bitbucket's answer",
                cfg.redirect_uri
            ),
        )
        .fix(format!(
            "stop that program (`ss -ltnp 'sport = :{port}'` shows it); on Bitbucket Cloud, \
             unset credential.{base}.bitbucketRedirectUri (each sign-in then takes a free \
             port), on Data Center move the incoming link's Redirect URL and \
             bitbucketRedirectUri to http://{}:PORT/",
            cfg.redirect.host_for_url()
        )),
        Err(e) => check(
            Some(&base),
            "redirect",
            Level::Warn,
            format!("could not test port {port} of {}: {e}", cfg.redirect_uri),
        ),
    })
}
