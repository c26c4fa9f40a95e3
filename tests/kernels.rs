//! Every kernel path and precision this machine has gives the reference embeddings (an
//! independent PyTorch implementation) at cosine ≥ 0.9999 on all 80 rows, and the same
//! vectors as the portable path; `SIMDEX_KERNEL` forces a path and refuses one the machine
//! lacks. On a CPU without AVX-512, bf16 or AMX the missing paths are simply not available
//! (they are listed, not skipped silently: the test prints what it ran).

mod common;

use simdex::model::{cosine, Embedder, EncoderConfig, KernelPath, Precision, Role};

/// Reference texts and vectors: (prefix, text, embedding).
fn reference() -> Vec<(String, String, Vec<f32>)> {
    let text = std::fs::read_to_string(
        common::fixtures().join("reference/multilingual-e5-small-q4.reference.jsonl"),
    )
    .unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["prefix"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
                v["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect(),
            )
        })
        .collect()
}

/// The vectors of every reference row, in order (one call per role).
fn embed_all(e: &Embedder, rows: &[(String, String, Vec<f32>)]) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); rows.len()];
    for (prefix, role) in [("query: ", Role::Query), ("passage: ", Role::Passage)] {
        let sel: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].0 == prefix).collect();
        let texts: Vec<&str> = sel.iter().map(|&i| rows[i].1.as_str()).collect();
        for (i, v) in sel.into_iter().zip(e.embed_raw(&texts, role).unwrap()) {
            out[i] = v;
        }
    }
    out
}

fn worst(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| cosine(x, y))
        .fold(1.0, f32::min)
}

#[test]
fn every_path_and_precision_matches_the_reference_and_the_portable_path() {
    let rows = reference();
    assert_eq!(rows.len(), 80);
    let want: Vec<Vec<f32>> = rows.iter().map(|r| r.2.clone()).collect();
    let (mut e, _) = simdex::app::load_embedder(
        None,
        &simdex::model::EncoderConfig::from_env(simdex::model::Precision::Auto).unwrap(),
    )
    .unwrap();
    let paths = KernelPath::available();
    println!("kernel paths on this machine: {paths:?}");
    for precision in [Precision::F32, Precision::Bf16] {
        e.configure(&EncoderConfig::new(Some(KernelPath::Portable), precision, None).unwrap())
            .unwrap();
        let portable = embed_all(&e, &rows);
        let w = worst(&portable, &want);
        println!("{precision} portable: worst cosine to the reference {w:.7}");
        assert!(w >= 0.9999, "{precision} portable: {w}");
        for &path in &paths[1..] {
            assert_eq!(
                e.configure(&EncoderConfig::new(Some(path), precision, None).unwrap())
                    .unwrap(),
                precision
            );
            let got = embed_all(&e, &rows);
            let (r, p) = (worst(&got, &want), worst(&got, &portable));
            println!(
                "{precision} {path}: worst cosine to the reference {r:.7}, to portable {p:.7}"
            );
            assert!(r >= 0.9999, "{precision} {path}: {r} to the reference");
            assert!(p >= 0.99999, "{precision} {path}: {p} to the portable path");
        }
    }
}

#[test]
fn auto_precision_is_bf16_exactly_where_the_cpu_has_native_bf16() {
    let (mut e, _) = simdex::app::load_embedder(
        None,
        &simdex::model::EncoderConfig::from_env(simdex::model::Precision::Auto).unwrap(),
    )
    .unwrap();
    for path in KernelPath::available() {
        let p = e
            .configure(&EncoderConfig::new(Some(path), Precision::Auto, None).unwrap())
            .unwrap();
        assert_eq!(p == Precision::Bf16, path.native_bf16(), "{path}");
        assert_eq!(e.settings.precision, p);
    }
    // f32 keeps the fingerprint of indexes and caches made before precisions existed;
    // bf16 gets its own.
    let here = Some(e.encoder.kernel());
    e.configure(&EncoderConfig::new(here, Precision::F32, None).unwrap())
        .unwrap();
    let f32_json = serde_json::to_string(&e.settings).unwrap();
    assert!(!f32_json.contains("precision"), "{f32_json}");
    let f32_print = e.settings.fingerprint();
    e.configure(&EncoderConfig::new(here, Precision::Bf16, None).unwrap())
        .unwrap();
    assert_ne!(e.settings.fingerprint(), f32_print);
}

/// `SIMDEX_KERNEL` is read by a fresh process (the CLI), so the test runs the binary
/// (`model info` prints the kernel path and precision it loaded).
#[test]
fn the_environment_forces_a_path_and_refuses_a_missing_or_unknown_one() {
    let run = |kernel: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_simdex"))
            .args(["model", "info", "--precision", "bf16"])
            .env("SIMDEX_KERNEL", kernel)
            .output()
            .unwrap()
    };
    for path in KernelPath::available() {
        let out = run(path.name());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("\"kernel\": \"{path}\"")),
            "{path}: {stdout}"
        );
    }
    let out = run("sse9");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a kernel path"));
    if let Some(missing) = simdex::model::kernels::ALL_PATHS
        .into_iter()
        .find(|p| !p.supported())
    {
        let out = run(missing.name());
        assert!(
            !out.status.success(),
            "{missing} ran on a machine without it"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("lacks that path"));
    }
}

/// An index records its precision: `index add` and `similar` with `--precision auto` take
/// the index's precision (whatever this CPU would pick), an explicit other precision is
/// refused with the precision named, and the index and `summary.json` say which one ran.
#[test]
fn an_index_keeps_one_precision_across_build_add_and_query() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    let seeds = common::seeds();
    let write = |name: &str, items: &[(String, String)]| {
        let p = dir.path().join(name);
        let lines: Vec<String> = items
            .iter()
            .map(|(id, text)| serde_json::json!({"id": id, "text": text}).to_string())
            .collect();
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    };
    let first = write("first.jsonl", &seeds[..3]);
    let second = write("second.jsonl", &seeds[3..]);
    let simdex = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_simdex"))
            .args(args)
            .arg("--no-cache")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let built = simdex(&[
        &os("index"),
        &os("build"),
        first.as_os_str(),
        &os("--index"),
        idx.as_os_str(),
        &os("--precision"),
        &os("bf16"),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let manifest = std::fs::read_to_string(idx.join("MANIFEST")).unwrap();
    assert!(
        manifest.contains("\"precision\": \"bf16\"") || manifest.contains("\"precision\":\"bf16\""),
        "{manifest}"
    );

    let refused = simdex(&[
        &os("index"),
        &os("add"),
        second.as_os_str(),
        &os("--index"),
        idx.as_os_str(),
        &os("--precision"),
        &os("f32"),
    ]);
    assert!(
        !refused.status.success(),
        "an f32 add to a bf16 index must fail"
    );
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("precision") && err.contains("bf16") && err.contains("f32"),
        "{err}"
    );

    let added = simdex(&[
        &os("index"),
        &os("add"),
        second.as_os_str(),
        &os("--index"),
        idx.as_os_str(),
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let query = seeds[4].1.lines().find(|l| l.chars().count() > 20).unwrap();
    let found = simdex(&[&os("similar"), &os(query), &os("--index"), idx.as_os_str()]);
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(
        String::from_utf8_lossy(&found.stdout).contains(&seeds[4].0),
        "{}",
        String::from_utf8_lossy(&found.stdout)
    );
    let wrong = simdex(&[
        &os("similar"),
        &os(query),
        &os("--index"),
        idx.as_os_str(),
        &os("--precision"),
        &os("f32"),
    ]);
    assert!(
        !wrong.status.success(),
        "an f32 query of a bf16 index must fail"
    );

    // summary.json names the precision, f32 included.
    let out = dir.path().join("out");
    let dedup = simdex(&[
        &os("dedup"),
        first.as_os_str(),
        &os("--out"),
        out.as_os_str(),
        &os("--precision"),
        &os("f32"),
    ]);
    assert!(
        dedup.status.success(),
        "{}",
        String::from_utf8_lossy(&dedup.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["model"]["precision"], "f32");
}
