//! The `simdex` command: parses arguments, calls the library, prints reports.

mod cli;

fn main() {
    if let Err(e) = cli::main() {
        eprintln!("simdex: error: {e:#}");
        std::process::exit(1);
    }
}
