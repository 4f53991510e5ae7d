//! userAccountControl bits (MS-ADTS 2.2.16) and their names.

pub const ACCOUNTDISABLE: u32 = 0x0002;
pub const LOCKOUT: u32 = 0x0010;
pub const PASSWD_NOTREQD: u32 = 0x0020;
pub const NORMAL_ACCOUNT: u32 = 0x0200;
pub const DONT_EXPIRE_PASSWORD: u32 = 0x1_0000;
pub const SMARTCARD_REQUIRED: u32 = 0x4_0000;
pub const NOT_DELEGATED: u32 = 0x10_0000;
pub const DONT_REQ_PREAUTH: u32 = 0x40_0000;
pub const PASSWORD_EXPIRED: u32 = 0x80_0000;

/// Flags that make AD ignore "must change password at next logon"
/// (MS-SAMR 3.1.5.14.4): with either set, pwdLastSet=0 never expires the password.
pub const FORCED_RESET_BLOCKERS: u32 = DONT_EXPIRE_PASSWORD | SMARTCARD_REQUIRED;

const NAMES: &[(u32, &str, &str)] = &[
    (ACCOUNTDISABLE, "ACCOUNTDISABLE", "account disabled"),
    (LOCKOUT, "LOCKOUT", "locked out"),
    (PASSWD_NOTREQD, "PASSWD_NOTREQD", "password not required"),
    (NORMAL_ACCOUNT, "NORMAL_ACCOUNT", "ordinary user account"),
    (
        DONT_EXPIRE_PASSWORD,
        "DONT_EXPIRE_PASSWORD",
        "password never expires",
    ),
    (
        SMARTCARD_REQUIRED,
        "SMARTCARD_REQUIRED",
        "smart card required for interactive logon",
    ),
    (
        NOT_DELEGATED,
        "NOT_DELEGATED",
        "sensitive, cannot be delegated",
    ),
    (
        DONT_REQ_PREAUTH,
        "DONT_REQ_PREAUTH",
        "Kerberos pre-authentication not required",
    ),
    (PASSWORD_EXPIRED, "PASSWORD_EXPIRED", "password expired"),
];

/// The names of the known bits set in `value`, lowest bit first.
pub fn flag_names(value: u32) -> Vec<&'static str> {
    NAMES
        .iter()
        .filter(|(bit, _, _)| value & bit != 0)
        .map(|(_, name, _)| *name)
        .collect()
}

/// A person-readable description of one named flag, if known.
pub fn describe(name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(_, n, _)| *n == name)
        .map(|(_, _, d)| *d)
}

/// The bit of a flag given by name, case-insensitive.
pub fn bit_of(name: &str) -> Option<u32> {
    NAMES
        .iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(bit, _, _)| *bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_bits() {
        assert_eq!(
            flag_names(0x10202),
            vec!["ACCOUNTDISABLE", "NORMAL_ACCOUNT", "DONT_EXPIRE_PASSWORD"]
        );
        assert_eq!(bit_of("smartcard_required"), Some(SMARTCARD_REQUIRED));
        assert!(flag_names(0).is_empty());
    }
}
