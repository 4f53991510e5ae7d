//! Directory events as the lab's DCs write them, for the ingest and detection tests.

/// A Samba `auth_json_audit` record exactly as the lab's DCs write it: a header line, then
/// the JSON record indented on its own line.
pub fn samba_failure(account: &str, remote: &str, n: u32) -> String {
    let now = time::OffsetDateTime::now_utc();
    let ts = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    );
    format!(
        "[{}/{:02}/{:02} {:02}:{:02}:{:02}.{:06},  2] ../../auth/auth_log.c:635(log_authentication_event_json)\n  {{\"timestamp\": \"{ts}\", \"type\": \"Authentication\", \"Authentication\": {{\"version\": {{\"major\": 1, \"minor\": 2}}, \"eventId\": 4625, \"logonId\": \"aaaaf37259c44a{n:02}\", \"logonType\": 3, \"status\": \"NT_STATUS_WRONG_PASSWORD\", \"localAddress\": null, \"remoteAddress\": \"ipv4:{remote}:5589{n}\", \"serviceDescription\": \"Kerberos KDC\", \"authDescription\": \"ENC-TS Pre-authentication\", \"clientDomain\": null, \"clientAccount\": \"{account}@CORP.EXAMPLE.TEST\", \"workstation\": null, \"becameAccount\": \"{account}\", \"becameDomain\": \"CORP\", \"becameSid\": \"S-1-5-21-1331024846-3291293027-3750222647-15{n:02}\", \"mappedAccount\": \"{account}\", \"mappedDomain\": \"CORP\", \"netlogonComputer\": null, \"netlogonTrustAccount\": null, \"netlogonNegotiateFlags\": \"0x00000000\", \"netlogonSecureChannelType\": 0, \"netlogonTrustAccountSid\": null, \"passwordType\": \"aes256-cts-hmac-sha1-96\", \"duration\": 3692}}}}\n",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

pub const SPRAYED: [&str; 7] = ["ernie", "bert", "grover", "elmo", "oscar", "cookie", "zoe"];

pub fn spray(remote: &str) -> String {
    SPRAYED
        .iter()
        .enumerate()
        .map(|(i, u)| samba_failure(u, remote, i as u32))
        .collect()
}

/// Now, as Windows writes `TimeCreated/@SystemTime`.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
