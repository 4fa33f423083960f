#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| probekey_fuzz::config::run(data));
