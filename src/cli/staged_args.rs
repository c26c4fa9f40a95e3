//! `simdex dedup`'s arguments as another driver of the same pass takes them (the Ray pass,
//! `python -m simdex.ray dedup`): parsed by the CLI's own definitions, so every flag, its
//! default, its check, its error and its help are the CLI's, declared once. The driver's
//! own flags (shards, cluster address, ...) are its own.
//!
//! It must not run anything: it only turns arguments into a [`Settings`].

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use super::args::{Cli, DedupArgs};
use crate::dedup::staged::Settings;

/// `simdex dedup` flags the staged pass does not take: (argument id, flag, why).
pub const NOT_STAGED: &[(&str, &str, &str)] = &[
    (
        "against",
        "--against",
        "comparing with an index is done by `simdex dedup` or `simdex ingest`",
    ),
    (
        "dry_run",
        "--dry-run",
        "the histogram of a dry run is `simdex dedup --dry-run`'s",
    ),
    (
        "strip_repeated_passages",
        "--strip-repeated-passages",
        "the staged pass writes kept records as read",
    ),
    ("report", "--report", "run `simdex report OUT` afterwards"),
];

/// A staged run as its arguments ask: inputs, output folder and settings (the shuffle's
/// partitions and the neighbour search's lists at their defaults: those are the driver's).
#[derive(Debug, serde::Serialize)]
pub struct StagedArgs {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub settings: Settings,
}

/// `simdex dedup` as the driver `bin` shows it: the flags it does not take hidden.
fn command(bin: &str) -> clap::Command {
    let mut dedup = Cli::command()
        .find_subcommand("dedup")
        .cloned()
        .expect("simdex has a dedup command");
    for (id, _, _) in NOT_STAGED {
        dedup = dedup.mut_arg(*id, |a| a.hide(true));
    }
    dedup
        .name("dedup")
        .bin_name(format!("{bin} dedup"))
        .disable_help_flag(true)
}

/// The help of the dedup flags the staged pass takes, as `simdex dedup --help` words them.
pub fn staged_dedup_help(bin: &str) -> String {
    command(bin).render_long_help().to_string()
}

/// Parses `argv` (what follows `dedup`, the driver's own flags taken out) as `simdex dedup`
/// does; a flag of [`NOT_STAGED`] or a bad value is an error worded for the user.
pub fn staged_dedup_args(bin: &str, argv: &[String]) -> Result<StagedArgs, String> {
    let matches = command(bin)
        .try_get_matches_from(std::iter::once("dedup".to_string()).chain(argv.iter().cloned()))
        .map_err(|e| e.render().to_string())?;
    for (id, flag, why) in NOT_STAGED {
        if matches.value_source(id) == Some(ValueSource::CommandLine) {
            return Err(format!("{bin} dedup does not take {flag}: {why}"));
        }
    }
    let a = DedupArgs::from_arg_matches(&matches).map_err(|e| e.render().to_string())?;
    let c = a.resolve();
    let out = a.out.clone().ok_or("--out is required")?;
    let settings = Settings {
        input: c.inputs.input.clone(),
        clean: c.inputs.prepare.clean.is_some(),
        options: c.options,
        model: a.model.model.clone(),
        precision: a.model.precision,
        no_cache: a.model.no_cache,
        format: c.format,
        ..Settings::default()
    };
    Ok(StagedArgs {
        inputs: a.input.inputs.clone(),
        out,
        settings,
    })
}
