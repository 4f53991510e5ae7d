use serde::{Deserialize, Serialize};

/// T1110.003: many distinct accounts failing from one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SprayConfig {
    /// Distinct accounts with failed authentications from one source to alert.
    pub min_accounts: usize,
    pub window_secs: i64,
}

impl Default for SprayConfig {
    fn default() -> Self {
        // A person mistypes their own password, not five other people's; sprays go wider.
        SprayConfig {
            min_accounts: 5,
            window_secs: 30 * 60,
        }
    }
}

/// T1110.001: many failures for one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceConfig {
    pub min_failures: usize,
    pub window_secs: i64,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        // Near the usual AD lockout thresholds (5-10 in 10-30 minutes): alert before lockout.
        BruteForceConfig {
            min_failures: 5,
            window_secs: 10 * 60,
        }
    }
}

/// T1098: distinct membership changes (group, member, added or removed) by one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupBurstConfig {
    pub min_changes: usize,
    pub window_secs: i64,
}

impl Default for GroupBurstConfig {
    fn default() -> Self {
        // Onboarding one person touches a handful of groups; an attacker spreading a
        // compromised account (or a script) touches many at once.
        GroupBurstConfig {
            min_changes: 10,
            window_secs: 15 * 60,
        }
    }
}

/// Settings of the built-in pack. Every field has a default; offline hunting needs none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    pub spray: SprayConfig,
    pub brute_force: BruteForceConfig,
    /// Accounts (sAMAccountName, `DOMAIN\name` or SID) allowed to reset others' passwords.
    /// The built-in Administrator (RID 500), SYSTEM and machine accounts always are.
    pub admins: Vec<String>,
    /// Domain controller names (`DC1`, `DC1$` or FQDN). With `learn_dcs_from_events`, hosts
    /// that log KDC or directory-service events in the input are learned as DCs too; any other
    /// machine account that replicates is reported as DCSync (a compromised computer account is
    /// a real case), so list DCs whose own logs are not in the input. `riposte serve` adds each
    /// forest's DCs as the directory lists them.
    pub domain_controllers: Vec<String>,
    /// Learn DCs from the events themselves (offline hunting over a DC's own logs). A forged
    /// event could then teach that any host is a DC and hide its DCSync, so the live pipeline
    /// (`riposte serve`) always turns this off and takes DCs from the directory.
    pub learn_dcs_from_events: bool,
    /// Non-DC accounts allowed to replicate (e.g. Entra Connect's `MSOL_...` account).
    pub replication_allowed: Vec<String>,
    /// Extra group names to treat as sensitive, beside the built-in privileged groups.
    pub sensitive_groups: Vec<String>,
    /// Most windowed groups (sources for spray, accounts for brute force) kept per rule; the
    /// stalest go first. Memory is bounded by about max_groups x 6 KiB per windowed rule.
    pub max_groups: usize,
    /// Most events referenced by one alert.
    pub max_events_per_alert: usize,
    /// Seconds during which the same rule and key do not alert again.
    pub suppress_secs: i64,
    /// Live inputs only (`riposte serve`: the tailer, `POST /api/v1/events`): an event whose
    /// time is further than this from now is refused as evidence (counted and logged, kept out
    /// of detection), so a future- or past-dated event cannot move windows or suppression.
    pub max_event_skew_secs: u64,
    /// Accounts (sAMAccountName, `DOMAIN\\name` or SID) expected to write msDS-KeyCredentialLink
    /// (Entra Connect's `MSOL_...` account, AD FS's service account). SYSTEM, DCs and a computer
    /// writing its own key (Windows Hello for Business, device join) always are.
    pub key_credential_writers: Vec<String>,
    /// An account deleted within this many seconds of its creation (or, for a computer, of
    /// being set up: password set or enabled) is reported as a throwaway account (T1136); a
    /// group member removed this soon after a non-admin added it, as a hidden grant (T1098).
    pub created_deleted_window_secs: i64,
    /// T1098: many group membership changes by one account.
    pub group_burst: GroupBurstConfig,
    // kerbpack: Kerberos, logon and SAMR detections.
    /// Longest life of a TGT the DCs issue (Kerberos policy "Maximum lifetime for user
    /// ticket", 10 hours by default). A service ticket for an account with no TGT seen is
    /// reported as forged only after every DC's TGTs have been watched for this long, so an
    /// offline recording that starts mid-day (TGTs issued before it) raises nothing.
    pub tgt_lifetime_secs: i64,
    /// T1087.002: unknown-principal Kerberos pre-authentication failures from one source.
    pub user_enumeration: UserEnumerationConfig,
    /// Decoy (honeypot) accounts: distinguished name, objectGUID or SID. Any read of their
    /// properties (4662) is reported.
    pub decoys: Vec<String>,
    /// Sigma rule folders (or files): `riposte serve` and `riposte ingest` run them beside
    /// the pack (`riposte detect` too, with `--rules`). Relative paths start at the config
    /// file's directory. A rule that does not parse stops the start.
    pub rules: Vec<std::path::PathBuf>,
}

/// T1087.002: many distinct unknown principals asked for from one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserEnumerationConfig {
    /// Distinct unknown names (4768/4771 status 0x6) from one source to alert.
    pub min_unknown: usize,
    pub window_secs: i64,
}

impl Default for UserEnumerationConfig {
    fn default() -> Self {
        // A person mistypes their own name once or twice; name lists go by the dozen.
        UserEnumerationConfig {
            min_unknown: 10,
            window_secs: 30 * 60,
        }
    }
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            spray: SprayConfig::default(),
            brute_force: BruteForceConfig::default(),
            admins: Vec::new(),
            domain_controllers: Vec::new(),
            learn_dcs_from_events: true,
            replication_allowed: Vec::new(),
            sensitive_groups: Vec::new(),
            max_groups: 50_000,
            max_events_per_alert: 50,
            suppress_secs: 60 * 60,
            max_event_skew_secs: 5 * 60,
            key_credential_writers: Vec::new(),
            created_deleted_window_secs: 30 * 60,
            group_burst: GroupBurstConfig::default(),
            tgt_lifetime_secs: 10 * 60 * 60,
            user_enumeration: UserEnumerationConfig::default(),
            decoys: Vec::new(),
            rules: Vec::new(),
        }
    }
}
