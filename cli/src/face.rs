//! `siap face ...`: detect, enroll, verify and evaluate the face pipeline from the command line, and score
//! photos with the optional passive anti-spoof model.
//!
//! `enroll`/`verify` keep templates sealed in the SQLite store of `--db DIR`. The sealing master key is kept
//! in `DIR/master.key` (mode 0600): good enough for a demo and for evaluation on a desktop; on a phone it
//! lives in the platform keystore and is passed in by the shell.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use siap_core::face::{
    ANTISPOOF, FaceConfig, FaceEngine, FaceImage, PassiveModel, PassiveScore, SPOOF_THRESHOLD,
    default_models_dir, template_store,
};
use siap_core::sealed::MasterKey;
use siap_core::store::Store;

/// Face pipeline commands.
#[derive(Debug, clap::Subcommand)]
pub enum FaceCommand {
    /// Print the faces found in an image (boxes, scores, landmarks) as JSON.
    Detect {
        /// JPEG or PNG file.
        image: PathBuf,
    },
    /// Score the largest face of each image with the passive anti-spoof model (`antispoof.nnef.tar`),
    /// with the crop the liveness check uses: one JSON object per image and line. An image that cannot
    /// be read or scored gets an `error` and the others are still scored; the command then fails.
    Passive {
        /// JPEG or PNG files.
        #[arg(required = true, num_args = 1..)]
        images: Vec<PathBuf>,
    },
    /// Enroll an employee from 3 to 5 photos (each must pass the quality gate).
    Enroll {
        /// Data directory (created if needed).
        #[arg(long)]
        db: PathBuf,
        /// Employee id.
        #[arg(long)]
        id: String,
        /// 3 to 5 photos.
        #[arg(required = true, num_args = 1..)]
        images: Vec<PathBuf>,
    },
    /// Verify a photo against an employee's template.
    Verify {
        /// Data directory.
        #[arg(long)]
        db: PathBuf,
        /// Employee id.
        #[arg(long)]
        id: String,
        /// Photo to verify.
        image: PathBuf,
    },
    /// Measure liveness on labelled recordings: APCER per attack species and BPCER (ISO/IEC 30107-3).
    /// Layout: DIR/bona_fide/<seq>/ and DIR/attack/<species>/<seq>/, each with challenge.json and
    /// frames/<t_ms>.jpg|png (or observations.json).
    LivenessEval {
        /// The folder of labelled sequences.
        dir: PathBuf,
        /// The liveness policy to apply (JSON, `LivenessPolicy` fields; missing fields keep their
        /// defaults). Default: the shipped policy.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The frames are mirrored (a selfie preview): left and right swap.
        #[arg(long)]
        mirrored: bool,
        /// Also write each sequence's observations (what the face engine saw) to this folder, in the same
        /// layout, so that `liveness-eval` on it re-runs a policy without the face engine.
        #[arg(long)]
        dump: Option<PathBuf>,
    },
    /// Write printed-photo and screen attack sequences built from still photos (one face each) in the
    /// `liveness-eval` layout.
    LivenessAttacks {
        /// Folder of photos (searched recursively).
        #[arg(long)]
        photos: PathBuf,
        /// Output folder (an `attack/` tree is written in it).
        #[arg(long)]
        out: PathBuf,
        /// Random seed for the hand motion.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Measure accuracy on labelled pairs: CSV with header `a,b,same`, paths relative to `--dir`.
    Eval {
        /// The pairs file.
        #[arg(long)]
        pairs: PathBuf,
        /// Folder the image paths are relative to.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn engine() -> Result<FaceEngine> {
    FaceEngine::open(&default_models_dir(), FaceConfig::default())
        .with_context(|| format!("opening face models in {}", default_models_dir().display()))
}

fn load(path: &Path) -> Result<FaceImage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    FaceImage::decode(&bytes).with_context(|| format!("decoding {}", path.display()))
}

fn master_key(dir: &Path) -> Result<MasterKey> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("master.key");
    if let Ok(bytes) = std::fs::read(&path) {
        return Ok(MasterKey::from_bytes(&bytes)?);
    }
    let key = MasterKey::generate()?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    std::io::Write::write_all(&mut opts.open(&path)?, key.as_bytes())?;
    Ok(key)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs one face command.
pub fn run(cmd: FaceCommand) -> Result<()> {
    match cmd {
        FaceCommand::Detect { image } => {
            let engine = engine()?;
            let dets = engine.detect(&load(&image)?)?;
            println!("{}", serde_json::to_string_pretty(&dets)?);
        }
        FaceCommand::Passive { images } => passive(&images)?,
        FaceCommand::Enroll { db, id, images } => {
            let engine = engine()?;
            let imgs = images.iter().map(|p| load(p)).collect::<Result<Vec<_>>>()?;
            let template = engine.enroll(&imgs)?;
            let key = template_store::sealing_key(&master_key(&db)?);
            let store = Store::open_dir(&db)?;
            template_store::save(&store, &key, &id, &template, now_ms())?;
            println!("enrolled {id} from {} photos", imgs.len());
        }
        FaceCommand::Verify { db, id, image } => {
            let engine = engine()?;
            let key = template_store::sealing_key(&master_key(&db)?);
            let store = Store::open_dir(&db)?;
            let Some(template) = template_store::load(&store, &key, &id)? else {
                bail!("no face template enrolled for {id}");
            };
            let outcome = engine.verify(&template, &load(&image)?)?;
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        }
        FaceCommand::Eval { pairs, dir } => eval(&pairs, &dir)?,
        FaceCommand::LivenessEval {
            dir,
            policy,
            mirrored,
            dump,
        } => {
            let options = crate::liveness::EvalOptions {
                policy: crate::liveness::read_policy(policy.as_deref(), mirrored)?,
                dump,
            };
            crate::liveness::evaluate(&engine()?, &dir, &options)?;
        }
        FaceCommand::LivenessAttacks { photos, out, seed } => {
            let n = crate::liveness::write_attacks(&engine()?, &photos, &out, seed)?;
            println!(
                "wrote {n} attack sequences under {}",
                out.join("attack").display()
            );
        }
    }
    Ok(())
}

/// `siap face passive`: prints one line per image, in order, with fixed keys: `path`, `faces` (how many the
/// detector found), `score` (spoof score of the largest face, higher = more likely a spoof), `spoof`
/// (`score` >= [`SPOOF_THRESHOLD`]), `threshold`, `leaf`, `sharpness` (the package's count; it calls the
/// face too blurry below [`siap_core::face::SHARPNESS_THRESHOLD`], reported in `sharp`), `crop`
/// (`[left, top, right, bottom)` in pixels of the upright image) and `error`. The face fields are `null`
/// when no face was found or on error.
fn passive(images: &[PathBuf]) -> Result<()> {
    let engine = engine()?;
    let Some(model) = engine.passive_model()? else {
        bail!(
            "the passive anti-spoof model {} is not installed in {}",
            ANTISPOOF.file,
            default_models_dir().display()
        );
    };
    let mut failed = 0usize;
    for path in images {
        let mut line = PassiveLine {
            path: path.display().to_string(),
            faces: None,
            score: None,
            spoof: None,
            threshold: SPOOF_THRESHOLD,
            leaf: None,
            sharpness: None,
            sharp: None,
            crop: None,
            error: None,
        };
        match score_largest(&engine, model, path) {
            Ok((faces, s)) => {
                line.faces = Some(faces);
                if let Some(s) = s {
                    line.score = Some(s.spoof);
                    line.spoof = Some(!s.live_by_package_threshold());
                    line.leaf = Some(s.leaf);
                    line.sharpness = Some(s.sharpness);
                    line.sharp = Some(s.sharp_by_package_threshold());
                    line.crop = Some(s.crop);
                }
            }
            Err(e) => {
                failed += 1;
                line.error = Some(format!("{e:#}"));
            }
        }
        println!("{}", serde_json::to_string(&line)?);
    }
    if failed > 0 {
        bail!("{failed} of {} images could not be scored", images.len());
    }
    Ok(())
}

/// One line of `siap face passive` (fields in output order).
#[derive(serde::Serialize)]
struct PassiveLine {
    path: String,
    faces: Option<usize>,
    score: Option<f32>,
    spoof: Option<bool>,
    threshold: f32,
    leaf: Option<usize>,
    sharpness: Option<u32>,
    sharp: Option<bool>,
    crop: Option<[u32; 4]>,
    error: Option<String>,
}

/// How many faces `path` shows, and the passive score of the largest (none without a face).
fn score_largest(
    engine: &FaceEngine,
    model: &PassiveModel,
    path: &Path,
) -> Result<(usize, Option<PassiveScore>)> {
    let img = load(path)?;
    let dets = engine.detect(&img)?;
    let largest = dets
        .iter()
        .max_by(|a, b| (a.width() * a.height()).total_cmp(&(b.width() * b.height())));
    let score = largest.map(|det| model.score(&img, det)).transpose()?;
    Ok((dets.len(), score))
}

fn eval(pairs: &Path, dir: &Path) -> Result<()> {
    let engine = engine()?;
    let text =
        std::fs::read_to_string(pairs).with_context(|| format!("reading {}", pairs.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    match lines
        .next()
        .map(|h| h.split(',').map(str::trim).collect::<Vec<_>>())
    {
        Some(h) if h == ["a", "b", "same"] => {}
        _ => bail!("{}: the first line must be `a,b,same`", pairs.display()),
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let same = match f.as_slice() {
            [_, _, "1"] => true,
            [_, _, "0"] => false,
            _ => bail!("{}: line {} is not `a,b,0|1`", pairs.display(), n + 2),
        };
        rows.push((f[0].to_string(), f[1].to_string(), same));
    }
    let mut embeddings: HashMap<String, Option<Vec<f32>>> = HashMap::new();
    let mut failed = 0usize;
    for name in rows.iter().flat_map(|r| [&r.0, &r.1]) {
        if embeddings.contains_key(name) {
            continue;
        }
        let emb = match load(&dir.join(name)).and_then(|img| Ok(engine.sample(&img)?)) {
            Ok(s) if s.embedding.is_some() => s.embedding,
            Ok(s) => {
                println!("failed {name}: no usable face ({:?})", s.quality.issues);
                None
            }
            Err(e) => {
                println!("failed {name}: {e:#}");
                None
            }
        };
        failed += usize::from(emb.is_none());
        embeddings.insert(name.clone(), emb);
    }
    let threshold = engine.config().threshold;
    let (mut correct, mut gmin, mut imax) = (0usize, f32::INFINITY, f32::NEG_INFINITY);
    for (a, b, same) in &rows {
        let (Some(Some(ea)), Some(Some(eb))) = (embeddings.get(a), embeddings.get(b)) else {
            continue;
        };
        let s = siap_core::face::cosine(ea, eb);
        if *same {
            gmin = gmin.min(s);
        } else {
            imax = imax.max(s);
        }
        correct += usize::from((s >= threshold) == *same);
    }
    // Fixed key order, as documented: pairs, accuracy, threshold, genuine_min, impostor_max, failed_images.
    let num = |v: f32| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            "null".to_string()
        }
    };
    let accuracy = if rows.is_empty() {
        0.0
    } else {
        correct as f64 / rows.len() as f64
    };
    let summary = format!(
        "{{\"pairs\":{},\"accuracy\":{accuracy:.4},\"threshold\":{threshold:.4},\"genuine_min\":{},\"impostor_max\":{},\"failed_images\":{failed}}}",
        rows.len(),
        num(gmin),
        num(imax)
    );
    println!("{summary}");
    Ok(())
}
