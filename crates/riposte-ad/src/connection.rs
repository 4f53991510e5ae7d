//! Bound LDAP connections, a few per DC (`connections_per_dc`) shared by
//! every session and lookup, requests pipelined on each, with failover.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures_util::future::join_all;
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry, StdStream};
use riposte_core::account::AccountState;
use riposte_core::directory::{
    AccountSet, AccountSetError, Directory, DirectoryError, DirectorySession, Lookup, Read, Write,
    container_within,
};
use riposte_core::identity::{IdentityRef, LookupKey};
use riposte_core::rights::ActionAccount;
use rustls::ClientConfig;
use secrecy::ExposeSecret;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::config::{ConfigError, Credentials, ForestSettings, TlsMode};
use crate::container_rights::ContainerRights;
use crate::entry::{STATE_ATTRIBUTES, account_attributes, account_from_entry};
use crate::{filter, kerberos, tls};

/// LDAP result codes riposte tells apart (RFC 4511 appendix A).
mod rc {
    pub const STRONGER_AUTH_REQUIRED: u32 = 8;
    pub const NO_SUCH_ATTRIBUTE: u32 = 16;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS: u32 = 50;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
}

/// Connections a lookup may lose before it gives up (each a new connection).
const LOOKUP_ATTEMPTS: usize = 2;

/// All configured forests.
pub struct AdDirectory {
    forests: Vec<Arc<Forest>>,
    round_trips: Arc<AtomicU64>,
}

pub(crate) struct Forest {
    pub(crate) settings: ForestSettings,
    pub(crate) tls: Option<Arc<ClientConfig>>,
    /// Up to `connections_per_dc` bound connections per DC URL, shared by
    /// every session and lookup on it.
    pool: Mutex<HashMap<String, Vec<Arc<Bound>>>>,
    /// The action account's rights read once per OU.
    rights: ContainerRights,
    /// LDAP operations sent, shared with the directory (metrics).
    round_trips: Arc<AtomicU64>,
}

#[derive(Clone)]
pub(crate) struct Bound {
    pub(crate) ldap: ldap3::Ldap,
    pub(crate) account: ActionAccount,
}

impl AdDirectory {
    /// Prepares the forests (TLS configs); connects lazily, on first use.
    pub fn new(forests: Vec<ForestSettings>) -> Result<Self, ConfigError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let round_trips = Arc::new(AtomicU64::new(0));
        for settings in forests {
            if !seen.insert(settings.name.clone()) {
                return Err(ConfigError::Invalid {
                    forest: settings.name.clone(),
                    key: "name",
                    message: "two forests have this name".into(),
                });
            }
            let tls = match (&settings.tls, &settings.ca_file) {
                (TlsMode::None, _) => None,
                (_, Some(ca)) => Some(tls::client_config(&settings.name, ca)?),
                (_, None) => {
                    return Err(ConfigError::Invalid {
                        forest: settings.name.clone(),
                        key: "ca_file",
                        message: "required with TLS".into(),
                    });
                }
            };
            out.push(Arc::new(Forest {
                settings,
                tls,
                pool: Mutex::new(HashMap::new()),
                rights: ContainerRights::default(),
                round_trips: round_trips.clone(),
            }));
        }
        Ok(AdDirectory {
            forests: out,
            round_trips,
        })
    }

    pub(crate) fn forests(&self) -> &[Arc<Forest>] {
        &self.forests
    }

    fn forest(&self, name: &str) -> Result<&Arc<Forest>, DirectoryError> {
        self.forests
            .iter()
            .find(|f| f.settings.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| DirectoryError::UnknownForest {
                name: name.to_string(),
                configured: self.forest_names().join(", "),
            })
    }
}

#[async_trait]
impl Directory for AdDirectory {
    fn forest_names(&self) -> Vec<String> {
        self.forests
            .iter()
            .map(|f| f.settings.name.clone())
            .collect()
    }

    fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn forest_domain(&self, forest: &str) -> Option<String> {
        self.forest(forest).ok().map(|f| f.settings.domain.clone())
    }

    async fn lookup(&self, reference: &IdentityRef) -> Lookup {
        let mut result = Lookup::default();
        let forests: Vec<&Arc<Forest>> = match &reference.forest {
            Some(name) => match self.forest(name) {
                Ok(f) => vec![f],
                Err(e) => {
                    result.unreachable.push((name.clone(), e));
                    return result;
                }
            },
            None => self.forests.iter().collect(),
        };
        // Every forest at once (a connect and bind each): the answers are
        // taken in the configured order, as if asked one after the other.
        let answers = join_all(forests.iter().map(|f| f.find(&reference.key))).await;
        for (forest, answer) in forests.into_iter().zip(answers) {
            match answer {
                Ok(Some(mut found)) => {
                    result.searched.push(forest.settings.name.clone());
                    result.matches.append(&mut found);
                }
                Ok(None) => {}
                Err(e) => result.unreachable.push((forest.settings.name.clone(), e)),
            }
        }
        result
    }

    async fn search(&self, text: &str, limit: u32) -> Lookup {
        let mut result = Lookup::default();
        let answers = join_all(self.forests.iter().map(|f| f.search(text, limit))).await;
        for (forest, answer) in self.forests.iter().zip(answers) {
            match answer {
                Ok(mut found) => {
                    result.searched.push(forest.settings.name.clone());
                    result.matches.append(&mut found);
                }
                Err(e) => result.unreachable.push((forest.settings.name.clone(), e)),
            }
        }
        result
    }

    async fn accounts_in(
        &self,
        set: &AccountSet,
        limit: usize,
    ) -> Result<Vec<AccountState>, AccountSetError> {
        const USERS: &str = "(objectCategory=person)(objectClass=user)";
        match set {
            AccountSet::Ou { dn } => {
                let mut why = Vec::new();
                let forest = self
                    .forests
                    .iter()
                    .find(|f| match container_within(dn, &f.settings.base_dn) {
                        Ok(()) => true,
                        Err(e) => {
                            why.push(e);
                            false
                        }
                    })
                    .ok_or_else(|| {
                        AccountSetError::Invalid(format!(
                            "the OU must be inside a configured forest ({}): {}",
                            self.forests
                                .iter()
                                .map(|f| format!("{} = {}", f.settings.name, f.settings.base_dn))
                                .collect::<Vec<_>>()
                                .join(", "),
                            why.first().cloned().unwrap_or_default()
                        ))
                    })?;
                forest
                    .paged(dn.trim(), &format!("(&{USERS})"), limit, &set.to_string())
                    .await
            }
            AccountSet::Group { reference, nested } => {
                let parsed = IdentityRef::parse(reference)
                    .map_err(|e| AccountSetError::Invalid(format!("group {reference:?}: {e}")))?;
                let candidates: Vec<&Arc<Forest>> = match (&parsed.forest, &parsed.key) {
                    (Some(name), _) => vec![
                        self.forest(name)
                            .map_err(|e| AccountSetError::Invalid(e.to_string()))?,
                    ],
                    (None, LookupKey::DistinguishedName(dn)) => self
                        .forests
                        .iter()
                        .filter(|f| container_within(dn, &f.settings.base_dn).is_ok())
                        .collect(),
                    (None, _) => self.forests.iter().collect(),
                };
                let mut groups = Vec::new();
                for forest in candidates {
                    for dn in forest.find_group(&parsed.key).await? {
                        groups.push((forest.clone(), dn));
                    }
                }
                match groups.len() {
                    0 => Err(AccountSetError::Invalid(format!(
                        "no group matches {reference:?}; name it forest:sAMAccountName or by its DN"
                    ))),
                    1 => {
                        let (forest, group_dn) = groups.remove(0);
                        // The group's DN as the directory gave it, escaped into the filter.
                        // Nested: the DC walks the membership chain itself
                        // (LDAP_MATCHING_RULE_IN_CHAIN, which Samba and Windows
                        // both offer), cycles included; the set limit still holds.
                        let attribute = if *nested {
                            filter::MEMBER_OF_IN_CHAIN
                        } else {
                            "memberOf"
                        };
                        let filter = format!("(&{USERS}{})", filter::equals(attribute, &group_dn));
                        forest
                            .paged(
                                &forest.settings.base_dn.clone(),
                                &filter,
                                limit,
                                &set.to_string(),
                            )
                            .await
                    }
                    _ => Err(AccountSetError::Invalid(format!(
                        "{reference:?} matches {} groups ({}); name one by its DN",
                        groups.len(),
                        groups
                            .iter()
                            .map(|(_, dn)| dn.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))),
                }
            }
        }
    }

    async fn domain_controllers(&self, forest: &str) -> Result<Vec<String>, DirectoryError> {
        self.forest(forest)?.domain_controllers().await
    }

    async fn session(
        &self,
        forest: &str,
        preferred_dc: Option<&str>,
    ) -> Result<Box<dyn DirectorySession>, DirectoryError> {
        let forest = self.forest(forest)?.clone();
        let (dc, bound) = forest.connect_any(preferred_dc).await?;
        Ok(Box::new(AdSession { forest, dc, bound }))
    }
}

impl Forest {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// Counts one LDAP request/response exchange.
    fn round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// DCs in the order to try: the preferred one (if configured), then the rest.
    fn dc_order(&self, preferred: Option<&str>) -> Vec<String> {
        let mut order: Vec<String> = preferred
            .filter(|p| self.settings.dcs.iter().any(|d| d == p))
            .map(String::from)
            .into_iter()
            .collect();
        order.extend(
            self.settings
                .dcs
                .iter()
                .filter(|d| Some(d.as_str()) != preferred)
                .cloned(),
        );
        order
    }

    async fn connect_any(
        &self,
        preferred: Option<&str>,
    ) -> Result<(String, Arc<Bound>), DirectoryError> {
        let mut errors = Vec::new();
        for dc in self.dc_order(preferred) {
            match self.connect(&dc).await {
                Ok(bound) => return Ok((dc, bound)),
                Err(e @ DirectoryError::BindRefused { .. }) => return Err(e),
                Err(e) => {
                    warn!(forest = self.name(), %dc, error = %e, "domain controller unavailable, trying the next");
                    errors.push(e.to_string());
                }
            }
        }
        Err(DirectoryError::Unavailable {
            dc: format!(
                "every DC of forest {} ({})",
                self.name(),
                self.settings.dcs.join(", ")
            ),
            message: errors.join("; "),
        })
    }

    /// A pooled connection to `dc`: an idle one, else a new one while the
    /// DC has fewer than `connections_per_dc`, else the least shared (its
    /// requests are pipelined with the others' on it).
    async fn connect(&self, dc: &str) -> Result<Arc<Bound>, DirectoryError> {
        let mut pool = self.pool.lock().await;
        let open = pool.entry(dc.to_string()).or_default();
        open.retain(|bound| !bound.ldap.clone().is_closed());
        // Held only by the pool: nobody is using it.
        if let Some(idle) = open.iter().find(|b| Arc::strong_count(b) == 1) {
            return Ok(idle.clone());
        }
        if open.len() < self.settings.connections_per_dc {
            let bound = Arc::new(self.open(dc).await?);
            open.push(bound.clone());
            return Ok(bound);
        }
        let least_shared = open
            .iter()
            .min_by_key(|b| Arc::strong_count(b))
            .expect("connections_per_dc is at least 1");
        Ok(least_shared.clone())
    }

    async fn evict(&self, dc: &str) {
        self.pool.lock().await.remove(dc);
    }

    /// A new bound connection to `dc`, outside the pool.
    pub(crate) async fn open(&self, dc: &str) -> Result<Bound, DirectoryError> {
        let s = &self.settings;
        let mut conn_settings = LdapConnSettings::new()
            .set_conn_timeout(s.connect_timeout)
            .set_starttls(s.tls == TlsMode::Starttls);
        if let Some(config) = &self.tls {
            conn_settings = conn_settings.set_config(config.clone());
        }
        let unavailable = |e: LdapError| DirectoryError::Unavailable {
            dc: dc.to_string(),
            message: describe_ldap_error(&e, s),
        };
        let (conn, mut ldap) =
            tokio::time::timeout(s.connect_timeout, connect_without_delay(conn_settings, dc))
                .await
                .map_err(|_| DirectoryError::Unavailable {
                    dc: dc.to_string(),
                    message: format!("no answer within {} s", s.connect_timeout.as_secs()),
                })?
                .map_err(unavailable)?;
        let forest = self.name().to_string();
        let dc_name = dc.to_string();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                debug!(%forest, dc = %dc_name, error = %e, "LDAP connection closed");
            }
        });
        ldap.with_timeout(s.operation_timeout);
        self.round_trip();
        let bind = match &s.credentials {
            Credentials::Password(password) => {
                ldap.simple_bind(&s.bind_dn, password.expose_secret()).await
            }
            Credentials::Keytab { keytab, principal } => {
                kerberos::bind(&mut ldap, dc, keytab, principal)
                    .await
                    .map_err(|message| DirectoryError::BindRefused {
                        dc: dc.to_string(),
                        message,
                    })?
            }
        }
        .map_err(unavailable)?;
        if bind.rc != 0 {
            let message = match bind.rc {
                rc::INVALID_CREDENTIALS => format!(
                    "invalid credentials for the action account {} (check bind_dn and its password)",
                    s.bind_dn
                ),
                rc::STRONGER_AUTH_REQUIRED => format!(
                    "the DC requires an encrypted connection for a simple bind ({}); use tls = \"ldaps\" or \"starttls\"",
                    bind.text
                ),
                _ => format!("LDAP result {}: {}", bind.rc, bind.text),
            };
            return Err(DirectoryError::BindRefused {
                dc: dc.to_string(),
                message,
            });
        }
        let account = self.whoami(&mut ldap).await;
        debug!(forest = self.name(), %dc, "bound as the action account");
        Ok(Bound { ldap, account })
    }

    /// The action account's own SID and name, for delegation advice.
    async fn whoami(&self, ldap: &mut ldap3::Ldap) -> ActionAccount {
        let s = &self.settings;
        self.round_trip();
        let mut account = ActionAccount {
            dn: s.bind_dn.clone(),
            sam_account_name: None,
            sid: None,
        };
        let found = ldap
            .with_timeout(s.operation_timeout)
            .search(
                &s.bind_dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["objectSid", "sAMAccountName"],
            )
            .await
            .and_then(|r| r.success());
        if let Ok((entries, _)) = found
            && let Some(entry) = entries.into_iter().next()
        {
            let state = account_from_entry(self.name(), &SearchEntry::construct(entry), false);
            account.sam_account_name = Some(state.sam_account_name).filter(|n| !n.is_empty());
            account.sid = state.sid.map(|s| s.to_string());
        }
        account
    }

    /// Accounts whose names contain `text` (escaped: `*` in it is a plain star).
    async fn search(&self, text: &str, limit: u32) -> Result<Vec<AccountState>, DirectoryError> {
        let needle = filter::escape(text);
        let filter = format!(
            "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=*{needle}*)(userPrincipalName=*{needle}*)(displayName=*{needle}*)))"
        );
        let (dc, bound) = self.connect_any(None).await?;
        let mut ldap = bound.ldap.clone();
        self.round_trip();
        let found = ldap
            .with_timeout(self.settings.operation_timeout)
            .with_search_options(ldap3::SearchOptions::new().sizelimit(limit.clamp(1, 1000) as i32))
            .search(
                &self.settings.base_dn,
                Scope::Subtree,
                &filter,
                account_attributes(true),
            )
            .await;
        match found {
            // 4: sizeLimitExceeded, with the first `limit` entries.
            Ok(result) if result.1.rc == 0 || result.1.rc == 4 => Ok(result
                .0
                .into_iter()
                .map(|e| account_from_entry(self.name(), &SearchEntry::construct(e), true))
                .collect()),
            Ok(result) => Err(DirectoryError::Refused {
                dc,
                dn: self.settings.base_dn.clone(),
                code: result.1.rc,
                message: result.1.text,
            }),
            Err(e) => {
                self.evict(&dc).await;
                Err(DirectoryError::Unavailable {
                    dc,
                    message: describe_ldap_error(&e, &self.settings),
                })
            }
        }
    }

    /// The sAMAccountNames of this forest's domain controllers (see
    /// `Directory::domain_controllers`).
    async fn domain_controllers(&self) -> Result<Vec<String>, DirectoryError> {
        const DCS: &str = "(&(objectCategory=computer)(|(userAccountControl:1.2.840.113556.1.4.803:=8192)(primaryGroupID=516)))";
        let (dc, bound) = self.connect_any(None).await?;
        let mut ldap = bound.ldap.clone();
        self.round_trip();
        let found = ldap
            .with_timeout(self.settings.operation_timeout)
            .search(
                &self.settings.base_dn,
                Scope::Subtree,
                DCS,
                vec!["sAMAccountName"],
            )
            .await;
        match found {
            Ok(result) if result.1.rc == 0 => Ok(result
                .0
                .into_iter()
                .filter_map(|e| {
                    SearchEntry::construct(e)
                        .attrs
                        .remove("sAMAccountName")
                        .and_then(|mut v| v.pop())
                })
                .collect()),
            Ok(result) => Err(DirectoryError::Refused {
                dc,
                dn: self.settings.base_dn.clone(),
                code: result.1.rc,
                message: result.1.text,
            }),
            Err(e) => {
                self.evict(&dc).await;
                Err(DirectoryError::Unavailable {
                    dc,
                    message: describe_ldap_error(&e, &self.settings),
                })
            }
        }
    }

    /// The DNs of groups a key names in this forest (sAMAccountName or DN only).
    async fn find_group(&self, key: &LookupKey) -> Result<Vec<String>, AccountSetError> {
        const GROUPS: &str = "(objectClass=group)";
        let (base, scope, filter) = match key {
            LookupKey::SamAccountName(name) => (
                self.settings.base_dn.clone(),
                Scope::Subtree,
                format!("(&{GROUPS}{})", filter::equals("sAMAccountName", name)),
            ),
            LookupKey::DistinguishedName(dn) => {
                if container_within(dn, &self.settings.base_dn).is_err() {
                    return Ok(Vec::new());
                }
                (dn.trim().to_string(), Scope::Base, GROUPS.to_string())
            }
            _ => {
                return Err(AccountSetError::Invalid(
                    "name a group as forest:sAMAccountName or by its DN".into(),
                ));
            }
        };
        let (dc, bound) = self.connect_any(None).await?;
        let mut ldap = bound.ldap.clone();
        self.round_trip();
        let found = ldap
            .with_timeout(self.settings.operation_timeout)
            .search(&base, scope, &filter, vec!["distinguishedName"])
            .await;
        match found {
            Ok(result) if result.1.rc == rc::NO_SUCH_OBJECT => Ok(Vec::new()),
            Ok(result) if result.1.rc == 0 => Ok(result
                .0
                .into_iter()
                .map(|e| SearchEntry::construct(e).dn)
                .collect()),
            Ok(result) => Err(DirectoryError::Refused {
                dc,
                dn: base,
                code: result.1.rc,
                message: result.1.text,
            }
            .into()),
            Err(e) => {
                self.evict(&dc).await;
                Err(DirectoryError::Unavailable {
                    dc,
                    message: describe_ldap_error(&e, &self.settings),
                }
                .into())
            }
        }
    }

    /// Every user entry under `base` matching `filter`, page by page (the
    /// paged-results control), at most `limit`.
    async fn paged(
        &self,
        base: &str,
        filter: &str,
        limit: usize,
        what: &str,
    ) -> Result<Vec<AccountState>, AccountSetError> {
        use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
        let (dc, bound) = self.connect_any(None).await?;
        let mut ldap = bound.ldap.clone();
        let lost = |e: &LdapError| DirectoryError::Unavailable {
            dc: dc.clone(),
            message: describe_ldap_error(e, &self.settings),
        };
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(500)),
        ];
        self.round_trip();
        let mut stream = match ldap
            .with_timeout(self.settings.operation_timeout)
            .streaming_search_with(
                adapters,
                base,
                Scope::Subtree,
                filter,
                // Listing a set plans a bulk; each child reads its own rights.
                STATE_ATTRIBUTES.to_vec(),
            )
            .await
        {
            Ok(s) => s,
            Err(e) => {
                self.evict(&dc).await;
                return Err(lost(&e).into());
            }
        };
        let mut out = Vec::new();
        loop {
            match stream.next().await {
                Ok(Some(entry)) => {
                    if out.len() == limit {
                        let _ = stream.finish().await;
                        return Err(AccountSetError::TooMany {
                            set: what.to_string(),
                            limit,
                        });
                    }
                    out.push(account_from_entry(
                        self.name(),
                        &SearchEntry::construct(entry),
                        false,
                    ));
                }
                Ok(None) => break,
                Err(e) => {
                    self.evict(&dc).await;
                    return Err(lost(&e).into());
                }
            }
        }
        let result = stream.finish().await;
        match result.rc {
            0 => Ok(out),
            rc::NO_SUCH_OBJECT => Err(AccountSetError::Invalid(format!(
                "{base} does not exist in forest {}",
                self.name()
            ))),
            code => Err(result_error(&dc, base, code, &result.text).into()),
        }
    }

    /// Accounts matching a key in this forest; `Ok(None)` when the key
    /// cannot name anything in this forest (a DN outside its naming context).
    async fn find(&self, key: &LookupKey) -> Result<Option<Vec<AccountState>>, DirectoryError> {
        let Some(filter::UserSearch {
            base,
            subtree,
            filter,
        }) = filter::user_search(key, &self.settings.base_dn)
        else {
            return Ok(None);
        };
        let scope = if subtree { Scope::Subtree } else { Scope::Base };
        let mut lost = Vec::new();
        // A lookup only reads, so a connection lost under it is simply tried
        // again on a new one (the same DC first, then the next).
        for attempt in 0..LOOKUP_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            let (dc, bound) = match self.connect_any(None).await {
                Ok(found) => found,
                Err(e) if e.is_transient() => {
                    lost.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut ldap = bound.ldap.clone();
            self.round_trip();
            let found = ldap
                .with_timeout(self.settings.operation_timeout)
                .search(&base, scope, &filter, account_attributes(true))
                .await;
            return match found {
                Ok(result) if result.1.rc == rc::NO_SUCH_OBJECT => Ok(Some(Vec::new())),
                Ok(result) if result.1.rc == 0 => Ok(Some(
                    result
                        .0
                        .into_iter()
                        .map(|e| account_from_entry(self.name(), &SearchEntry::construct(e), true))
                        .collect(),
                )),
                Ok(result) => Err(DirectoryError::Refused {
                    dc,
                    dn: base,
                    code: result.1.rc,
                    message: result.1.text,
                }),
                Err(e) => {
                    self.evict(&dc).await;
                    let message = describe_ldap_error(&e, &self.settings);
                    warn!(forest = self.name(), %dc, error = %message, "connection lost during a lookup, trying again");
                    lost.push(format!("{dc}: {message}"));
                    continue;
                }
            };
        }
        Err(DirectoryError::Unavailable {
            dc: format!("forest {}", self.name()),
            message: format!(
                "no DC answered the lookup in {LOOKUP_ATTEMPTS} attempts ({})",
                lost.join("; ")
            ),
        })
    }
}

struct AdSession {
    forest: Arc<Forest>,
    dc: String,
    bound: Arc<Bound>,
}

impl AdSession {
    /// One base read of the account; with `rights`, the costly
    /// `allowedAttributesEffective` too.
    async fn read(&mut self, dn: &str, rights: bool) -> Result<AccountState, DirectoryError> {
        let timeout = self.forest.settings.operation_timeout;
        let attributes = account_attributes(rights);
        self.forest.round_trip();
        let mut ldap = self.bound.ldap.clone();
        let found = ldap
            .with_timeout(timeout)
            .search(dn, Scope::Base, "(objectClass=user)", attributes)
            .await;
        let result = match found {
            Ok(r) => r,
            Err(e) => return Err(self.lost(&e).await),
        };
        match result.1.rc {
            0 => result
                .0
                .into_iter()
                .next()
                .map(|e| account_from_entry(self.forest.name(), &SearchEntry::construct(e), rights))
                .ok_or_else(|| DirectoryError::NoSuchObject {
                    dc: self.dc.clone(),
                    dn: dn.to_string(),
                }),
            rc::NO_SUCH_OBJECT => Err(DirectoryError::NoSuchObject {
                dc: self.dc.clone(),
                dn: dn.to_string(),
            }),
            code => Err(result_error(&self.dc, dn, code, &result.1.text)),
        }
    }

    async fn lost(&self, e: &LdapError) -> DirectoryError {
        self.forest.evict(&self.dc).await;
        DirectoryError::Unavailable {
            dc: self.dc.clone(),
            message: describe_ldap_error(e, &self.forest.settings),
        }
    }
}

#[async_trait]
impl DirectorySession for AdSession {
    fn dc(&self) -> &str {
        &self.dc
    }

    fn action_account(&self) -> &ActionAccount {
        &self.bound.account
    }

    async fn read_account(&mut self, dn: &str, read: Read) -> Result<AccountState, DirectoryError> {
        match read {
            Read::State => self.read(dn, false).await,
            Read::StateAndRights => {
                let account = self.read(dn, true).await?;
                self.forest.rights.remember(&account);
                Ok(account)
            }
            Read::StateAndContainerRights => {
                let Some((writable, read_on)) = self.forest.rights.of_container(dn) else {
                    let account = self.read(dn, true).await?;
                    self.forest.rights.remember(&account);
                    return Ok(account);
                };
                let mut account = self.read(dn, false).await?;
                if account.admin_count {
                    // AdminSDHolder's rights, not the OU's: its own.
                    return self.read(dn, true).await;
                }
                account.writable_attributes = Some(writable);
                account.rights_read_on = Some(read_on);
                Ok(account)
            }
        }
    }

    async fn apply(&mut self, dn: &str, write: &Write) -> Result<(), DirectoryError> {
        let one = |v: Vec<u8>| HashSet::from([v]);
        let mods: Vec<Mod<Vec<u8>>> = match write {
            Write::UserAccountControl { expected, new } => vec![
                Mod::Delete(
                    b"userAccountControl".to_vec(),
                    one(expected.to_string().into_bytes()),
                ),
                Mod::Add(
                    b"userAccountControl".to_vec(),
                    one(new.to_string().into_bytes()),
                ),
            ],
            Write::PwdLastSetZero => vec![Mod::Replace(b"pwdLastSet".to_vec(), one(b"0".to_vec()))],
            Write::LockoutTimeZero => {
                vec![Mod::Replace(b"lockoutTime".to_vec(), one(b"0".to_vec()))]
            }
            Write::Password(password) => {
                let sealed = matches!(self.forest.settings.credentials, Credentials::Keytab { .. });
                if self.forest.settings.tls == TlsMode::None && !sealed {
                    return Err(DirectoryError::Config {
                        forest: self.forest.name().to_string(),
                        message: "a password can only be set over an encrypted connection; configure tls = \"ldaps\" or \"starttls\", or auth = \"gssapi\"".into(),
                    });
                }
                let quoted: Vec<u8> = format!("\"{}\"", password.expose_secret())
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect();
                vec![Mod::Replace(b"unicodePwd".to_vec(), one(quoted))]
            }
        };
        let timeout = self.forest.settings.operation_timeout;
        self.forest.round_trip();
        let mut ldap = self.bound.ldap.clone();
        let result = match ldap.with_timeout(timeout).modify(dn, mods).await {
            Ok(r) => r,
            Err(e) => return Err(self.lost(&e).await),
        };
        if result.rc == rc::INSUFFICIENT_ACCESS {
            // The rights remembered for its OU were not this account's.
            self.forest.rights.forget(dn);
        }
        match (result.rc, write) {
            (0, _) => Ok(()),
            (rc::NO_SUCH_ATTRIBUTE, Write::UserAccountControl { .. }) => {
                Err(DirectoryError::Conflict {
                    dc: self.dc.clone(),
                    dn: dn.to_string(),
                })
            }
            // The password policy's message names the rule; the value itself is never in it.
            (code, _) => Err(result_error(&self.dc, dn, code, &result.text)),
        }
    }
}

fn result_error(dc: &str, dn: &str, code: u32, text: &str) -> DirectoryError {
    let message = text.trim_end_matches('\0').trim().to_string();
    match code {
        rc::INSUFFICIENT_ACCESS => DirectoryError::InsufficientAccess {
            dc: dc.into(),
            dn: dn.into(),
            message,
        },
        rc::NO_SUCH_OBJECT => DirectoryError::NoSuchObject {
            dc: dc.into(),
            dn: dn.into(),
        },
        rc::BUSY | rc::UNAVAILABLE => DirectoryError::Unavailable {
            dc: dc.into(),
            message: format!("LDAP result {code}: {message}"),
        },
        _ => DirectoryError::Refused {
            dc: dc.into(),
            dn: dn.into(),
            code,
            message,
        },
    }
}

/// A transport error in words that say what to check.
/// Connects as ldap3 would, on a TCP stream with Nagle's algorithm off:
/// ldap3 leaves it on, so on every new connection the bind request, sent
/// right behind the TLS Finished, waited for the DC's delayed ACK (about
/// 40 ms on Linux) before it left. Each request is one write either way.
async fn connect_without_delay(
    settings: LdapConnSettings,
    dc: &str,
) -> Result<(LdapConnAsync, ldap3::Ldap), LdapError> {
    let tcp_url = dc.get(..dc.find("://").unwrap_or(0)).is_some_and(|scheme| {
        scheme.eq_ignore_ascii_case("ldap") || scheme.eq_ignore_ascii_case("ldaps")
    });
    let settings = match crate::readiness::host_port(dc).filter(|_| tcp_url) {
        Some((host, port)) => {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            settings.set_std_stream(StdStream::Tcp(tcp.into_std()?))
        }
        None => settings,
    };
    LdapConnAsync::with_settings(settings, dc).await
}

fn describe_ldap_error(e: &LdapError, settings: &ForestSettings) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("invalid peer")
    {
        let ca = settings
            .ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return format!(
            "TLS certificate verification failed ({text}); the DC's certificate must be signed by the CA in {ca} and name the host in the URL"
        );
    }
    if let LdapError::Timeout { .. } = e {
        return format!(
            "no answer within {} s ({text})",
            settings.operation_timeout.as_secs()
        );
    }
    text
}
