//! Resolve: a reference as a person (or an alert) typed it, to the one
//! identity it names in the configured forests and Entra tenants, with all
//! its accounts. References are hostile input: they are parsed by
//! [`IdentityRef::parse`] before anything is searched, a forest or tenant
//! prefix must name one that is configured, and a reference that matches
//! several accounts is refused with the candidates listed, never guessed.

use riposte_core::account::AccountState;
use riposte_core::cloud::CloudAccount;
use riposte_core::containment::Identity;
use riposte_core::identity::IdentityRef;

use crate::{Runner, RunnerError};

/// What a request's reference resolved to.
#[derive(Debug, Clone)]
pub enum Target {
    Identity(Box<Identity>),
    /// The directory could not be searched: a job is recorded, and fails.
    Unreachable {
        forest: Option<String>,
        message: String,
    },
}

/// The outcome of a resolution: the account, or why the job must fail.
enum Resolved {
    Identity(Box<Identity>),
    /// The directory could not be searched: the job is recorded as failed.
    Unreachable {
        forest: Option<String>,
        message: String,
    },
}

impl Runner {
    /// Finds the one identity a reference names, with all its accounts.
    pub async fn find_identity(&self, reference: &str) -> Result<Identity, RunnerError> {
        match self
            .resolve(reference, &IdentityRef::parse(reference)?)
            .await?
        {
            Resolved::Identity(identity) => Ok(*identity),
            Resolved::Unreachable { message, .. } => Err(RunnerError::NotFound {
                kind: "reference",
                value: reference.to_string(),
                searched: message,
            }),
        }
    }

    pub(crate) fn tenant_named(&self, name: &str) -> bool {
        self.cloud.as_ref().is_some_and(|c| {
            c.tenant_names()
                .iter()
                .any(|t| t.eq_ignore_ascii_case(name))
        })
    }

    async fn resolve(&self, raw: &str, reference: &IdentityRef) -> Result<Resolved, RunnerError> {
        let raw = raw.trim();
        // A tenant prefix names a cloud identity: `contoso:bigbird@contoso.example`.
        if let Some(prefix) = &reference.forest
            && self.tenant_named(prefix)
        {
            let key = raw.split_once(':').map(|(_, k)| k).unwrap_or(raw);
            return self.resolve_cloud(Some(prefix), key).await;
        }
        let lookup = self.directory.lookup(reference).await;
        if let Some((_, e @ riposte_core::directory::DirectoryError::UnknownForest { .. })) =
            lookup.unreachable.first()
        {
            return Err(RunnerError::UnknownForest(e.to_string()));
        }
        match lookup.matches.len() {
            1 => {
                let ad = lookup.matches.into_iter().next().expect("one match");
                let (linked, cloud_error) = self.linked_accounts(&ad).await;
                Ok(Resolved::Identity(Box::new(Identity::from_ad(
                    ad,
                    linked,
                    cloud_error,
                ))))
            }
            0 if !lookup.unreachable.is_empty() => {
                let message = lookup
                    .unreachable
                    .iter()
                    .map(|(forest, e)| format!("forest {forest}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let forest = if lookup.unreachable.len() == 1 && lookup.searched.is_empty() {
                    Some(lookup.unreachable[0].0.clone())
                } else {
                    None
                };
                Ok(Resolved::Unreachable { forest, message })
            }
            0 => {
                if self.cloud.is_some() && reference.forest.is_none() {
                    match self.resolve_cloud(None, raw).await {
                        Err(RunnerError::NotFound { .. }) => {}
                        other => return other,
                    }
                }
                let mut searched: Vec<String> = lookup
                    .searched
                    .iter()
                    .map(|f| format!("forest {f}"))
                    .collect();
                if reference.forest.is_none()
                    && let Some(cloud) = &self.cloud
                {
                    searched.extend(cloud.tenant_names().iter().map(|t| format!("tenant {t}")));
                }
                let searched = if searched.is_empty() {
                    match &reference.key {
                        riposte_core::LookupKey::DistinguishedName(_) => format!(
                            "any configured forest (the DN is under none of: {})",
                            self.directory.forest_names().join(", ")
                        ),
                        _ => "no forest".to_string(),
                    }
                } else {
                    searched.join(", ")
                };
                Err(RunnerError::NotFound {
                    kind: reference.key.kind(),
                    value: reference.to_string(),
                    searched,
                })
            }
            _ => Err(RunnerError::Ambiguous {
                reference: reference.to_string(),
                candidates: lookup
                    .matches
                    .iter()
                    .map(|a| format!("  {}  ({})", a.reference(), a.dn))
                    .collect(),
            }),
        }
    }

    /// Entra accounts synced from this AD account; an error is kept, not
    /// hidden: containment of a possibly hybrid identity is then incomplete.
    pub(crate) async fn linked_accounts(
        &self,
        ad: &AccountState,
    ) -> (Vec<CloudAccount>, Option<String>) {
        match (&self.cloud, &ad.sid) {
            (Some(cloud), Some(sid)) => match cloud.linked_to(&sid.to_string()).await {
                Ok(linked) => (linked, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            },
            _ => (Vec::new(), None),
        }
    }

    async fn resolve_cloud(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Resolved, RunnerError> {
        let Some(cloud) = &self.cloud else {
            return Err(RunnerError::NotFound {
                kind: "Entra user",
                value: key.to_string(),
                searched: "no tenant".into(),
            });
        };
        match cloud.find(tenant, key).await {
            Err(e) => Ok(Resolved::Unreachable {
                forest: Some(e.tenant.clone()),
                message: e.to_string(),
            }),
            Ok(mut found) => match found.len() {
                1 => Ok(Resolved::Identity(Box::new(Identity::from_cloud(
                    found.remove(0),
                )))),
                0 => Err(RunnerError::NotFound {
                    kind: "Entra user",
                    value: key.to_string(),
                    searched: match tenant {
                        Some(t) => format!("tenant {t}"),
                        None => format!("tenant {}", cloud.tenant_names().join(", ")),
                    },
                }),
                _ => Err(RunnerError::Ambiguous {
                    reference: key.to_string(),
                    candidates: found
                        .iter()
                        .map(|c| format!("  {}  ({})", c.reference(), c.id))
                        .collect(),
                }),
            },
        }
    }

    /// Resolves a reference to the one account an action would target, or
    /// says that the directory could not be searched (the job then fails
    /// honestly). Bad references are errors: nothing is recorded for them.
    pub async fn resolve_target(&self, reference: &str) -> Result<Target, RunnerError> {
        Ok(
            match self
                .resolve(reference, &IdentityRef::parse(reference)?)
                .await?
            {
                Resolved::Identity(identity) => Target::Identity(identity),
                Resolved::Unreachable { forest, message } => {
                    Target::Unreachable { forest, message }
                }
            },
        )
    }
}
