//! Readiness of each forest: every DC reached and its TLS certificate, the
//! clock skew, and the action account's effective rights over every user,
//! read with allowedAttributesEffective (attribute writes) and the user's
//! DACL (the Reset Password control access right, which no constructed
//! attribute shows). The classification itself is `riposte_core::readiness`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::controls::{Control, ControlType, PagedResults, RawControl};
use ldap3::{Scope, SearchEntry};
use riposte_core::readiness::{
    AD_ACTIONS, CoverageBuilder, DcCheck, ForestReadiness, ReadinessProgress, ReadinessSource,
    TlsCheck, UserFacts,
};
use riposte_core::rights::{self, ActionAccount};
use riposte_core::security_descriptor::{self, AUTHENTICATED_USERS, EVERYONE};
use riposte_core::sid::Sid;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::{Credentials, TlsMode};
use crate::connection::{AdDirectory, Forest};

/// Users per page: AD's MaxPageSize default is 1000; 500 keeps each
/// response small while costing few round trips.
const PAGE_SIZE: i32 = 500;
/// Forests assessed at once.
const FOREST_CONCURRENCY: usize = 4;
const USERS: &str = "(&(objectCategory=person)(objectClass=user))";
const USER_ATTRIBUTES: &[&str] = &[
    "sAMAccountName",
    "userAccountControl",
    "adminCount",
    "allowedAttributesEffective",
    "nTSecurityDescriptor",
];
/// LDAP_SERVER_SD_FLAGS_OID asking for the DACL only (BER SEQUENCE { INTEGER 4 }):
/// a non-admin may read that part of a descriptor.
const SD_FLAGS_OID: &str = "1.2.840.113556.1.4.801";
const SD_FLAGS_DACL: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x04];

#[async_trait]
impl ReadinessSource for AdDirectory {
    async fn assess_forests(&self, progress: &ReadinessProgress) -> Vec<ForestReadiness> {
        let limit = Arc::new(Semaphore::new(FOREST_CONCURRENCY));
        let tasks = self.forests().iter().map(|forest| {
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await;
                assess_forest(forest, progress).await
            }
        });
        futures_util::future::join_all(tasks).await
    }
}

async fn assess_forest(forest: &Forest, progress: &ReadinessProgress) -> ForestReadiness {
    let s = &forest.settings;
    let bind_method = match (&s.credentials, &s.tls) {
        (Credentials::Keytab { principal, .. }, _) => {
            format!("Kerberos (GSSAPI) as {principal}, from a keytab")
        }
        (Credentials::Password(_), TlsMode::Ldaps) => "simple bind over LDAPS".into(),
        (Credentials::Password(_), TlsMode::Starttls) => "simple bind after StartTLS".into(),
        (Credentials::Password(_), TlsMode::None) => {
            "simple bind over plain LDAP (insecure: the password crosses the network in clear)"
                .into()
        }
    };
    let mut report = ForestReadiness {
        name: s.name.clone(),
        base_dn: s.base_dn.clone(),
        bind_method,
        action_account: None,
        dcs: Vec::new(),
        users_scanned: 0,
        ous: Vec::new(),
        coverage: Vec::new(),
        fixes: Vec::new(),
        error: None,
    };
    let mut scanner = None;
    for dc in &s.dcs {
        let mut check = DcCheck {
            url: dc.clone(),
            reached: false,
            error: None,
            tls: None,
            clock_skew_secs: None,
        };
        if let Some(config) = &forest.tls {
            match tls_check(dc, &s.tls, config.clone(), s.connect_timeout).await {
                Ok(tls) => check.tls = Some(tls),
                Err(e) => check.error = Some(e),
            }
        }
        match forest.open(dc).await {
            Ok(mut bound) => {
                check.reached = true;
                check.clock_skew_secs = clock_skew(&mut bound.ldap, s.operation_timeout).await;
                report.action_account.get_or_insert(bound.account.clone());
                if scanner.is_none() {
                    scanner = Some((dc.clone(), bound));
                } else {
                    let _ = bound.ldap.unbind().await;
                }
            }
            Err(e) => {
                check.error = Some(match check.error.take() {
                    Some(tls) => format!("{tls}; {e}"),
                    None => e.to_string(),
                })
            }
        }
        report.dcs.push(check);
    }
    let Some((dc, mut bound)) = scanner else {
        report.error = Some(format!(
            "no DC of forest {} could be reached and bound as {}; see each DC's error",
            s.name, s.bind_dn
        ));
        return report;
    };
    let token = token_sids(&mut bound.ldap, &bound.account, s).await;
    let mut builder = CoverageBuilder::new();
    if let Err(e) = scan_users(&mut bound.ldap, s, &token, &mut builder, &|n| {
        progress(&s.name, n)
    })
    .await
    {
        report.error = Some(format!(
            "the user search on {dc} stopped after {} users: {e}; the coverage below is partial",
            builder.users()
        ));
    }
    let _ = bound.ldap.unbind().await;
    let actions: Vec<&str> = AD_ACTIONS.iter().map(|a| a.as_str()).collect();
    report.users_scanned = builder.users();
    report.coverage = builder.coverage(&actions);
    report.ous = builder.ou_rights();
    report.fixes = builder.ad_fixes(&bound.account, &s.domain, &dc);
    report
}

/// The action account's SID, its groups (tokenGroups) and the well-known
/// SIDs every authenticated token holds.
async fn token_sids(
    ldap: &mut ldap3::Ldap,
    account: &ActionAccount,
    s: &crate::config::ForestSettings,
) -> Vec<Sid> {
    let mut sids: Vec<Sid> = [EVERYONE, AUTHENTICATED_USERS]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    if let Some(own) = account.sid.as_deref().and_then(|s| s.parse().ok()) {
        sids.push(own);
    }
    let found = ldap
        .with_timeout(s.operation_timeout)
        .search(
            &s.bind_dn,
            Scope::Base,
            "(objectClass=*)",
            vec!["tokenGroups"],
        )
        .await
        .and_then(|r| r.success());
    if let Ok((entries, _)) = found {
        for entry in entries {
            let entry = SearchEntry::construct(entry);
            for (name, values) in &entry.bin_attrs {
                if name.eq_ignore_ascii_case("tokenGroups") {
                    sids.extend(values.iter().filter_map(|v| Sid::from_bytes(v).ok()));
                }
            }
        }
    }
    sids
}

async fn scan_users(
    ldap: &mut ldap3::Ldap,
    s: &crate::config::ForestSettings,
    token: &[Sid],
    builder: &mut CoverageBuilder,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(), ldap3::LdapError> {
    let reset: Uuid = rights::RESET_PASSWORD.guid.parse().expect("constant GUID");
    let user_class: Uuid = rights::USER_CLASS_GUID.parse().expect("constant GUID");
    let sd_flags = RawControl {
        ctype: SD_FLAGS_OID.into(),
        crit: true,
        val: Some(SD_FLAGS_DACL.to_vec()),
    };
    let mut cookie = Vec::new();
    loop {
        let page: RawControl = PagedResults {
            size: PAGE_SIZE,
            cookie: std::mem::take(&mut cookie),
        }
        .into();
        let (entries, result) = ldap
            .with_controls(vec![sd_flags.clone(), page])
            .with_timeout(s.operation_timeout)
            .search(&s.base_dn, Scope::Subtree, USERS, USER_ATTRIBUTES.to_vec())
            .await?
            .success()?;
        for entry in entries {
            let entry = SearchEntry::construct(entry);
            // The action account acting on itself is no containment path.
            if riposte_core::dn::same(&entry.dn, &s.bind_dn) {
                continue;
            }
            builder.add_ad_user(&user_facts(&entry, token, reset, user_class));
        }
        progress(builder.users());
        cookie = result
            .ctrls
            .iter()
            .find_map(|Control(kind, raw)| match kind {
                Some(ControlType::PagedResults) if raw.val.is_some() => {
                    Some(raw.parse::<PagedResults>().cookie)
                }
                _ => None,
            })
            .unwrap_or_default();
        if cookie.is_empty() {
            return Ok(());
        }
    }
}

fn user_facts(entry: &SearchEntry, token: &[Sid], reset: Uuid, user_class: Uuid) -> UserFacts {
    let text = |name: &str| {
        entry
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let first = |name: &str| text(name).into_iter().next().unwrap_or_default();
    let descriptor = entry
        .bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("nTSecurityDescriptor"))
        .and_then(|(_, v)| v.first());
    // An unreadable descriptor grants nothing: readiness errs towards "not covered".
    let reset_password = descriptor
        .and_then(|sd| security_descriptor::parse_dacl(sd).ok())
        .is_some_and(|aces| {
            security_descriptor::grants_control_access(&aces, reset, user_class, token)
        });
    UserFacts {
        dn: entry.dn.clone(),
        sam_account_name: first("sAMAccountName"),
        user_account_control: first("userAccountControl").trim().parse().unwrap_or(0),
        admin_count: first("adminCount").trim() == "1",
        writable_attributes: text("allowedAttributesEffective"),
        reset_password,
    }
}

/// DC time minus local time, from the rootDSE's currentTime.
async fn clock_skew(ldap: &mut ldap3::Ldap, timeout: Duration) -> Option<i64> {
    let (entries, _) = ldap
        .with_timeout(timeout)
        .search("", Scope::Base, "(objectClass=*)", vec!["currentTime"])
        .await
        .ok()?
        .success()
        .ok()?;
    let entry = SearchEntry::construct(entries.into_iter().next()?);
    let value = entry.attrs.get("currentTime")?.first()?.clone();
    let dc = parse_generalized_time(&value)?;
    Some((dc - OffsetDateTime::now_utc()).whole_seconds())
}

/// `YYYYMMDDHHMMSS[.f]Z`, as AD writes currentTime.
pub(crate) fn parse_generalized_time(value: &str) -> Option<OffsetDateTime> {
    let digits = value.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !value.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        n(0..4)? as i32,
        time::Month::try_from(n(4..6)? as u8).ok()?,
        n(6..8)? as u8,
    )
    .ok()?;
    let t = time::Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc())
}

/// Host and port of an LDAP URL (default port by scheme).
pub(crate) fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let default = if scheme.eq_ignore_ascii_case("ldaps") {
        636
    } else {
        389
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default);
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

/// Opens a TLS session to the DC as riposte does (LDAPS, or StartTLS on the
/// LDAP port) and reports the certificate it presented. The handshake uses
/// the forest's own verifier, so `verified` means chain and name both held.
async fn tls_check(
    dc: &str,
    mode: &TlsMode,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> Result<TlsCheck, String> {
    let (host, port) = host_port(dc).ok_or_else(|| format!("{dc} is not an LDAP URL"))?;
    let name = ServerName::try_from(host.clone())
        .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
    let work = async {
        let mut tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("TCP connection to {host}:{port} failed: {e}"))?;
        if *mode == TlsMode::Starttls {
            start_tls(&mut tcp).await?;
        }
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {dc} failed: {e}"))?;
        let der = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| format!("{dc} presented no certificate"))?;
        Ok::<_, String>(der)
    };
    let der = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no TLS answer from {dc} within {} s", timeout.as_secs()))??;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("the certificate of {dc} cannot be parsed: {e}"))?;
    let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Ok(TlsCheck {
        mode: if *mode == TlsMode::Starttls {
            "starttls"
        } else {
            "ldaps"
        }
        .into(),
        verified: true,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after: riposte_core::time::rfc3339(not_after),
        days_left: (not_after - OffsetDateTime::now_utc()).whole_days(),
    })
}

/// The StartTLS extended operation (RFC 4511 4.14), by hand: one fixed
/// request, and the result code read from the response.
async fn start_tls(tcp: &mut TcpStream) -> Result<(), String> {
    const OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
    let mut request = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
    request.extend_from_slice(OID);
    tcp.write_all(&request)
        .await
        .map_err(|e| format!("StartTLS request failed: {e}"))?;
    let mut buf = vec![0u8; 512];
    let n = tcp
        .read(&mut buf)
        .await
        .map_err(|e| format!("StartTLS response failed: {e}"))?;
    let response = &buf[..n];
    // ExtendedResponse [APPLICATION 24], then resultCode ENUMERATED.
    let at = response
        .iter()
        .position(|b| *b == 0x78)
        .ok_or("the DC's StartTLS response is not an extended response")?;
    let code = response[at..]
        .windows(3)
        .find(|w| w[0] == 0x0a && w[1] == 0x01)
        .map(|w| w[2])
        .ok_or("the DC's StartTLS response has no result code")?;
    if code != 0 {
        return Err(format!("the DC refused StartTLS (LDAP result {code})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_and_urls_parse() {
        let t = parse_generalized_time("20261126204817.0Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_795_726_097);
        assert!(parse_generalized_time("2026112620481").is_none());
        assert!(parse_generalized_time("20261326204817.0Z").is_none());
        assert_eq!(
            host_port("ldaps://dc1.corp:636"),
            Some(("dc1.corp".into(), 636))
        );
        assert_eq!(host_port("ldap://10.0.0.1"), Some(("10.0.0.1".into(), 389)));
        assert_eq!(host_port("ldaps://[::1]"), Some(("::1".into(), 636)));
        assert_eq!(host_port("nonsense"), None);
    }
}
