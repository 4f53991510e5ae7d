//! The one identity event model every source is normalised into.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a record came from: the file and its EVTX record number or its first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.record, self.line) {
            (Some(r), _) => write!(f, "{} record {r}", self.file),
            (None, Some(l)) => write!(f, "{} line {l}", self.file),
            (None, None) => write!(f, "{}", self.file),
        }
    }
}

/// The shape a record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// A binary Windows event log.
    Evtx,
    /// evtx_dump's JSON (`{"Event":{"System":...,"EventData":...}}`).
    EvtxJson,
    /// Winlogbeat / Elastic Common Schema (`{"winlog":{"event_id":...,"event_data":...}}`).
    Winlogbeat,
    /// A flat object with `EventID` and the event data fields at the top level.
    FlatJson,
    /// Samba's JSON audit (`auth_json_audit`, `dsdb_*_json_audit`).
    Samba,
}

/// An account as an event names it. Any part may be missing (Samba often gives only a SID).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Account {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.sid.is_none()
    }

    /// A machine (computer) account: its sAMAccountName ends in `$`.
    pub fn is_machine(&self) -> bool {
        self.name.as_deref().is_some_and(|n| n.ends_with('$'))
    }

    /// The name in lower case without its `@REALM`, or else the SID: the key detections count by.
    pub fn key(&self) -> Option<String> {
        match (&self.name, &self.sid) {
            (Some(n), _) => Some(n.split('@').next().unwrap_or(n).to_ascii_lowercase()),
            (None, Some(s)) => Some(s.to_ascii_uppercase()),
            (None, None) => None,
        }
    }

    /// `DOMAIN\name`, `name` or the SID, for people.
    pub fn display(&self) -> String {
        match (&self.domain, &self.name, &self.sid) {
            (Some(d), Some(n), _) if !n.contains('@') => format!("{d}\\{n}"),
            (_, Some(n), _) => n.clone(),
            (_, None, Some(s)) => s.clone(),
            _ => "-".into(),
        }
    }
}

/// userAccountControl flags the detections care about (MS-ADTS 2.2.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UacFlag {
    AccountDisable,
    PasswdNotreqd,
    /// Reversible password encryption (ENCRYPTED_TEXT_PASSWORD_ALLOWED).
    EncryptedTextPwdAllowed,
    DontExpirePassword,
    SmartcardRequired,
    TrustedForDelegation,
    NotDelegated,
    UseDesKeyOnly,
    DontReqPreauth,
    TrustedToAuthForDelegation,
}

impl UacFlag {
    pub const ALL: [UacFlag; 10] = [
        UacFlag::AccountDisable,
        UacFlag::PasswdNotreqd,
        UacFlag::EncryptedTextPwdAllowed,
        UacFlag::DontExpirePassword,
        UacFlag::SmartcardRequired,
        UacFlag::TrustedForDelegation,
        UacFlag::NotDelegated,
        UacFlag::UseDesKeyOnly,
        UacFlag::DontReqPreauth,
        UacFlag::TrustedToAuthForDelegation,
    ];

    pub fn bit(self) -> u32 {
        match self {
            UacFlag::AccountDisable => 0x2,
            UacFlag::PasswdNotreqd => 0x20,
            UacFlag::EncryptedTextPwdAllowed => 0x80,
            UacFlag::DontExpirePassword => 0x1_0000,
            UacFlag::SmartcardRequired => 0x4_0000,
            UacFlag::TrustedForDelegation => 0x8_0000,
            UacFlag::NotDelegated => 0x10_0000,
            UacFlag::UseDesKeyOnly => 0x20_0000,
            UacFlag::DontReqPreauth => 0x40_0000,
            UacFlag::TrustedToAuthForDelegation => 0x100_0000,
        }
    }

    /// The flag's bit in the SAM account control (MS-SAMR 2.2.1.12 USER_*), which 4720/4738/
    /// 4741/4742 give in `OldUacValue`/`NewUacValue` (0x10 a user, 0x80 a workstation), not the
    /// LDAP userAccountControl bits of [`UacFlag::bit`].
    pub fn sam_bit(self) -> u32 {
        match self {
            UacFlag::AccountDisable => 0x1,
            UacFlag::PasswdNotreqd => 0x4,
            UacFlag::DontExpirePassword => 0x200,
            UacFlag::EncryptedTextPwdAllowed => 0x800,
            UacFlag::SmartcardRequired => 0x1000,
            UacFlag::TrustedForDelegation => 0x2000,
            UacFlag::NotDelegated => 0x4000,
            UacFlag::UseDesKeyOnly => 0x8000,
            UacFlag::DontReqPreauth => 0x1_0000,
            UacFlag::TrustedToAuthForDelegation => 0x4_0000,
        }
    }

    /// The flag a 4738 `%%20xx` "-Enabled" code names, and whether it was turned on.
    /// Microsoft numbers the "-Enabled" messages 2080 + the SAM bit's index (so %%2093 is
    /// 'Trusted For Delegation', 0x2000) and the "-Disabled" ones 32 below.
    pub fn from_msg_code(code: u32) -> Option<(UacFlag, bool)> {
        let (enabled, base) = if (2080..=2111).contains(&code) {
            (true, code)
        } else if (2048..=2079).contains(&code) {
            (false, code + 32)
        } else {
            return None;
        };
        let flag = match base {
            2080 => UacFlag::AccountDisable,
            2082 => UacFlag::PasswdNotreqd,
            2089 => UacFlag::DontExpirePassword,
            2091 => UacFlag::EncryptedTextPwdAllowed,
            2092 => UacFlag::SmartcardRequired,
            2093 => UacFlag::TrustedForDelegation,
            2094 => UacFlag::NotDelegated,
            2095 => UacFlag::UseDesKeyOnly,
            2096 => UacFlag::DontReqPreauth,
            2098 => UacFlag::TrustedToAuthForDelegation,
            _ => return None,
        };
        Some((flag, enabled))
    }
}

/// One identity-relevant event, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityEvent {
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub time: Option<OffsetDateTime>,
    pub origin: Location,
    pub format: SourceFormat,
    /// The Windows event id (Samba audit records carry the equivalent one).
    pub event_id: u32,
    /// The host that logged the event (for Security events on a DC: the DC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer: Option<String>,
    /// Who did it (Subject*).
    #[serde(default, skip_serializing_if = "Account::is_empty")]
    pub actor: Account,
    /// Who or what it was done to (Target*; for Kerberos events the requesting account).
    #[serde(default, skip_serializing_if = "Account::is_empty")]
    pub target: Account,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_workstation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logon_type: Option<u32>,
    /// `0x...` in lower case for Windows; Samba's `NT_STATUS_...` text as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_status: Option<String>,
    /// Kerberos ticket encryption type (0x17 RC4-HMAC, 0x12 AES256...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_encryption: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_auth_type: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Account>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uac_enabled: Vec<UacFlag>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uac_disabled: Vec<UacFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_uac: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_uac: Option<u32>,
    /// The group of a membership change (4728/4732/4756).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Account>,
    /// GUIDs (lower case) from 4662 `Properties`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mask: Option<String>,
    /// The event's own fields by their Windows names (what Sigma rules match on).
    /// Samba attribute values are not copied here: a dsdbChange can carry password attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl IdentityEvent {
    pub fn new(origin: Location, format: SourceFormat, event_id: u32) -> Self {
        IdentityEvent {
            time: None,
            origin,
            format,
            event_id,
            computer: None,
            actor: Account::default(),
            target: Account::default(),
            source_ip: None,
            source_workstation: None,
            logon_type: None,
            status: None,
            sub_status: None,
            ticket_encryption: None,
            pre_auth_type: None,
            service: None,
            uac_enabled: Vec::new(),
            uac_disabled: Vec::new(),
            old_uac: None,
            new_uac: None,
            group: None,
            properties: Vec::new(),
            access_mask: None,
            data: BTreeMap::new(),
        }
    }

    /// Where the attempt came from: the address, else the workstation name.
    pub fn source(&self) -> Option<&str> {
        self.source_ip
            .as_deref()
            .or(self.source_workstation.as_deref())
    }

    /// The status says the request failed (anything but 0x0 / NT_STATUS_OK).
    pub fn failed(&self) -> bool {
        match self.status.as_deref() {
            None => self.event_id == 4625 || self.event_id == 4771,
            Some(s) => !(s == "0x0" || s.eq_ignore_ascii_case("NT_STATUS_OK")),
        }
    }

    /// A failure that means "wrong password" for an account that exists
    /// (Kerberos 0x18, NTLM 0xC000006A, Samba NT_STATUS_WRONG_PASSWORD; 4625's generic
    /// 0xC000006D counts when its sub-status says wrong password or is absent).
    pub fn bad_password(&self) -> bool {
        let is = |s: Option<&str>, v: &str| s.is_some_and(|s| s.eq_ignore_ascii_case(v));
        let st = self.status.as_deref();
        let sub = self.sub_status.as_deref();
        match self.event_id {
            4771 | 4768 => is(st, "0x18"),
            4776 => is(st, "0xc000006a"),
            4625 => {
                is(st, "0xc000006a")
                    || is(sub, "0xc000006a")
                    || is(st, "NT_STATUS_WRONG_PASSWORD")
                    || (is(st, "0xc000006d") && (sub.is_none() || is(sub, "0x0")))
            }
            _ => false,
        }
    }

    /// A failed authentication of any kind (bad password, unknown user, locked, ...).
    pub fn auth_failure(&self) -> bool {
        match self.event_id {
            4625 | 4771 => self.failed(),
            4768 | 4776 => self.failed(),
            _ => false,
        }
    }
}
