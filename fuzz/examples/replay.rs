//! Runs one input through a target, outside libFuzzer, with
//! `PROBEKEY_FUZZ_TRACE=1` for a trace: `cargo run --example replay -- <target> <file>`.

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: replay <target> <file>");
        std::process::exit(2);
    };
    let Some((_, run)) = probekey_fuzz::TARGETS.iter().find(|(n, _)| *n == target) else {
        eprintln!("no target {target}");
        std::process::exit(2);
    };
    let data = std::fs::read(&file).expect("readable input");
    run(&data);
    println!("{target}: {file} passes");
}
