//! Fuzzes the checkpoint and audit file decoders: any bytes must decode or fail with an error,
//! never panic. Inputs are tried as whole files and, to reach the record decoder quickly, after a
//! valid file prefix.
#![no_main]

use std::path::Path;

use pipeline::store::{decode_audit_file, decode_checkpoint_file};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.bin");
    let _ = decode_checkpoint_file(path, data);
    let _ = decode_audit_file(path, data);
    for magic in [b"PIPECKPT", b"PIPEAUDT"] {
        let mut framed = magic.to_vec();
        framed.extend_from_slice(&1u32.to_le_bytes());
        framed.extend_from_slice(data);
        let _ = decode_checkpoint_file(path, &framed);
        let _ = decode_audit_file(path, &framed);
    }
});
