//! Forged Kerberos tickets (T1558.001): service tickets for an account no DC issued a TGT
//! to (once the DCs' TGTs have been watched for a whole TGT lifetime), and tickets or
//! logons whose Kerberos fields no DC writes (a realm in lower case, mimikatz's
//! `eo.oe.kiwi`, a name that does not belong to the SID the DC issued TGTs for).

use std::collections::{HashMap, HashSet, VecDeque};

use riposte_events::{IdentityEvent, SourceFormat};

use super::field;
use super::kerb_util::{account_name, realm_of};
use super::{BuiltinPack, host_label, lower_short};
use crate::alert::{Alert, Severity};

pub const TGS_WITHOUT_TGT: (&str, &str, &str) = (
    "riposte.service_ticket_without_tgt",
    "Forged Kerberos ticket: service ticket for an account no DC issued a TGT to",
    "T1558.001",
);
pub const FORGED_TICKET_FIELDS: (&str, &str, &str) = (
    "riposte.forged_ticket_fields",
    "Forged Kerberos ticket: Kerberos fields no domain controller writes",
    "T1558.001",
);

/// A gap this long between a DC's Kerberos events means its log was interrupted: TGTs may
/// have been issued unseen, so watching that DC starts again.
const KDC_GAP_SECS: i64 = 60 * 60;

/// What the DCs' own Kerberos events showed.
#[derive(Default)]
pub(super) struct TicketState {
    /// Account (lower case, `$` kept) -> last TGT issued or renewed for it.
    tgts: HashMap<String, i64>,
    /// Realms (upper case) the watched DCs issue TGTs for.
    realms: HashSet<String>,
    /// DC label -> (watched since, last Kerberos event).
    watched: HashMap<String, (i64, i64)>,
    /// Account SID (upper case) -> the name the DC issued a TGT under (lower case).
    sid_names: HashMap<String, String>,
    /// Service tickets without a TGT, held until `due` (stream time): DCs' logs arrive out
    /// of order, so the TGT may be on its way from another DC.
    pending: VecDeque<Pending>,
    /// Last TGT issued under a UPN (`first.last@suffix`): service tickets then name the
    /// account by its sAMAccountName, which cannot be matched to it.
    upn_tgt: Option<i64>,
}

struct Pending {
    due: i64,
    ticket_time: i64,
    account: String,
    alert: Alert,
}

/// Most service tickets held at once (dropping one can only miss an alert).
const MAX_PENDING: usize = 1_000;

/// The built-in Administrator's name in the languages Windows ships: a forged ticket
/// for RID 500 usually carries another name (the tools' default is any name the attacker
/// types), while a DC writes the account's real one.
const ADMIN_NAMES: [&str; 10] = [
    "administrator",
    "administrateur",
    "administrador",
    "administratör",
    "amministratore",
    "järjestelmänvalvoja",
    "rendszergazda",
    "администратор",
    "beheerder",
    "administratorius",
];

fn succeeded(ev: &IdentityEvent) -> bool {
    !ev.failed()
}

/// A realm or domain in a form the DC never writes: an FQDN with lower-case letters
/// (DCs write realms in upper case), or mimikatz's default.
fn forged_domain(domain: &str) -> Option<&'static str> {
    let d = domain.trim();
    if d.to_ascii_lowercase().contains("eo.oe.kiwi") {
        return Some("mimikatz's default domain eo.oe.kiwi");
    }
    if d.contains('.') && d.bytes().any(|b| b.is_ascii_lowercase()) {
        return Some("a realm in lower case (DCs write realms in upper case)");
    }
    None
}

impl BuiltinPack {
    /// Feeds every KDC event (4768, 4769, 4770, 4771): which DCs are watched since when,
    /// which accounts got TGTs, and which name each SID has.
    pub(super) fn watch_tickets(&mut self, ev: &IdentityEvent, now: i64, out: &mut Vec<Alert>) {
        self.record_tickets(ev, now);
        // Held tickets whose grace is over: reported unless their TGT showed up meanwhile.
        let lifetime = self.cfg.tgt_lifetime_secs.max(1);
        let st = &mut self.tickets;
        while st.pending.front().is_some_and(|p| p.due <= now) {
            let Some(p) = st.pending.pop_front() else {
                break;
            };
            let tgt_seen = st
                .tgts
                .get(&p.account)
                .is_some_and(|t| *t >= p.ticket_time - lifetime)
                || st.upn_tgt.is_some_and(|t| t >= p.ticket_time - lifetime);
            if !tgt_seen {
                out.push(p.alert);
            }
        }
    }

    fn record_tickets(&mut self, ev: &IdentityEvent, now: i64) {
        let Some(dc) = ev.computer.as_deref().map(host_label) else {
            return;
        };
        let cap = self.cfg.max_groups.max(1);
        let st = &mut self.tickets;
        if st.tgts.len() >= cap || st.watched.len() >= cap || st.sid_names.len() >= cap {
            // Forgetting TGTs could only invent missing ones: start watching again instead.
            st.tgts.clear();
            st.watched.clear();
            st.sid_names.clear();
            st.pending.clear();
            st.upn_tgt = None;
        }
        let entry = st.watched.entry(dc).or_insert((now, now));
        if now - entry.1 > KDC_GAP_SECS {
            entry.0 = now;
        }
        entry.1 = entry.1.max(now);
        if !succeeded(ev) {
            return;
        }
        let Some(name) = field(ev, "TargetUserName").map(account_name) else {
            return;
        };
        let service = field(ev, "ServiceName").unwrap_or("").to_ascii_lowercase();
        let tgt = ev.event_id == 4768
            || ev.event_id == 4770
            || (ev.event_id == 4769 && (service == "krbtgt" || service.starts_with("krbtgt/")));
        if tgt {
            st.tgts.insert(name.clone(), now);
        }
        if ev.event_id == 4768 {
            if let Some(realm) = field(ev, "TargetDomainName")
                && st.realms.len() < 64
            {
                st.realms.insert(realm.to_ascii_uppercase());
            }
            // A UPN logon names the account as typed (`first.last@suffix`), not by its
            // sAMAccountName, which is what logons show: only plain names are the SID's.
            let plain = field(ev, "TargetUserName").is_some_and(|n| !n.contains('@'));
            if !plain {
                st.upn_tgt = Some(now);
            }
            if let Some(sid) = field(ev, "TargetSid").filter(|s| s.starts_with("S-1-5-21-"))
                && plain
            {
                st.sid_names.insert(sid.to_ascii_uppercase(), name);
            }
        }
    }

    /// A rename (4781) changes the name a SID legitimately has.
    pub(super) fn ticket_names_renamed(&mut self, ev: &IdentityEvent) {
        if let (Some(sid), Some(new)) = (field(ev, "TargetSid"), field(ev, "NewTargetUserName")) {
            let sid = sid.to_ascii_uppercase();
            if self.tickets.sid_names.contains_key(&sid) {
                self.tickets.sid_names.insert(sid, account_name(new));
            }
        }
    }

    /// Every DC this pack knows of has been watched issuing TGTs for a whole TGT lifetime.
    fn tgts_watched_long_enough(&self, dc: &str, now: i64) -> bool {
        let lifetime = self.cfg.tgt_lifetime_secs.max(1);
        let long = |label: &str| {
            self.tickets
                .watched
                .get(label)
                .is_some_and(|(since, _)| now - since >= lifetime)
        };
        long(dc)
            && self.learned_dcs.iter().all(|d| long(d))
            && self
                .cfg
                .domain_controllers
                .iter()
                .all(|d| long(&host_label(&lower_short(d))))
    }

    /// 4769: a service ticket for a user no watched DC issued (or renewed) a TGT to within
    /// a TGT lifetime: the TGT was made without the DC (golden ticket).
    /// Held for `max_event_skew_secs` of stream time; [`Self::watch_tickets`] reports it.
    pub(super) fn tgs_without_tgt_rule(&mut self, ev: &IdentityEvent, now: i64) {
        if !succeeded(ev) || field(ev, "TransmittedServices").is_some() {
            // S4U2proxy tickets name a user who never asked for a TGT: delegation, not forgery.
            return;
        }
        let (Some(dc), Some(raw)) = (
            ev.computer.as_deref().map(host_label),
            field(ev, "TargetUserName"),
        ) else {
            return;
        };
        let name = account_name(raw);
        let service = field(ev, "ServiceName").unwrap_or("").to_ascii_lowercase();
        if name.ends_with('$') || service == "krbtgt" || service.starts_with("krbtgt/") {
            return;
        }
        // Cross-realm users bring TGTs from their own realm's DCs.
        let Some(realm) = realm_of(ev).map(|r| r.to_ascii_uppercase()) else {
            return;
        };
        let lifetime = self.cfg.tgt_lifetime_secs.max(1);
        // The usual case first: the account's TGT was seen.
        if self
            .tickets
            .tgts
            .get(&name)
            .is_some_and(|t| now - t <= lifetime)
        {
            return;
        }
        // While UPN logons happen, a TGT cannot be matched to its service tickets' names.
        let upn_logons = self.tickets.upn_tgt.is_some_and(|t| now - t <= lifetime);
        if upn_logons
            || !self.tickets.realms.contains(&realm)
            || !self.tgts_watched_long_enough(&dc, now)
        {
            return;
        }
        if self.fresh(TGS_WITHOUT_TGT.0, name.clone(), now) {
            let alert = self.single(
                TGS_WITHOUT_TGT,
                Severity::Critical,
                format!(
                    "{} got a service ticket for {} from {} with no TGT issued or renewed by any watched DC in the last {} hours: the TGT was likely forged (golden ticket)",
                    ev.target.display(),
                    field(ev, "ServiceName").unwrap_or("a service"),
                    ev.computer.as_deref().unwrap_or("a DC"),
                    lifetime / 3600
                ),
                ev,
            );
            let grace = i64::try_from(self.cfg.max_event_skew_secs)
                .unwrap_or(i64::MAX)
                .max(1);
            let pending = &mut self.tickets.pending;
            if pending.len() >= MAX_PENDING {
                pending.pop_front();
            }
            pending.push_back(Pending {
                due: now.saturating_add(grace),
                ticket_time: now,
                account: name,
                alert,
            });
        }
    }

    /// 4769, 4624, 4672, 4634: Kerberos fields no DC would produce.
    pub(super) fn forged_fields_rule(
        &mut self,
        ev: &IdentityEvent,
        now: i64,
        out: &mut Vec<Alert>,
    ) {
        if !succeeded(ev) || ev.format == SourceFormat::Samba {
            return;
        }
        let kerberos_logon = ev.event_id == 4624
            && field(ev, "AuthenticationPackageName")
                .is_some_and(|p| p.eq_ignore_ascii_case("Kerberos"));
        let mut why: Option<String> = None;
        for key in ["TargetDomainName", "SubjectDomainName"] {
            let Some(d) = field(ev, key) else { continue };
            match forged_domain(d) {
                // The kiwi default is forged wherever it shows.
                Some(w) if w.contains("kiwi") => why = Some(format!("{key} {d:?} is {w}")),
                // Case only counts where the DC writes the field from the ticket: a service
                // ticket's realm and a Kerberos logon's domain (NTLM logons carry what the
                // client typed).
                Some(w)
                    if key == "TargetDomainName"
                        && (matches!(ev.event_id, 4768 | 4769) || kerberos_logon) =>
                {
                    why = Some(format!("{key} {d:?} is {w}"))
                }
                _ => {}
            }
            if why.is_some() {
                break;
            }
        }
        if why.is_none()
            && ev.event_id == 4769
            && let Some(realm) = field(ev, "TargetUserName")
                .and_then(|n| n.split_once('@'))
                .map(|(_, r)| r)
            && let Some(w) = forged_domain(realm)
        {
            why = Some(format!("the account's realm {realm:?} is {w}"));
        }
        if why.is_none() && kerberos_logon {
            let sid = field(ev, "TargetUserSid").map(str::to_ascii_uppercase);
            let name = field(ev, "TargetUserName").map(account_name);
            if let (Some(sid), Some(name)) = (sid, name) {
                match self.tickets.sid_names.get(&sid) {
                    Some(real) if *real != name => {
                        why = Some(format!(
                            "the ticket names {name:?} but the DC issued TGTs for {sid} as {real:?}"
                        ));
                    }
                    // The domain's built-in Administrator under a name it never has (a
                    // renamed Administrator is learned from its own TGTs above).
                    None if sid.starts_with("S-1-5-21-")
                        && sid.ends_with("-500")
                        && !ADMIN_NAMES.contains(&name.to_lowercase().as_str()) =>
                    {
                        why = Some(format!(
                            "the ticket names {name:?} for the built-in Administrator's SID {sid}"
                        ));
                    }
                    _ => {}
                }
            }
        }
        let Some(why) = why else { return };
        let key = format!(
            "{}|{}|{why}",
            ev.event_id,
            ev.target.key().unwrap_or_default()
        );
        if self.fresh(FORGED_TICKET_FIELDS.0, key, now) {
            out.push(self.single(
                FORGED_TICKET_FIELDS,
                Severity::Critical,
                format!(
                    "event {} for {} on {}: {why}; a forged ticket (golden or silver) is the likely cause",
                    ev.event_id,
                    ev.target.display(),
                    ev.computer.as_deref().unwrap_or("an unknown host")
                ),
                ev,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kerb_util::fixtures::win;
    use crate::{DetectConfig, Detector};

    fn rules(d: &mut Detector, ev: &riposte_events::IdentityEvent) -> Vec<String> {
        d.process(ev).into_iter().map(|a| a.rule_id).collect()
    }

    fn tgt(time: &str, user: &str) -> riposte_events::IdentityEvent {
        win(
            4768,
            time,
            "dc1.corp.test",
            &[
                ("TargetUserName", user),
                ("TargetDomainName", "CORP.TEST"),
                ("TargetSid", "S-1-5-21-1-2-3-1105"),
                ("ServiceName", "krbtgt"),
                ("Status", "0x0"),
                ("PreAuthType", "2"),
                ("TicketEncryptionType", "0x12"),
                ("IpAddress", "::ffff:10.0.0.5"),
            ],
        )
    }

    fn tgs(time: &str, user: &str) -> riposte_events::IdentityEvent {
        win(
            4769,
            time,
            "dc1.corp.test",
            &[
                ("TargetUserName", user),
                ("TargetDomainName", "CORP.TEST"),
                ("ServiceName", "CIFS01$"),
                ("Status", "0x0"),
                ("TicketEncryptionType", "0x12"),
                ("TicketOptions", "0x40810000"),
                ("IpAddress", "::ffff:10.0.0.5"),
            ],
        )
    }

    #[test]
    fn a_service_ticket_without_a_tgt_is_forged_only_after_a_whole_tgt_lifetime_of_watching() {
        let mut d = Detector::builtin();
        // The recording starts mid-day: bob's TGT was issued before it.
        assert!(rules(&mut d, &tgt("2026-01-01T08:00:00Z", "alice")).is_empty());
        assert!(rules(&mut d, &tgs("2026-01-01T08:01:00Z", "bob@CORP.TEST")).is_empty());
        // DC activity continues all day (no gap), alice renews as usual.
        for h in 9..=19 {
            let t = format!("2026-01-01T{h:02}:00:00Z");
            assert!(rules(&mut d, &tgt(&t, "alice")).is_empty());
            assert!(rules(&mut d, &tgs(&t, "alice@CORP.TEST")).is_empty(), "{t}");
        }
        // Now ten hours of TGTs have been seen: a ticket for bob with no TGT is forged,
        // reported once another DC's late log had its grace (five minutes) to show the TGT.
        assert!(rules(&mut d, &tgs("2026-01-01T19:30:00Z", "bob@CORP.TEST")).is_empty());
        // A normal TGT then TGS flow stays quiet.
        assert!(rules(&mut d, &tgt("2026-01-01T19:31:00Z", "carol")).is_empty());
        assert!(rules(&mut d, &tgs("2026-01-01T19:32:00Z", "carol@CORP.TEST")).is_empty());
        let got = rules(&mut d, &tgt("2026-01-01T19:36:00Z", "carol"));
        assert_eq!(got, vec!["riposte.service_ticket_without_tgt"]);
    }

    #[test]
    fn upn_logons_hold_the_rule_back() {
        let cfg = DetectConfig {
            tgt_lifetime_secs: 60,
            ..DetectConfig::default()
        };
        let mut d = Detector::new(cfg, None);
        assert!(rules(&mut d, &tgt("2026-01-01T08:00:00Z", "alice")).is_empty());
        assert!(
            rules(
                &mut d,
                &tgt("2026-01-01T08:05:00Z", "bob.smith@corp.example")
            )
            .is_empty()
        );
        // bsmith's service ticket may be bob.smith's TGT: no way to tell, no alert.
        assert!(rules(&mut d, &tgs("2026-01-01T08:05:01Z", "bsmith@CORP.TEST")).is_empty());
        assert!(rules(&mut d, &tgt("2026-01-01T08:11:00Z", "alice")).is_empty());
    }

    #[test]
    fn a_tgt_logged_late_by_another_dc_clears_the_ticket() {
        let cfg = DetectConfig {
            tgt_lifetime_secs: 60,
            ..DetectConfig::default()
        };
        let mut d = Detector::new(cfg, None);
        assert!(rules(&mut d, &tgt("2026-01-01T08:00:00Z", "alice")).is_empty());
        assert!(rules(&mut d, &tgs("2026-01-01T08:02:00Z", "dave@CORP.TEST")).is_empty());
        // dave's TGT, from the other DC's log, is read after his service ticket.
        let mut late = tgt("2026-01-01T08:01:59Z", "dave");
        late.computer = Some("dc2.corp.test".into());
        assert!(rules(&mut d, &late).is_empty());
        assert!(rules(&mut d, &tgt("2026-01-01T08:20:00Z", "alice")).is_empty());
    }

    #[test]
    fn a_gap_in_the_dc_log_starts_the_watch_again() {
        let mut d = Detector::builtin();
        assert!(rules(&mut d, &tgt("2026-01-01T00:00:00Z", "alice")).is_empty());
        for h in 1..=11 {
            let t = format!("2026-01-01T{h:02}:00:00Z");
            assert!(rules(&mut d, &tgt(&t, "alice")).is_empty());
        }
        // Three hours without any Kerberos event from the DC: its log was interrupted.
        assert!(rules(&mut d, &tgs("2026-01-01T14:30:00Z", "bob@CORP.TEST")).is_empty());
    }

    #[test]
    fn delegation_cross_realm_and_machine_tickets_are_not_forged() {
        let cfg = DetectConfig {
            tgt_lifetime_secs: 60,
            ..DetectConfig::default()
        };
        let mut d = Detector::new(cfg, None);
        assert!(rules(&mut d, &tgt("2026-01-01T08:00:00Z", "alice")).is_empty());
        assert!(rules(&mut d, &tgt("2026-01-01T08:05:00Z", "alice")).is_empty());
        let mut s4u = tgs("2026-01-01T08:06:00Z", "bob@CORP.TEST");
        s4u.data
            .insert("TransmittedServices".into(), "web01$@CORP.TEST".into());
        assert!(rules(&mut d, &s4u).is_empty());
        assert!(rules(&mut d, &tgs("2026-01-01T08:06:00Z", "eve@OTHER.TEST")).is_empty());
        assert!(rules(&mut d, &tgs("2026-01-01T08:06:00Z", "WS01$@CORP.TEST")).is_empty());
        assert!(rules(&mut d, &tgs("2026-01-01T08:06:00Z", "bob@CORP.TEST")).is_empty());
        assert_eq!(
            rules(&mut d, &tgt("2026-01-01T08:11:00Z", "alice")),
            vec!["riposte.service_ticket_without_tgt"]
        );
    }

    #[test]
    fn lower_case_realms_and_kiwi_domains_are_forged_fields() {
        let mut d = Detector::builtin();
        let mut asked = tgt("2026-01-01T07:59:00Z", "Administrator");
        asked
            .data
            .insert("TargetDomainName".into(), "offsec.lan".into());
        assert_eq!(rules(&mut d, &asked), vec!["riposte.forged_ticket_fields"]);
        let mut golden = tgs("2026-01-01T08:00:00Z", "Administrator@offsec.lan");
        golden
            .data
            .insert("TargetDomainName".into(), "offsec.lan".into());
        assert_eq!(rules(&mut d, &golden), vec!["riposte.forged_ticket_fields"]);
        let kiwi = win(
            4672,
            "2026-01-01T08:00:01Z",
            "srv1.corp.test",
            &[
                ("SubjectUserName", "Administrator"),
                ("SubjectDomainName", "eo.oe.kiwi :)"),
                ("SubjectUserSid", "S-1-5-21-1-2-3-500"),
            ],
        );
        assert_eq!(rules(&mut d, &kiwi), vec!["riposte.forged_ticket_fields"]);
        // A Kerberos logon with a lower-case FQDN domain.
        let logon = win(
            4624,
            "2026-01-01T08:00:02Z",
            "srv1.corp.test",
            &[
                ("TargetUserName", "fakeadmin"),
                ("TargetDomainName", "corp.test"),
                ("TargetUserSid", "S-1-5-21-1-2-3-500"),
                ("LogonType", "3"),
                ("AuthenticationPackageName", "Kerberos"),
                ("LogonProcessName", "Kerberos"),
                ("IpAddress", "10.0.0.9"),
            ],
        );
        assert_eq!(rules(&mut d, &logon), vec!["riposte.forged_ticket_fields"]);
    }

    #[test]
    fn what_dcs_and_ntlm_clients_write_is_not_forged() {
        let mut d = Detector::builtin();
        assert!(rules(&mut d, &tgs("2026-01-01T08:00:00Z", "admmig@OFFSEC.LAN")).is_empty());
        // The DC's own Kerberos logon names its realm in upper case.
        let own = win(
            4624,
            "2026-01-01T08:00:01Z",
            "dc1.corp.test",
            &[
                ("TargetUserName", "DC1$"),
                ("TargetDomainName", "CORP.TEST"),
                ("TargetUserSid", "S-1-5-18"),
                ("LogonType", "3"),
                ("AuthenticationPackageName", "Kerberos"),
                ("IpAddress", "::1"),
            ],
        );
        assert!(rules(&mut d, &own).is_empty());
        // NTLM carries the domain the client typed.
        let ntlm = win(
            4624,
            "2026-01-01T08:00:02Z",
            "srv1.corp.test",
            &[
                ("TargetUserName", "bob"),
                ("TargetDomainName", "corp.test"),
                ("TargetUserSid", "S-1-5-21-1-2-3-1105"),
                ("LogonType", "3"),
                ("AuthenticationPackageName", "NTLM"),
                ("LogonProcessName", "NtLmSsp "),
                ("KeyLength", "128"),
                ("IpAddress", "10.0.0.9"),
            ],
        );
        assert!(rules(&mut d, &ntlm).is_empty());
    }

    #[test]
    fn a_logon_whose_name_is_not_the_sids_is_forged() {
        let mut d = Detector::builtin();
        let mut t = tgt("2026-01-01T08:00:00Z", "Administrator");
        t.data
            .insert("TargetSid".into(), "S-1-5-21-1-2-3-500".into());
        assert!(rules(&mut d, &t).is_empty());
        let logon = |name: &str| {
            win(
                4624,
                "2026-01-01T08:05:00Z",
                "srv1.corp.test",
                &[
                    ("TargetUserName", name),
                    ("TargetDomainName", "CORP"),
                    ("TargetUserSid", "S-1-5-21-1-2-3-500"),
                    ("LogonType", "3"),
                    ("AuthenticationPackageName", "Kerberos"),
                    ("IpAddress", "10.0.0.9"),
                ],
            )
        };
        assert!(rules(&mut d, &logon("Administrator")).is_empty());
        assert_eq!(
            rules(&mut d, &logon("helpdesk7")),
            vec!["riposte.forged_ticket_fields"]
        );
        // Without any TGT seen for RID 500, a name the built-in Administrator never has.
        let mut d = Detector::builtin();
        assert!(rules(&mut d, &logon("Administrateur")).is_empty());
        assert_eq!(
            rules(&mut d, &logon("fakeuser")),
            vec!["riposte.forged_ticket_fields"]
        );
        // A UPN logon's TGT names the account as typed: it teaches nothing about the SID.
        let mut d = Detector::builtin();
        let mut t = tgt("2026-01-01T08:00:00Z", "bob.smith@corp.example");
        t.data
            .insert("TargetSid".into(), "S-1-5-21-1-2-3-1105".into());
        assert!(rules(&mut d, &t).is_empty());
        let bsmith = win(
            4624,
            "2026-01-01T08:05:00Z",
            "srv1.corp.test",
            &[
                ("TargetUserName", "bsmith"),
                ("TargetDomainName", "CORP"),
                ("TargetUserSid", "S-1-5-21-1-2-3-1105"),
                ("LogonType", "3"),
                ("AuthenticationPackageName", "Kerberos"),
                ("IpAddress", "10.0.0.9"),
            ],
        );
        assert!(rules(&mut d, &bsmith).is_empty());
        // A renamed Administrator whose own TGTs the DC issued is not forged.
        let mut d = Detector::builtin();
        let mut t = tgt("2026-01-01T08:00:00Z", "corp-adm");
        t.data
            .insert("TargetSid".into(), "S-1-5-21-1-2-3-500".into());
        assert!(rules(&mut d, &t).is_empty());
        assert!(rules(&mut d, &logon("corp-adm")).is_empty());
    }

    #[test]
    fn a_recording_that_starts_mid_day_raises_no_forged_ticket() {
        use crate::builtin::dev_recordings::{alerts_with, rules_and_techniques};
        // Its service tickets' TGTs were issued before it began; even a one-minute
        // lifetime finds no realm whose TGTs were watched.
        let cfg = DetectConfig {
            tgt_lifetime_secs: 60,
            ..DetectConfig::default()
        };
        let got = rules_and_techniques(&alerts_with("kerberoast-rc4-4769.evtx", cfg));
        assert_eq!(
            got,
            vec![("riposte.kerberoasting".to_string(), "T1558.003".to_string())]
        );
    }
}
