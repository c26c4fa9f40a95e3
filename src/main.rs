//! The `simdex` command: the process around [`simdex::cli`] (which parses arguments, calls
//! the library and prints reports): the panic message and the exit status.

fn main() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        if let Some(what) = simdex::working_on::current() {
            eprintln!("simdex: internal error (a bug) while processing {what}; the output folder was left as it was");
        }
    }));
    if let Err(e) = simdex::cli::main() {
        eprintln!("simdex: error: {}", error_chain(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, each said once: a library error that already names its cause
/// in its own message (`path: No such file or directory`) is not followed by that cause again.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}
