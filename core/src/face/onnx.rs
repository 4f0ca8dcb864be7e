//! ONNX import of the published face models, for the converter only (feature `onnx`).
//!
//! The engine loads NNEF files (see `super::nnef`): the ONNX parser, tract's inference layer and their op
//! tables add about 3 MB to the phone library. `cargo xtask models` turns each ONNX file of `models/`
//! into its NNEF twin with [`to_nnef`]: parse (with the one-pass PReLU of `super::prelu`), fix the input
//! shape, declutter, and write a deterministic tar, so the same ONNX file always gives the same bytes
//! and the hash compiled into `super::models` can be checked by anyone.

// tract's op macros and traits expect its internal prelude in scope.
#![allow(clippy::wildcard_imports)]

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::{Framework, InferenceModelExt};
use tract_onnx::tract_hir::internal::*;

use super::prelu::ChannelPrelu;
use super::widen::Widen;

/// The ONNX framework with `PRelu` parsed into [`ChannelPrelu`] where the slope allows.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert("PRelu", parse_prelu);
    onnx
}

/// Converts one ONNX model into the NNEF tar the engine loads. `input` is the shape of the single input;
/// `None` entries become the symbols `siap_d{i}` the engine's plan cache fills in per call.
pub fn to_nnef(onnx_bytes: &[u8], input: &[Option<usize>]) -> TractResult<Vec<u8>> {
    let mut model = onnx().model_for_read(&mut &*onnx_bytes)?;
    let dims: Vec<TDim> = input
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Some(v) => TDim::from(*v as i64),
            None => model.symbols.sym(&format!("siap_d{i}")).into(),
        })
        .collect();
    model = model.with_input_fact(0, f32::fact(dims).into())?;
    for o in 0..model.output_outlets()?.len() {
        model.set_output_fact(o, InferenceFact::default())?;
    }
    let mut typed = model.into_typed()?.into_decluttered()?;
    // ONNX metadata (producer, IR version as an `i64` cast) is not needed and would need tract's
    // `tract_core` registry to read back.
    typed.properties.clear();
    store_half_where_exact(&mut typed)?;
    super::nnef::framework().write_to_tar_with_config(&typed, Vec::new(), false, true)
}

/// Constants of at least this many values are stored as `f16` when that is exact.
const HALF_MIN_LEN: usize = 1024;

/// Stores large `f32` constants whose every value is exactly an `f16` (the anti-spoof model's weights,
/// published as float16) as `f16` behind [`Widen`], as the ONNX file stores them behind a cast. The
/// engine's optimiser folds them back into the same `f32` constants; only the file is smaller.
fn store_half_where_exact(model: &mut TypedModel) -> TractResult<()> {
    use tract_onnx::tract_core::ops::konst::Const;
    let candidates: Vec<usize> = model
        .nodes()
        .iter()
        .filter_map(|n| {
            let k = n.op_as::<Const>()?;
            let t = k.val();
            (k.exotic_fact().is_none()
                && t.datum_type() == f32::datum_type()
                && t.len() >= HALF_MIN_LEN)
                .then_some(n.id)
        })
        .collect();
    for id in candidates {
        let node = model.node(id);
        let Some(k) = node.op_as::<Const>() else {
            continue;
        };
        let full = k.val().clone();
        let half = full.cast_to::<f16>()?.into_owned();
        if half.cast_to::<f32>()?.as_ref() != full.as_ref() {
            continue;
        }
        let name = node.name.clone();
        let mut patch = TypedModelPatch::default();
        let k = patch.add_const(format!("{name}.f16"), half)?;
        let wide = patch.wire_node(format!("{name}.f32"), Widen, &[k])?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), wide)?;
        patch.apply(model)?;
    }
    model.compact()
}

#[allow(clippy::unnecessary_wraps)] // the signature is tract's op-builder type
fn parse_prelu(
    _ctx: &ParsingContext<'_>,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(PreluExpansion), vec![]))
}

/// Parse-time stand-in that picks the implementation once the slope's shape is known.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct PreluExpansion;

impl Expansion for PreluExpansion {
    fn name(&self) -> StaticName {
        "Prelu".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = model.outlet_fact(inputs[0])?.clone();
        let slope = model.outlet_fact(inputs[1])?.konst.clone();
        if let Some(slope) = slope
            && x.datum_type == f32::datum_type()
            && slope.datum_type() == f32::datum_type()
            && slope.rank() <= x.rank()
        {
            let values = slope.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
            if values.len() == 1 {
                let op = tract_core::ops::nn::leaky_relu(values[0]);
                return model.wire_node(name, op, &[inputs[0]]);
            }
            // Numpy broadcasting: the slope's axes align with the last axes of x.
            let offset = x.rank() - slope.rank();
            let wide: Vec<usize> = (0..slope.rank())
                .filter(|&i| slope.shape()[i] != 1)
                .collect();
            if let [i] = wide[..]
                && x.shape[offset + i] == TDim::from(slope.shape()[i])
            {
                let alpha = model.add_const(format!("{name}.alpha"), tensor1(&values))?;
                let op = ChannelPrelu { axis: offset + i };
                return model.wire_node(name, op, &[inputs[0], alpha]);
            }
        }
        expanded(name, model, inputs)
    }
}

/// tract's own expansion (`Iff(0 > x, x * alpha, x)`), for slopes [`ChannelPrelu`] does not cover.
fn expanded(
    name: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
) -> TractResult<TVec<OutletId>> {
    let a = inputs[0];
    let mut b = inputs[1];
    let rank = model.outlet_fact(a)?.rank();
    while model.outlet_fact(b)?.rank() < rank {
        b = model.wire_node(
            format!("{}.add-axis-{}", name, model.outlet_fact(b)?.rank()),
            AxisOp::Add(0),
            &[b],
        )?[0];
    }
    let zero = tensor0(0.0)
        .cast_to_dt(model.outlet_fact(a)?.datum_type)?
        .into_owned()
        .broadcast_into_rank(rank)?;
    let ab = model.wire_node(
        format!("{name}.mul"),
        tract_onnx::tract_hir::ops::math::mul(),
        &[a, b],
    )?[0];
    let zero = model.add_const(name.to_string() + ".zero", zero)?;
    let test = model.wire_node(
        name.to_string() + ".test",
        tract_core::ops::binary::TypedBinOp(tract_core::ops::logic::comp_gt(), None),
        &[zero, a],
    )?;
    model.wire_node(
        name.to_string() + ".iff",
        tract_core::ops::logic::Iff,
        &[test[0], ab, a],
    )
}

/// Runs the ONNX model (through [`onnx`]) and its NNEF conversion (through the engine's framework) on
/// the same deterministic input of the given concrete shape; returns the largest absolute difference
/// over all outputs. The converter reports it; a test requires it to be tiny.
pub fn max_difference(onnx_bytes: &[u8], nnef_bytes: &[u8], shape: &[usize]) -> TractResult<f32> {
    let n: usize = shape.iter().product();
    // Values in -1..1 that are not all alike, so every activation branch is taken.
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 2003) as f32 / 1001.5) - 1.0)
        .collect();
    let input = Tensor::from_shape(shape, &values)?;
    let reference = onnx()
        .model_for_read(&mut &*onnx_bytes)?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()?
        .run(tvec!(input.clone().into()))?;
    let nnef = super::nnef::framework().model_for_read(&mut &*nnef_bytes)?;
    let symbols: HashMap<Symbol, TDim> = nnef
        .input_fact(0)?
        .shape
        .iter()
        .zip(shape)
        .filter_map(|(d, v)| match d {
            TDim::Sym(s) => Some((s.clone(), TDim::from(*v as i64))),
            _ => None,
        })
        .collect();
    let converted = nnef
        .set_symbols(&symbols)?
        .into_optimized()?
        .into_runnable()?
        .run(tvec!(input.into()))?;
    ensure!(reference.len() == converted.len(), "output count differs");
    let mut worst = 0f32;
    for (a, b) in reference.iter().zip(&converted) {
        let a = a.cast_to::<f32>()?;
        let b = b.cast_to::<f32>()?;
        ensure!(a.shape() == b.shape(), "output shape differs");
        let a = a.try_as_plain_ram()?;
        let b = b.try_as_plain_ram()?;
        for (x, y) in a.as_slice::<f32>()?.iter().zip(b.as_slice::<f32>()?) {
            worst = worst.max((x - y).abs());
        }
    }
    Ok(worst)
}
