//! A one-pass PReLU for tract, and its NNEF form.
//!
//! tract-onnx 0.23 expands ONNX `PRelu` into three element-wise nodes (`x > 0`, `x * alpha`,
//! `Iff`), each reading and writing the whole activation into a fresh tensor; and since `x` feeds all
//! three, the multiplication cannot be fused into the preceding convolution either. Profiled per node
//! (`SIAP_BENCH_PROFILE=1 cargo bench -p siap-core --bench face`), those nodes took 21 of MobileFaceNet's
//! 38 ms and 10 of P-Net's 26 ms on 320x240. Every PReLU in the four models has one slope per channel, so
//! [`ChannelPrelu`] applies it in place in one pass over the (uniquely owned) activation.
//!
//! The ONNX import (`super::onnx`, only in the model converter) wires it in place of tract's expansion;
//! the NNEF files the engine loads carry it as `siap_channel_prelu(input, alpha, axis)`, written by
//! [`dump`] and read back by [`load`] (registered in `super::nnef`).

// tract's op macros (`args_2!`, `as_op!`, ...) expect its internal prelude in scope.
#![allow(clippy::wildcard_imports)]

use tract_nnef::internal::*;
use tract_nnef::tract_core::tract_linalg;

/// Name of the NNEF primitive.
pub const NNEF_NAME: &str = "siap_channel_prelu";

/// `y = x` where `x >= 0`, `alpha[c] * x` elsewhere, `c` the index along `axis`; input 1 is `alpha` as
/// a rank-1 `f32` tensor of the channel count.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ChannelPrelu {
    /// The channel axis of the input.
    pub axis: usize,
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

/// NNEF parameters of [`NNEF_NAME`].
pub fn parameters() -> Vec<Parameter> {
    vec![
        TypeName::Scalar.tensor().named("input"),
        TypeName::Scalar.tensor().named("alpha"),
        TypeName::Integer.named("axis"),
    ]
}

/// Writes a [`ChannelPrelu`] node as `siap_channel_prelu(input, alpha, axis = ...)`.
#[allow(clippy::unnecessary_wraps)] // the signature is tract's dumper type
pub fn dump(
    ast: &mut IntoAst<'_>,
    node: &TypedNode,
    op: &ChannelPrelu,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    let alpha = ast.mapping[&node.inputs[1]].clone();
    Ok(Some(invocation(
        NNEF_NAME,
        &[input, alpha],
        &[("axis", numeric(op.axis))],
    )))
}

/// Wires a [`ChannelPrelu`] back from its NNEF invocation, checking the slope against the input.
pub fn load(
    builder: &mut ModelBuilder<'_>,
    invocation: &ResolvedInvocation<'_>,
) -> TractResult<Value> {
    let input: OutletId = invocation.named_arg_as(builder, "input")?;
    let alpha: OutletId = invocation.named_arg_as(builder, "alpha")?;
    let axis: usize = invocation.named_arg_as(builder, "axis")?;
    let x = builder.model.outlet_fact(input)?;
    let a = builder.model.outlet_fact(alpha)?;
    ensure!(
        x.datum_type == f32::datum_type() && a.datum_type == f32::datum_type(),
        "{NNEF_NAME}: f32 only"
    );
    ensure!(
        a.rank() == 1 && axis < x.rank() && x.shape[axis] == a.shape[0],
        "{NNEF_NAME}: one slope per channel"
    );
    builder.wire(ChannelPrelu { axis }, &[input, alpha])
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
