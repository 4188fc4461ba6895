//! Base states: the values of locations before the block.

use dashmap::DashMap;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::mv_memory::BaseState;
use crate::types::{Location, Value, U256};

/// The value of a location that a complete base state does not list.
fn absent(loc: &Location) -> Option<Value> {
    match loc {
        Location::Account(_) => Some(Value::Account(None)),
        Location::Storage(..) => Some(Value::Storage(U256::ZERO)),
        Location::StorageClear(_) => None,
    }
}

/// A complete, immutable base state: unlisted accounts do not exist, unlisted slots are zero.
#[derive(Default, Clone)]
pub struct MapBase(pub FxHashMap<Location, Value>);

impl BaseState for MapBase {
    fn get(&self, loc: &Location) -> Option<Value> {
        self.0.get(loc).cloned().or_else(|| absent(loc))
    }
}

/// A base state filled while the block runs. If `complete`, unlisted locations are absent;
/// otherwise they are "not loaded" and a reader must load them (`insert`) and read again.
/// Entries never change once inserted, so readers need no coordination beyond the map's.
pub struct SharedBase {
    values: DashMap<Location, Value, FxBuildHasher>,
    complete: bool,
}

impl SharedBase {
    pub fn new(complete: bool) -> Self {
        SharedBase { values: DashMap::with_hasher(FxBuildHasher), complete }
    }
    /// Loads a base value. A second insert of the same location keeps the first.
    pub fn insert(&self, loc: Location, value: Value) {
        self.values.entry(loc).or_insert(value);
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl BaseState for SharedBase {
    fn get(&self, loc: &Location) -> Option<Value> {
        match self.values.get(loc) {
            Some(v) => Some(v.clone()),
            None if self.complete => absent(loc),
            None => None,
        }
    }
}
