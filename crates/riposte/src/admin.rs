//! Managing who may call riposte (people and API tokens): only an admin may,
//! and the scope flags limit only the roles a scope means something for.

use riposte_core::Action;
use riposte_core::policy::{self, Permission, Principal, Role, Scope};

use crate::exit::UsageError;

/// A principal allowed to manage people and tokens: the OS account holding
/// the configuration, or a credential with the admin role. Only
/// [`Admin::check`] makes one, so a handler that takes it cannot be reached
/// without the check.
pub struct Admin(Principal);

impl Admin {
    pub fn check(operator: Principal) -> anyhow::Result<Admin> {
        policy::authorize(&operator, &Permission::Administer)
            .map_err(|r| UsageError(r.to_string()))?;
        Ok(Admin(operator))
    }

    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

/// The scope flags of `token create` and `person add`.
#[derive(clap::Args, Debug)]
pub struct ScopeArgs {
    /// Limit a responder to these forests (repeatable).
    #[arg(long = "forest")]
    forests: Vec<String>,
    /// Limit a responder to accounts under these OUs (DNs, repeatable).
    #[arg(long = "ou")]
    ous: Vec<String>,
    /// Limit a responder to these actions (repeatable).
    #[arg(long = "action")]
    actions: Vec<Action>,
}

/// The scope flags apply to responders and forwarders only.
pub fn scope_for(role: Role, args: ScopeArgs) -> anyhow::Result<Scope> {
    let ScopeArgs {
        forests,
        ous,
        actions,
    } = args;
    let scope = Scope {
        forests,
        ous,
        actions,
    };
    // A forwarder's scope bounds what automation may do on the events it sends.
    if !matches!(role, Role::Responder | Role::Forwarder) && !scope.is_unlimited() {
        return Err(UsageError(
            "--forest, --ou and --action limit a responder or a forwarder; other roles take none"
                .into(),
        )
        .into());
    }
    Ok(scope)
}
