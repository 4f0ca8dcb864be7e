//! The UniFFI bindings generator, kept in its own crate so clap and the generators stay out of the
//! phone library.

fn main() {
    uniffi::uniffi_bindgen_main();
}
