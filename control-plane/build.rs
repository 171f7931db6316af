//! Builds the developer portal (`portal/`, React + TypeScript + Vite) so the
//! `aihub` binary can embed it (`src/portal.rs`).
//!
//! - `portal/dist` is rebuilt when it is missing or older than any portal
//!   source; `npm ci` runs first when `node_modules` is missing or older than
//!   `package-lock.json`. A fresh `dist` needs no Node.js at all.
//! - Without npm the build fails and says what to install, unless
//!   `AIHUB_SKIP_PORTAL_BUILD=1`, which embeds a one-page placeholder instead.
//! - `AIHUB_PORTAL_DIR` (a compile-time env var) tells `src/portal.rs` which
//!   folder to embed.
// Cargo reads a build script's instructions from its standard output.
#![allow(clippy::print_stdout)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// What the portal's build reads; a change to any of them rebuilds it.
const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
    // The developer guides, bundled into the portal's docs pages.
    "../docs/guides",
];

const NODE_HINT: &str = "the portal needs Node.js 20.19+ and npm: apt-get install nodejs npm \
     (or NodeSource's packages where the distribution's Node.js is older); \
     set AIHUB_SKIP_PORTAL_BUILD=1 to build without the portal";

fn main() {
    if let Err(message) = run() {
        eprintln!("error: building the developer portal failed: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let portal = manifest_dir.join("portal");
    println!("cargo:rerun-if-env-changed=AIHUB_SKIP_PORTAL_BUILD");
    for source in SOURCES {
        println!("cargo:rerun-if-changed={}", portal.join(source).display());
    }

    let dir = if std::env::var("AIHUB_SKIP_PORTAL_BUILD").is_ok_and(|v| v == "1") {
        placeholder(&PathBuf::from(env("OUT_DIR")?))?
    } else {
        build(&portal)?
    };
    println!("cargo:rustc-env=AIHUB_PORTAL_DIR={}", dir.display());
    Ok(())
}

/// Builds `portal/dist` if it is stale and returns it.
fn build(portal: &Path) -> Result<PathBuf, String> {
    let dist = portal.join("dist");
    let newest_source = SOURCES
        .iter()
        .map(|s| newest_mtime(&portal.join(s)))
        .max()
        .flatten();
    let built = mtime(&dist.join("index.html"));
    if let (Some(built), Some(source)) = (built, newest_source) {
        if built >= source {
            return Ok(dist);
        }
    }

    check_node()?;
    let installed = mtime(&portal.join("node_modules").join(".package-lock.json"));
    let locked = mtime(&portal.join("package-lock.json"));
    if installed.is_none() || installed < locked {
        npm(portal, &["ci", "--no-audit", "--no-fund"])?;
    }
    npm(portal, &["run", "build"])?;
    if !dist.join("index.html").is_file() {
        return Err(format!(
            "npm run build left no {}",
            dist.join("index.html").display()
        ));
    }
    Ok(dist)
}

fn check_node() -> Result<(), String> {
    let output = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run node ({e}): {NODE_HINT}"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let mut parts = version.trim_start_matches('v').split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if major < 20 || (major == 20 && minor < 19) {
        return Err(format!("found Node.js {version}: {NODE_HINT}"));
    }
    Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run npm ({e}): {NODE_HINT}"))?;
    Ok(())
}

fn npm(portal: &Path, args: &[&str]) -> Result<(), String> {
    // npm's chatter goes to stderr: stdout is for Cargo's instructions.
    let status = Command::new("npm")
        .args(args)
        .current_dir(portal)
        .stdout(Stdio::from(io::stderr()))
        .status()
        .map_err(|e| format!("cannot run npm ({e}): {NODE_HINT}"))?;
    if !status.success() {
        return Err(format!(
            "`npm {}` in {} failed ({status})",
            args.join(" "),
            portal.display()
        ));
    }
    Ok(())
}

/// A single page saying the portal was left out of this build.
fn placeholder(out_dir: &Path) -> Result<PathBuf, String> {
    let dir = out_dir.join("portal-placeholder");
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let page = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
        <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
        <title>AI Hub</title></head>\
        <body><h1>AI Hub</h1><p>The developer portal was not built into this binary \
        (it was built with <code>AIHUB_SKIP_PORTAL_BUILD=1</code>). \
        The management API under <code>/api/v1</code> works as usual.</p>\
        <p>To include the portal, install Node.js 20.19+ and npm and build again.</p></body></html>\n";
    let index = dir.join("index.html");
    fs::write(&index, page).map_err(|e| format!("writing {}: {e}", index.display()))?;
    Ok(dir)
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (is this run by cargo?)"))
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time in a file or a directory tree.
fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    let children = fs::read_dir(path).ok()?;
    children
        .filter_map(Result::ok)
        .filter_map(|entry| newest_mtime(&entry.path()))
        .chain(own)
        .max()
}
