//! The directory adapter's view of one tenant: Graph's users read as
//! riposte's `CloudAccount`s, found by object id, UPN, mail or the AD SID
//! they are synced from. Graph is reached only through the client
//! ([`crate::graph::GraphClient`]); the actions are in `crate::actions`.

use riposte_core::cloud::CloudAccount;
use riposte_core::sid::Sid;
use serde_json::Value;

use crate::TenantSettings;
use crate::graph::{
    BatchRequest, BatchResponse, EntraError, GraphClient, MAX_PAGES, Method, encode_path,
    encode_query, odata_string,
};

/// The properties riposte reads of a user.
const SELECT: &str = "id,userPrincipalName,mail,displayName,userType,accountEnabled,onPremisesSyncEnabled,\
onPremisesSecurityIdentifier,onPremisesImmutableId,signInSessionsValidFromDateTime,passwordProfile";

/// One configured tenant: riposte's users and actions on its Graph client.
pub struct EntraTenant {
    pub(crate) graph: GraphClient,
}

impl EntraTenant {
    pub fn new(settings: TenantSettings) -> Result<Self, EntraError> {
        Ok(EntraTenant {
            graph: GraphClient::new(settings)?,
        })
    }

    pub fn name(&self) -> &str {
        self.graph.name()
    }

    fn account(&self, v: &Value) -> Result<CloudAccount, EntraError> {
        let text = |k: &str| v[k].as_str().map(String::from);
        Ok(CloudAccount {
            tenant: self.graph.name().to_string(),
            id: text("id").ok_or_else(|| self.graph.malformed("a user without id"))?,
            user_principal_name: text("userPrincipalName")
                .ok_or_else(|| self.graph.malformed("a user without userPrincipalName"))?,
            mail: text("mail"),
            display_name: text("displayName"),
            user_type: text("userType").unwrap_or_else(|| "Member".into()),
            account_enabled: v["accountEnabled"]
                .as_bool()
                .ok_or_else(|| self.graph.malformed("a user without accountEnabled"))?,
            synced: v["onPremisesSyncEnabled"].as_bool().unwrap_or(false),
            on_premises_sid: text("onPremisesSecurityIdentifier"),
            sessions_valid_from: text("signInSessionsValidFromDateTime"),
            force_change_password: v["passwordProfile"]["forceChangePasswordNextSignIn"].as_bool(),
            risk_state: None,
        })
    }

    /// One user by object id or UPN; `None` when Graph has no such user.
    pub async fn user(&self, id_or_upn: &str) -> Result<Option<CloudAccount>, EntraError> {
        let path = format!("/users/{}?$select={SELECT}", encode_path(id_or_upn));
        match self.graph.send(Method::GET, &path, None).await {
            Ok(body) => self.account(&body).map(Some),
            Err(EntraError::Graph { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Users matching an OData filter, following every `@odata.nextLink`.
    pub async fn users_where(&self, filter: &str) -> Result<Vec<CloudAccount>, EntraError> {
        let first = format!("/users?$filter={}&$select={SELECT}", encode_query(filter));
        let mut out = Vec::new();
        let ended = self
            .graph
            .for_each_page(first, MAX_PAGES, |answer| {
                let page = answer["value"]
                    .as_array()
                    .ok_or_else(|| self.graph.malformed("a user list without value"))?;
                for v in page {
                    out.push(self.account(v)?);
                }
                Ok(())
            })
            .await?;
        if ended {
            return Ok(out);
        }
        Err(self
            .graph
            .malformed(format!("more than {MAX_PAGES} pages of users for {filter}")))
    }

    /// Users a reference names: an object id, a UPN, a mail address or the
    /// AD objectSid the user is synced from.
    pub async fn find(&self, reference: &str) -> Result<Vec<CloudAccount>, EntraError> {
        if let Ok(sid) = reference.parse::<Sid>() {
            return self
                .users_where(&format!("onPremisesSecurityIdentifier eq '{sid}'"))
                .await;
        }
        if let Some(user) = self.user(reference).await? {
            return Ok(vec![user]);
        }
        if reference.contains('@') {
            return self
                .users_where(&format!("mail eq '{}'", odata_string(reference)))
                .await;
        }
        Ok(Vec::new())
    }

    /// Sends sub-requests through Graph's `$batch` (see [`GraphClient::batch`]).
    pub async fn batch(
        &self,
        requests: Vec<BatchRequest>,
    ) -> Result<Vec<BatchResponse>, EntraError> {
        self.graph.batch(requests).await
    }
}
