//! `f16` weights stored as `f16`, widened to `f32` when the engine loads the model.
//!
//! The anti-spoof model was published with float16 weights. tract's NNEF writer folds every constant
//! subgraph before writing, so a plain `Cast` after an `f16` constant would be written as the `f32`
//! result and double the file (4.1 -> 8.4 MB). [`Widen`] is a cast the writer cannot fold (it does not
//! evaluate outside a plan) but that the engine's optimiser folds into an `f32` constant in its first
//! declutter pass, so the optimised plan is the same as with `f32` weights.

// tract's op macros (`as_op!`, ...) expect its internal prelude in scope.
#![allow(clippy::wildcard_imports)]

use tract_nnef::internal::*;

/// Name of the NNEF primitive.
pub const NNEF_NAME: &str = "siap_widen";

/// `f16` -> `f32`, folded away by declutter when its input is a constant.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Widen;

impl Op for Widen {
    fn name(&self) -> StaticName {
        "SiapWiden".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Widen {
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext<'_>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        Ok(tvec!(x.cast_to::<f32>()?.into_owned().into_tvalue()))
    }
}

impl TypedOp for Widen {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == f16::datum_type(),
            "{NNEF_NAME}: f16 input"
        );
        Ok(tvec!(f32::fact(
            inputs[0].shape.iter().collect::<TVec<_>>()
        )))
    }

    fn declutter(
        &self,
        model: &TypedModel,
        node: &TypedNode,
    ) -> TractResult<Option<TypedModelPatch>> {
        let Some(k) = model.outlet_fact(node.inputs[0])?.konst.clone() else {
            return Ok(None);
        };
        let mut patch = TypedModelPatch::default();
        let wide = patch.add_const(&node.name, k.cast_to::<f32>()?.into_owned())?;
        patch.shunt_outside(model, node.id.into(), wide)?;
        Ok(Some(patch))
    }

    as_op!();
}

/// NNEF parameters of [`NNEF_NAME`].
pub fn parameters() -> Vec<Parameter> {
    vec![TypeName::Scalar.tensor().named("input")]
}

/// Writes a [`Widen`] node as `siap_widen(input)`.
#[allow(clippy::unnecessary_wraps)] // the signature is tract's dumper type
pub fn dump(
    ast: &mut IntoAst<'_>,
    node: &TypedNode,
    _op: &Widen,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    Ok(Some(invocation(NNEF_NAME, &[input], &[])))
}

/// Wires a [`Widen`] back from its NNEF invocation.
pub fn load(
    builder: &mut ModelBuilder<'_>,
    invocation: &ResolvedInvocation<'_>,
) -> TractResult<Value> {
    let input: OutletId = invocation.named_arg_as(builder, "input")?;
    builder.wire(Widen, &[input])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::{ANTISPOOF, default_models_dir, models};

    /// The anti-spoof model carries its weights as `f16` behind `Widen`, and none is left once the
    /// engine optimises it (a `Widen` left in the plan would make the convolution weights non-constant).
    #[test]
    fn stored_half_weights_fold_into_constants_when_optimised() {
        let model = models::load(&default_models_dir(), &ANTISPOOF).expect("antispoof model");
        let stored = model.nodes().iter().filter(|n| n.op_is::<Widen>()).count();
        assert!(stored > 50, "{stored} widened weights");
        let plan = model.into_optimized().expect("optimise");
        let left = plan.nodes().iter().filter(|n| n.op_is::<Widen>()).count();
        assert_eq!(left, 0);
    }
}
