//! Windows security identifiers (MS-DTYP 2.4.2): text and binary forms.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sid {
    revision: u8,
    authority: u64,
    sub_authorities: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid SID: {0}")]
pub struct SidError(String);

const MAX_SUB_AUTHORITIES: usize = 15;

impl Sid {
    /// Parses the binary form stored in `objectSid`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SidError> {
        if bytes.len() < 8 {
            return Err(SidError("binary SID shorter than 8 bytes".into()));
        }
        let count = bytes[1] as usize;
        if count > MAX_SUB_AUTHORITIES || bytes.len() != 8 + 4 * count {
            return Err(SidError(format!(
                "binary SID of {} bytes with {count} sub-authorities",
                bytes.len()
            )));
        }
        let authority = bytes[2..8]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let sub_authorities = bytes[8..]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Sid {
            revision: bytes[0],
            authority,
            sub_authorities,
        })
    }

    /// The binary form, as `objectSid` holds it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * self.sub_authorities.len());
        out.push(self.revision);
        out.push(self.sub_authorities.len() as u8);
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for s in &self.sub_authorities {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// The relative identifier: the last sub-authority.
    pub fn rid(&self) -> Option<u32> {
        self.sub_authorities.last().copied()
    }
}

impl FromStr for Sid {
    type Err = SidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            SidError(format!(
                "{s:?} (expected S-1-<authority>-<sub-authority>...)"
            ))
        };
        let rest = s
            .strip_prefix("S-")
            .or_else(|| s.strip_prefix("s-"))
            .ok_or_else(bad)?;
        let mut parts = rest.split('-');
        let revision: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if revision != 1 {
            return Err(bad());
        }
        let authority: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if authority >= 1 << 48 {
            return Err(bad());
        }
        let sub_authorities = parts
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                p.parse::<u32>().map_err(|_| bad())
            })
            .collect::<Result<Vec<_>, _>>()?;
        if sub_authorities.is_empty() || sub_authorities.len() > MAX_SUB_AUTHORITIES {
            return Err(bad());
        }
        Ok(Sid {
            revision,
            authority,
            sub_authorities,
        })
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-{}-{}", self.revision, self.authority)?;
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Sid {
    type Error = SidError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Sid> for String {
    fn from(s: Sid) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_round_trip() {
        let text = "S-1-5-21-3623811015-3361044348-30300820-1013";
        let sid: Sid = text.parse().unwrap();
        assert_eq!(sid.to_string(), text);
        let bytes = sid.to_bytes();
        assert_eq!(bytes.len(), 28);
        assert_eq!(&bytes[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
        assert_eq!(Sid::from_bytes(&bytes).unwrap(), sid);
        assert_eq!(sid.rid(), Some(1013));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "S-1",
            "S-1-5",
            "S-2-5-21",
            "S-1-5-x",
            "S-1-5-21-",
            "S-1-5-+1",
            "S-1-5-99999999999",
        ] {
            assert!(bad.parse::<Sid>().is_err(), "{bad:?} accepted");
        }
        assert!(Sid::from_bytes(&[1, 2, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0]).is_err());
    }
}
