//! What the configuration's unit tests share: an environment from a map,
//! a remote, and a `GitConfig` from lines.

use super::{GitConfig, Remote};
use crate::env::Env;
use std::collections::HashMap;

/// An environment made of the given variables only.
pub struct MapEnv(pub HashMap<String, String>);

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

pub fn no_env() -> MapEnv {
    MapEnv(HashMap::new())
}

/// A remote with no path and no username.
pub fn remote(protocol: &str, host: &str) -> Remote {
    Remote {
        protocol: crate::url::Scheme::parse(protocol).expect("http or https"),
        host: host.into(),
        path: None,
        username: None,
    }
}

/// `GitConfig` from (`credential.<url>.<key>`, value) lines.
pub fn cfg(lines: &[(&str, &str)]) -> GitConfig {
    let text: String = lines.iter().map(|(k, v)| format!("{k}\n{v}\0")).collect();
    GitConfig::parse(&text)
}
