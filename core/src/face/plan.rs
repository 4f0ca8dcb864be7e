//! Optimised tract plans, one per concrete input shape, built once and reused.
//!
//! tract runs a plan optimised for concrete shapes about twice as fast as one left symbolic (measured for
//! P-Net, see DESIGN "Facts"). The MTCNN networks take images of varying size, so each model is kept as one
//! decluttered graph with symbolic dimensions, and a concrete optimised plan is made on first use of each
//! shape (2-12 ms) and cached. The cache is bounded: the pyramid of a given camera resolution only ever uses
//! a dozen shapes, but a caller feeding arbitrary sizes must not grow memory without limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tract_nnef::prelude::*;

use super::models::{ModelSpec, prep_error};
use crate::{Error, Result};

/// Most concrete plans kept per model; beyond this the cache is cleared and refilled.
const MAX_PLANS: usize = 64;

type Plan = Arc<TypedRunnableModel>;

/// A model with symbolic input dimensions and its cache of concrete plans.
pub struct PlanCache {
    spec: ModelSpec,
    model: TypedModel,
    symbols: Vec<Symbol>,
    plans: Mutex<HashMap<Vec<i64>, Plan>>,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanCache")
            .field("model", &self.spec.file)
            .finish_non_exhaustive()
    }
}

impl PlanCache {
    /// Wraps a loaded model whose single input has symbolic dimensions (as converted, see
    /// [`ModelSpec::input`]); their values are given to [`PlanCache::plan`] in input-axis order.
    pub fn new(spec: ModelSpec, model: TypedModel) -> Result<PlanCache> {
        let err = |e: TractError| prep_error(&spec, &e);
        let input = model.input_fact(0).map_err(err)?;
        let mut symbols = Vec::new();
        for d in input.shape.iter() {
            match d {
                TDim::Val(_) => {}
                TDim::Sym(s) => symbols.push(s.clone()),
                _ => {
                    return Err(prep_error(
                        &spec,
                        &TractError::msg(format!("input dimension {d} is not a symbol")),
                    ));
                }
            }
        }
        Ok(PlanCache {
            spec,
            model,
            symbols,
            plans: Mutex::new(HashMap::new()),
        })
    }

    /// The optimised plan for these values of the symbolic dimensions (in the order given to `new`).
    pub fn plan(&self, values: &[i64]) -> Result<Plan> {
        if let Some(p) = self.lock().get(values) {
            return Ok(p.clone());
        }
        let err = |e: TractError| prep_error(&self.spec, &e);
        let subs: HashMap<Symbol, TDim> = self
            .symbols
            .iter()
            .cloned()
            .zip(values.iter().map(|v| TDim::from(*v)))
            .collect();
        let plan = self
            .model
            .set_symbols(&subs)
            .map_err(err)?
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        let mut plans = self.lock();
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        plans.insert(values.to_vec(), plan.clone());
        Ok(plan)
    }

    /// Runs the model on one input tensor, returning all outputs.
    pub fn run(&self, values: &[i64], input: Tensor) -> Result<TVec<TValue>> {
        let plan = self.plan(values)?;
        plan.run(tvec!(input.into()))
            .map_err(|e| Error::Inference(format!("{}: {e}", self.spec.file)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<i64>, Plan>> {
        // A poisoned cache only means another thread panicked while inserting: the map is still valid.
        self.plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
