//! Build facts for `strela --version`: the git commit and the build time (UNIX seconds;
//! `SOURCE_DATE_EPOCH` wins, for reproducible builds). Re-run only when the checked-out commit
//! changes, so ordinary rebuilds do not recompile the crate for a new timestamp.
use std::process::Command;

fn main() {
    let hash = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=BUILD_STRELA_GIT={hash}");
    println!("cargo:rustc-env=BUILD_STRELA_UNIX={time}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    let git = std::path::Path::new("../.git");
    if git.join("HEAD").exists() {
        println!("cargo:rerun-if-changed=../.git/HEAD");
        if git.join("refs/heads").exists() {
            println!("cargo:rerun-if-changed=../.git/refs/heads");
        }
    }
}
