//! `simdex dedup`'s arguments as the other drivers of the same pass take them: the Ray pass
//! (`python -m simdex.ray dedup`, [`staged_dedup_args`]) and the Python API (`simdex.dedup`,
//! [`api_dedup_call`], whose keyword arguments are the flags by name). Both are parsed by
//! the CLI's own definitions, so every flag, its default, its check, its error and its help
//! are the CLI's, declared once. A driver's own flags (shards, cluster address, ...) are
//! its own.
//!
//! It must not run anything: it only turns arguments into a [`Settings`] or a
//! [`DedupCommand`].

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches};

use super::args::{Cli, DedupArgs};
use crate::app::dedup::DedupCommand;
use crate::app::{AppError, ModelChoice};
use crate::dedup::staged::Settings;

/// A staged run as its arguments ask: inputs, output folder and settings (the shuffle's
/// partitions and the neighbour search's lists at their defaults: those are the driver's).
#[derive(Debug, serde::Serialize)]
pub struct StagedArgs {
    pub inputs: Vec<PathBuf>,
    /// `None` in a dry run, which writes nothing.
    pub out: Option<PathBuf>,
    pub settings: Settings,
    /// Also write `report.html` into the output folder once it is complete (`--report`).
    pub report: bool,
}

/// `simdex dedup`'s own definition.
fn dedup_command() -> clap::Command {
    Cli::command()
        .find_subcommand("dedup")
        .cloned()
        .expect("simdex has a dedup command")
}

/// `simdex dedup` as the driver `bin` shows it.
fn command(bin: &str) -> clap::Command {
    dedup_command()
        .name("dedup")
        .bin_name(format!("{bin} dedup"))
        .disable_help_flag(true)
}

/// The help of the dedup flags the staged pass takes, as `simdex dedup --help` words them.
pub fn staged_dedup_help(bin: &str) -> String {
    command(bin).render_long_help().to_string()
}

/// Parses `argv` (what follows `dedup`, the driver's own flags taken out) as `simdex dedup`
/// does; a bad value is an error worded for the user.
pub fn staged_dedup_args(bin: &str, argv: &[String]) -> Result<StagedArgs, String> {
    let matches = command(bin)
        .try_get_matches_from(std::iter::once("dedup".to_string()).chain(argv.iter().cloned()))
        .map_err(|e| e.render().to_string())?;
    let a = DedupArgs::from_arg_matches(&matches).map_err(|e| e.render().to_string())?;
    let c = a.resolve();
    if !a.dry_run && a.out.is_none() {
        return Err("--out is required".into());
    }
    let out = c.out.clone();
    let settings = Settings {
        input: c.inputs.input.clone(),
        clean: c.inputs.prepare.clean.is_some(),
        options: c.options,
        model: a.model.model.clone(),
        // With `--against`, the index's precision unless one is asked for (as the CLI).
        precision: a
            .model_choice()
            .map_err(|e| e.to_string())?
            .map_or(a.model.precision, |m| m.precision),
        against: c.against.clone(),
        strip_repeated_passages: c.strip_repeated_passages,
        dry_run: a.dry_run,
        no_cache: a.model.no_cache,
        format: c.format,
        ..Settings::default()
    };
    Ok(StagedArgs {
        inputs: a.input.inputs.clone(),
        out,
        settings,
        report: c.report,
    })
}

/// The names of `simdex dedup`'s flags as keyword arguments (`--removal-coverage` is
/// `removal_coverage`), aliases included (`jaccard` for `--jaccard-threshold`): the keyword
/// arguments the Python API's `dedup` takes.
pub fn dedup_flag_names() -> Vec<String> {
    let mut names = Vec::new();
    for a in dedup_command().get_arguments() {
        if let Some(long) = a.get_long() {
            names.push(long.replace('-', "_"));
            names.extend(
                a.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .map(|x| x.replace('-', "_")),
            );
        }
    }
    names.retain(|n| n != "help");
    names.sort();
    names
}

/// A `simdex dedup` run as the Python API asks for it: the CLI's command, and the model it
/// needs (`None` when it needs none), resolved as the CLI resolves them.
pub struct ApiDedupCall {
    pub command: DedupCommand,
    pub model: Option<ModelChoice>,
}

/// Parses `argv` (the flags of `simdex dedup`, the inputs among them or given apart as
/// records) as the CLI does; `--out` may be left out (the decisions are returned, nothing
/// is written). A bad flag or value is clap's message.
pub fn api_dedup_call(argv: &[String]) -> Result<ApiDedupCall, String> {
    let matches = dedup_command()
        .mut_arg("inputs", |a| a.required(false))
        .mut_arg("out", |a| {
            a.required(false)
                .required_unless_present(clap::builder::Resettable::Reset)
        })
        .no_binary_name(true)
        .try_get_matches_from(argv.iter().cloned())
        .map_err(|e| e.render().to_string())?;
    let a = DedupArgs::from_arg_matches(&matches).map_err(|e| e.render().to_string())?;
    Ok(ApiDedupCall {
        command: a.resolve(),
        model: a.model_choice().map_err(|e: AppError| e.to_string())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_dedup_flag_is_a_name_and_the_api_parses_them_as_the_cli() {
        let names = dedup_flag_names();
        for n in [
            "max_record_bytes",
            "removal_coverage",
            "jaccard",
            "against",
            "dry_run",
        ] {
            assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        }
        // No inputs and no --out: the API's records come apart, and nothing need be written.
        let call = api_dedup_call(&args(&["--no-semantic", "--max-record-bytes", "100"])).unwrap();
        assert!(call.model.is_none() && call.command.out.is_none());
        assert_eq!(call.command.inputs.input.max_record_bytes, 100);
        let call = api_dedup_call(&args(&["--threshold", "0.95", "--", "-x.jsonl"])).unwrap();
        assert_eq!(call.command.options.threshold, 0.95);
        assert_eq!(call.command.inputs.paths, vec![PathBuf::from("-x.jsonl")]);
        assert!(call.model.is_some());
        let e = api_dedup_call(&args(&["--threshold", "high"]))
            .err()
            .unwrap();
        assert!(e.contains("invalid value 'high' for '--threshold"), "{e}");
    }
}
