//! Sender recovery for a whole block, from the transactions as the executor already encodes
//! them for its workers (`ts/evm/txs.ts`): the signing hash (the RLP of the unsigned fields,
//! as ethereumjs's `getMessageToSign`) and the ECDSA recovery both run here, on native
//! threads, so no JS thread spends time on either.
//!
//! Only well-formed signatures are recovered here. Anything unusual (an unknown property
//! shape, a high `s` after Homestead, a bad `v`) is reported as not recovered, and the caller
//! recovers that transaction with ethereumjs's own checks, which produce its exact error.

use std::time::Instant;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::crypto::{recover, recover_many, RecoveredSenders};

/// Value tags of the transaction codec (`Tag` in `ts/evm/txs.ts`).
mod tag {
    pub const UNDEFINED: u8 = 0;
    pub const U256: u8 = 1;
    pub const BYTES: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const NUMBER: u8 = 4;
    pub const TRUE: u8 = 5;
    pub const FALSE: u8 = 6;
    pub const ARRAY: u8 = 7;
    pub const NULL: u8 = 8;
    pub const STRING: u8 = 9;
    pub const BIG_STRING: u8 = 10;
    pub const U64: u8 = 11;
}

/// Property names by index (`NAMES` in `ts/evm/txs.ts`; appended to, never reordered).
const NAMES: &[&str] = &[
    "type", "nonce", "gasLimit", "gasPrice", "to", "value", "data", "v", "r", "s", "chainId", "accessList",
    "maxPriorityFeePerGas", "maxFeePerGas", "maxFeePerBlobGas", "blobVersionedHashes", "authorizationList",
    "activeCapabilities", "networkWrapperVersion", "blobs", "kzgCommitments", "kzgProofs", "cellProofs",
];

/// `Capability.EIP155ReplayProtection` in `@ethereumjs/tx`.
const EIP155: f64 = 155.0;

/// secp256k1n / 2: larger `s` values are invalid from Homestead on (EIP-2).
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e,
    0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

#[derive(Debug)]
enum Val<'a> {
    Undefined,
    /// An unsigned integer, big-endian, leading zeros stripped.
    Int(Vec<u8>),
    Bytes(&'a [u8]),
    Number(f64),
    Array(Vec<Val<'a>>),
    Str(&'a str),
    Other,
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<usize> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    }
    fn value(&mut self) -> Option<Val<'a>> {
        Some(match self.byte()? {
            tag::UNDEFINED => Val::Undefined,
            tag::NULL | tag::TRUE | tag::FALSE => Val::Other,
            tag::U64 => {
                let v = u64::from_le_bytes(self.take(8)?.try_into().unwrap());
                Val::Int(strip(&v.to_be_bytes()).to_vec())
            }
            tag::U256 => Val::Int(strip(self.take(32)?).to_vec()),
            tag::BYTES => {
                let n = self.u32()?;
                Val::Bytes(self.take(n)?)
            }
            tag::ADDRESS => Val::Bytes(self.take(20)?),
            tag::NUMBER => Val::Number(f64::from_le_bytes(self.take(8)?.try_into().unwrap())),
            tag::STRING => {
                let n = self.u32()?;
                Val::Str(std::str::from_utf8(self.take(n)?).ok()?)
            }
            tag::BIG_STRING => {
                // Only negative or oversized bigints are sent as strings: never a valid field.
                let n = self.u32()?;
                self.take(n)?;
                Val::Other
            }
            tag::ARRAY => {
                let n = self.u32()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value()?);
                }
                Val::Array(items)
            }
            _ => return None,
        })
    }
}

fn strip(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// The fields of one transaction, by name index.
struct Fields<'a> {
    kind: u8,
    values: Vec<Option<Val<'a>>>,
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&Val<'a>> {
        let i = NAMES.iter().position(|n| *n == name)?;
        self.values.get(i)?.as_ref()
    }
    fn int(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            Val::Int(v) => Some(v),
            _ => None,
        }
    }
}

/// Splits the payload into its transactions (`u32 count | u32 end offset each | bodies`).
fn transactions(payload: &[u8]) -> Option<Vec<Fields<'_>>> {
    let mut r = Reader { buf: payload, at: 0 };
    let count = r.u32()?;
    let mut ends = Vec::with_capacity(count);
    for _ in 0..count {
        ends.push(r.u32()?);
    }
    let mut out = Vec::with_capacity(count);
    for end in ends {
        let kind = r.byte()?;
        let props = r.byte()? as usize;
        let mut values: Vec<Option<Val>> = (0..NAMES.len()).map(|_| None).collect();
        for _ in 0..props {
            let name = r.byte()? as usize;
            let v = r.value()?;
            if let Some(slot) = values.get_mut(name) {
                *slot = Some(v);
            }
        }
        if r.at != end {
            return None;
        }
        out.push(Fields { kind, values });
    }
    Some(out)
}

// RLP encoding: just enough for unsigned transaction fields.

fn rlp_header(out: &mut Vec<u8>, offset: u8, len: usize) {
    if len < 56 {
        out.push(offset + len as u8);
    } else {
        let be = len.to_be_bytes();
        let l = strip(&be);
        out.push(offset + 55 + l.len() as u8);
        out.extend_from_slice(l);
    }
}

fn rlp_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        rlp_header(out, 0x80, b.len());
        out.extend_from_slice(b);
    }
}

fn rlp_list(out: &mut Vec<u8>, body: &[u8]) {
    rlp_header(out, 0xc0, body.len());
    out.extend_from_slice(body);
}

/// Encodes a field value as ethereumjs puts it into `raw()`: integers unpadded, bytes as they
/// are, arrays as lists (access lists, authorization lists), hex strings as their bytes.
fn rlp_value(out: &mut Vec<u8>, v: &Val) -> Option<()> {
    match v {
        Val::Int(b) => rlp_bytes(out, b),
        Val::Bytes(b) => rlp_bytes(out, b),
        Val::Str(s) => rlp_bytes(out, &hex(s)?),
        Val::Array(items) => {
            let mut body = Vec::new();
            for item in items {
                rlp_value(&mut body, item)?;
            }
            rlp_list(out, &body);
        }
        Val::Undefined | Val::Number(_) | Val::Other => return None,
    }
    Some(())
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x")?;
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The signing hash and recovery id of one transaction, or `None` to leave it to ethereumjs.
fn signing_input(tx: &Fields, chain_id: &[u8], homestead: bool) -> Option<([u8; 32], [u8; 32], [u8; 32], u8)> {
    let field = |name: &str| tx.get(name);
    let int = |name: &str| tx.int(name);
    let v = int("v")?;
    let r = int("r")?;
    let s = int("s")?;
    if r.len() > 32 || s.len() > 32 || v.len() > 8 {
        return None;
    }
    let mut s32 = [0u8; 32];
    s32[32 - s.len()..].copy_from_slice(s);
    let mut r32 = [0u8; 32];
    r32[32 - r.len()..].copy_from_slice(r);
    if homestead && s32 > HALF_N {
        return None;
    }
    let v = v.iter().fold(0u64, |a, &b| (a << 8) | b as u64);
    let to: &[u8] = match field("to") {
        Some(Val::Bytes(b)) => b,
        Some(Val::Undefined) | None => &[],
        _ => return None,
    };
    let mut body = Vec::with_capacity(256);
    let push = |body: &mut Vec<u8>, name: &str| rlp_value(body, field(name)?);
    let recovery;
    let mut message = Vec::with_capacity(300);
    match tx.kind {
        0 => {
            let eip155 = matches!(field("activeCapabilities"), Some(Val::Array(caps)) if caps.iter().any(|c| matches!(c, Val::Number(n) if *n == EIP155)));
            for name in ["nonce", "gasPrice", "gasLimit"] {
                push(&mut body, name)?;
            }
            rlp_bytes(&mut body, to);
            push(&mut body, "value")?;
            push(&mut body, "data")?;
            if eip155 {
                rlp_bytes(&mut body, strip(chain_id));
                rlp_bytes(&mut body, &[]);
                rlp_bytes(&mut body, &[]);
                let chain = strip(chain_id);
                if chain.len() > 7 {
                    return None;
                }
                let c = chain.iter().fold(0u64, |a, &b| (a << 8) | b as u64);
                recovery = v.checked_sub(c.checked_mul(2)?.checked_add(35)?)?;
            } else {
                recovery = v.checked_sub(27)?;
            }
            rlp_list(&mut message, &body);
        }
        1..=4 => {
            let names: &[&str] = match tx.kind {
                1 => &["chainId", "nonce", "gasPrice", "gasLimit", "to", "value", "data", "accessList"],
                2 => &["chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gasLimit", "to", "value", "data", "accessList"],
                3 => &[
                    "chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gasLimit", "to", "value", "data", "accessList",
                    "maxFeePerBlobGas", "blobVersionedHashes",
                ],
                _ => &[
                    "chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gasLimit", "to", "value", "data", "accessList",
                    "authorizationList",
                ],
            };
            for name in names {
                if *name == "to" {
                    rlp_bytes(&mut body, to);
                } else {
                    push(&mut body, name)?;
                }
            }
            recovery = v;
            message.push(tx.kind);
            rlp_list(&mut message, &body);
        }
        _ => return None,
    }
    if recovery > 1 {
        return None;
    }
    let hash = alloy_primitives::keccak256(&message);
    Some((hash.0, r32, s32, recovery as u8))
}

pub struct RecoverPayloadTask {
    payload: Vec<u8>,
    chain_id: Vec<u8>,
    homestead: bool,
    threads: usize,
    /// 65 bytes per transaction: 1 where the caller already knows the public key (the next
    /// 64 bytes), which then only needs its address.
    known: Option<Vec<u8>>,
}

impl Task for RecoverPayloadTask {
    type Output = (Vec<u8>, Vec<u32>, f64);
    type JsValue = RecoveredSenders;

    fn compute(&mut self) -> Result<Self::Output> {
        let start = Instant::now();
        let txs = transactions(&self.payload).ok_or_else(|| Error::new(Status::InvalidArg, "malformed transaction payload"))?;
        let (chain_id, homestead) = (&self.chain_id, self.homestead);
        let known = match &self.known {
            Some(k) if k.len() != txs.len() * 65 => {
                return Err(Error::new(Status::InvalidArg, format!("known: {} bytes for {} transactions (65 each)", k.len(), txs.len())));
            }
            k => k.as_deref(),
        };
        let (out, failed) = recover_many(txs.len(), self.threads, |i| {
            if let Some(k) = known.map(|k| &k[i * 65..i * 65 + 65]).filter(|k| k[0] == 1) {
                return k[1..].try_into().ok();
            }
            let (hash, r, s, rec) = signing_input(&txs[i], chain_id, homestead)?;
            recover(&hash, &r, &s, rec).ok()
        });
        Ok((out, failed, start.elapsed().as_secs_f64() * 1e3))
    }

    fn resolve(&mut self, _env: Env, (signers, failed, wall_ms): Self::Output) -> Result<RecoveredSenders> {
        Ok(RecoveredSenders { signers: signers.into(), failed, wall_ms })
    }
}

/// Recovers the sender of every transaction of an `encodeTxs` payload on `threads` native
/// threads. `chainId` is the chain's id, big-endian; `homestead` whether EIP-2's low-`s` rule
/// applies. Transactions listed in `failed` must be recovered by the caller. `known` (65 bytes
/// per transaction: a flag, then a public key) gives the keys already known: those are not
/// recovered, only their addresses computed.
#[napi(catch_unwind, ts_return_type = "Promise<RecoveredSenders>")]
pub fn recover_payload_senders(
    payload: Uint8ArraySlice,
    chain_id: Uint8ArraySlice,
    homestead: bool,
    threads: u32,
    known: Option<Uint8ArraySlice>,
) -> AsyncTask<RecoverPayloadTask> {
    AsyncTask::new(RecoverPayloadTask {
        payload: payload.to_vec(),
        chain_id: chain_id.to_vec(),
        homestead,
        threads: threads as usize,
        known: known.map(|k| k.to_vec()),
    })
}
