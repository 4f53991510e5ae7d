//! Readiness of each tenant: what the app's token carries (application
//! permissions in `roles`, directory roles in `wids`) and, for every user,
//! whether riposte's Graph actions would be accepted. The classification is
//! `riposte_core::readiness`.

use riposte_core::cloud::CloudAction;
use riposte_core::readiness::{
    CloudUserFacts, CoverageBuilder, ReadinessProgress, ReadinessSource, TenantReadiness,
};
use serde_json::Value;

use crate::graph::{EntraError, MAX_PAGES};
use crate::{EntraDirectory, EntraTenant};

const READINESS_SELECT: &str = "id,userPrincipalName,userType,onPremisesSyncEnabled";

#[async_trait::async_trait]
impl ReadinessSource for EntraDirectory {
    async fn assess_tenants(&self, progress: &ReadinessProgress) -> Vec<TenantReadiness> {
        let mut out = Vec::new();
        for tenant in &self.tenants {
            out.push(tenant.readiness(progress).await);
        }
        out
    }
}

impl EntraTenant {
    pub async fn readiness(&self, progress: &ReadinessProgress) -> TenantReadiness {
        let mut report = TenantReadiness {
            name: self.graph.name().to_string(),
            tenant_id: self.graph.settings().tenant_id.clone(),
            app_permissions: Vec::new(),
            directory_roles: Vec::new(),
            users_scanned: 0,
            coverage: Vec::new(),
            fixes: Vec::new(),
            error: None,
        };
        let token = match self.graph.access_token().await {
            Ok(t) => t,
            Err(e) => {
                report.error = Some(format!("no Graph token: {e}"));
                return report;
            }
        };
        match token_claims(&token) {
            Some((roles, wids)) => {
                report.app_permissions = roles;
                report.directory_roles = wids
                    .iter()
                    .map(|w| riposte_core::readiness::directory_role_name(w))
                    .collect();
            }
            None => report.error = Some(
                "the access token is not a JWT riposte can read, so its permissions are unknown; \
                     coverage below assumes none"
                    .into(),
            ),
        }
        let mut builder = CoverageBuilder::new();
        if let Err(e) = self
            .scan_users(&report.app_permissions, &mut builder, progress)
            .await
        {
            let partial = format!(
                "the user listing stopped after {} users: {e}; the coverage below is partial",
                builder.users()
            );
            report.error = Some(match report.error.take() {
                Some(first) => format!("{first}; {partial}"),
                None => partial,
            });
        }
        let actions: Vec<&str> = CloudAction::ALL.iter().map(|a| a.as_str()).collect();
        report.users_scanned = builder.users();
        report.coverage = builder.coverage(&actions);
        report.fixes = builder.cloud_fixes(self.graph.name(), &report.app_permissions);
        report
    }

    async fn scan_users(
        &self,
        roles: &[String],
        builder: &mut CoverageBuilder,
        progress: &ReadinessProgress,
    ) -> Result<(), EntraError> {
        let first = format!("/users?$select={READINESS_SELECT}&$top=999");
        let ended = self
            .graph
            .for_each_page(first, MAX_PAGES * 100, |answer| {
                let page = answer["value"]
                    .as_array()
                    .ok_or_else(|| self.graph.malformed("a user list without value"))?;
                for v in page {
                    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                    builder.add_cloud_user(
                        &CloudUserFacts {
                            id: text("id"),
                            user_principal_name: text("userPrincipalName"),
                            guest: text("userType").eq_ignore_ascii_case("guest"),
                            synced: v["onPremisesSyncEnabled"].as_bool().unwrap_or(false),
                        },
                        roles,
                    );
                }
                progress(self.graph.name(), builder.users());
                Ok(())
            })
            .await?;
        if ended {
            return Ok(());
        }
        Err(self
            .graph
            .malformed("the user listing never ended (too many pages)"))
    }
}

/// The `roles` and `wids` claims of a JWT access token. The signature is not
/// checked: this is riposte's own token, read only to report what it carries.
pub(crate) fn token_claims(token: &str) -> Option<(Vec<String>, Vec<String>)> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&base64url_decode(payload)?).ok()?;
    let list = |k: &str| -> Vec<String> {
        claims[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut roles = list("roles");
    roles.sort();
    Some((roles, list("wids")))
}

/// Unpadded (or padded) base64url; `None` on any other character.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_payload() {
        // {"roles":["User.Read.All","A"],"wids":["w"]}
        let payload = "eyJyb2xlcyI6WyJVc2VyLlJlYWQuQWxsIiwiQSJdLCJ3aWRzIjpbInciXX0";
        let (roles, wids) = token_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(roles, ["A", "User.Read.All"]);
        assert_eq!(wids, ["w"]);
        assert!(token_claims("opaque-token").is_none());
        assert!(token_claims("a.!!!.c").is_none());
        assert_eq!(base64url_decode("aGk").unwrap(), b"hi");
    }
}
