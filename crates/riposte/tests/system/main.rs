//! The system tests: the real `riposte` binary against the shared Samba lab (and PostgreSQL),
//! in one test binary so that the whole application is linked once. One module per subject;
//! `harness` is the only place that starts `riposte serve` or hands out the lab.
//!
//! Tests run on threads of this one process: they start riposte as a child process, use lab
//! users and OUs of their own (`Lab::create_user`), and take the lab through `harness::lab()`
//! (or `harness::lab_alone()` when they disturb what other tests see of it).

mod harness;

mod api;
mod architecture;
mod audit;
mod audit_checkpoints;
mod automation_lab;
mod benign_day;
mod bulk;
mod bulk_alert;
mod bulk_nested;
mod cli;
mod cloud_bulk;
mod crash_loop;
mod dc_loss;
mod detect;
mod entra;
mod faults;
mod fuzz_regressions;
mod graph_storm;
mod hostile_alert_burst;
mod hostile_bulk_approval;
mod hostile_bulk_control;
mod hostile_dc_from_events;
mod hostile_dos;
mod hostile_fix_lines;
mod hostile_forged_events;
mod hostile_protected_by_default;
mod hostile_self_approval;
mod hostile_spray;
mod ingest;
mod lab;
mod lifecycle;
mod multinode;
mod notify;
mod portal;
mod readiness;
mod second_factor;
mod secrets;
mod sigma_live;
mod spray;
mod sso;
mod store_faults;
mod tls;
