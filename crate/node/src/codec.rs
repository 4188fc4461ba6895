//! The byte layouts exchanged with JavaScript (mirrored in `ts/native/codec.ts`).
//!
//! Location (53 bytes): `kind u8 | address [20] | slot [32]` (slot zero unless storage).
//!   kind 0 = account, 1 = storage slot, 2 = storage wipe marker.
//! Account value (105 bytes): `exists u8 | nonce u64 LE | balance [32] BE | code hash [32] | storage root [32]`.
//! Storage value: 32 bytes big-endian.
//!
//! Write set: a sequence of records, each `op u8 | location [53] | payload`:
//!   op 0 set account (payload: account value), op 1 set storage (32 bytes),
//!   op 2 wipe storage (no payload), op 3 add to balance (32 bytes).
//!   op 4 code (no location): `hash [32] | len u32 LE | bytes`, stored content-addressed.
//!
//! Snapshot: records `location [53] | tag u8 | payload`: tag 0 account value, 1 storage value,
//! 2 wiped, 3 add-to-base amount (32 bytes).

use parallel_evm_engine::{AccountInfo, FinalValue, Location, Value, WriteOp, WriteSet, B256, U256};

pub const LOCATION_LEN: usize = 53;
pub const ACCOUNT_LEN: usize = 105;

#[derive(Debug)]
pub struct CodecError(pub &'static str);

impl From<CodecError> for napi::Error {
    fn from(e: CodecError) -> Self {
        napi::Error::new(napi::Status::InvalidArg, format!("malformed native message: {}", e.0))
    }
}

fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], CodecError> {
    let end = at.checked_add(n).ok_or(CodecError("length overflow"))?;
    let s = buf.get(*at..end).ok_or(CodecError("truncated"))?;
    *at = end;
    Ok(s)
}

pub fn decode_location(b: &[u8]) -> Result<Location, CodecError> {
    if b.len() < LOCATION_LEN {
        return Err(CodecError("short location"));
    }
    let addr: [u8; 20] = b[1..21].try_into().unwrap();
    match b[0] {
        0 => Ok(Location::Account(addr)),
        1 => Ok(Location::Storage(addr, b[21..53].try_into().unwrap())),
        2 => Ok(Location::StorageClear(addr)),
        _ => Err(CodecError("unknown location kind")),
    }
}

pub fn encode_location(loc: &Location, out: &mut Vec<u8>) {
    match loc {
        Location::Account(a) => {
            out.push(0);
            out.extend_from_slice(a);
            out.extend_from_slice(&[0u8; 32]);
        }
        Location::Storage(a, s) => {
            out.push(1);
            out.extend_from_slice(a);
            out.extend_from_slice(s);
        }
        Location::StorageClear(a) => {
            out.push(2);
            out.extend_from_slice(a);
            out.extend_from_slice(&[0u8; 32]);
        }
    }
}

pub fn u256_from_be(b: &[u8]) -> U256 {
    U256::from_be_slice(b)
}

pub fn decode_account(b: &[u8]) -> Result<Option<AccountInfo>, CodecError> {
    if b.len() < ACCOUNT_LEN {
        return Err(CodecError("short account"));
    }
    if b[0] == 0 {
        return Ok(None);
    }
    Ok(Some(AccountInfo {
        nonce: u64::from_le_bytes(b[1..9].try_into().unwrap()),
        balance: u256_from_be(&b[9..41]),
        code_hash: b[41..73].try_into().unwrap(),
        storage_root: b[73..105].try_into().unwrap(),
    }))
}

/// Writes an account into `out[..104]` (without the exists byte: the read's return code says it).
pub fn write_account_fields(a: &AccountInfo, out: &mut [u8]) {
    out[0..8].copy_from_slice(&a.nonce.to_le_bytes());
    out[8..40].copy_from_slice(&a.balance.to_be_bytes::<32>());
    out[40..72].copy_from_slice(&a.code_hash);
    out[72..104].copy_from_slice(&a.storage_root);
}

fn encode_account(a: &Option<AccountInfo>, out: &mut Vec<u8>) {
    match a {
        None => out.extend_from_slice(&[0u8; ACCOUNT_LEN]),
        Some(a) => {
            out.push(1);
            let at = out.len();
            out.resize(at + ACCOUNT_LEN - 1, 0);
            write_account_fields(a, &mut out[at..]);
        }
    }
}

/// Content-addressed code carried in a write set.
pub struct CodeBlob<'a> {
    pub hash: B256,
    pub code: &'a [u8],
}

pub fn decode_writes<'a>(buf: &'a [u8], codes: &mut Vec<CodeBlob<'a>>) -> Result<WriteSet, CodecError> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < buf.len() {
        let op = take(buf, &mut at, 1)?[0];
        if op == 4 {
            let hash: B256 = take(buf, &mut at, 32)?.try_into().unwrap();
            let len = u32::from_le_bytes(take(buf, &mut at, 4)?.try_into().unwrap()) as usize;
            codes.push(CodeBlob { hash, code: take(buf, &mut at, len)? });
            continue;
        }
        let loc = decode_location(take(buf, &mut at, LOCATION_LEN)?)?;
        let write = match (op, &loc) {
            (0, Location::Account(_)) => WriteOp::Set(Value::Account(decode_account(take(buf, &mut at, ACCOUNT_LEN)?)?)),
            (1, Location::Storage(..)) => WriteOp::Set(Value::Storage(u256_from_be(take(buf, &mut at, 32)?))),
            (2, Location::StorageClear(_)) => WriteOp::Set(Value::Cleared),
            (3, Location::Account(_)) => WriteOp::AddBalance(u256_from_be(take(buf, &mut at, 32)?)),
            _ => return Err(CodecError("write op does not fit its location")),
        };
        out.push((loc, write));
    }
    Ok(out)
}

/// A base-state record: `location [53] | value` (account value or 32-byte storage value).
pub fn decode_base(buf: &[u8]) -> Result<Vec<(Location, Value)>, CodecError> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < buf.len() {
        let loc = decode_location(take(buf, &mut at, LOCATION_LEN)?)?;
        let value = match loc {
            Location::Account(_) => Value::Account(decode_account(take(buf, &mut at, ACCOUNT_LEN)?)?),
            Location::Storage(..) => Value::Storage(u256_from_be(take(buf, &mut at, 32)?)),
            Location::StorageClear(_) => return Err(CodecError("a storage wipe is not a base value")),
        };
        out.push((loc, value));
    }
    Ok(out)
}

pub fn encode_snapshot(state: &[(Location, FinalValue)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(state.len() * (LOCATION_LEN + 34));
    for (loc, v) in state {
        encode_location(loc, &mut out);
        match v {
            FinalValue::Value(Value::Account(a)) => {
                out.push(0);
                encode_account(a, &mut out);
            }
            FinalValue::Value(Value::Storage(x)) => {
                out.push(1);
                out.extend_from_slice(&x.to_be_bytes::<32>());
            }
            FinalValue::Value(Value::Cleared) => out.push(2),
            FinalValue::AddToBase(d) => {
                out.push(3);
                out.extend_from_slice(&d.to_be_bytes::<32>());
            }
        }
    }
    out
}
