//! What each model action of a run sends every time (schema, validator,
//! tool descriptions), built on its first call and kept for the run.

use crate::llm::prepared::Prepared;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(crate) struct ModelCache {
    prepared: Mutex<HashMap<usize, Arc<Prepared>>>,
}

impl ModelCache {
    /// The prepared request parts of an action, keyed by the action (its
    /// address in the run's program), not the step: one step may hold an
    /// `llm` and an `agent` (route branches, catch).
    pub fn prepared(
        &self,
        key: usize,
        build: impl FnOnce() -> Result<Prepared, String>,
    ) -> Result<Arc<Prepared>, String> {
        if let Some(p) = self.prepared.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let built = Arc::new(build()?);
        if let Ok(mut m) = self.prepared.lock() {
            m.insert(key, built.clone());
        }
        Ok(built)
    }
}
