//! `unconfigure`: removes what `configure` wrote.

use super::gitfile::{git_config, snapshot, unset_all};
use super::{host_scope, scope_name, Scope, OUR_KEYS};
use crate::config::Key;
use crate::error::Error;
use crate::store::choice::StoreChoice;
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
    // Every key's secret of this host: `configure --client-id NEW` keeps
    // the old key's too (secrets are kept per key).
    let dir = crate::store::data_dir()?;
    let removed =
        crate::store::secrets::remove_host(&dir, store_choice, &base, client_id.as_deref())?;
    let secrets = secrets_removed(&removed);
    if before.values().all(Option::is_none) {
        if let Some(secrets) = &secrets {
            crate::say!("removed {secrets} for {base} from the token store.");
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
        match &secrets {
            Some(secrets) => format!(", and {secrets} from the token store"),
            None => String::new(),
        }
    );
    Ok(())
}

/// "the consumer secret of key K" or "the consumer secrets of keys K1,
/// K2", for the keys whose secret was removed; `None` when there were none.
fn secrets_removed(ids: &[String]) -> Option<String> {
    let shown: Vec<String> = ids.iter().map(|id| crate::text::plain(id)).collect();
    match shown.as_slice() {
        [] => None,
        [one] => Some(format!("the consumer secret of key {one}")),
        more => Some(format!("the consumer secrets of keys {}", more.join(", "))),
    }
}
