//! The state of one AD account as read from a domain controller.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::sid::Sid;
use crate::uac;

/// Replication metadata of one attribute (from `replPropertyMetaData`):
/// proof that, and when, a write landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeMetadata {
    pub attribute: String,
    pub version: u32,
    /// RFC 3339 originating change time.
    pub originating_time: String,
    pub originating_invocation_id: Uuid,
    pub originating_usn: i64,
}

/// What riposte reads of an account: every field an action's pre-flight
/// check or read-back needs, in one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub forest: String,
    pub dn: String,
    pub sid: Option<Sid>,
    pub guid: Option<Uuid>,
    pub sam_account_name: String,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    /// `userAccountControl` as stored.
    pub user_account_control: u32,
    /// `msDS-User-Account-Control-Computed`: lockout and password expiry now.
    pub uac_computed: u32,
    /// `pwdLastSet` (FILETIME; 0 = must change at next logon was asked).
    pub pwd_last_set: i64,
    /// `lockoutTime` (FILETIME; 0 = not locked).
    pub lockout_time: i64,
    /// `adminCount=1`: protected by AdminSDHolder.
    pub admin_count: bool,
    /// `msDS-UserPasswordExpiryTimeComputed`, when the DC returns it.
    pub password_expiry_computed: Option<i64>,
    /// `allowedAttributesEffective`: what the bound action account may write
    /// on this object; `None` when the DC did not return the attribute.
    pub writable_attributes: Option<Vec<String>>,
    /// The account whose `allowedAttributesEffective` gave
    /// `writable_attributes`, when it is not this one: the rights were read
    /// once for the container ([`crate::directory::Read::StateAndContainerRights`]).
    pub rights_read_on: Option<String>,
    /// Replication metadata of the attributes riposte writes.
    pub metadata: Vec<AttributeMetadata>,
}

impl AccountState {
    pub fn enabled(&self) -> bool {
        self.user_account_control & uac::ACCOUNTDISABLE == 0
    }

    /// Locked out now, as the DC computes it (the stored LOCKOUT bit is not reliable).
    pub fn locked(&self) -> bool {
        self.uac_computed & uac::LOCKOUT != 0
    }

    /// "Must change password at next logon" is in force now.
    pub fn password_change_required(&self) -> bool {
        self.uac_computed & uac::PASSWORD_EXPIRED != 0
    }

    /// A reset was asked (pwdLastSet=0), whether or not it is in force.
    pub fn password_change_requested(&self) -> bool {
        self.pwd_last_set == 0
    }

    /// Flags that would make AD ignore a forced password reset.
    pub fn forced_reset_blockers(&self) -> Vec<&'static str> {
        uac::flag_names(self.user_account_control & uac::FORCED_RESET_BLOCKERS)
    }

    /// The account can be written by the action account, judged by
    /// allowedAttributesEffective; `None` when unknown.
    pub fn may_write(&self, attribute: &str) -> Option<bool> {
        self.writable_attributes
            .as_ref()
            .map(|attrs| attrs.iter().any(|a| a.eq_ignore_ascii_case(attribute)))
    }

    pub fn metadata_of(&self, attribute: &str) -> Option<&AttributeMetadata> {
        self.metadata
            .iter()
            .find(|m| m.attribute.eq_ignore_ascii_case(attribute))
    }

    /// `forest:sAMAccountName`, the canonical way riposte names an account.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.forest, self.sam_account_name)
    }

    /// The attributes kept as evidence before and after an action.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            user_account_control: self.user_account_control,
            user_account_control_flags: uac::flag_names(self.user_account_control)
                .into_iter()
                .map(String::from)
                .collect(),
            uac_computed: self.uac_computed,
            uac_computed_flags: uac::flag_names(self.uac_computed)
                .into_iter()
                .map(String::from)
                .collect(),
            pwd_last_set: self.pwd_last_set,
            lockout_time: self.lockout_time,
            admin_count: self.admin_count,
            password_expiry_computed: self.password_expiry_computed,
            metadata: self.metadata.clone(),
        }
    }
}

/// The attributes of an account kept as evidence, named as in LDAP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(rename = "userAccountControl")]
    pub user_account_control: u32,
    #[serde(rename = "userAccountControlFlags")]
    pub user_account_control_flags: Vec<String>,
    #[serde(rename = "msDS-User-Account-Control-Computed")]
    pub uac_computed: u32,
    #[serde(rename = "msDS-User-Account-Control-ComputedFlags")]
    pub uac_computed_flags: Vec<String>,
    #[serde(rename = "pwdLastSet")]
    pub pwd_last_set: i64,
    #[serde(rename = "lockoutTime")]
    pub lockout_time: i64,
    #[serde(rename = "adminCount")]
    pub admin_count: bool,
    #[serde(
        rename = "msDS-UserPasswordExpiryTimeComputed",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub password_expiry_computed: Option<i64>,
    #[serde(rename = "replPropertyMetaData")]
    pub metadata: Vec<AttributeMetadata>,
}

#[cfg(test)]
pub(crate) fn test_account(uac_value: u32) -> AccountState {
    AccountState {
        forest: "corp".into(),
        dn: "CN=ernie,OU=Staff,DC=corp,DC=example,DC=test".into(),
        sid: "S-1-5-21-1-2-3-1105".parse().ok(),
        guid: None,
        sam_account_name: "ernie".into(),
        user_principal_name: Some("ernie@corp.example.test".into()),
        display_name: None,
        user_account_control: uac_value,
        uac_computed: 0,
        pwd_last_set: 133_000_000_000_000_000,
        lockout_time: 0,
        admin_count: false,
        password_expiry_computed: None,
        writable_attributes: Some(vec![
            "userAccountControl".into(),
            "pwdLastSet".into(),
            "lockoutTime".into(),
        ]),
        rights_read_on: None,
        metadata: Vec::new(),
    }
}
