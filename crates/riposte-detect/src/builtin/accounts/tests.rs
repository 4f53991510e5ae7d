use super::test_support::{alerts, ev, rule_ids, subject};
use super::*;
use crate::DetectConfig;

fn created(
    id: u32,
    secs: i64,
    who: &[(&'static str, String); 3],
    name: &str,
    rid: u32,
    privs: &str,
) -> IdentityEvent {
    let sid = format!("S-1-5-21-1-2-3-{rid}");
    ev(
        id,
        secs,
        who,
        &[
            ("TargetUserName", name),
            ("TargetDomainName", "CORP"),
            ("TargetSid", &sid),
            ("SamAccountName", name),
            ("PrivilegeList", privs),
        ],
    )
}

fn removed(
    id: u32,
    secs: i64,
    who: &[(&'static str, String); 3],
    name: &str,
    rid: u32,
) -> IdentityEvent {
    let sid = format!("S-1-5-21-1-2-3-{rid}");
    ev(
        id,
        secs,
        who,
        &[
            ("TargetUserName", name),
            ("TargetDomainName", "CORP"),
            ("TargetSid", &sid),
        ],
    )
}

#[test]
fn admin_like_names_are_tokens_not_substrings() {
    for n in [
        "admin-kriss",
        "adminupn42",
        "adm_jdoe",
        "jdoe-adm",
        "sqladmin",
        "Administrator2",
        "CORP\\administrateur",
        "Администратор1",
        "root",
        "krbtgt2",
        "krbtg",
        "krb-tgt",
        "adm1jdoe",
    ] {
        assert!(admin_like(n), "{n}");
    }
    for n in [
        "adamson",
        "badminton",
        "admiral",
        "jdoe",
        "admission",
        "madmax",
        "kristen",
        "badmin",
    ] {
        assert!(!admin_like(n), "{n}");
    }
}

#[test]
fn a_computer_created_through_machine_account_quota_is_reported() {
    let user = subject("lambda", 1158);
    let a = alerts(
        DetectConfig::default(),
        &[created(
            4741,
            0,
            &user,
            "EVIL$",
            2001,
            "SeMachineAccountPrivilege",
        )],
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule_id, COMPUTER_BY_NON_ADMIN.0);
    assert_eq!(a[0].technique.as_deref(), Some("T1136"));
    assert_eq!(a[0].entities.actors, vec!["CORP\\lambda".to_string()]);
    assert_eq!(a[0].entities.users, vec!["CORP\\EVIL$".to_string()]);
    // A computer account creating one (the relay step of RBCD) is reported too.
    let pc = subject("WS01$", 1300);
    assert_eq!(
        rule_ids(
            DetectConfig::default(),
            &[created(4741, 0, &pc, "EVIL$", 2001, "-")]
        ),
        vec![COMPUTER_BY_NON_ADMIN.0.to_string()]
    );
}

#[test]
fn computers_joined_by_admins_or_system_are_not_reported() {
    // An admin (or a join account with rights on the OU) needs no privilege; SYSTEM
    // creates machine accounts itself; a configured join account is trusted.
    let admin = subject("helpdesk-join", 1200);
    let system = [
        ("SubjectUserName", "DC1$".to_string()),
        ("SubjectDomainName", "CORP".to_string()),
        ("SubjectUserSid", "S-1-5-18".to_string()),
    ];
    let events = [
        created(4741, 0, &admin, "WS42$", 2001, "-"),
        created(
            4741,
            10,
            &system,
            "WS43$",
            2002,
            "SeMachineAccountPrivilege",
        ),
    ];
    assert!(rule_ids(DetectConfig::default(), &events).is_empty());
    let cfg = DetectConfig {
        admins: vec!["joiner".into()],
        ..DetectConfig::default()
    };
    let joiner = subject("joiner", 1201);
    assert!(
        rule_ids(
            cfg,
            &[created(
                4741,
                0,
                &joiner,
                "WS44$",
                2003,
                "SeMachineAccountPrivilege"
            )]
        )
        .is_empty()
    );
}

#[test]
fn a_user_named_like_a_computer_is_reported_and_real_machine_accounts_are_not() {
    let user = subject("lambda", 1158);
    assert_eq!(
        rule_ids(
            DetectConfig::default(),
            &[created(4720, 0, &user, "FAKE-PC$", 2001, "-")]
        ),
        vec![COMPUTER_LIKE_USER.0.to_string()]
    );
    // A trust account made through 4720 carries the SAM interdomain-trust flag (0x40).
    let mut trust = created(4720, 0, &user, "PARTNER$", 2002, "-");
    trust.new_uac = Some(0x40);
    assert!(rule_ids(DetectConfig::default(), &[trust]).is_empty());
    // A user renamed to a `$` name is the same disguise; noPac's rename back is not.
    let rename = |secs, old: &str, new: &str, rid: u32| {
        let sid = format!("S-1-5-21-1-2-3-{rid}");
        ev(
            4781,
            secs,
            &user,
            &[
                ("OldTargetUserName", old),
                ("NewTargetUserName", new),
                ("TargetDomainName", "CORP"),
                ("TargetSid", &sid),
            ],
        )
    };
    assert_eq!(
        rule_ids(DetectConfig::default(), &[rename(0, "bob", "bob$", 2003)]),
        vec![COMPUTER_LIKE_USER.0.to_string()]
    );
    // noPac's rename and its rename back: the Kerberos pack's alert, never a disguise.
    let spoofing = crate::builtin::rules::SAM_NAME_SPOOFING.0;
    let ids = rule_ids(
        DetectConfig::default(),
        &[
            rename(0, "PC9$", "DC1", 2004),
            rename(60, "DC1", "PC9$", 2004),
        ],
    );
    assert!(ids.iter().all(|id| id == spoofing), "{ids:?}");
}

#[test]
fn admin_like_accounts_by_ordinary_users_are_reported() {
    let user = subject("lambda", 1158);
    let a = alerts(
        DetectConfig::default(),
        &[created(4720, 0, &user, "admin-kriss", 2001, "-")],
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule_id, ADMIN_LIKE_CREATED.0);
    // A user named as the DC is too.
    assert_eq!(
        rule_ids(
            DetectConfig::default(),
            &[created(4720, 0, &user, "DC1", 2002, "-")]
        ),
        vec![ADMIN_LIKE_CREATED.0.to_string()]
    );
}

#[test]
fn ordinary_names_and_admins_creating_admin_accounts_are_not_reported() {
    let user = subject("lambda", 1158);
    let admin = subject("adm-ops", 1100);
    let builtin = subject("Administrator", 500);
    let events = [
        created(4720, 0, &user, "adamson", 2001, "-"),
        created(4720, 1, &user, "badminton", 2002, "-"),
        created(4720, 2, &user, "j.doe", 2003, "-"),
        created(4720, 3, &admin, "adm-jdoe", 2004, "-"),
        created(4720, 4, &builtin, "admin-backup", 2005, "-"),
    ];
    assert!(rule_ids(DetectConfig::default(), &events).is_empty());
    // Admin workstations are commonly named ADM-...: only a bare admin word counts.
    let joiner = subject("jsmith", 1202);
    assert!(
        rule_ids(
            DetectConfig::default(),
            &[created(4741, 5, &joiner, "ADM-WS01$", 2006, "-")]
        )
        .is_empty()
    );
    assert_eq!(
        rule_ids(
            DetectConfig::default(),
            &[created(4741, 6, &joiner, "ADMIN01$", 2007, "-")]
        ),
        vec![ADMIN_LIKE_CREATED.0.to_string()]
    );
}

#[test]
fn local_accounts_on_a_host_are_reported_and_domain_or_system_ones_are_not() {
    let user = subject("jdoe", 1158);
    let local = |who: &[(&'static str, String); 3], name: &str, domain: &str| {
        let mut e = ev(
            4720,
            0,
            who,
            &[
                ("TargetUserName", name),
                ("TargetDomainName", domain),
                ("TargetSid", "S-1-5-21-9-9-9-1001"),
                ("SamAccountName", name),
            ],
        );
        e.computer = Some("WS01.corp.test".into());
        e
    };
    assert_eq!(
        rule_ids(DetectConfig::default(), &[local(&user, "support", "WS01")]),
        vec![LOCAL_ACCOUNT.0.to_string()]
    );
    let system = [
        ("SubjectUserName", "WS01$".to_string()),
        ("SubjectDomainName", "CORP".to_string()),
        ("SubjectUserSid", "S-1-5-18".to_string()),
    ];
    let events = [
        local(&user, "support", "CORP"),
        local(&system, "defaultuser0", "WS01"),
    ];
    assert!(rule_ids(DetectConfig::default(), &events).is_empty());
}

#[test]
fn accounts_created_and_deleted_within_minutes_are_reported() {
    let user = subject("lambda", 1158);
    let a = alerts(
        DetectConfig::default(),
        &[
            created(4720, 0, &user, "tmpuser", 2001, "-"),
            removed(4726, 78, &user, "tmpuser", 2001),
        ],
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule_id, CREATED_DELETED.0);
    assert_eq!(a[0].event_count, 1);
    assert!(
        a[0].description.contains("78 seconds"),
        "{}",
        a[0].description
    );
    // A computer created (or first set up: password set, enabled) then deleted.
    let admin = subject("it-ops", 1100);
    assert_eq!(
        rule_ids(
            DetectConfig::default(),
            &[
                created(4741, 0, &admin, "TMP$", 2002, "-"),
                removed(4743, 120, &admin, "TMP$", 2002),
            ]
        ),
        vec![CREATED_DELETED.0.to_string()]
    );
    let mut setup = ev(
        4742,
        0,
        &user,
        &[
            ("TargetUserName", "HIDDEN$"),
            ("TargetSid", "S-1-5-21-1-2-3-2003"),
            ("OldUacValue", "0x85"),
            ("NewUacValue", "0x84"),
            ("PasswordLastSet", "-"),
        ],
    );
    setup.computer = Some("dc1.corp.test".into());
    assert_eq!(
        rule_ids(
            DetectConfig::default(),
            &[setup, removed(4743, 3, &user, "HIDDEN$", 2003)]
        ),
        vec![CREATED_DELETED.0.to_string()]
    );
}

#[test]
fn kept_accounts_late_deletions_and_decommissions_are_not_reported() {
    let admin = subject("it-ops", 1100);
    let events = [
        // A new hire created and kept.
        created(4720, 0, &admin, "newhire", 2001, "-"),
        // A test account deleted after a day.
        created(4720, 10, &admin, "testacct", 2002, "-"),
        removed(4726, 86_400, &admin, "testacct", 2002),
        // A computer rotating its own password, then decommissioned minutes later;
        // a computer disabled, then deleted.
        ev(
            4742,
            90_000,
            &subject("WS7$", 2003),
            &[
                ("TargetUserName", "WS7$"),
                ("TargetSid", "S-1-5-21-1-2-3-2003"),
                ("PasswordLastSet", "1/2/2026 9:00:00 AM"),
            ],
        ),
        removed(4743, 90_060, &admin, "WS7$", 2003),
        ev(
            4742,
            90_100,
            &admin,
            &[
                ("TargetUserName", "WS8$"),
                ("TargetSid", "S-1-5-21-1-2-3-2004"),
                ("OldUacValue", "0x80"),
                ("NewUacValue", "0x81"),
            ],
        ),
        removed(4743, 90_160, &admin, "WS8$", 2004),
    ];
    assert!(rule_ids(DetectConfig::default(), &events).is_empty());
}

#[test]
fn renames_to_admin_like_names_are_reported_once_and_others_are_not() {
    let actor = subject("admmig", 1111);
    let rename = |secs, old: &str, new: &str| {
        ev(
            4781,
            secs,
            &actor,
            &[
                ("OldTargetUserName", old),
                ("NewTargetUserName", new),
                ("TargetDomainName", "CORP"),
                ("TargetSid", "S-1-5-21-1-2-3-1239"),
            ],
        )
    };
    let a = alerts(
        DetectConfig::default(),
        &[rename(0, "hacker42", "adminupn42")],
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule_id, RENAMED_ADMIN_LIKE.0);
    assert_eq!(a[0].technique.as_deref(), Some("T1098"));
    assert_eq!(a[0].entities.users, vec!["CORP\\adminupn42".to_string()]);
    let benign = [
        rename(0, "jdoe", "john.doe"),
        rename(1, "adm-jdoe", "adm-john.doe"),
        rename(2, "mary", "badminton-club"),
        // noPac's rename is the Kerberos pack's alert, not this one.
        rename(3, "PC9$", "DC1"),
        rename(4, "WS01$", "ADM-WS01$"),
    ];
    // noPac's rename is the Kerberos pack's alert (nopac.rs), and only that.
    let spoofing = crate::builtin::rules::SAM_NAME_SPOOFING.0.to_string();
    assert_eq!(rule_ids(DetectConfig::default(), &benign), vec![spoofing]);
}
