//! The authorised caller, for the API and the portal alike: a handler names the
//! permission it needs in its signature (`caller: Authorised<permit::ReadJobs>` on the
//! API, `signed: Authorised<permit::ReadJobs, SignedIn>` on the portal), and the request
//! reaches it only if the front end authenticated the caller by its own rules (bearer
//! token or session cookie with the CSRF header for the API, the session cookie for the
//! portal: see [`crate::auth`]) and `riposte-core::policy` allowed that permission.
//! A refusal is answered the front end's way: JSON 403 naming the missing right, or the
//! portal's error page saying the same. Nothing here decides a permission.
//!
//! The permission is checked before the handler reads its request (path, query, body: the
//! extractor comes before them in every signature), as `Permission::Respond` asks: whoever
//! lacks it is refused the same way whatever they send.
//! Permissions that depend on what the request names (an action on one account, an
//! approval) are checked afterwards, where that is known (`Runner::check_request`, the
//! portal's confirm page).

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use riposte_core::policy::{self, Permission, Principal, Refusal};

use crate::AppState;
use crate::auth::{Caller, SignedIn};
use crate::error::ApiError;

/// A permission named by a type, so that a handler's signature says what it needs.
pub trait Permit {
    /// The policy's permission this type names.
    const PERMISSION: Permission<'static>;
}

/// The permissions a handler may need before it reads its request: one type each,
/// named as the policy's [`Permission`] variant it stands for.
pub mod permit {
    use super::{Permission, Permit};

    macro_rules! permits {
        ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
            $(#[$doc])*
            pub struct $name;
            impl Permit for $name {
                const PERMISSION: Permission<'static> = Permission::$name;
            }
        )*};
    }

    permits!(
        /// [`Permission::ReadIdentities`].
        ReadIdentities,
        /// [`Permission::ReadJobs`].
        ReadJobs,
        /// [`Permission::ReadAlerts`].
        ReadAlerts,
        /// [`Permission::Ingest`].
        Ingest,
        /// [`Permission::ReadReadiness`].
        ReadReadiness,
        /// [`Permission::RefreshReadiness`].
        RefreshReadiness,
        /// [`Permission::ControlBulk`].
        ControlBulk,
        /// [`Permission::Respond`].
        Respond,
        /// [`Permission::Administer`].
        Administer,
    );
}

/// How a front end authenticates its callers, and how it answers when the policy refuses one.
/// (Generic over the state only so that the extractor can be tested without a server.)
pub trait Authenticated<S = AppState>: FromRequestParts<S> + Send {
    /// Who is calling, as the policy sees them.
    fn principal(&self) -> &Principal;

    /// This front end's answer to a refusal: it names the missing right.
    fn refused(refusal: &Refusal) -> Self::Rejection;

    /// Whether the policy allows `wanted`: for what a page offers (which buttons it shows),
    /// never to let a request through (that is what the extractor and the Runner do).
    fn permits(&self, wanted: &Permission<'_>) -> bool {
        policy::authorize(self.principal(), wanted).is_ok()
    }
}

impl Authenticated for Caller {
    fn principal(&self) -> &Principal {
        &self.0
    }

    fn refused(refusal: &Refusal) -> ApiError {
        crate::error::forbidden(refusal)
    }
}

impl Authenticated for SignedIn {
    fn principal(&self) -> &Principal {
        &self.principal
    }

    fn refused(refusal: &Refusal) -> Response {
        crate::portal::PortalError::from(crate::error::forbidden(refusal)).into_response()
    }
}

/// A caller authenticated by front end `A` (the API's [`Caller`] unless named) whom the
/// policy allows `P`. It reads as the authenticated caller it holds (`caller.0`,
/// `signed.principal`, `signed.session`).
pub struct Authorised<P, A = Caller> {
    caller: A,
    permit: PhantomData<fn() -> P>,
}

impl<P, A> Deref for Authorised<P, A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.caller
    }
}

impl<P: Permit, A: Authenticated<S>, S: Send + Sync> FromRequestParts<S> for Authorised<P, A> {
    type Rejection = A::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = A::from_request_parts(parts, state).await?;
        policy::authorize(caller.principal(), &P::PERMISSION).map_err(|r| A::refused(&r))?;
        Ok(Authorised {
            caller,
            permit: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, StatusCode};
    use riposte_core::policy::Role;

    /// A front end whose caller's role is named by a header, answering a refusal with
    /// the API's JSON: enough to see what the extractor lets through.
    struct ByHeader(Principal);

    impl<S: Send + Sync> FromRequestParts<S> for ByHeader {
        type Rejection = ApiError;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
            let role = match parts.headers.get("role").and_then(|r| r.to_str().ok()) {
                Some("reader") => Role::Reader,
                Some("responder") => Role::Responder,
                Some("admin") => Role::Admin,
                Some("forwarder") => Role::Forwarder,
                _ => return Err(ApiError::unauthenticated("no role")),
            };
            Ok(ByHeader(Principal {
                name: format!("token:{role}"),
                role,
                scope: Default::default(),
                person: None,
            }))
        }
    }

    impl<S: Send + Sync> Authenticated<S> for ByHeader {
        fn principal(&self) -> &Principal {
            &self.0
        }

        fn refused(refusal: &Refusal) -> ApiError {
            crate::error::forbidden(refusal)
        }
    }

    async fn extract<P: Permit>(role: Option<&str>) -> Result<String, ApiError> {
        let mut request = Request::builder().uri("/");
        if let Some(role) = role {
            request = request.header("role", role);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        Authorised::<P, ByHeader>::from_request_parts(&mut parts, &())
            .await
            .map(|caller| caller.0.name.clone())
    }

    #[tokio::test]
    async fn the_extractor_lets_through_only_whom_the_policy_allows_the_named_permission() {
        assert_eq!(
            extract::<permit::ControlBulk>(Some("admin")).await.unwrap(),
            "token:admin"
        );
        assert!(extract::<permit::ReadJobs>(Some("reader")).await.is_ok());
        assert!(extract::<permit::Ingest>(Some("forwarder")).await.is_ok());
        for (role, wanted) in [
            ("reader", extract::<permit::Respond>(Some("reader")).await),
            (
                "reader",
                extract::<permit::ControlBulk>(Some("reader")).await,
            ),
            (
                "forwarder",
                extract::<permit::ReadJobs>(Some("forwarder")).await,
            ),
            (
                "reader",
                extract::<permit::RefreshReadiness>(Some("reader")).await,
            ),
        ] {
            let refused = wanted.err().unwrap_or_else(|| panic!("{role} let through"));
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
            assert_eq!(refused.code, "forbidden");
            assert!(refused.details.unwrap()["missing_right"].is_string());
        }
        // Authentication comes first: no caller, no policy question.
        let anonymous = extract::<permit::ReadJobs>(None).await.unwrap_err();
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn each_front_end_answers_a_refusal_its_own_way_naming_the_missing_right() {
        let reader = Principal {
            name: "user:rita".into(),
            role: Role::Reader,
            scope: Default::default(),
            person: Some("rita".into()),
        };
        let refusal = policy::authorize(&reader, &Permission::Respond).unwrap_err();
        let api = <Caller as Authenticated>::refused(&refusal);
        assert_eq!(api.status, StatusCode::FORBIDDEN);
        assert_eq!(
            api.details.unwrap()["missing_right"].as_str(),
            Some(refusal.missing.as_str())
        );
        let page = <SignedIn as Authenticated>::refused(&refusal);
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            page.headers()[axum::http::header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("Not permitted"), "{body}");
        assert!(body.contains(&refusal.missing), "{body}");
    }
}
