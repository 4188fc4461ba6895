//! Multi-version memory: for every location, the writes of each transaction ordered by index.
//!
//! A read by transaction `j` resolves to the newest entry below `j`, folding balance deltas onto
//! the value (or base value) beneath them; an ESTIMATE entry (left by an aborted incarnation)
//! makes the reader wait for its writer instead of computing on a value that will likely change.
//!
//! Concurrency: entries live in a `DashMap` (sharded read/write locks). Every method holds at
//! most one shard guard at a time, so shard locks never nest. The per-transaction bookkeeping
//! (`last_written`, `last_read`) is behind its own mutex; `validate` holds `last_read[tx]` while
//! taking shard guards, and `record` never holds a shard guard while taking `last_read[tx]`,
//! so the lock order is always `last_read` → shard.

use std::sync::atomic::{AtomicBool, Ordering};

use dashmap::DashMap;
use parking_lot::Mutex;
use rustc_hash::{FxBuildHasher, FxHashSet};

use crate::types::*;

/// What one transaction left at one location.
#[derive(Clone, Debug)]
enum Entry {
    Write(Value),
    Delta(U256),
    /// The writer's last incarnation aborted; it will probably write here again.
    Estimate,
}

/// The entries of one location, sorted by writer index. A sorted vector rather than a
/// B-tree: almost every location has one or two writers (a B-tree leaf reserves room for
/// eleven), and writers arrive roughly in index order, so inserts land at or near the end.
#[derive(Default, Debug)]
struct Versions(Vec<(TxIndex, Entry)>);

impl Versions {
    /// Entries of writers below `tx`, newest first.
    fn below(&self, tx: TxIndex) -> impl Iterator<Item = &(TxIndex, Entry)> {
        let end = self.0.partition_point(|(i, _)| *i < tx);
        self.0[..end].iter().rev()
    }

    /// Entries of writers in `from..tx`, newest first.
    fn between(&self, from: TxIndex, tx: TxIndex) -> impl Iterator<Item = &(TxIndex, Entry)> {
        let start = self.0.partition_point(|(i, _)| *i < from);
        let end = self.0.partition_point(|(i, _)| *i < tx).max(start);
        self.0[start..end].iter().rev()
    }

    fn insert(&mut self, tx: TxIndex, entry: Entry) {
        match self.0.binary_search_by_key(&tx, |(i, _)| *i) {
            Ok(at) => self.0[at].1 = entry,
            Err(at) => self.0.insert(at, (tx, entry)),
        }
    }

    fn remove(&mut self, tx: TxIndex) {
        if let Ok(at) = self.0.binary_search_by_key(&tx, |(i, _)| *i) {
            self.0.remove(at);
        }
    }

    fn get_mut(&mut self, tx: TxIndex) -> Option<&mut Entry> {
        let at = self.0.binary_search_by_key(&tx, |(i, _)| *i).ok()?;
        Some(&mut self.0[at].1)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.0.iter().map(|(_, e)| e)
    }
}

/// The result of a read against the memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadResult {
    Value(Value),
    /// An ESTIMATE of this transaction is in the way: wait until it re-executes.
    Blocked(TxIndex),
    /// The base value of this location has not been loaded; load it and read again.
    NotLoaded,
}

/// The state before the block. Implementations may load lazily: `None` means "not loaded".
pub trait BaseState: Sync {
    fn get(&self, loc: &Location) -> Option<Value>;
}

/// Something in the memory that cannot happen if the executors behave; it makes the block
/// fall back to sequential execution instead of returning a possibly wrong result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    #[error("balance delta recorded on non-account location {0:?}")]
    DeltaOnNonAccount(Location),
    #[error("value of the wrong kind at {0:?}")]
    KindMismatch(Location),
    #[error("location {0:?} still unresolved after the block finished")]
    UnresolvedAtEnd(Location),
}

/// The final value of a written location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinalValue {
    Value(Value),
    /// Only balance credits were written and nobody read the base value, so it was never
    /// loaded: the final account is the base account plus this amount (created if absent).
    AddToBase(U256),
}

pub struct MvMemory {
    /// Location → (writer index → entry). Concurrent: see the module note on shard guards.
    data: DashMap<Location, Versions, FxBuildHasher>,
    /// Per transaction: the locations its last recorded incarnation wrote. Written by the
    /// executing thread in `record`, read by aborting validators in `convert_writes_to_estimates`.
    last_written: Vec<Mutex<Vec<Location>>>,
    /// Per transaction: what its last recorded incarnation read. Written in `record`, read by
    /// validators in `validate`.
    last_read: Vec<Mutex<ReadSet>>,
    /// Set once any incarnation writes a `StorageClear`; until then storage reads skip the
    /// clear lookup. Monotonic. Ordering: the Release store in `record` happens before the
    /// writer's `finish_execution`, which happens before any validation it schedules, so a
    /// validator's Acquire load observes it.
    any_clear: AtomicBool,
}

impl MvMemory {
    pub fn new(block_size: usize) -> Self {
        MvMemory {
            data: DashMap::with_hasher(FxBuildHasher),
            last_written: (0..block_size).map(|_| Mutex::new(Vec::new())).collect(),
            last_read: (0..block_size).map(|_| Mutex::new(Vec::new())).collect(),
            any_clear: AtomicBool::new(false),
        }
    }

    /// The value of `loc` as transaction `tx` sees it.
    pub fn read(&self, loc: &Location, tx: TxIndex, base: &dyn BaseState) -> Result<ReadResult, MemoryError> {
        match loc {
            Location::Account(_) => self.read_account(loc, tx, base),
            Location::Storage(addr, _) => self.read_storage(loc, addr, tx, base),
            // Nobody reads the marker itself; storage reads consult it.
            Location::StorageClear(_) => Err(MemoryError::KindMismatch(*loc)),
        }
    }

    fn read_account(&self, loc: &Location, tx: TxIndex, base: &dyn BaseState) -> Result<ReadResult, MemoryError> {
        let mut delta = U256::ZERO;
        let mut has_delta = false;
        if let Some(entries) = self.data.get(loc) {
            for (idx, entry) in entries.below(tx) {
                match entry {
                    Entry::Estimate => return Ok(ReadResult::Blocked(*idx)),
                    Entry::Delta(d) => {
                        delta = delta.wrapping_add(*d);
                        has_delta = true;
                    }
                    Entry::Write(Value::Account(a)) => {
                        let v = if has_delta { fold_delta(*a, delta) } else { *a };
                        return Ok(ReadResult::Value(Value::Account(v)));
                    }
                    Entry::Write(_) => return Err(MemoryError::KindMismatch(*loc)),
                }
            }
        }
        match base.get(loc) {
            None => Ok(ReadResult::NotLoaded),
            Some(Value::Account(a)) => {
                let v = if has_delta { fold_delta(a, delta) } else { a };
                Ok(ReadResult::Value(Value::Account(v)))
            }
            Some(_) => Err(MemoryError::KindMismatch(*loc)),
        }
    }

    fn read_storage(
        &self,
        loc: &Location,
        addr: &Address,
        tx: TxIndex,
        base: &dyn BaseState,
    ) -> Result<ReadResult, MemoryError> {
        // The newest storage wipe below `tx`, if any: slot entries older than it do not count.
        let mut floor: Option<TxIndex> = None;
        if self.any_clear.load(Ordering::Acquire) {
            if let Some(entries) = self.data.get(&Location::StorageClear(*addr)) {
                if let Some((idx, entry)) = entries.below(tx).next() {
                    if let Entry::Estimate = entry {
                        return Ok(ReadResult::Blocked(*idx));
                    }
                    floor = Some(*idx);
                }
            }
        }
        if let Some(entries) = self.data.get(loc) {
            // A transaction that wiped storage and then wrote the slot recorded the write after
            // the wipe, so the floor itself is included.
            let newest = match floor {
                Some(f) => entries.between(f, tx).next(),
                None => entries.below(tx).next(),
            };
            if let Some((idx, entry)) = newest {
                return match entry {
                    Entry::Estimate => Ok(ReadResult::Blocked(*idx)),
                    Entry::Write(v @ Value::Storage(_)) => Ok(ReadResult::Value(v.clone())),
                    Entry::Write(_) => Err(MemoryError::KindMismatch(*loc)),
                    Entry::Delta(_) => Err(MemoryError::DeltaOnNonAccount(*loc)),
                };
            }
        }
        if floor.is_some() {
            return Ok(ReadResult::Value(Value::Storage(U256::ZERO)));
        }
        Ok(match base.get(loc) {
            None => ReadResult::NotLoaded,
            Some(v) => ReadResult::Value(v),
        })
    }

    /// Stores an incarnation's reads and writes, replacing those of its previous incarnation
    /// (locations it no longer writes are removed). Returns whether it wrote a location the
    /// previous incarnation did not (only then must higher transactions be re-validated), and
    /// the previous read set, emptied, for the caller to reuse.
    pub fn record(&self, version: Version, reads: ReadSet, writes: WriteSet) -> Result<(bool, ReadSet), MemoryError> {
        let tx = version.tx;
        let mut new_locations = Vec::with_capacity(writes.len());
        for (loc, op) in writes {
            let entry = match op {
                WriteOp::Set(v) => Entry::Write(v),
                WriteOp::AddBalance(d) => {
                    if !matches!(loc, Location::Account(_)) {
                        return Err(MemoryError::DeltaOnNonAccount(loc));
                    }
                    Entry::Delta(d)
                }
            };
            if let Location::StorageClear(_) = loc {
                self.any_clear.store(true, Ordering::Release);
            }
            self.data.entry(loc).or_default().insert(tx, entry);
            new_locations.push(loc);
        }

        let mut last = self.last_written[tx.idx()].lock();
        let wrote_new = if last.len() + new_locations.len() <= 32 {
            for old in last.iter().filter(|old| !new_locations.contains(old)) {
                self.remove_entry(old, tx);
            }
            new_locations.iter().any(|l| !last.contains(l))
        } else {
            let new_set: FxHashSet<&Location> = new_locations.iter().collect();
            for old in last.iter().filter(|old| !new_set.contains(old)) {
                self.remove_entry(old, tx);
            }
            let old_set: FxHashSet<&Location> = last.iter().collect();
            new_locations.iter().any(|l| !old_set.contains(l))
        };
        *last = new_locations;
        drop(last);
        let mut old_reads = std::mem::replace(&mut *self.last_read[tx.idx()].lock(), reads);
        old_reads.clear();
        Ok((wrote_new, old_reads))
    }

    fn remove_entry(&self, loc: &Location, tx: TxIndex) {
        if let Some(mut entries) = self.data.get_mut(loc) {
            entries.remove(tx);
        }
    }

    /// Marks every write of `tx`'s last incarnation as an ESTIMATE (it has just been aborted).
    pub fn convert_writes_to_estimates(&self, tx: TxIndex) {
        let last = self.last_written[tx.idx()].lock();
        for loc in last.iter() {
            if let Some(mut entries) = self.data.get_mut(loc) {
                if let Some(e) = entries.get_mut(tx) {
                    *e = Entry::Estimate;
                }
            }
        }
    }

    /// Validation: the first location whose value, as `tx`'s last recorded incarnation read it,
    /// is no longer what it would read now (an ESTIMATE in the way counts as changed); `None`
    /// if every read still holds.
    pub fn first_stale_read(&self, tx: TxIndex, base: &dyn BaseState) -> Result<Option<Location>, MemoryError> {
        let reads = self.last_read[tx.idx()].lock();
        for r in reads.iter() {
            let now = self.read(&r.loc, tx, base)?;
            let holds = match (&now, &r.value) {
                (ReadResult::Value(v), observed) if v == observed => true,
                // A credit read compares shapes, given the payment it made: the transaction's
                // own delta there. Without one (its payment failed), the whole value counts.
                (ReadResult::Value(Value::Account(now)), Value::Account(then)) if r.credit => {
                    self.own_delta(&r.loc, tx).is_some_and(|d| credit_read_holds(then, now, d))
                }
                _ => false,
            };
            if !holds {
                return Ok(Some(r.loc));
            }
        }
        Ok(None)
    }

    /// The balance delta `tx` itself recorded at `loc`, if that is what it left there.
    fn own_delta(&self, loc: &Location, tx: TxIndex) -> Option<U256> {
        let entries = self.data.get(loc)?;
        let at = entries.0.binary_search_by_key(&tx, |(i, _)| *i).ok()?;
        match entries.0[at].1 {
            Entry::Delta(d) => Some(d),
            _ => None,
        }
    }

    /// The newest transaction below `tx` with an entry (a write, delta or ESTIMATE) at `loc`.
    pub fn newest_writer_below(&self, loc: &Location, tx: TxIndex) -> Option<TxIndex> {
        self.data.get(loc).and_then(|e| e.below(tx).next().map(|(i, _)| *i))
    }

    /// The final value of every location written in the block, deltas folded and storage wipes
    /// applied (a `StorageClear` location is reported as `Value::Cleared`). Call only after the
    /// block is done.
    pub fn snapshot(&self, block_size: usize, base: &dyn BaseState) -> Result<Vec<(Location, FinalValue)>, MemoryError> {
        let end = TxIndex::from_usize(block_size);
        // Collect keys first: resolving a location takes other shard guards.
        let keys: Vec<Location> =
            self.data.iter().filter(|e| !e.value().is_empty()).map(|e| *e.key()).collect();
        let mut out = Vec::with_capacity(keys.len());
        for loc in keys {
            let value = match loc {
                Location::StorageClear(_) => FinalValue::Value(Value::Cleared),
                _ => match self.read(&loc, end, base)? {
                    ReadResult::Value(v) => FinalValue::Value(v),
                    ReadResult::NotLoaded => match self.delta_sum(&loc) {
                        Some(sum) => FinalValue::AddToBase(sum),
                        None => return Err(MemoryError::UnresolvedAtEnd(loc)),
                    },
                    ReadResult::Blocked(_) => return Err(MemoryError::UnresolvedAtEnd(loc)),
                },
            };
            out.push((loc, value));
        }
        Ok(out)
    }

    /// The transactions whose writes `tx`'s committed reads observed: for an account, every
    /// balance credit below `tx` down to the newest full write (inclusive), only that write for
    /// a credit read; for a slot, its newest writer, or the newest storage wipe if that is
    /// newer. Call after the block is done; the result is sorted and without duplicates.
    pub fn dependencies(&self, tx: TxIndex) -> Vec<TxIndex> {
        let reads = self.last_read[tx.idx()].lock();
        let mut deps = Vec::new();
        for Read { loc, credit, .. } in reads.iter() {
            match loc {
                Location::Account(_) => {
                    if let Some(entries) = self.data.get(loc) {
                        for (idx, entry) in entries.below(tx) {
                            let delta = matches!(entry, Entry::Delta(_));
                            if !(delta && *credit) {
                                deps.push(*idx);
                            }
                            if !delta {
                                break;
                            }
                        }
                    }
                }
                Location::Storage(addr, _) => {
                    let clear = self
                        .data
                        .get(&Location::StorageClear(*addr))
                        .and_then(|e| e.below(tx).next().map(|(i, _)| *i));
                    let slot = self.data.get(loc).and_then(|e| e.below(tx).next().map(|(i, _)| *i));
                    match (slot, clear) {
                        (Some(s), Some(c)) => deps.push(s.max(c)),
                        (Some(s), None) => deps.push(s),
                        (None, Some(c)) => deps.push(c),
                        (None, None) => {}
                    }
                }
                Location::StorageClear(_) => {}
            }
        }
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    /// Bytes held by the memory's structures (entries, version vectors, read and write sets),
    /// computed from their sizes and capacities; allocator overhead not included.
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut bytes = 0;
        for e in self.data.iter() {
            bytes += size_of::<Location>() + size_of::<Versions>() + 16 + e.value().0.capacity() * size_of::<(TxIndex, Entry)>();
        }
        for r in &self.last_read {
            bytes += size_of::<Mutex<ReadSet>>() + r.lock().capacity() * size_of::<Read>();
        }
        for w in &self.last_written {
            bytes += size_of::<Mutex<Vec<Location>>>() + w.lock().capacity() * size_of::<Location>();
        }
        bytes
    }

    /// The sum of the entries at `loc` if they are all deltas.
    fn delta_sum(&self, loc: &Location) -> Option<U256> {
        let entries = self.data.get(loc)?;
        let mut sum = U256::ZERO;
        for entry in entries.entries() {
            match entry {
                Entry::Delta(d) => sum = sum.wrapping_add(*d),
                _ => return None,
            }
        }
        Some(sum)
    }
}
