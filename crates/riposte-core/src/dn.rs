//! The one rule for comparing distinguished names (RFC 4514), and whether
//! one DN is inside another. Scope (policy), approvals, bulk planning and
//! the AD connector all ask here: a DN is compared RDN by RDN, never as a
//! string, so an OU named `Tier0,OU=Staff` at the domain root (returned as
//! `OU=Tier0\,OU=Staff,...` or `OU=Tier0\2COU=Staff,...`) is one RDN, not two.
//!
//! Parsing follows RFC 4514: RDNs split at unescaped `,` (or the legacy `;`),
//! multi-valued RDNs at `+`; `\` escapes a special character or gives a byte
//! as two hex digits; spaces around `=` and `,` and unescaped spaces at either
//! end of a value do not count; attribute types compare case-insensitively
//! and so do values (AD's matching rule for names). A `#` value (BER) is
//! compared as its bytes. Quoted values (RFC 1779) and anything malformed
//! are refused: a DN that cannot be read is inside nothing.

use std::fmt;

/// One attribute type and value, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ava {
    /// Lower-case descriptor or numeric OID.
    attribute: String,
    value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Value {
    /// A string value, unescaped and lower-cased (raw bytes, lower-cased as
    /// ASCII, when the escapes do not make UTF-8).
    Text(Vec<u8>),
    /// A `#`-prefixed BER value, as its bytes.
    Ber(Vec<u8>),
}

/// A parsed DN: its RDNs from the leaf to the root, each with its AVAs sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dn {
    rdns: Vec<Vec<Ava>>,
}

/// Why a text is not a DN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a distinguished name (RFC 4514): {reason} at character {at}")]
pub struct DnError {
    pub reason: &'static str,
    /// Byte offset in the text.
    pub at: usize,
}

fn err<T>(reason: &'static str, at: usize) -> Result<T, DnError> {
    Err(DnError { reason, at })
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl Dn {
    /// Parses `text`; the empty text is the empty DN (the root).
    pub fn parse(text: &str) -> Result<Dn, DnError> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let skip_spaces = |i: &mut usize| {
            while bytes.get(*i) == Some(&b' ') {
                *i += 1;
            }
        };
        let mut rdns = Vec::new();
        skip_spaces(&mut i);
        if i == bytes.len() {
            return Ok(Dn { rdns });
        }
        let mut rdn = Vec::new();
        loop {
            // attributeType: a descriptor or a numeric OID.
            skip_spaces(&mut i);
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b'.'))
            {
                i += 1;
            }
            let attribute = &text[start..i];
            let descriptor = attribute
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphabetic)
                && !attribute.contains('.');
            let oid = !attribute.is_empty()
                && attribute
                    .split('.')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !descriptor && !oid {
                return err("an attribute type must be a name or a numeric OID", start);
            }
            skip_spaces(&mut i);
            if bytes.get(i) != Some(&b'=') {
                return err("expected '=' after the attribute type", i);
            }
            i += 1;
            skip_spaces(&mut i);
            let value = if bytes.get(i) == Some(&b'#') {
                i += 1;
                let start = i;
                let mut ber = Vec::new();
                while let (Some(h), Some(l)) = (
                    bytes.get(i).copied().and_then(hex),
                    bytes.get(i + 1).copied().and_then(hex),
                ) {
                    ber.push(h << 4 | l);
                    i += 2;
                }
                if ber.is_empty() || bytes.get(i).is_some_and(|b| b.is_ascii_hexdigit()) {
                    return err("a '#' value must be an even number of hex digits", start);
                }
                skip_spaces(&mut i);
                Value::Ber(ber)
            } else {
                let mut value: Vec<u8> = Vec::new();
                // Unescaped spaces not yet known to be inside the value.
                let mut pending_spaces = 0;
                while i < bytes.len() {
                    let b = bytes[i];
                    match b {
                        b',' | b';' | b'+' => break,
                        b'"' => return err("quoted values are not accepted; escape with '\\'", i),
                        b'<' | b'>' => return err("'<' and '>' must be escaped", i),
                        b' ' => {
                            pending_spaces += 1;
                            i += 1;
                            continue;
                        }
                        b'\\' => {
                            value.extend(std::iter::repeat_n(b' ', pending_spaces));
                            pending_spaces = 0;
                            match (bytes.get(i + 1).copied(), bytes.get(i + 2).copied()) {
                                (Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                                    value.push(hex(h).unwrap_or(0) << 4 | hex(l).unwrap_or(0));
                                    i += 3;
                                }
                                (Some(h), _) if h.is_ascii_hexdigit() => {
                                    return err(
                                        "'\\' must be followed by two hex digits or a special character",
                                        i,
                                    );
                                }
                                (Some(c), _) if c.is_ascii() && !c.is_ascii_control() => {
                                    value.push(c);
                                    i += 2;
                                }
                                _ => {
                                    return err(
                                        "'\\' must be followed by two hex digits or a special character",
                                        i,
                                    );
                                }
                            }
                        }
                        _ => {
                            value.extend(std::iter::repeat_n(b' ', pending_spaces));
                            pending_spaces = 0;
                            value.push(b);
                            i += 1;
                        }
                    }
                }
                Value::Text(match String::from_utf8(value) {
                    Ok(text) => text.to_lowercase().into_bytes(),
                    Err(e) => e.into_bytes().to_ascii_lowercase(),
                })
            };
            rdn.push(Ava {
                attribute: attribute.to_ascii_lowercase(),
                value,
            });
            match bytes.get(i) {
                Some(b'+') => {
                    i += 1;
                }
                Some(b',' | b';') => {
                    rdn.sort();
                    rdns.push(std::mem::take(&mut rdn));
                    i += 1;
                }
                None => {
                    rdn.sort();
                    rdns.push(rdn);
                    return Ok(Dn { rdns });
                }
                Some(_) => return err("unexpected character after a value", i),
            }
        }
    }

    /// How many RDNs it has.
    pub fn len(&self) -> usize {
        self.rdns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The DN one level up (the container), `None` for the root.
    pub fn parent(&self) -> Option<Dn> {
        (!self.rdns.is_empty()).then(|| Dn {
            rdns: self.rdns[1..].to_vec(),
        })
    }

    /// Whether this DN is `base` or below it. The empty DN contains nothing
    /// here: a scope of "" must not mean everything.
    pub fn is_within(&self, base: &Dn) -> bool {
        !base.is_empty() && self.rdns.ends_with(&base.rdns)
    }
}

/// The canonical text: lower-case, every special character escaped, so two
/// DNs that compare equal print the same.
impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, rdn) in self.rdns.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            for (m, ava) in rdn.iter().enumerate() {
                if m > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}=", ava.attribute)?;
                match &ava.value {
                    Value::Ber(bytes) => {
                        f.write_str("#")?;
                        for b in bytes {
                            write!(f, "{b:02x}")?;
                        }
                    }
                    Value::Text(bytes) => {
                        let Ok(text) = std::str::from_utf8(bytes) else {
                            // Escapes that do not make UTF-8: every byte as hex.
                            for b in bytes {
                                write!(f, "\\{b:02x}")?;
                            }
                            continue;
                        };
                        let last = text.chars().count().saturating_sub(1);
                        for (k, c) in text.chars().enumerate() {
                            match c {
                                ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                                    write!(f, "\\{c}")?
                                }
                                '#' if k == 0 => f.write_str("\\#")?,
                                ' ' if k == 0 || k == last => f.write_str("\\20")?,
                                c if c.is_control() => {
                                    let mut buf = [0; 4];
                                    for b in c.encode_utf8(&mut buf).bytes() {
                                        write!(f, "\\{b:02x}")?;
                                    }
                                }
                                c => write!(f, "{c}")?,
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether `dn` is `base` or below it, RDN by RDN; `false` when either is
/// not a DN or `base` is empty.
pub fn within(dn: &str, base: &str) -> bool {
    match (Dn::parse(dn), Dn::parse(base)) {
        (Ok(dn), Ok(base)) => dn.is_within(&base),
        _ => false,
    }
}

/// Whether two texts name the same DN.
pub fn same(a: &str, b: &str) -> bool {
    matches!((Dn::parse(a), Dn::parse(b)), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_one_level_up_by_the_same_rule() {
        let dn = Dn::parse("CN=Ernie,OU=Tier0\\,OU\\3DStaff,DC=corp").unwrap();
        let parent = dn.parent().unwrap();
        assert_eq!(parent, Dn::parse("ou=tier0\\,ou\\=staff,dc=CORP").unwrap());
        assert_eq!(parent.len(), 2);
        assert!(dn.is_within(&parent));
        assert_eq!(Dn::parse("DC=corp").unwrap().parent().unwrap().len(), 0);
        assert_eq!(Dn::parse("").unwrap().parent(), None);
    }

    const STAFF: &str = "OU=Staff,DC=corp,DC=example,DC=test";

    #[test]
    fn a_value_that_looks_like_a_parent_is_one_rdn() {
        // An OU named "Tier0,OU=Staff" at the domain root, however it is escaped.
        for outside in [
            "CN=bob,OU=Tier0\\,OU=Staff,DC=corp,DC=example,DC=test",
            "CN=bob,OU=Tier0\\2COU=Staff,DC=corp,DC=example,DC=test",
            "CN=bob,OU=Tier0\\2cOU\\3DStaff,DC=corp,DC=example,DC=test",
            "CN=bob,OU=Tier0\\,OU\\=Staff,DC=corp,DC=example,DC=test",
            "OU=Tier0\\,OU=Staff,DC=corp,DC=example,DC=test",
        ] {
            assert!(!within(outside, STAFF), "{outside}");
        }
        assert_eq!(
            Dn::parse("CN=bob,OU=Tier0\\,OU=Staff,DC=corp,DC=example,DC=test")
                .unwrap()
                .len(),
            5
        );
        // The string suffix rule this replaces accepted the first one.
        assert!(
            "CN=bob,OU=Tier0\\,OU=Staff,DC=corp,DC=example,DC=test"
                .to_ascii_lowercase()
                .ends_with(&format!(",{}", STAFF.to_ascii_lowercase()))
        );
    }

    #[test]
    fn equal_names_compare_equal_however_written() {
        for inside in [
            "CN=bob,OU=Staff,DC=corp,DC=example,DC=test",
            "cn=bob , ou = STAFF,dc=Corp,DC=example,DC=test",
            "CN=bob,OU=Sta\\66f,DC=corp,DC=example,DC=test",
            "CN=bob;OU=Staff;DC=corp;DC=example;DC=test",
            "CN=Smith\\, John,OU=Staff,DC=corp,DC=example,DC=test",
            "CN=Jörg\\2C X,OU=Staff,DC=corp,DC=example,DC=test",
            "CN=\\c3\\96ZIL,OU=Staff,DC=corp,DC=example,DC=test",
            "CN=a+UID=b,OU=Staff,DC=corp,DC=example,DC=test",
            "2.5.4.3=bob,OU=Staff,DC=corp,DC=example,DC=test",
            STAFF,
        ] {
            assert!(within(inside, STAFF), "{inside}");
        }
        assert!(same("CN=\\c3\\96zil,DC=x", "cn=Özil,dc=X"));
        assert!(same("CN=a+UID=b,DC=x", "uid=B + cn=A,DC=x"));
        assert!(same("CN=\\ a\\ ,DC=x", "CN=\\20a\\20,DC=x"));
        assert!(!same("CN=\\ a,DC=x", "CN=a,DC=x"));
        assert!(same("CN= a ,DC=x", "CN=a,DC=x"));
    }

    #[test]
    fn outside_or_unreadable_is_never_within() {
        for (dn, base) in [
            (
                "CN=x\\,DC=corp,DC=example,DC=test",
                "DC=corp,DC=example,DC=test",
            ),
            (
                "CN=xDC=corp,DC=example,DC=test",
                "DC=corp,DC=example,DC=test",
            ),
            (
                "CN=x,DC=othercorp,DC=example,DC=test",
                "DC=corp,DC=example,DC=test",
            ),
            ("DC=example,DC=test", "DC=corp,DC=example,DC=test"),
            (
                "CN=\"a,b\",DC=corp,DC=example,DC=test",
                "DC=corp,DC=example,DC=test",
            ),
            ("CN=a\\", "CN=a"),
            ("CN=a", ""),
            ("CN=a\\2", "CN=a"),
            ("CN=a\\\nb,DC=x", "DC=x"),
            ("=a,DC=x", "DC=x"),
            ("CN,DC=x", "DC=x"),
            ("CN=a,,DC=x", "DC=x"),
            ("CN=#zz,DC=x", "DC=x"),
            ("CN=a<b,DC=x", "DC=x"),
            ("", "DC=x"),
        ] {
            assert!(!within(dn, base), "{dn} within {base}");
        }
    }

    /// An RDN value escaped as RFC 4514 asks, independently of the parser.
    fn escape(value: &str) -> String {
        let mut out = String::new();
        let last = value.chars().count().saturating_sub(1);
        for (i, c) in value.chars().enumerate() {
            match c {
                ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                    out.push('\\');
                    out.push(c);
                }
                '#' if i == 0 => out.push_str("\\#"),
                ' ' if i == 0 || i == last => out.push_str("\\ "),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\{b:02X}"));
                    }
                }
                c => out.push(c),
            }
        }
        out
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_refused_or_round_trips(text in prop_oneof![
            ".{0,40}",
            "( ?[A-Za-z0-9.]{1,3} ?= ?(#[0-9a-f]{0,4}|[^,;+\\\\]|\\\\[0-9a-fA-F]{1,2}|\\\\.| ){0,6}[,;+]?){1,5}",
        ]) {
            if let Ok(dn) = Dn::parse(&text) {
                prop_assert_eq!(Dn::parse(&dn.to_string()), Ok(dn.clone()), "{}", dn);
                prop_assert_eq!(dn.is_within(&dn), !dn.is_empty());
            }
        }

        /// Whatever an OU's name (a `,OU=Staff` in it included), its users are inside the
        /// domain and inside OU=Staff exactly when the OU is below OU=Staff.
        #[test]
        fn an_ou_name_never_moves_its_users(
            name in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(&[",OU=Staff", "\\,", "=", "+", "#", " ", ";", "\"", "<", "\n"][..])
                        .prop_map(|s: &str| s.to_string()),
                    ".{1,3}".prop_map(|s: String| s),
                ],
                1..6,
            ).prop_map(|p| p.concat()),
            below_staff in any::<bool>(),
        ) {
            let parent = if below_staff { STAFF } else { "DC=corp,DC=example,DC=test" };
            let user = format!("CN=bob,OU={},{parent}", escape(&name));
            prop_assert!(within(&user, "DC=corp,DC=example,DC=test"), "{}", user);
            prop_assert_eq!(within(&user, STAFF), below_staff, "{}", user);
            prop_assert_eq!(Dn::parse(&user).map(|d| d.len()), Ok(6 - usize::from(!below_staff)));
        }
    }

    #[test]
    fn canonical_text_round_trips() {
        for text in [
            "CN=Smith\\, John,OU=Staff,DC=corp",
            "OU=Tier0\\2COU\\3DStaff,DC=corp",
            "CN=\\ lead,CN=#04024869,CN=\\#x,DC=corp",
            "CN=a\\0Ab,DC=corp",
        ] {
            let dn = Dn::parse(text).unwrap();
            let again = Dn::parse(&dn.to_string()).unwrap();
            assert_eq!(dn, again, "{text} -> {dn}");
        }
        assert_eq!(
            Dn::parse("OU=Tier0\\2COU=Staff ,dc=Corp")
                .unwrap()
                .to_string(),
            "ou=tier0\\,ou\\=staff,dc=corp"
        );
    }
}
