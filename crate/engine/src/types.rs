//! Domain types shared by the memory, the scheduler and the executors.

use std::fmt;

pub use ruint::aliases::U256;

/// A 20-byte account address.
pub type Address = [u8; 20];
/// A 32-byte word: storage slot keys, code hashes, storage roots.
pub type B256 = [u8; 32];

/// keccak256 of the empty byte string: the code hash of an account without code.
pub const EMPTY_CODE_HASH: B256 = [
    0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d, 0xb2, 0xdc, 0xc7, 0x03, 0xc0,
    0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82, 0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70,
];
/// keccak256(rlp("")): the storage root of an account without storage.
pub const EMPTY_STORAGE_ROOT: B256 = [
    0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45, 0xe6, 0x92, 0xc0, 0xf8, 0x6e,
    0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c, 0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21,
];

/// Position of a transaction in its block (0-based).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TxIndex(pub u32);

impl TxIndex {
    #[inline]
    pub fn idx(self) -> usize {
        self.0 as usize
    }
    #[inline]
    pub fn from_usize(i: usize) -> Self {
        TxIndex(i as u32)
    }
}

impl fmt::Debug for TxIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// How many times a transaction has been (re-)started; 0 is the first execution.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Incarnation(pub u32);

/// One execution of one transaction.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Version {
    pub tx: TxIndex,
    pub incarnation: Incarnation,
}

/// A unit of state that transactions read and write.
///
/// Code is not a location: it is content-addressed by its hash (see `CodeStore`), and the
/// account's `code_hash` is what gets versioned.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Location {
    /// Nonce, balance, code hash and storage root of an address (or its absence).
    Account(Address),
    /// One storage slot of an address.
    Storage(Address, B256),
    /// Marker written by a transaction that wiped all storage of an address (SELFDESTRUCT,
    /// re-creation). A storage read resolves the newest of the slot's own entry and this one.
    StorageClear(Address),
}

impl Location {
    pub fn address(&self) -> &Address {
        match self {
            Location::Account(a) | Location::Storage(a, _) | Location::StorageClear(a) => a,
        }
    }
}

/// The account fields that transactions read and write.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct AccountInfo {
    pub nonce: u64,
    pub balance: U256,
    pub code_hash: B256,
    /// Carried through from the base state; only "empty or not" matters to execution
    /// (EIP-7610 collision checks), and the engine never computes tries.
    pub storage_root: B256,
}

impl AccountInfo {
    /// An account that did not exist before and was created by a balance credit.
    pub fn with_balance(balance: U256) -> Self {
        AccountInfo { nonce: 0, balance, code_hash: EMPTY_CODE_HASH, storage_root: EMPTY_STORAGE_ROOT }
    }
}

/// The value of a location as a reader sees it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Value {
    /// `None` is an account that does not exist.
    Account(Option<AccountInfo>),
    /// A storage slot; absent slots read as zero.
    Storage(U256),
    /// The `StorageClear` marker.
    Cleared,
}

/// What a transaction does to one location.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum WriteOp {
    /// Replace the value.
    Set(Value),
    /// Add to the balance of an account (creating it if absent). Commutative, so
    /// transactions that only pay into an account (the coinbase fee) do not conflict.
    AddBalance(U256),
}

/// The writes of one incarnation. At most one op per location.
pub type WriteSet = Vec<(Location, WriteOp)>;

/// The value a read returned, kept for validation.
///
/// Validation compares values, not versions: an incarnation is still valid if every location
/// it read holds the same value now, whoever wrote it. This also covers reads that folded
/// balance deltas and storage reads resolved through a `StorageClear`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Read {
    pub loc: Location,
    pub value: Value,
    /// A credit read (see `Run::read_credit`): the reader only pays into this account (one
    /// without code), so only the account's shape and whether the payment (the reader's own
    /// balance delta there) overflows its balance matter, not the balance itself.
    pub credit: bool,
}

pub type ReadSet = Vec<Read>;

/// Whether an account value has no code (absent accounts have none).
pub fn without_code(a: &Option<AccountInfo>) -> bool {
    a.as_ref().is_none_or(|a| a.code_hash == EMPTY_CODE_HASH)
}

/// The parts of an account a credit read depends on: nonce, code hash and storage root, an
/// absent account counting as the empty one (a credit creates it as such).
fn account_shape(a: &Option<AccountInfo>) -> (u64, B256, B256) {
    match a {
        Some(a) => (a.nonce, a.code_hash, a.storage_root),
        None => (0, EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT),
    }
}

/// Whether a credit read of `observed` still holds when the account reads `current`: same
/// shape, and adding `credit` overflows the balance in both or in neither.
pub fn credit_read_holds(observed: &Option<AccountInfo>, current: &Option<AccountInfo>, credit: U256) -> bool {
    let overflows = |a: &Option<AccountInfo>| a.as_ref().is_some_and(|a| a.balance.checked_add(credit).is_none());
    account_shape(observed) == account_shape(current) && overflows(observed) == overflows(current)
}

/// Applies `delta` to an account value (absent accounts are created by the credit).
pub fn fold_delta(base: Option<AccountInfo>, delta: U256) -> Option<AccountInfo> {
    match base {
        Some(mut a) => {
            a.balance = a.balance.wrapping_add(delta);
            Some(a)
        }
        None => Some(AccountInfo::with_balance(delta)),
    }
}
