//! Gives libstrela.so its SONAME, `libstrela.so.<ABI>`, where `<ABI>` is `STRELA_ABI_VERSION`
//! from src/lib.rs (read from the source, so the two cannot disagree): programs linked against
//! one ABI keep loading a compatible library and refuse an incompatible one.
fn main() {
    println!("cargo:rerun-if-changed=src/lib.rs");
    let src = std::fs::read_to_string("src/lib.rs").expect("read src/lib.rs");
    let abi = src
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("pub const STRELA_ABI_VERSION: u32 = ")
        })
        .and_then(|rest| rest.trim_end_matches(';').trim().parse::<u32>().ok())
        .expect("src/lib.rs defines `pub const STRELA_ABI_VERSION: u32 = N;`");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libstrela.so.{abi}");
    }
}
