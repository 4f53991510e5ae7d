//! The behaviour every [`Ledger`](crate::Ledger) backend must show, as a job
//! store, an audit log, a bulk, token, people and alert store, and as one of
//! two nodes on the same ledger.
//!
//! A backend's tests run it with [`conformance_tests!`](crate::conformance_tests),
//! which makes one `#[tokio::test]` per check, each on a fresh store, so one
//! failing check hides none of the others. The checks that need the
//! backend's own hand (a trigger refusing records, a signing key, alerts
//! backdated in SQL) are called by the backend's tests directly:
//! [`a_job_is_not_stored_when_its_request_record_is_not`],
//! [`a_job_is_not_finished_when_its_outcome_record_is_not`],
//! [`a_bulk_keeps_its_state_when_its_record_is_not`] (see
//! [`REFUSED_RECORD_TARGET`]), [`checkpoints_follow_every_append_path`] and
//! [`retention_removes_only_alerts_before_the_cut`].

mod alerts;
mod approval;
mod audit;
mod bulk;
mod changes;
mod checkpoints;
mod jobs;
mod multi_node;
mod people;
mod recorded;
mod retention;
mod sign_in;
mod support;
mod tokens;

pub use alerts::alerts_append_filter_and_page;
pub use approval::{
    a_bulk_awaiting_approval_never_runs_until_a_second_person_decides,
    a_job_awaiting_approval_is_never_claimed_until_approved, a_rejected_job_is_finished_as_denied,
};
pub use audit::{
    audit_records_chain_and_page, audit_records_read_back_as_appended,
    concurrent_appends_form_one_chain, the_first_audit_record_links_to_genesis,
};
pub use bulk::{
    bulk_children_are_created_together_and_counted, bulk_children_run_only_while_their_bulk_runs,
};
pub use changes::{
    a_job_change_on_one_node_is_signalled_on_the_other,
    every_job_change_is_signalled_once_committed,
};
pub use checkpoints::checkpoints_follow_every_append_path;
pub use jobs::{
    a_finished_job_never_changes, a_job_that_never_started_can_finish,
    claim_next_takes_the_oldest_queued_job_once, create_and_read_back,
    idempotency_key_returns_the_first_job, idempotency_keys_belong_to_their_caller,
    list_filters_and_pages, only_one_worker_claims_a_job, only_the_owner_records_progress,
    only_the_owner_renews_a_lease, short_ids_find_jobs, take_over_is_exclusive,
};
pub use multi_node::{
    an_expired_lease_is_taken_over_and_the_old_owner_stops,
    concurrent_appends_from_two_nodes_form_one_chain,
    concurrent_claim_next_hands_each_job_to_one_owner, concurrent_idempotent_requests_make_one_job,
    leader_lock_is_exclusive_until_released,
};
pub use people::{
    jobs_and_bulks_keep_the_person_behind_their_request,
    people_sessions_live_until_expiry_revocation_or_disabling,
};
pub use recorded::{
    REFUSED_RECORD_TARGET, a_bulk_and_its_state_record_change_together,
    a_bulk_keeps_its_state_when_its_record_is_not,
    a_job_and_its_outcome_record_are_finished_together,
    a_job_and_its_request_record_are_written_together,
    a_job_is_not_finished_when_its_outcome_record_is_not,
    a_job_is_not_stored_when_its_request_record_is_not,
};
pub use retention::{OLD_ALERT_DAYS, retention_removes_only_alerts_before_the_cut};
pub use sign_in::{
    a_new_password_ends_the_other_sessions, disabling_a_person_ends_their_sessions_and_tokens,
    pending_sign_ins_are_taken_once, second_factor_codes_work_once,
    sessions_end_when_idle_and_record_their_last_use, sso_people_are_their_issuer_and_subject,
    tokens_expire_and_record_their_last_use,
};
pub use support::{
    bulk_record, bulk_state_record, create, new_job, outcome_record, request_record,
};
pub use tokens::{tokens_are_found_by_hash_until_revoked, tokens_belong_to_their_owner};

/// One `#[tokio::test]` per conformance check, each on a fresh store:
///
/// ```text
/// riposte_store::conformance_tests! {
///     open: open,               // async fn(label: &'static str) -> (G, S): a fresh, empty store
///     open_second: open_second, // async fn(&G) -> S: a second node on the same ledger as `open`'s
///     close: close,             // async fn(G): removes what `open` made
/// }
/// ```
///
/// `S` is the backend's store (a [`Store`](crate::Store)); `G` whatever
/// `open` made that must outlive it (a directory, a database). The label is
/// the check's name, which is also the test's (up to 66 bytes: a fixture
/// that names a database after it shortens it). Single-store checks get
/// `&store`; the multi-node ones get `&a, &b`, `a` from `open` and `b` from
/// `open_second`. A check that panics leaves what `open` made behind, as a
/// failed test's files are. The calling crate needs `tokio` (macros, rt).
#[macro_export]
macro_rules! conformance_tests {
    (
        open: $open:path,
        open_second: $open_second:path,
        close: $close:path $(,)?
    ) => {
        $crate::__conformance_single_store_tests! {
            ($open, $close)
            // The audit log: the first one needs it empty.
            the_first_audit_record_links_to_genesis,
            audit_records_read_back_as_appended,
            audit_records_chain_and_page,
            concurrent_appends_form_one_chain,
            // Jobs.
            create_and_read_back,
            idempotency_key_returns_the_first_job,
            idempotency_keys_belong_to_their_caller,
            only_one_worker_claims_a_job,
            only_the_owner_records_progress,
            a_finished_job_never_changes,
            a_job_that_never_started_can_finish,
            list_filters_and_pages,
            take_over_is_exclusive,
            short_ids_find_jobs,
            claim_next_takes_the_oldest_queued_job_once,
            only_the_owner_renews_a_lease,
            every_job_change_is_signalled_once_committed,
            // Approval.
            a_job_awaiting_approval_is_never_claimed_until_approved,
            a_rejected_job_is_finished_as_denied,
            a_bulk_awaiting_approval_never_runs_until_a_second_person_decides,
            // Bulk operations.
            bulk_children_are_created_together_and_counted,
            bulk_children_run_only_while_their_bulk_runs,
            // A change and its audit record, together.
            a_job_and_its_request_record_are_written_together,
            a_job_and_its_outcome_record_are_finished_together,
            a_bulk_and_its_state_record_change_together,
            // Tokens, people, alerts.
            tokens_are_found_by_hash_until_revoked,
            tokens_belong_to_their_owner,
            people_sessions_live_until_expiry_revocation_or_disabling,
            jobs_and_bulks_keep_the_person_behind_their_request,
            alerts_append_filter_and_page,
            // Sign-in and the lifecycle of people, sessions and tokens.
            disabling_a_person_ends_their_sessions_and_tokens,
            sessions_end_when_idle_and_record_their_last_use,
            a_new_password_ends_the_other_sessions,
            sso_people_are_their_issuer_and_subject,
            second_factor_codes_work_once,
            pending_sign_ins_are_taken_once,
            tokens_expire_and_record_their_last_use,
        }
        $crate::__conformance_two_node_tests! {
            ($open, $open_second, $close)
            concurrent_claim_next_hands_each_job_to_one_owner,
            an_expired_lease_is_taken_over_and_the_old_owner_stops,
            leader_lock_is_exclusive_until_released,
            concurrent_appends_from_two_nodes_form_one_chain,
            concurrent_idempotent_requests_make_one_job,
        }
    };
}

/// [`conformance_tests!`]'s single-store half: `check(&store)` on a fresh store.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_single_store_tests {
    (($open:path, $close:path) $($check:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $check() {
                let (made, store) = $open(::core::stringify!($check)).await;
                $crate::conformance::$check(&store).await;
                ::core::mem::drop(store);
                $close(made).await;
            }
        )+
    };
}

/// [`conformance_tests!`]'s two-node half: `check(&a, &b)`, two stores on one fresh ledger.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_two_node_tests {
    (($open:path, $open_second:path, $close:path) $($check:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $check() {
                let (made, a) = $open(::core::stringify!($check)).await;
                let b = $open_second(&made).await;
                $crate::conformance::$check(&a, &b).await;
                ::core::mem::drop((a, b));
                $close(made).await;
            }
        )+
    };
}
