//! A one-pass PReLU for tract.
//!
//! tract-onnx 0.23 expands ONNX `PRelu` into three element-wise nodes (`x > 0`, `x * alpha`,
//! `Iff`), each reading and writing the whole activation into a fresh tensor; and since `x` feeds all
//! three, the multiplication cannot be fused into the preceding convolution either. Profiled per node
//! (`SIAP_BENCH_PROFILE=1 cargo bench -p siap-core --bench face`), those nodes took 21 of MobileFaceNet's
//! 38 ms and 10 of P-Net's 26 ms on 320x240. Every PReLU in the four models has one slope per channel, so
//! this op applies it in place in one pass over the (uniquely owned) activation.
//!
//! Registered in place of tract's `PRelu` by [`onnx`]. A scalar slope becomes tract's own `LeakyRelu`
//! (which tract fuses into the convolution); a slope that is not constant, not `f32`, or broadcast along
//! more than one axis keeps tract's expansion.

// tract's op macros (`args_2!`, `as_op!`, ...) expect its internal prelude in scope.
#![allow(clippy::wildcard_imports)]

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::tract_linalg;

/// The ONNX framework with `PRelu` parsed into [`ChannelPrelu`].
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert("PRelu", parse_prelu);
    onnx
}

#[allow(clippy::unnecessary_wraps)] // the signature is tract's op-builder type
fn parse_prelu(
    _ctx: &ParsingContext<'_>,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(PreluExpansion), vec![]))
}

/// `y = x` where `x >= 0`, `alpha[c] * x` elsewhere, `c` the index along `axis`; input 1 is `alpha` as
/// a rank-1 `f32` tensor of the channel count.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ChannelPrelu {
    axis: usize,
}

impl Op for ChannelPrelu {
    fn name(&self) -> StaticName {
        "ChannelPrelu".into()
    }

    op_as_typed_op!();
}

impl EvalOp for ChannelPrelu {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext<'_>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, alpha) = args_2!(inputs);
        // The plan drops its own reference before evaluating a node's last consumer, so this is
        // usually the only one and no copy is made.
        let mut x = x.into_tensor();
        let alpha = alpha.try_as_plain_ram()?;
        let alpha = alpha.as_slice::<f32>()?;
        let shape = x.shape();
        ensure!(
            shape.get(self.axis) == Some(&alpha.len()),
            "PReLU slope count"
        );
        let inner: usize = shape[self.axis + 1..].iter().product();
        let data = &mut x.try_as_plain_ram_mut()?;
        let data = data.as_slice_mut::<f32>()?;
        if inner >= SIMD_MIN_PLANE {
            // One channel plane is a leaky ReLU with that channel's slope: tract-linalg's SIMD kernel
            // (NEON on arm64, AVX on x86_64). This crate is built at opt-level "s", where LLVM does not
            // vectorise loops, so the scalar loop below ran ~1.5 ns per value.
            let kernel = tract_linalg::Func::LeakyRelu.ew_f32_param()?;
            for (plane, a) in data.chunks_exact_mut(inner).zip(alpha.iter().cycle()) {
                kernel.run_with_params(plane, *a)?;
            }
        } else {
            apply(data, alpha, inner);
        }
        Ok(tvec!(x.into_tvalue()))
    }
}

/// Channel planes at least this long go through tract-linalg's kernel (shorter ones cost more in its
/// alignment handling than they save).
const SIMD_MIN_PLANE: usize = 64;

/// Applies the slopes to `data`, laid out as `[outer][channel][inner]`.
fn apply(data: &mut [f32], alpha: &[f32], inner: usize) {
    if inner == 1 {
        for row in data.chunks_exact_mut(alpha.len()) {
            for (v, a) in row.iter_mut().zip(alpha) {
                *v = prelu(*v, *a);
            }
        }
    } else {
        for (plane, a) in data.chunks_exact_mut(inner).zip(alpha.iter().cycle()) {
            for v in plane {
                *v = prelu(*v, *a);
            }
        }
    }
}

/// Branch-free (activations are about half negative, so a branch would mispredict half the time).
#[inline]
fn prelu(v: f32, a: f32) -> f32 {
    v.max(0.0) + a * v.min(0.0)
}

impl TypedOp for ChannelPrelu {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(
            inputs[0]
                .datum_type
                .fact(inputs[0].shape.iter().collect::<TVec<_>>())
        ))
    }

    as_op!();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp)] // every value here is exact in binary
    fn slopes_apply_per_channel_to_negatives_only() {
        // [outer 1][channel 2][inner 3]
        let mut d = [-1.0, 2.0, -3.0, -4.0, 0.0, 6.0];
        apply(&mut d, &[0.5, 0.25], 3);
        assert_eq!(d, [-0.5, 2.0, -1.5, -1.0, 0.0, 6.0]);
        // channel last
        let mut d = [-1.0, -2.0, 3.0, -4.0];
        apply(&mut d, &[0.5, 0.25], 1);
        assert_eq!(d, [-0.5, -0.5, 3.0, -1.0]);
    }
}
