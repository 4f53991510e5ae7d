//! Readiness: before the incident, which actions will work on whom.
//!
//! Connectors gather facts (what the action account may write on each user,
//! its flags, what a Graph token carries); this module is the one place that
//! turns those facts into coverage, gaps and fixes, so the CLI, the API and
//! the portal show the same answer. riposte never changes permissions: a fix
//! is a command for a person to review and run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::cloud::CloudAction;
use crate::rights::{self, ActionAccount, DelegationAdvice, Right};
use crate::uac;

/// The AD actions readiness judges (revoke and confirm are cloud-only).
pub const AD_ACTIONS: [Action; 5] = [
    Action::Disable,
    Action::Enable,
    Action::ForcePasswordReset,
    Action::Unlock,
    Action::SetPassword,
];

/// Why riposte cannot act (or act effectively) on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapReason {
    /// The action account lacks the right on the account's OU.
    OutsideDelegation,
    /// adminCount=1: AdminSDHolder's ACL, not the OU's, applies.
    #[serde(rename = "protected-adminsdholder")]
    ProtectedAdminSdHolder,
    /// DONT_EXPIRE_PASSWORD or SMARTCARD_REQUIRED: AD ignores a forced reset.
    #[serde(rename = "forced-reset-ineffective")]
    ResetIneffective,
    /// Synced from AD: Entra ID refuses writes to mastered attributes.
    SyncedFromAd,
    /// A guest: its password belongs to its home organisation.
    Guest,
    /// The Graph token lacks the application permission.
    MissingGraphPermission,
}

impl GapReason {
    pub const ALL: [GapReason; 6] = [
        GapReason::OutsideDelegation,
        GapReason::ProtectedAdminSdHolder,
        GapReason::ResetIneffective,
        GapReason::SyncedFromAd,
        GapReason::Guest,
        GapReason::MissingGraphPermission,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::OutsideDelegation => "outside-delegation",
            GapReason::ProtectedAdminSdHolder => "protected-adminsdholder",
            GapReason::ResetIneffective => "forced-reset-ineffective",
            GapReason::SyncedFromAd => "synced-from-ad",
            GapReason::Guest => "guest",
            GapReason::MissingGraphPermission => "missing-graph-permission",
        }
    }

    /// How a person reads the group's heading.
    pub fn label(self) -> &'static str {
        match self {
            GapReason::OutsideDelegation => "outside the delegated OUs",
            GapReason::ProtectedAdminSdHolder => "protected by AdminSDHolder (adminCount=1)",
            GapReason::ResetIneffective => {
                "forced reset ineffective (DONT_EXPIRE_PASSWORD, SMARTCARD_REQUIRED)"
            }
            GapReason::SyncedFromAd => "synced from AD: Entra ID refuses the write",
            GapReason::Guest => "guests: password owned by the home organisation",
            GapReason::MissingGraphPermission => "the Graph application permission is missing",
        }
    }

    pub fn parse(s: &str) -> Option<GapReason> {
        GapReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a connector read of one AD user, as the action account sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFacts {
    pub dn: String,
    pub sam_account_name: String,
    pub user_account_control: u32,
    pub admin_count: bool,
    /// allowedAttributesEffective for the action account.
    pub writable_attributes: Vec<String>,
    /// The DACL grants the action account Reset Password on this user.
    pub reset_password: bool,
}

impl UserFacts {
    fn holds(&self, right: &Right) -> bool {
        match right.kind {
            rights::RightKind::ReadWriteProperty => self
                .writable_attributes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(right.display_name)),
            rights::RightKind::ControlAccess => self.reset_password,
        }
    }

    /// The OU (or container) the user sits in.
    pub fn container(&self) -> &str {
        rights::parent_dn(&self.dn).unwrap_or(&self.dn)
    }
}

/// Why `action` would not work on `user`; `None` when riposte can act and the
/// effect would hold. One classification for every front end.
pub fn ad_gap(action: Action, user: &UserFacts) -> Option<(GapReason, String)> {
    gap_given(action, user, &missing_rights(action, user))
}

/// The rights `action` needs that the action account lacks on `user`.
fn missing_rights(action: Action, user: &UserFacts) -> Vec<Right> {
    rights::required_rights(action, false)
        .into_iter()
        .filter(|r| !user.holds(r))
        .collect()
}

/// [`ad_gap`], with the missing rights already known.
fn gap_given(action: Action, user: &UserFacts, missing: &[Right]) -> Option<(GapReason, String)> {
    if !missing.is_empty() {
        let names = missing
            .iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
            .join(", ");
        let reason = if user.admin_count {
            GapReason::ProtectedAdminSdHolder
        } else {
            GapReason::OutsideDelegation
        };
        return Some((reason, format!("missing {names}")));
    }
    if action == Action::ForcePasswordReset {
        let blockers = uac::flag_names(user.user_account_control & uac::FORCED_RESET_BLOCKERS);
        if !blockers.is_empty() {
            return Some((
                GapReason::ResetIneffective,
                format!(
                    "{} set: AD would ignore the reset (riposte reports it as ineffective; \
                     --clear-blocking-flags clears it first)",
                    blockers.join(", ")
                ),
            ));
        }
    }
    None
}

/// What a connector read of one Entra ID user.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudUserFacts {
    pub id: String,
    pub user_principal_name: String,
    pub guest: bool,
    pub synced: bool,
}

/// The application permissions that let a token take `action` (any one).
pub fn graph_permissions_for(action: CloudAction) -> &'static [&'static str] {
    match action {
        CloudAction::Disable | CloudAction::Enable => &[
            "User.EnableDisableAccount.All",
            "User.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        CloudAction::ForcePasswordReset => &[
            "User-PasswordProfile.ReadWrite.All",
            "User.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        CloudAction::RevokeSessions => &[
            "User.RevokeSessions.All",
            "User.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        CloudAction::ConfirmCompromised => &["IdentityRiskyUser.ReadWrite.All"],
    }
}

/// A directory role's name from its template ID (the token's `wids`), for
/// the roles that matter to containment; others keep their ID.
pub fn directory_role_name(template_id: &str) -> String {
    let name = match template_id.to_ascii_lowercase().as_str() {
        "62e90394-69f5-4237-9190-012177145e10" => "Global Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814" => "Privileged Role Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13" => "Privileged Authentication Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f" => "Authentication Administrator",
        "fe930be7-5e62-47db-91af-98c3a49a38b1" => "User Administrator",
        "966707d0-3269-4727-9be2-8c3a10f19b9d" => "Password Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8" => "Helpdesk Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d" => "Security Administrator",
        "5d6b6bb7-de71-4623-b4af-96380a352509" => "Security Reader",
        "88d8e3e3-8f55-4a1e-953a-9b9898b8876b" => "Directory Readers",
        _ => return template_id.to_string(),
    };
    format!("{name} ({template_id})")
}

/// Why `action` would not work on a cloud user, given the token's roles.
pub fn cloud_gap(
    action: CloudAction,
    user: &CloudUserFacts,
    token_roles: &[String],
) -> Option<(GapReason, String)> {
    let accepted = graph_permissions_for(action);
    if !token_roles.iter().any(|r| accepted.contains(&r.as_str())) {
        return Some((
            GapReason::MissingGraphPermission,
            format!("the token carries none of {}", accepted.join(", ")),
        ));
    }
    let refused_when_synced = matches!(
        action,
        CloudAction::Disable | CloudAction::Enable | CloudAction::ForcePasswordReset
    );
    if user.synced && refused_when_synced {
        return Some((
            GapReason::SyncedFromAd,
            "mastered in AD: riposte acts on the AD account and revokes Entra sessions instead"
                .into(),
        ));
    }
    if user.guest && action == CloudAction::ForcePasswordReset {
        return Some((
            GapReason::Guest,
            "a guest's password belongs to its home organisation".into(),
        ));
    }
    None
}

/// One account in a gap group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapAccount {
    /// DN in AD, user principal name in Entra ID.
    pub name: String,
    pub sam_account_name: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapGroup {
    pub reason: GapReason,
    pub label: String,
    pub count: u64,
    /// Every account of the group; views page through it.
    pub accounts: Vec<GapAccount>,
}

/// Coverage of one action over one forest or tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionCoverage {
    pub action: String,
    pub covered: u64,
    pub not_covered: u64,
    pub groups: Vec<GapGroup>,
}

impl ActionCoverage {
    pub fn group(&self, reason: GapReason) -> Option<&GapGroup> {
        self.groups.iter().find(|g| g.reason == reason)
    }

    /// Percent covered, for charts.
    pub fn percent(&self) -> u32 {
        (self.covered * 100)
            .checked_div(self.covered + self.not_covered)
            .map_or(100, |p| p as u32)
    }
}

/// The action account's rights over the users of one OU, per action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OuRights {
    pub dn: String,
    pub users: u64,
    pub actions: Vec<OuAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OuAction {
    pub action: String,
    /// Users of the OU the action account may act on.
    pub permitted: u64,
    /// The rights missing on at least one user of the OU.
    pub missing_rights: Vec<String>,
}

impl OuRights {
    /// Every user of the OU is within the delegation for `action`.
    pub fn covers(&self, action: &str) -> bool {
        self.actions
            .iter()
            .any(|a| a.action == action && a.permitted == self.users)
    }
}

/// A least-privilege change that closes a gap; never applied by riposte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub reason: GapReason,
    /// The OU, AdminSDHolder, or tenant it concerns.
    pub scope: String,
    /// Accounts the fix would bring into coverage.
    pub accounts: u64,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delegation: Option<DelegationAdvice>,
    /// Graph application permissions to grant (admin consent).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub graph_permissions: Vec<String>,
}

/// Users of an OU the action account may act on, and the rights missing on the others.
type PermittedAndMissing = (u64, Vec<Right>);

/// Accumulates per-user verdicts into coverage, OU rights and fixes.
#[derive(Debug, Default)]
pub struct CoverageBuilder {
    /// action -> reason -> accounts.
    gaps: BTreeMap<String, BTreeMap<GapReason, Vec<GapAccount>>>,
    covered: BTreeMap<String, u64>,
    /// OU -> (users, action -> (permitted, missing rights)).
    ous: BTreeMap<String, (u64, BTreeMap<String, PermittedAndMissing>)>,
    users: u64,
}

impl CoverageBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn users(&self) -> u64 {
        self.users
    }

    /// Judges every AD action on one user.
    pub fn add_ad_user(&mut self, user: &UserFacts) {
        self.users += 1;
        for action in AD_ACTIONS {
            let name = action.as_str().to_string();
            let missing = missing_rights(action, user);
            let ou = self.ous.entry(user.container().to_string()).or_default();
            let entry = ou.1.entry(name.clone()).or_default();
            if missing.is_empty() {
                entry.0 += 1;
            }
            add_rights(&mut entry.1, &missing);
            self.record(&name, gap_given(action, user, &missing), || {
                (user.dn.clone(), user.sam_account_name.clone())
            });
        }
        self.ous.entry(user.container().to_string()).or_default().0 += 1;
    }

    /// Judges every cloud action on one Entra ID user.
    pub fn add_cloud_user(&mut self, user: &CloudUserFacts, token_roles: &[String]) {
        self.users += 1;
        for action in CloudAction::ALL {
            self.record(
                action.as_str(),
                cloud_gap(action, user, token_roles),
                || (user.user_principal_name.clone(), String::new()),
            );
        }
    }

    fn record(
        &mut self,
        action: &str,
        gap: Option<(GapReason, String)>,
        who: impl FnOnce() -> (String, String),
    ) {
        match gap {
            None => *self.covered.entry(action.to_string()).or_default() += 1,
            Some((reason, detail)) => {
                let (name, sam_account_name) = who();
                self.gaps
                    .entry(action.to_string())
                    .or_default()
                    .entry(reason)
                    .or_default()
                    .push(GapAccount {
                        name,
                        sam_account_name,
                        detail,
                    });
            }
        }
    }

    /// Coverage per action, in `actions` order, groups sorted by reason and accounts by name.
    pub fn coverage(&self, actions: &[&str]) -> Vec<ActionCoverage> {
        actions
            .iter()
            .map(|action| {
                let groups: Vec<GapGroup> = self
                    .gaps
                    .get(*action)
                    .map(|by_reason| {
                        by_reason
                            .iter()
                            .map(|(reason, accounts)| {
                                let mut accounts = accounts.clone();
                                accounts.sort_by(|a, b| a.name.cmp(&b.name));
                                GapGroup {
                                    reason: *reason,
                                    label: reason.label().to_string(),
                                    count: accounts.len() as u64,
                                    accounts,
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                ActionCoverage {
                    action: action.to_string(),
                    covered: self.covered.get(*action).copied().unwrap_or(0),
                    not_covered: groups.iter().map(|g| g.count).sum(),
                    groups,
                }
            })
            .collect()
    }

    pub fn ou_rights(&self) -> Vec<OuRights> {
        self.ous
            .iter()
            .map(|(dn, (users, actions))| OuRights {
                dn: dn.clone(),
                users: *users,
                actions: AD_ACTIONS
                    .iter()
                    .map(|a| {
                        let (permitted, missing) =
                            actions.get(a.as_str()).cloned().unwrap_or_default();
                        OuAction {
                            action: a.as_str().to_string(),
                            permitted,
                            missing_rights: missing.iter().map(|r| r.name.to_string()).collect(),
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    /// The least-privilege delegation per OU (and AdminSDHolder, with its
    /// warning) and the advice for accounts whose reset AD would ignore.
    pub fn ad_fixes(&self, account: &ActionAccount, domain: &str, dc_url: &str) -> Vec<Fix> {
        let mut fixes = Vec::new();
        // Rights missing per OU (unprotected users only) and on protected accounts.
        let mut per_ou: BTreeMap<&str, Vec<Right>> = BTreeMap::new();
        let mut protected_rights: Vec<Right> = Vec::new();
        let mut protected_accounts: std::collections::BTreeSet<&str> = Default::default();
        for action in AD_ACTIONS {
            let Some(by_reason) = self.gaps.get(action.as_str()) else {
                continue;
            };
            let needed = rights::required_rights(action, false);
            for account in by_reason
                .get(&GapReason::OutsideDelegation)
                .into_iter()
                .flatten()
            {
                let ou = rights::parent_dn(&account.name).unwrap_or(&account.name);
                add_rights(per_ou.entry(ou).or_default(), &needed);
            }
            for account in by_reason
                .get(&GapReason::ProtectedAdminSdHolder)
                .into_iter()
                .flatten()
            {
                protected_accounts.insert(&account.name);
                add_rights(&mut protected_rights, &needed);
            }
        }
        for (ou, mut missing) in per_ou {
            missing.sort_by_key(|r| r.name);
            let advice =
                rights::delegation_for_container(account, domain, dc_url, ou, &missing, None);
            fixes.push(Fix {
                reason: GapReason::OutsideDelegation,
                scope: ou.to_string(),
                accounts: self.ous.get(ou).map_or(0, |o| o.0),
                summary: format!(
                    "delegate {} on {ou} to {} (inherited by user objects only)",
                    missing
                        .iter()
                        .map(|r| r.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                    account.dn
                ),
                delegation: Some(advice),
                graph_permissions: Vec::new(),
            });
        }
        if let Some(example) = protected_accounts.first() {
            let mut missing = protected_rights;
            missing.sort_by_key(|r| r.name);
            let base = rights::domain_base(example).unwrap_or("<domain DN>");
            let container = format!("CN=AdminSDHolder,CN=System,{base}");
            let warning = "AdminSDHolder re-applies its ACL to every protected account every 60 minutes, so OU \
                 delegation never reaches them. Granting these rights on AdminSDHolder gives the action account \
                 power over every Tier 0 account: prefer acting on them by hand, with a Tier 0 identity."
                .to_string();
            let advice = rights::delegation_for_container(
                account,
                domain,
                dc_url,
                &container,
                &missing,
                Some(warning),
            );
            fixes.push(Fix {
                reason: GapReason::ProtectedAdminSdHolder,
                scope: container,
                accounts: protected_accounts.len() as u64,
                summary: "not recommended: protected accounts are best contained by hand".into(),
                delegation: Some(advice),
                graph_permissions: Vec::new(),
            });
        }
        let ineffective = self
            .gaps
            .get(Action::ForcePasswordReset.as_str())
            .and_then(|g| g.get(&GapReason::ResetIneffective))
            .map(|a| a.len() as u64)
            .unwrap_or(0);
        if ineffective > 0 {
            fixes.push(Fix {
                reason: GapReason::ResetIneffective,
                scope: "accounts listed under forced-reset-ineffective".into(),
                accounts: ineffective,
                summary: "review why each account has \"Password never expires\" or \"Smart card required\"; \
                          clear the flag where it is not needed, or contain these accounts with \
                          `--clear-blocking-flags`, disable or set-password instead of a forced reset"
                    .into(),
                delegation: None,
                graph_permissions: Vec::new(),
            });
        }
        fixes
    }

    /// The Graph permissions to grant, one fix per missing permission.
    pub fn cloud_fixes(&self, tenant: &str, token_roles: &[String]) -> Vec<Fix> {
        let mut fixes: Vec<Fix> = Vec::new();
        for action in CloudAction::ALL {
            let accepted = graph_permissions_for(action);
            if token_roles.iter().any(|r| accepted.contains(&r.as_str())) {
                continue;
            }
            let least = accepted[0].to_string();
            let accounts = self
                .gaps
                .get(action.as_str())
                .and_then(|g| g.get(&GapReason::MissingGraphPermission))
                .map(|a| a.len() as u64)
                .unwrap_or(0);
            if let Some(f) = fixes
                .iter_mut()
                .find(|f| f.graph_permissions == [least.clone()])
            {
                f.summary.push_str(&format!(", {}", action.as_str()));
                continue;
            }
            fixes.push(Fix {
                reason: GapReason::MissingGraphPermission,
                scope: tenant.to_string(),
                accounts,
                summary: format!(
                    "grant the application permission {least} (admin consent) to riposte's app registration; needed by {}",
                    action.as_str()
                ),
                delegation: None,
                graph_permissions: vec![least],
            });
        }
        fixes
    }
}

/// Adds to `into` the rights of `more` it does not hold yet.
fn add_rights(into: &mut Vec<Right>, more: &[Right]) {
    for r in more {
        if !into.contains(r) {
            into.push(*r);
        }
    }
}

/// Progress of a long assessment: the forest or tenant, and users judged so far.
pub type ReadinessProgress = dyn Fn(&str, u64) + Send + Sync;

/// A connector that can assess its forests or tenants. Both default to
/// nothing, so a connector implements what it has.
#[async_trait::async_trait]
pub trait ReadinessSource: Send + Sync {
    async fn assess_forests(&self, _progress: &ReadinessProgress) -> Vec<ForestReadiness> {
        Vec::new()
    }
    async fn assess_tenants(&self, _progress: &ReadinessProgress) -> Vec<TenantReadiness> {
        Vec::new()
    }
}

/// The whole report, from every source; each source is assessed in turn
/// (each bounds its own concurrency).
pub async fn assess(
    sources: &[&dyn ReadinessSource],
    progress: &ReadinessProgress,
) -> ReadinessReport {
    let started = std::time::Instant::now();
    let generated_at = crate::time::rfc3339(time::OffsetDateTime::now_utc());
    let mut report = ReadinessReport {
        generated_at,
        duration_ms: 0,
        forests: Vec::new(),
        tenants: Vec::new(),
    };
    for source in sources {
        report.forests.extend(source.assess_forests(progress).await);
        report.tenants.extend(source.assess_tenants(progress).await);
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

/// One DC as readiness found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DcCheck {
    pub url: String,
    pub reached: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tls: Option<TlsCheck>,
    /// DC time minus ours, in seconds (Kerberos tolerates 300).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub clock_skew_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsCheck {
    /// ldaps or starttls.
    pub mode: String,
    /// The chain verified against the configured CA and the name matched.
    pub verified: bool,
    pub subject: String,
    pub issuer: String,
    /// RFC 3339.
    pub not_after: String,
    pub days_left: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestReadiness {
    pub name: String,
    pub base_dn: String,
    pub bind_method: String,
    pub action_account: Option<ActionAccount>,
    pub dcs: Vec<DcCheck>,
    pub users_scanned: u64,
    pub ous: Vec<OuRights>,
    pub coverage: Vec<ActionCoverage>,
    pub fixes: Vec<Fix>,
    /// Why the forest could not be assessed at all.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantReadiness {
    pub name: String,
    pub tenant_id: String,
    /// Application permissions (the token's `roles` claim).
    pub app_permissions: Vec<String>,
    /// Directory role template IDs (the token's `wids` claim).
    pub directory_roles: Vec<String>,
    pub users_scanned: u64,
    pub coverage: Vec<ActionCoverage>,
    pub fixes: Vec<Fix>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessReport {
    /// RFC 3339.
    pub generated_at: String,
    pub duration_ms: u64,
    pub forests: Vec<ForestReadiness>,
    pub tenants: Vec<TenantReadiness>,
}

impl ReadinessReport {
    /// The accounts of one gap group, for paging and CSV export.
    pub fn group(&self, scope: &str, action: &str, reason: GapReason) -> Option<&GapGroup> {
        let coverage = self
            .forests
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(scope))
            .flat_map(|f| &f.coverage)
            .chain(
                self.tenants
                    .iter()
                    .filter(|t| t.name.eq_ignore_ascii_case(scope))
                    .flat_map(|t| &t.coverage),
            );
        coverage
            .filter(|c| c.action == action)
            .find_map(|c| c.group(reason))
    }
}

/// A gap group as CSV, every cell quoted (`crate::csv`).
pub fn group_csv(group: &GapGroup) -> String {
    use crate::csv::quoted_cell as cell;
    let mut out = String::from("account,sam_account_name,reason,detail\r\n");
    for a in &group.accounts {
        out.push_str(&format!(
            "{},{},{},{}\r\n",
            cell(&a.name),
            cell(&a.sam_account_name),
            cell(group.reason.as_str()),
            cell(&a.detail)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(dn: &str, uac_value: u32, admin: bool, writable: &[&str], reset: bool) -> UserFacts {
        UserFacts {
            dn: dn.into(),
            sam_account_name: dn[3..dn.find(',').unwrap()].into(),
            user_account_control: uac_value,
            admin_count: admin,
            writable_attributes: writable.iter().map(|s| s.to_string()).collect(),
            reset_password: reset,
        }
    }
    const ALL_ATTRS: &[&str] = &["userAccountControl", "pwdLastSet", "lockoutTime"];

    fn lab_like() -> CoverageBuilder {
        let mut b = CoverageBuilder::new();
        b.add_ad_user(&user(
            "CN=ernie,OU=Staff,DC=corp,DC=test",
            0x200,
            false,
            ALL_ATTRS,
            true,
        ));
        b.add_ad_user(&user(
            "CN=bert,OU=Staff,DC=corp,DC=test",
            0x10200,
            false,
            ALL_ATTRS,
            true,
        ));
        b.add_ad_user(&user(
            "CN=oscar,OU=Staff,DC=corp,DC=test",
            0x40200,
            false,
            ALL_ATTRS,
            true,
        ));
        b.add_ad_user(&user(
            "CN=tier0admin,OU=Tier0,DC=corp,DC=test",
            0x200,
            true,
            &[],
            false,
        ));
        b.add_ad_user(&user(
            "CN=svc,OU=Service,DC=corp,DC=test",
            0x200,
            false,
            &[],
            false,
        ));
        b
    }

    #[test]
    fn coverage_groups_each_account_by_its_first_blocking_reason() {
        let b = lab_like();
        let names: Vec<&str> = AD_ACTIONS.iter().map(|a| a.as_str()).collect();
        let cov = b.coverage(&names);
        let disable = &cov[0];
        assert_eq!((disable.covered, disable.not_covered), (3, 2));
        let protected = disable.group(GapReason::ProtectedAdminSdHolder).unwrap();
        assert_eq!(
            protected.accounts[0].name,
            "CN=tier0admin,OU=Tier0,DC=corp,DC=test"
        );
        assert_eq!(
            disable.group(GapReason::OutsideDelegation).unwrap().count,
            1
        );
        let reset = cov
            .iter()
            .find(|c| c.action == "force-password-reset")
            .unwrap();
        let ineffective = reset.group(GapReason::ResetIneffective).unwrap();
        let who: Vec<&str> = ineffective
            .accounts
            .iter()
            .map(|a| a.sam_account_name.as_str())
            .collect();
        assert_eq!(who, ["bert", "oscar"]);
        assert!(
            ineffective.accounts[0]
                .detail
                .contains("DONT_EXPIRE_PASSWORD")
        );
        assert!(
            ineffective.accounts[1]
                .detail
                .contains("SMARTCARD_REQUIRED")
        );
    }

    #[test]
    fn ou_rights_and_fixes_name_exactly_what_is_missing() {
        let b = lab_like();
        let ous = b.ou_rights();
        let staff = ous.iter().find(|o| o.dn.starts_with("OU=Staff")).unwrap();
        for a in AD_ACTIONS {
            assert!(staff.covers(a.as_str()), "{a:?}");
        }
        let tier0 = ous.iter().find(|o| o.dn.starts_with("OU=Tier0")).unwrap();
        assert!(!tier0.covers("disable"));
        let account = ActionAccount {
            dn: "CN=riposte-action,OU=Service,DC=corp,DC=test".into(),
            sam_account_name: Some("riposte-action".into()),
            sid: Some("S-1-5-21-1-2-3-1109".into()),
        };
        let fixes = b.ad_fixes(&account, "corp.test", "ldaps://dc1.corp.test:636");
        let service = fixes
            .iter()
            .find(|f| f.scope == "OU=Service,DC=corp,DC=test")
            .unwrap();
        let advice = service.delegation.as_ref().unwrap();
        assert_eq!(advice.samba_tool.len(), 4, "{:?}", advice.samba_tool);
        assert!(
            advice
                .samba_tool
                .iter()
                .all(|c| c.contains("--objectdn='OU=Service,DC=corp,DC=test'"))
        );
        assert!(
            advice
                .samba_tool
                .iter()
                .any(|c| c.contains("(OA;CI;CR;00299570"))
        );
        let sdholder = fixes
            .iter()
            .find(|f| f.reason == GapReason::ProtectedAdminSdHolder)
            .unwrap();
        assert_eq!(sdholder.scope, "CN=AdminSDHolder,CN=System,DC=corp,DC=test");
        assert!(sdholder.delegation.as_ref().unwrap().warning.is_some());
        assert!(
            fixes
                .iter()
                .any(|f| f.reason == GapReason::ResetIneffective && f.accounts == 2)
        );
        // Nothing to fix on a fully delegated OU.
        assert!(!fixes.iter().any(|f| f.scope.starts_with("OU=Staff")));
    }

    #[test]
    fn cloud_gaps_follow_the_token_and_the_kind_of_user() {
        let roles = vec![
            "User.EnableDisableAccount.All".to_string(),
            "User.RevokeSessions.All".into(),
        ];
        let member = CloudUserFacts {
            id: "1".into(),
            user_principal_name: "m@x".into(),
            guest: false,
            synced: false,
        };
        let synced = CloudUserFacts {
            synced: true,
            ..member.clone()
        };
        let guest = CloudUserFacts {
            guest: true,
            ..member.clone()
        };
        assert_eq!(cloud_gap(CloudAction::Disable, &member, &roles), None);
        assert_eq!(
            cloud_gap(CloudAction::Disable, &synced, &roles).unwrap().0,
            GapReason::SyncedFromAd
        );
        assert_eq!(
            cloud_gap(CloudAction::RevokeSessions, &synced, &roles),
            None
        );
        assert_eq!(
            cloud_gap(CloudAction::ForcePasswordReset, &guest, &roles)
                .unwrap()
                .0,
            GapReason::MissingGraphPermission
        );
        let more = [
            roles.clone(),
            vec!["User-PasswordProfile.ReadWrite.All".into()],
        ]
        .concat();
        assert_eq!(
            cloud_gap(CloudAction::ForcePasswordReset, &guest, &more)
                .unwrap()
                .0,
            GapReason::Guest
        );
        let mut b = CoverageBuilder::new();
        b.add_cloud_user(&member, &roles);
        let fixes = b.cloud_fixes("contoso", &roles);
        let grants: Vec<&str> = fixes
            .iter()
            .flat_map(|f| f.graph_permissions.iter().map(String::as_str))
            .collect();
        assert_eq!(
            grants,
            [
                "User-PasswordProfile.ReadWrite.All",
                "IdentityRiskyUser.ReadWrite.All"
            ]
        );
    }

    #[test]
    fn reasons_serialize_as_their_names() {
        for r in GapReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let g = GapGroup {
            reason: GapReason::Guest,
            label: String::new(),
            count: 1,
            accounts: vec![GapAccount {
                name: "=cmd|' /C calc'!A0".into(),
                sam_account_name: "a\"b".into(),
                detail: "x,y".into(),
            }],
        };
        let csv = group_csv(&g);
        assert!(csv.contains("\"'=cmd|' /C calc'!A0\""), "{csv}");
        assert!(csv.contains("\"a\"\"b\""));
        assert!(csv.contains("\"x,y\""));
    }
}
