//! Just enough of a Windows security descriptor (self-relative form, MS-DTYP
//! 2.4.6) to answer one question: does an object's DACL grant a control
//! access right, such as Reset Password, to a token?
//!
//! Why riposte reads DACLs at all: `allowedAttributesEffective` answers for
//! attribute writes, but control access rights have no constructed
//! attribute, so readiness evaluates the DACL itself (read with the SD flags
//! control asking for the DACL only, which the action account may read).

use uuid::Uuid;

use crate::sid::Sid;

/// `ADS_RIGHT_DS_CONTROL_ACCESS`: the mask bit of every extended right.
pub const CONTROL_ACCESS: u32 = 0x0000_0100;
/// `GENERIC_ALL`, as stored by some tools instead of the expanded mask.
pub const GENERIC_ALL: u32 = 0x1000_0000;

const INHERIT_ONLY_ACE: u8 = 0x08;
const ACE_OBJECT_TYPE_PRESENT: u32 = 0x1;
const ACE_INHERITED_OBJECT_TYPE_PRESENT: u32 = 0x2;

/// Well-known SIDs every authenticated token holds, though tokenGroups omits them.
pub const EVERYONE: &str = "S-1-1-0";
pub const AUTHENTICATED_USERS: &str = "S-1-5-11";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AceKind {
    Allow,
    Deny,
}

/// One access control entry of the kinds AD uses for rights on objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub kind: AceKind,
    pub flags: u8,
    pub mask: u32,
    /// The attribute, property set or extended right the ACE is limited to.
    pub object_type: Option<Uuid>,
    /// The object class the ACE is limited to (on inheritance).
    pub inherited_object_type: Option<Uuid>,
    pub trustee: Sid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed security descriptor: {0}")]
pub struct SdError(String);

fn u16_at(b: &[u8], at: usize) -> Result<u16, SdError> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| SdError(format!("truncated at byte {at}")))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, SdError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| SdError(format!("truncated at byte {at}")))
}

fn guid_at(b: &[u8], at: usize) -> Result<Uuid, SdError> {
    let bytes: [u8; 16] = b
        .get(at..at + 16)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| SdError(format!("truncated GUID at byte {at}")))?;
    Ok(Uuid::from_bytes_le(bytes))
}

fn sid_at(b: &[u8], at: usize, end: usize) -> Result<Sid, SdError> {
    let count = *b
        .get(at + 1)
        .ok_or_else(|| SdError(format!("truncated SID at byte {at}")))? as usize;
    let len = 8 + 4 * count;
    if at + len > end {
        return Err(SdError(format!("SID at byte {at} runs past its ACE")));
    }
    Sid::from_bytes(&b[at..at + len]).map_err(|e| SdError(e.to_string()))
}

/// The ACEs of the DACL, in order; other ACE types (audit, callback,
/// mandatory label) are skipped. No DACL gives an empty list.
pub fn parse_dacl(sd: &[u8]) -> Result<Vec<Ace>, SdError> {
    if sd.len() < 20 {
        return Err(SdError(format!("{} bytes, less than a header", sd.len())));
    }
    let dacl = u32_at(sd, 16)? as usize;
    if dacl == 0 {
        return Ok(Vec::new());
    }
    let acl_size = u16_at(sd, dacl + 2)? as usize;
    let count = u16_at(sd, dacl + 4)? as usize;
    let acl_end = dacl
        .checked_add(acl_size)
        .filter(|e| *e <= sd.len())
        .ok_or_else(|| SdError(format!("DACL of {acl_size} bytes runs past the descriptor")))?;
    let mut aces = Vec::with_capacity(count.min(1024));
    let mut at = dacl + 8;
    for _ in 0..count {
        let ace_type = *sd
            .get(at)
            .ok_or_else(|| SdError(format!("truncated ACE at byte {at}")))?;
        let flags = *sd
            .get(at + 1)
            .ok_or_else(|| SdError(format!("truncated ACE at byte {at}")))?;
        let size = u16_at(sd, at + 2)? as usize;
        let end = at + size;
        if size < 8 || end > acl_end {
            return Err(SdError(format!("ACE at byte {at} of {size} bytes")));
        }
        let kind = match ace_type {
            0x00 | 0x05 => Some(AceKind::Allow),
            0x01 | 0x06 => Some(AceKind::Deny),
            _ => None,
        };
        if let Some(kind) = kind {
            let mask = u32_at(sd, at + 4)?;
            let (mut object_type, mut inherited_object_type) = (None, None);
            let mut sid_start = at + 8;
            if ace_type >= 0x05 {
                let object_flags = u32_at(sd, at + 8)?;
                sid_start = at + 12;
                if object_flags & ACE_OBJECT_TYPE_PRESENT != 0 {
                    object_type = Some(guid_at(sd, sid_start)?);
                    sid_start += 16;
                }
                if object_flags & ACE_INHERITED_OBJECT_TYPE_PRESENT != 0 {
                    inherited_object_type = Some(guid_at(sd, sid_start)?);
                    sid_start += 16;
                }
            }
            aces.push(Ace {
                kind,
                flags,
                mask,
                object_type,
                inherited_object_type,
                trustee: sid_at(sd, sid_start, end)?,
            });
        }
        at = end;
    }
    Ok(aces)
}

/// Whether `aces` (an object's DACL) grant the control access right `right`
/// to a token holding `token` SIDs, on an object of class `object_class`.
/// Canonical order is assumed, as AD keeps it: the first ACE that applies
/// decides; none applying means no.
pub fn grants_control_access(aces: &[Ace], right: Uuid, object_class: Uuid, token: &[Sid]) -> bool {
    for ace in aces {
        if ace.flags & INHERIT_ONLY_ACE != 0 || !token.contains(&ace.trustee) {
            continue;
        }
        if ace.mask & (CONTROL_ACCESS | GENERIC_ALL) == 0 {
            continue;
        }
        if ace.object_type.is_some_and(|t| t != right) {
            continue;
        }
        if ace.inherited_object_type.is_some_and(|c| c != object_class) {
            continue;
        }
        return ace.kind == AceKind::Allow;
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-relative descriptor holding `aces` (a test builder).
    pub(crate) fn descriptor(aces: &[Ace]) -> Vec<u8> {
        let mut body = Vec::new();
        for ace in aces {
            let mut a = Vec::new();
            let object = ace.object_type.is_some() || ace.inherited_object_type.is_some();
            let ty: u8 = match (ace.kind, object) {
                (AceKind::Allow, false) => 0,
                (AceKind::Deny, false) => 1,
                (AceKind::Allow, true) => 5,
                (AceKind::Deny, true) => 6,
            };
            a.extend_from_slice(&ace.mask.to_le_bytes());
            if object {
                let f = u32::from(ace.object_type.is_some())
                    | (u32::from(ace.inherited_object_type.is_some()) << 1);
                a.extend_from_slice(&f.to_le_bytes());
                for g in [ace.object_type, ace.inherited_object_type]
                    .into_iter()
                    .flatten()
                {
                    a.extend_from_slice(&g.to_bytes_le());
                }
            }
            a.extend_from_slice(&ace.trustee.to_bytes());
            body.push(ty);
            body.push(ace.flags);
            body.extend_from_slice(&((a.len() + 4) as u16).to_le_bytes());
            body.extend_from_slice(&a);
        }
        let mut sd = vec![1, 0, 0x04, 0x80];
        sd.extend_from_slice(&[0; 12]);
        sd.extend_from_slice(&20u32.to_le_bytes());
        sd.extend_from_slice(&[4, 0]);
        sd.extend_from_slice(&((body.len() + 8) as u16).to_le_bytes());
        sd.extend_from_slice(&(aces.len() as u16).to_le_bytes());
        sd.extend_from_slice(&[0, 0]);
        sd.extend_from_slice(&body);
        sd
    }

    fn reset() -> Uuid {
        crate::rights::RESET_PASSWORD.guid.parse().unwrap()
    }
    fn user() -> Uuid {
        crate::rights::USER_CLASS_GUID.parse().unwrap()
    }
    fn sid(s: &str) -> Sid {
        s.parse().unwrap()
    }
    fn allow_reset(trustee: &str) -> Ace {
        Ace {
            kind: AceKind::Allow,
            flags: 0x12,
            mask: CONTROL_ACCESS,
            object_type: Some(reset()),
            inherited_object_type: Some(user()),
            trustee: sid(trustee),
        }
    }

    #[test]
    fn reset_password_is_granted_only_to_the_delegated_trustee() {
        let aces = parse_dacl(&descriptor(&[allow_reset("S-1-5-21-1-2-3-1109")])).unwrap();
        assert_eq!(aces.len(), 1);
        assert_eq!(aces[0].object_type, Some(reset()));
        let holder = [sid("S-1-5-21-1-2-3-1109"), sid(EVERYONE)];
        let other = [sid("S-1-5-21-1-2-3-1110"), sid(EVERYONE)];
        assert!(grants_control_access(&aces, reset(), user(), &holder));
        assert!(!grants_control_access(&aces, reset(), user(), &other));
        // Another extended right, or another class, is not Reset Password on a user.
        let other_right = Uuid::from_u128(7);
        assert!(!grants_control_access(&aces, other_right, user(), &holder));
        assert!(!grants_control_access(
            &aces,
            reset(),
            Uuid::from_u128(9),
            &holder
        ));
    }

    #[test]
    fn a_deny_before_the_allow_wins_and_inherit_only_aces_do_not_apply() {
        let mut deny = allow_reset("S-1-1-0");
        deny.kind = AceKind::Deny;
        let aces = parse_dacl(&descriptor(&[deny, allow_reset("S-1-5-21-1-2-3-1109")])).unwrap();
        let token = [sid("S-1-5-21-1-2-3-1109"), sid(EVERYONE)];
        assert!(!grants_control_access(&aces, reset(), user(), &token));

        let mut inherit_only = allow_reset("S-1-5-21-1-2-3-1109");
        inherit_only.flags = INHERIT_ONLY_ACE | 0x02;
        let aces = parse_dacl(&descriptor(&[inherit_only])).unwrap();
        assert!(!grants_control_access(&aces, reset(), user(), &token));
    }

    #[test]
    fn full_control_without_an_object_type_grants_every_extended_right() {
        let full = Ace {
            kind: AceKind::Allow,
            flags: 0,
            mask: 0x000F_01FF,
            object_type: None,
            inherited_object_type: None,
            trustee: sid("S-1-5-21-1-2-3-512"),
        };
        let aces = parse_dacl(&descriptor(&[full])).unwrap();
        assert!(grants_control_access(
            &aces,
            reset(),
            user(),
            &[sid("S-1-5-21-1-2-3-512")]
        ));
    }

    proptest::proptest! {
        /// A DC's answer is outside data: no byte string may panic the parser.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_dacl(&bytes);
        }

        /// Corrupting one byte of a real-shaped descriptor never panics either.
        #[test]
        fn one_corrupt_byte_never_panics(at in 0usize..120, value in proptest::num::u8::ANY) {
            let mut sd = descriptor(&[allow_reset("S-1-5-21-1-2-3-1109"), allow_reset("S-1-1-0")]);
            let at = at % sd.len();
            sd[at] = value;
            let _ = parse_dacl(&sd);
        }
    }

    #[test]
    fn truncated_or_lying_descriptors_are_errors_not_panics() {
        let good = descriptor(&[allow_reset("S-1-5-21-1-2-3-1109")]);
        for cut in 0..good.len() {
            let _ = parse_dacl(&good[..cut]);
        }
        let mut lying = good.clone();
        lying[22] = 0xff; // ACL size far past the end
        lying[23] = 0xff;
        assert!(parse_dacl(&lying).is_err());
        assert!(parse_dacl(&[]).is_err());
    }
}
