//! The programs an engine has compiled, by source text: compiling the same
//! text again (a deployed flow run many times, a run resumed) gives the
//! program already in memory. Entries are weak: a program nobody holds is
//! dropped, and compiled again when next asked for.

use flow_compiler::ir::Program;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

#[derive(Default)]
pub(crate) struct Programs {
    by_source: Mutex<HashMap<Arc<str>, Weak<Program>>>,
}

impl Programs {
    /// The program compiled from `source`, if one is still alive.
    pub fn get(&self, source: &str) -> Option<Arc<Program>> {
        self.by_source.lock().ok()?.get(source)?.upgrade()
    }

    /// Remembers a compiled program (and forgets the dropped ones).
    pub fn keep(&self, program: &Arc<Program>) {
        if let Ok(mut map) = self.by_source.lock() {
            map.retain(|_, p| p.strong_count() > 0);
            map.insert(program.source.clone(), Arc::downgrade(program));
        }
    }
}
