//! nTSecurityDescriptor values as read from the directory (readiness): the DACL parser and the
//! control-access check over whatever it returns.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use riposte_core::security_descriptor::{grants_control_access, parse_dacl};
use riposte_core::sid::Sid;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    match parse_dacl(data) {
        Ok(aces) => {
            let token: Vec<Sid> = ["S-1-1-0", "S-1-5-11", "S-1-5-21-1-2-3-1105"]
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect();
            // Reset Password on user objects.
            let reset = Uuid::from_u128(0x00299570_246d_11d0_a768_00aa006e0529);
            let user = Uuid::from_u128(0xbf967aba_0de6_11d0_a285_00aa003049e2);
            let _ = grants_control_access(&aces, reset, user, &token);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
