//! The least-privilege rights an action account needs, and the exact
//! delegation commands that grant them. riposte prints these; it never
//! changes permissions itself.

use serde::{Deserialize, Serialize};

use crate::account::AccountState;
use crate::action::Action;
use crate::shell_quote::{self, Shell};

/// The `user` object class (schema GUID): ACEs inherit to user objects only.
pub const USER_CLASS_GUID: &str = "bf967aba-0de6-11d0-a285-00aa003049e2";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightKind {
    /// Read and write one attribute (RP WP).
    ReadWriteProperty,
    /// An extended (control access) right.
    ControlAccess,
}

/// One right an action account can be delegated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Right {
    /// How a person calls it: "Write userAccountControl", "Reset Password".
    pub name: &'static str,
    /// The attribute or control access right's display name, as dsacls wants it.
    pub display_name: &'static str,
    pub kind: RightKind,
    /// Schema GUID of the attribute, or rightsGuid of the control access right.
    pub guid: &'static str,
}

pub const WRITE_USER_ACCOUNT_CONTROL: Right = Right {
    name: "Read/Write userAccountControl",
    display_name: "userAccountControl",
    kind: RightKind::ReadWriteProperty,
    guid: "bf967a68-0de6-11d0-a285-00aa003049e2",
};
pub const WRITE_PWD_LAST_SET: Right = Right {
    name: "Read/Write pwdLastSet",
    display_name: "pwdLastSet",
    kind: RightKind::ReadWriteProperty,
    guid: "bf967a0a-0de6-11d0-a285-00aa003049e2",
};
pub const WRITE_LOCKOUT_TIME: Right = Right {
    name: "Read/Write lockoutTime",
    display_name: "lockoutTime",
    kind: RightKind::ReadWriteProperty,
    guid: "28630ebf-41d5-11d1-a9c1-0000f80367c1",
};
pub const RESET_PASSWORD: Right = Right {
    name: "Reset Password",
    display_name: "Reset Password",
    kind: RightKind::ControlAccess,
    guid: "00299570-246d-11d0-a768-00aa006e0529",
};

/// Every right riposte's action account needs, and nothing else.
pub const ALL_RIGHTS: [Right; 4] = [
    WRITE_USER_ACCOUNT_CONTROL,
    WRITE_PWD_LAST_SET,
    WRITE_LOCKOUT_TIME,
    RESET_PASSWORD,
];

/// The rights an action needs; `clears_flags` adds the UAC write that
/// clearing a blocking flag takes.
pub fn required_rights(action: Action, clears_flags: bool) -> Vec<Right> {
    match action {
        Action::Disable | Action::Enable => vec![WRITE_USER_ACCOUNT_CONTROL],
        Action::ForcePasswordReset if clears_flags => {
            vec![WRITE_USER_ACCOUNT_CONTROL, WRITE_PWD_LAST_SET]
        }
        Action::ForcePasswordReset => vec![WRITE_PWD_LAST_SET],
        Action::Unlock => vec![WRITE_LOCKOUT_TIME],
        Action::SetPassword => vec![RESET_PASSWORD],
        Action::RevokeSessions | Action::ConfirmCompromised => vec![],
    }
}

/// The rights among `required` that allowedAttributesEffective shows as
/// missing on `state`. Control access rights do not appear there, so they
/// are left to the write itself to prove.
pub fn missing_rights(required: &[Right], state: &AccountState) -> Vec<Right> {
    required
        .iter()
        .filter(|r| {
            r.kind == RightKind::ReadWriteProperty && state.may_write(r.display_name) == Some(false)
        })
        .copied()
        .collect()
}

/// The SDDL ACE granting `right` on descendant user objects to `sid`.
pub fn sddl_ace(right: &Right, sid: &str) -> String {
    let rights = match right.kind {
        RightKind::ReadWriteProperty => "RPWP",
        RightKind::ControlAccess => "CR",
    };
    format!("(OA;CI;{rights};{};{USER_CLASS_GUID};{sid})", right.guid)
}

/// The action account as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionAccount {
    pub dn: String,
    pub sam_account_name: Option<String>,
    pub sid: Option<String>,
}

/// How to grant what was missing, for a person to review and apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationAdvice {
    pub action_account: String,
    pub object: String,
    pub missing: Vec<String>,
    /// Where the ACEs go: the object's parent OU, or AdminSDHolder.
    pub container: String,
    pub samba_tool: Vec<String>,
    pub dsacls: Vec<String>,
    pub powershell: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

/// The delegation that would let `account` take an action on `target`.
pub fn delegation_advice(
    account: &ActionAccount,
    domain: &str,
    dc_url: &str,
    target: &AccountState,
    missing: &[Right],
) -> DelegationAdvice {
    let (container, warning) = if target.admin_count {
        let base = domain_base(&target.dn).unwrap_or("<domain DN>");
        (
            format!("CN=AdminSDHolder,CN=System,{base}"),
            Some(format!(
                "{} has adminCount=1: AdminSDHolder re-applies its ACL every 60 minutes, so delegation on \
                 its OU never reaches it. Granting rights on AdminSDHolder gives the action account power \
                 over every protected (Tier 0) account: prefer acting on such accounts by hand, with a \
                 Tier 0 identity.",
                target.dn
            )),
        )
    } else {
        (
            parent_dn(&target.dn).unwrap_or(&target.dn).to_string(),
            None,
        )
    };
    let mut advice =
        delegation_for_container(account, domain, dc_url, &container, missing, warning);
    advice.object = target.dn.clone();
    advice
}

/// The delegation commands granting `missing` on `container` (inherited by
/// user objects only) to `account`.
pub fn delegation_for_container(
    account: &ActionAccount,
    domain: &str,
    dc_url: &str,
    container: &str,
    missing: &[Right],
    warning: Option<String>,
) -> DelegationAdvice {
    let sid = account
        .sid
        .clone()
        .unwrap_or_else(|| "<SID of the action account>".to_string());
    let principal = match &account.sam_account_name {
        Some(sam) => format!("{sam}@{domain}"),
        None => account.dn.clone(),
    };
    // samba-tool signs and seals over plain LDAP (SASL); over ldaps it would
    // need the DC's CA in its own trust store, which a lab CA is not.
    let samba_url = samba_tool_url(dc_url);
    // Every value below may come from the directory (hostile: anyone
    // delegated to create an OU names it) and is quoted for its shell, or
    // the line is replaced by a comment saying why (`shell_quote`).
    let samba_tool = missing
        .iter()
        .map(|r| {
            let q = |v: &str| shell_quote::quote(Shell::Posix, v);
            let line = || {
                Ok(format!(
                    "samba-tool dsacl set -H {} -U Administrator --objectdn={} --trusteedn={} --sddl={}",
                    q(&samba_url)?,
                    q(container)?,
                    q(&account.dn)?,
                    q(&sddl_ace(r, &sid))?
                ))
            };
            shell_quote::printable(Shell::Posix, "samba-tool", line())
        })
        .collect();
    let dsacls = missing
        .iter()
        .map(|r| {
            let perm = match r.kind {
                RightKind::ReadWriteProperty => "RPWP",
                RightKind::ControlAccess => "CA",
            };
            let q = |v: &str| shell_quote::quote(Shell::Cmd, v);
            let line = || {
                Ok(format!(
                    "dsacls {} /I:S /G {}",
                    q(container)?,
                    q(&format!("{principal}:{perm};{};user", r.display_name))?
                ))
            };
            shell_quote::printable(Shell::Cmd, "dsacls", line())
        })
        .collect();
    let powershell = missing
        .iter()
        .map(|r| {
            let rights = match r.kind {
                RightKind::ReadWriteProperty => "ReadProperty, WriteProperty",
                RightKind::ControlAccess => "ExtendedRight",
            };
            let q = |v: &str| shell_quote::quote(Shell::PowerShell, v);
            // -LiteralPath: a DN may hold `*`, `?` or `[`, which -Path would expand.
            let line = || {
                Ok(format!(
                    "$p = {}; $acl = Get-Acl -LiteralPath $p; $acl.AddAccessRule((New-Object \
                     System.DirectoryServices.ActiveDirectoryAccessRule \
                     ([System.Security.Principal.SecurityIdentifier]{}), '{rights}', 'Allow', \
                     [guid]'{}', 'Descendents', [guid]'{USER_CLASS_GUID}')); Set-Acl -LiteralPath $p -AclObject $acl",
                    q(&format!("AD:{container}"))?,
                    q(&sid)?,
                    r.guid
                ))
            };
            shell_quote::printable(Shell::PowerShell, "PowerShell", line())
        })
        .collect();
    DelegationAdvice {
        action_account: account.dn.clone(),
        object: container.to_string(),
        missing: missing.iter().map(|r| r.name.to_string()).collect(),
        container: container.to_string(),
        samba_tool,
        dsacls,
        powershell,
        warning,
    }
}

/// `ldap://host` for samba-tool, from a configured DC URL such as `ldaps://host:636`.
fn samba_tool_url(dc_url: &str) -> String {
    let rest = dc_url.split_once("://").map_or(dc_url, |(_, r)| r);
    let host = match rest.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or(v6)),
        None => rest.split([':', '/']).next().unwrap_or(rest).to_string(),
    };
    format!("ldap://{host}")
}

/// The parent of a DN: everything after the first unescaped comma.
pub fn parent_dn(dn: &str) -> Option<&str> {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b',' => return Some(dn[i + 1..].trim_start()),
            _ => i += 1,
        }
    }
    None
}

/// The domain part of a DN: from the first `DC=` component on.
pub fn domain_base(dn: &str) -> Option<&str> {
    let mut rest = dn;
    loop {
        if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("DC=")) {
            return Some(rest);
        }
        rest = parent_dn(rest)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::test_account;

    #[test]
    fn ace_matches_the_reference_delegation() {
        assert_eq!(
            sddl_ace(&WRITE_USER_ACCOUNT_CONTROL, "S-1-5-21-1-2-3-1110"),
            "(OA;CI;RPWP;bf967a68-0de6-11d0-a285-00aa003049e2;bf967aba-0de6-11d0-a285-00aa003049e2;S-1-5-21-1-2-3-1110)"
        );
        assert_eq!(
            sddl_ace(&RESET_PASSWORD, "S-1-5-21-1-2-3-1110"),
            "(OA;CI;CR;00299570-246d-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;S-1-5-21-1-2-3-1110)"
        );
    }

    #[test]
    fn samba_tool_talks_plain_ldap_to_the_same_host() {
        assert_eq!(
            samba_tool_url("ldaps://dc1.corp.test:636"),
            "ldap://dc1.corp.test"
        );
        assert_eq!(samba_tool_url("ldap://10.0.0.1"), "ldap://10.0.0.1");
        assert_eq!(samba_tool_url("ldaps://[::1]:636"), "ldap://[::1]");
    }

    #[test]
    fn dn_helpers_respect_escaped_commas() {
        assert_eq!(
            parent_dn("CN=Smith\\, John,OU=Staff,DC=corp,DC=test"),
            Some("OU=Staff,DC=corp,DC=test")
        );
        assert_eq!(
            domain_base("CN=a,OU=b,DC=corp,DC=test"),
            Some("DC=corp,DC=test")
        );
        // A component whose first characters are multibyte is skipped, not a panic.
        assert_eq!(
            domain_base("CN=a,Dé=x,ééé,DC=corp,DC=test"),
            Some("DC=corp,DC=test")
        );
        assert_eq!(domain_base("é"), None);
        assert_eq!(parent_dn("DC=test"), None);
    }

    #[test]
    fn protected_accounts_point_at_adminsdholder() {
        let mut admin = test_account(0x200);
        admin.dn = "CN=tier0admin,OU=Tier0,DC=corp,DC=example,DC=test".into();
        admin.admin_count = true;
        let account = ActionAccount {
            dn: "CN=riposte-action,OU=Service,DC=corp,DC=example,DC=test".into(),
            sam_account_name: Some("riposte-action".into()),
            sid: Some("S-1-5-21-9".into()),
        };
        let advice = delegation_advice(
            &account,
            "corp.example.test",
            "ldaps://127.0.0.11:636",
            &admin,
            &[WRITE_USER_ACCOUNT_CONTROL],
        );
        assert_eq!(
            advice.container,
            "CN=AdminSDHolder,CN=System,DC=corp,DC=example,DC=test"
        );
        assert!(advice.warning.is_some());
        assert!(advice.samba_tool[0].contains("--sddl='(OA;CI;RPWP;bf967a68"));
        assert!(advice.samba_tool[0].contains("-H 'ldap://127.0.0.11' "));
        assert_eq!(advice.missing, vec!["Read/Write userAccountControl"]);
    }

    #[test]
    fn missing_rights_come_from_allowed_attributes_effective() {
        let mut state = test_account(0x200);
        state.writable_attributes = Some(vec!["pwdLastSet".into()]);
        let missing = missing_rights(&required_rights(Action::ForcePasswordReset, true), &state);
        assert_eq!(missing, vec![WRITE_USER_ACCOUNT_CONTROL]);
        state.writable_attributes = None;
        assert!(missing_rights(&required_rights(Action::Disable, false), &state).is_empty());
    }
}
