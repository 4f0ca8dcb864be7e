//! The NNEF framework the engine reads its models with: NNEF's standard operations plus a four-entry
//! SIAP registry, and nothing else.
//!
//! tract's default NNEF framework also carries its `tract_core` registry, whose loaders reference every
//! tract op (FFT, STFT, LSTM, scan, quantised matmul, ...). Linking the framework pulls all of their code
//! into the phone library even though the face models use none of them. So the framework is assembled
//! here from public parts: the standard library and `tract_nnef` registry, and [`REGISTRY`] with exactly
//! what the converted models need beyond the standard: the one-pass PReLU, an `f32` input with symbolic
//! dimensions (the MTCNN networks' image size and batch), a cast (the anti-spoof tree's `>=`/`<`
//! masks to `f32`), and the `f16` -> `f32` widening of stored weights (`super::widen`). The converter writes with the same framework, so a model that needed anything else
//! would fail to convert rather than fail on a phone. (The published tract-nnef also reached that
//! registry by itself, through a load-time `inventory` registration; `third_party/README.md` has the
//! patch that stops it. With both, the stripped library went from 16.7 to 11.4 MB.)

#![allow(clippy::wildcard_imports)]

use std::sync::OnceLock;

use tract_nnef::internal::*;
use tract_nnef::ser::{datum_type, tdims};
use tract_nnef::tract_core::ops::cast::Cast;
use tract_nnef::tract_core::ops::source::TypedSource;

use super::{prelu, widen};

/// Registry id of SIAP's own NNEF primitives (`extension tract_registry siap;` in `graph.nnef`).
pub const REGISTRY: &str = "siap";

/// NNEF standard operations and [`REGISTRY`]; used both to write (converter) and read (engine). Built
/// once per process: parsing NNEF's standard library takes ~9 ms, as long as reading a small model.
pub fn framework() -> &'static Nnef {
    static FRAMEWORK: OnceLock<Nnef> = OnceLock::new();
    FRAMEWORK.get_or_init(|| Nnef {
        stdlib: tract_nnef::framework::stdlib(),
        registries: vec![tract_nnef::ops::tract_nnef(), registry()],
        resource_loaders: vec![GraphNnefLoader.into_boxed(), DatLoader.into_boxed()],
        allow_extended_identifier_syntax: false,
        extern_all_constants: false,
    })
}

fn registry() -> Registry {
    let mut reg = Registry::new(REGISTRY).with_doc(
        "SIAP face models: one-pass channel PReLU, symbolic f32 input, cast, f16 weights.",
    );
    reg.register_dumper(prelu::dump);
    reg.register_primitive(
        prelu::NNEF_NAME,
        &prelu::parameters(),
        &[("output", TypeName::Scalar.tensor())],
        prelu::load,
    );
    reg.register_dumper(external_dump);
    reg.register_primitive(
        "siap_external",
        &[TypeName::Integer.array().named("shape")],
        &[("output", TypeName::Scalar.tensor())],
        external_load,
    );
    reg.register_dumper(widen::dump);
    reg.register_primitive(
        widen::NNEF_NAME,
        &widen::parameters(),
        &[("output", TypeName::Scalar.tensor())],
        widen::load,
    );
    reg.register_dumper(cast_dump);
    reg.register_primitive(
        "siap_cast",
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::String.named("to"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        cast_load,
    );
    reg
}

/// An `f32` model input whose shape has symbols (the standard `external` only takes integers).
fn external_dump(
    _ast: &mut IntoAst<'_>,
    _node: &TypedNode,
    op: &TypedSource,
) -> TractResult<Option<Arc<RValue>>> {
    ensure!(
        op.fact.datum_type == f32::datum_type(),
        "model inputs are f32"
    );
    Ok(Some(invocation(
        "siap_external",
        &[],
        &[("shape", tdims(&op.fact.shape))],
    )))
}

fn external_load(
    builder: &mut ModelBuilder<'_>,
    invocation: &ResolvedInvocation<'_>,
) -> TractResult<Value> {
    let shape: TVec<TDim> =
        builder.allowing_new_symbols(|builder| invocation.named_arg_as(builder, "shape"))?;
    Ok(Value::Wire(
        builder.model.add_source("", f32::fact(&*shape))?,
    ))
}

#[allow(clippy::unnecessary_wraps)] // the signature is tract's dumper type
fn cast_dump(
    ast: &mut IntoAst<'_>,
    node: &TypedNode,
    op: &Cast,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    Ok(Some(invocation(
        "siap_cast",
        &[input],
        &[("to", datum_type(op.to))],
    )))
}

fn cast_load(
    builder: &mut ModelBuilder<'_>,
    invocation: &ResolvedInvocation<'_>,
) -> TractResult<Value> {
    let input = invocation.named_arg_as(builder, "input")?;
    let to: DatumType = invocation.named_arg_as::<String>(builder, "to")?.parse()?;
    builder.wire(Cast { to }, &[input])
}
