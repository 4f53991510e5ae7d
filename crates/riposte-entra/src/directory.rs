//! Every configured tenant as riposte's cloud directory (`CloudDirectory`).

use riposte_core::cloud::{CloudAccount, CloudAction, CloudDirectory, CloudError, CloudReport};
use riposte_core::outcome::Outcome;

use crate::TenantSettings;
use crate::graph::{EntraError, odata_string};
use crate::tenant::EntraTenant;

/// Every configured tenant, as riposte's cloud directory.
pub struct EntraDirectory {
    pub(crate) tenants: Vec<EntraTenant>,
}

impl EntraDirectory {
    pub fn new(settings: Vec<TenantSettings>) -> Result<Self, EntraError> {
        Ok(EntraDirectory {
            tenants: settings
                .into_iter()
                .map(EntraTenant::new)
                .collect::<Result<_, _>>()?,
        })
    }

    fn tenant(&self, name: &str) -> Result<&EntraTenant, CloudError> {
        self.tenants
            .iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| CloudError {
                tenant: name.to_string(),
                message: format!(
                    "no tenant named {name:?} is configured (configured: {})",
                    self.tenants
                        .iter()
                        .map(|t| t.name().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

fn cloud_error(tenant: &EntraTenant, e: EntraError) -> CloudError {
    CloudError {
        tenant: tenant.name().to_string(),
        message: e.to_string(),
    }
}

#[async_trait::async_trait]
impl CloudDirectory for EntraDirectory {
    fn tenant_names(&self) -> Vec<String> {
        self.tenants.iter().map(|t| t.name().to_string()).collect()
    }

    async fn find(
        &self,
        tenant: Option<&str>,
        reference: &str,
    ) -> Result<Vec<CloudAccount>, CloudError> {
        let mut out = Vec::new();
        for t in &self.tenants {
            if tenant.is_some_and(|name| !t.name().eq_ignore_ascii_case(name)) {
                continue;
            }
            out.extend(t.find(reference).await.map_err(|e| cloud_error(t, e))?);
        }
        if let Some(name) = tenant {
            self.tenant(name)?;
        }
        Ok(out)
    }

    async fn linked_to(&self, sid: &str) -> Result<Vec<CloudAccount>, CloudError> {
        let mut out = Vec::new();
        for t in &self.tenants {
            let filter = format!("onPremisesSecurityIdentifier eq '{}'", odata_string(sid));
            out.extend(
                t.users_where(&filter)
                    .await
                    .map_err(|e| cloud_error(t, e))?,
            );
        }
        Ok(out)
    }

    async fn execute(
        &self,
        tenant: &str,
        id: &str,
        action: CloudAction,
        with_mfa: bool,
    ) -> CloudReport {
        match self.tenant(tenant) {
            Ok(t) => t.execute(id, action, with_mfa).await,
            Err(e) => CloudReport {
                tenant: tenant.to_string(),
                user: id.to_string(),
                action,
                outcome: Outcome::Failed,
                message: e.to_string(),
                before: None,
                after: None,
                writes: Vec::new(),
            },
        }
    }
}
