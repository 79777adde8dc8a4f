//! `unconfigure`: removes what `configure` wrote.

use super::gitfile::{git_config, snapshot, unset_all};
use super::{host_scope, scope_name, Scope, OUR_KEYS};
use crate::config::{Key, StoreChoice};
use crate::error::Error;
use crate::text::NAME;

/// `unconfigure`: removes what `configure` wrote, the consumer secret it
/// kept in our store included, and the section when nothing else is left
/// in it. With nothing to remove, it says so and changes nothing.
pub fn unconfigure(url: Option<&str>, scope: &Scope) -> Result<(), Error> {
    let (_, base) = host_scope(url)?;
    let section = format!("credential.{base}");
    let before = snapshot(scope, &base)?;
    let client_id = before.get(Key::ClientId.name()).cloned().flatten();
    // Leniently: a bad value must not keep the rest from going.
    let store_choice = before
        .get(Key::Store.name())
        .cloned()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(StoreChoice::Auto);
    let mut removed_secret = false;
    if let Some(id) = &client_id {
        let dir = crate::store::data_dir()?;
        removed_secret = crate::store::secrets::remove(&dir, store_choice, &base, id)?;
    }
    if before.values().all(Option::is_none) {
        if removed_secret {
            crate::say!("removed the stored consumer secret for {base}.");
        } else {
            crate::say!(
                "nothing to remove: {} has no {NAME} settings for {base}.",
                scope_name(scope)
            );
        }
        return Ok(());
    }
    unset_all(scope, &format!("{section}.helper"))?;
    for k in OUR_KEYS {
        unset_all(scope, &format!("{section}.{k}"))?;
    }
    let listed = git_config(scope, &["-z", "--list"])?;
    let prefix = format!("{}.", section.to_ascii_lowercase());
    let left = String::from_utf8_lossy(&listed.stdout)
        .split('\0')
        .any(|e| e.to_ascii_lowercase().starts_with(&prefix));
    if !left {
        // Nothing of the user's left: drop the empty section header too.
        let _ = git_config(scope, &["--remove-section", &section]);
    }
    crate::say!(
        "removed the {NAME} settings for {base} from {}{}.",
        scope_name(scope),
        if removed_secret {
            ", and the consumer secret from the token store"
        } else {
            ""
        }
    );
    Ok(())
}
