//! Compiles the C side of the FFI boundary bench (`c/ffi_bench.c`) against `ffi/include/strela.h`.
fn main() {
    println!("cargo:rerun-if-changed=c/ffi_bench.c");
    println!("cargo:rerun-if-changed=../ffi/include/strela.h");
    cc::Build::new()
        .file("c/ffi_bench.c")
        .include("../ffi/include")
        .opt_level(2)
        .warnings(true)
        .compile("strela_ffi_bench");
}
