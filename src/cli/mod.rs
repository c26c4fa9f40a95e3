//! The `simdex` command line: arguments parsed (`args`) and resolved once into library
//! options, then one library call per command ([`crate::app`]), then printing through
//! [`crate::render`]; the model the flags ask for is loaded in `load`. No reading,
//! embedding, index handling or decisions here.

mod args;
pub mod driver_args;
#[cfg(feature = "eval")]
mod harness;
mod load;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::app;
use crate::model;
use crate::render;
use args::*;
use load::{leak, load_model, load_model_for_index};

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Embed(a) => embed(a),
        Command::Index(c) => index(c),
        Command::Similar(a) => similar(a),
        Command::Dedup(a) => dedup_cmd(a),
        Command::Ingest(a) => ingest(a),
        Command::Explain(a) => explain(a),
        Command::Clean(a) => clean_cmd(a),
        Command::Report(a) => report_cmd(a),
        Command::Model(c) => model_cmd(c),
        #[cfg(feature = "eval")]
        Command::Bench(a) => harness::bench_cmd(a),
        #[cfg(feature = "eval")]
        Command::Eval(a) => harness::eval_cmd(a),
    }
}

/// A progress bar (documents, tokens/s, ETA) on a terminal; quiet otherwise.
struct Progress {
    bar: ProgressBar,
    what: &'static str,
    start: std::time::Instant,
}

impl Progress {
    fn new(what: &'static str, total: usize) -> Progress {
        let bar = ProgressBar::new(total as u64);
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} docs, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(what);
        Progress {
            bar,
            what,
            start: std::time::Instant::now(),
        }
    }

    fn update(&self, done: usize, total: usize, tokens: usize) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.set_message(format!(
            "{}, {:.0} tokens/s",
            self.what,
            tokens as f64 / secs
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn out_writer(out: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

fn report_rejects(read: &crate::input::ReadOutcome) {
    for r in &read.rejected {
        eprintln!("simdex: skipped {}: {}", r.location, r.reason);
    }
}

fn embed(a: EmbedArgs) -> Result<()> {
    let embedder = load_model(&a.model)?;
    let pb = Progress::new("embedding", 0);
    let (rows, read) = app::embed::embed(
        embedder,
        &a.input.inputs(),
        a.level.resolve(),
        a.role,
        &mut |d, n, t| pb.update(d, n, t),
    )?;
    pb.finish();
    report_rejects(&read);
    if let (crate::tables::OutputFormat::Parquet, Some(out)) = (a.format, &a.out) {
        app::embed::write_parquet(out, &rows, embedder.dim())?;
        return Ok(());
    }
    let mut w = out_writer(&a.out)?;
    for r in &rows {
        writeln!(w, "{}", serde_json::to_string(r)?)?;
    }
    w.flush()?;
    Ok(())
}

fn index(c: IndexCommand) -> Result<()> {
    match c {
        IndexCommand::Build(a) => build_or_add(a, true),
        IndexCommand::Add(a) => build_or_add(a, false),
        IndexCommand::Remove(a) => {
            let n = app::index::remove(&a.index, &a.ids)
                .with_context(|| format!("index {}", a.index.display()))?;
            println!("{}: {n} of {} ids removed", a.index.display(), a.ids.len());
            Ok(())
        }
        IndexCommand::Compact(a) => {
            let n = app::index::compact(&a.index)
                .with_context(|| format!("index {}", a.index.display()))?;
            println!("{}: compacted, {} documents", a.index.display(), n);
            Ok(())
        }
        IndexCommand::Check(a) => {
            let report =
                app::index::check(&a.dir).with_context(|| format!("index {}", a.dir.display()))?;
            print!("{}", render::check_report(&a.dir, &report));
            if !report.is_healthy() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn build_or_add(a: IndexBuildArgs, create: bool) -> Result<()> {
    let embedder = load_model_for_index(&a.model, &a.index)?;
    let pb = Progress::new("embedding", 0);
    let (rep, read) = app::index::build_or_add(
        &a.index,
        embedder,
        &a.input.inputs(),
        create,
        &mut |d, n, t| pb.update(d, n, t),
    )
    .with_context(|| format!("index {}", a.index.display()))?;
    pb.finish();
    report_rejects(&read);
    println!("{}", render::index_report_line(&a.index, &rep));
    Ok(())
}

fn similar(a: SimilarArgs) -> Result<()> {
    let o = a.resolve().map_err(anyhow::Error::msg)?;
    let hits = app::similar::run(&o).with_context(|| format!("index {}", a.index.display()))?;
    if a.json {
        println!("{}", serde_json::to_string(&hits)?);
    } else {
        print!("{}", render::similar_table(&hits));
    }
    Ok(())
}

fn dedup_cmd(a: DedupArgs) -> Result<()> {
    let c = a.resolve();
    if !a.dry_run && c.out.is_none() {
        bail!("--out is required");
    }
    let choice = a.model_choice().with_context(|| match &a.against {
        Some(p) => format!("index {}", p.display()),
        None => "model".to_string(),
    })?;
    let embedder = choice.map(leak).transpose()?;
    let pb = Progress::new("embedding", 0);
    let outcome = app::dedup::dedup(&c, embedder, &mut |_, done, total, tokens| {
        pb.update(done, total, tokens)
    })
    .with_context(|| match &c.against {
        Some(p) => format!("dedup against index {}", p.display()),
        None => "dedup".to_string(),
    })?;
    pb.finish();
    report_rejects(&outcome.run.read);
    match (&outcome.summary, &c.out) {
        (Some(s), Some(out)) => println!("{}", render::summary_line(s, out)),
        _ => print!(
            "{}",
            render::dry_run_report(&outcome.run.dry_run(&c.options), &c.options)
        ),
    }
    if let Some(r) = &outcome.report {
        println!("{}", render::report_line(r));
    }
    Ok(())
}

fn report_cmd(a: ReportArgs) -> Result<()> {
    let r = app::report::report(&a.dir).with_context(|| format!("report {}", a.dir.display()))?;
    println!("{}", render::report_line(&r));
    Ok(())
}

fn ingest(a: IngestArgs) -> Result<()> {
    let c = a.resolve();
    let embedder = load_model_for_index(&a.model, &a.index)?;
    let pb = Progress::new("embedding", 0);
    let outcome = app::dedup::ingest(&c, embedder, &mut |_, done, total, tokens| {
        pb.update(done, total, tokens)
    })
    .with_context(|| format!("index {}", c.index.display()))?;
    pb.finish();
    report_rejects(&outcome.run.read);
    println!("{}", render::summary_line(&outcome.summary, &c.out));
    println!("{}", render::ingest_line(&c.index, &outcome.index));
    Ok(())
}

fn explain(a: ExplainArgs) -> Result<()> {
    let opts = a.thresholds.clone();
    let e = match &a.index {
        Some(dir) => app::explain::explain_ids(dir, &a.a, &a.b, &opts)
            .with_context(|| format!("index {}", dir.display()))?,
        None => {
            let embedder = load_model(&a.model)?;
            app::explain::explain_files(
                embedder,
                Path::new(&a.a),
                Path::new(&a.b),
                &prepare_options(a.no_clean),
                &opts,
            )?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        print!("{}", render::explanation(&e, &opts));
    }
    Ok(())
}

fn clean_cmd(a: CleanArgs) -> Result<()> {
    let (docs, read) = app::clean::clean(&a.input.inputs())?;
    report_rejects(&read);
    let mut w = out_writer(&None)?;
    if a.json {
        for d in &docs {
            writeln!(
                w,
                "{}",
                serde_json::to_string(&app::clean::CleanReport::of(d))?
            )?;
        }
    } else {
        write!(w, "{}", render::clean_listing(&docs))?;
    }
    w.flush()?;
    Ok(())
}

fn model_cmd(c: ModelCommand) -> Result<()> {
    match c {
        ModelCommand::Fetch => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fetch.sh");
            let exe = std::env::current_exe()?;
            let status = std::process::Command::new("bash")
                .arg(&script)
                .env("SIMDEX_BIN", exe)
                .status()
                .with_context(|| format!("running {}", script.display()))?;
            if !status.success() {
                bail!("{} failed", script.display());
            }
            Ok(())
        }
        ModelCommand::Import {
            from,
            tokenizer,
            out,
        } => {
            let r = model::import::import_e5s1(&from, &tokenizer, &out, model::DEFAULT_MODEL)?;
            println!(
                "imported {} tensors ({} parameters, {} layers, hidden {}, vocab {}) into {}",
                r.tensors,
                r.parameters,
                r.header.layers,
                r.header.hidden,
                r.header.vocab,
                r.dir.display()
            );
            Ok(())
        }
        ModelCommand::Info(m) => {
            let choice = app::ModelChoice {
                dir: m.model.clone(),
                no_cache: true,
                precision: m.precision,
            };
            let (e, source) = app::load_embedder(m.model.as_deref(), &choice.encoder_config()?)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "source": source,
                    "dir": source.dir(),
                    "settings": e.settings,
                    "fingerprint": e.settings.fingerprint(),
                    "dim": e.dim(),
                    "precision": e.settings.precision,
                    "kernel": e.encoder.kernel().name(),
                    "kernels_available": model::KernelPath::available().iter().map(|p| p.name()).collect::<Vec<_>>(),
                }))?
            );
            Ok(())
        }
    }
}
