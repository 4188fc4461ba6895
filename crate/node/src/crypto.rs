//! Native cryptography for the EVM path: secp256k1 public-key recovery (libsecp256k1 through
//! the `secp256k1` crate), keccak-256, and the ordered Merkle-Patricia trie root that a
//! receipts root is (alloy-trie).

use std::time::Instant;

use alloy_primitives::keccak256 as keccak;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, SECP256K1};

/// Recovers the uncompressed public key (64 bytes, without the 0x04 prefix).
pub(crate) fn recover(hash: &[u8], r: &[u8], s: &[u8], recovery: u8) -> std::result::Result<[u8; 64], &'static str> {
    if hash.len() != 32 || r.len() > 32 || s.len() > 32 {
        return Err("bad lengths");
    }
    let mut compact = [0u8; 64];
    compact[32 - r.len()..32].copy_from_slice(r);
    compact[64 - s.len()..].copy_from_slice(s);
    let id = RecoveryId::try_from(recovery as i32).map_err(|_| "invalid recovery id")?;
    let sig = RecoverableSignature::from_compact(&compact, id).map_err(|_| "invalid signature")?;
    let msg = Message::from_digest(hash.try_into().unwrap());
    let key = SECP256K1.recover_ecdsa(msg, &sig).map_err(|_| "signature does not recover")?;
    let mut out = [0u8; 64];
    out.copy_from_slice(&key.serialize_uncompressed()[1..]);
    Ok(out)
}

pub(crate) fn address_of(pubkey: &[u8; 64]) -> [u8; 20] {
    keccak(pubkey)[12..].try_into().unwrap()
}

/// `common.customCrypto.ecrecover` semantics: the 64-byte public key, or an error.
/// `recovery` is the recovery id (0 or 1), already derived from `v`.
#[napi(catch_unwind)]
pub fn ecrecover(hash: Uint8ArraySlice, recovery: u32, r: Uint8ArraySlice, s: Uint8ArraySlice) -> Result<Buffer> {
    if recovery > 1 {
        return Err(Error::new(Status::InvalidArg, "Invalid signature v value"));
    }
    recover(&hash, &r, &s, recovery as u8)
        .map(|k| k.to_vec().into())
        .map_err(|e| Error::new(Status::InvalidArg, e))
}

/// Public key and address of a signer: 84 bytes (64-byte key, then the 20-byte address).
#[napi(catch_unwind)]
pub fn recover_signer(hash: Uint8ArraySlice, recovery: u32, r: Uint8ArraySlice, s: Uint8ArraySlice) -> Result<Buffer> {
    if recovery > 1 {
        return Err(Error::new(Status::InvalidArg, "Invalid signature v value"));
    }
    let key = recover(&hash, &r, &s, recovery as u8).map_err(|e| Error::new(Status::InvalidArg, e))?;
    let mut out = Vec::with_capacity(84);
    out.extend_from_slice(&key);
    out.extend_from_slice(&address_of(&key));
    Ok(out.into())
}

#[napi(object)]
pub struct RecoveredSenders {
    /// 84 bytes per signature: public key (64) then address (20); zeros where it failed.
    pub signers: Buffer,
    /// Index of each signature that did not recover.
    pub failed: Vec<u32>,
    pub wall_ms: f64,
}

/// Runs `recover_one(i)` for `i` in `0..n` on up to `threads` native threads, each taking a
/// contiguous chunk. Returns 84 bytes per index (public key, then address; zeros where it
/// failed) and the indices that did not recover.
pub(crate) fn recover_many(n: usize, threads: usize, recover_one: impl Fn(usize) -> Option<[u8; 64]> + Sync) -> (Vec<u8>, Vec<u32>) {
    let mut out = vec![0u8; n * 84];
    let chunk = n.div_ceil(threads.clamp(1, n.max(1))).max(1);
    let recover_one = &recover_one;
    let failed = std::thread::scope(|scope| {
        let handles: Vec<_> = out
            .chunks_mut(chunk * 84)
            .enumerate()
            .map(|(c, dst)| {
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    for (k, slot) in dst.chunks_mut(84).enumerate() {
                        let i = c * chunk + k;
                        match recover_one(i) {
                            Some(key) => {
                                slot[..64].copy_from_slice(&key);
                                slot[64..].copy_from_slice(&address_of(&key));
                            }
                            None => failed.push(i as u32),
                        }
                    }
                    failed
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    (out, failed)
}

pub struct RecoverTask {
    hashes: Vec<u8>,
    signatures: Vec<u8>,
    threads: usize,
}

impl Task for RecoverTask {
    type Output = (Vec<u8>, Vec<u32>, f64);
    type JsValue = RecoveredSenders;

    fn compute(&mut self) -> Result<Self::Output> {
        let n = self.hashes.len() / 32;
        if self.hashes.len() != n * 32 || self.signatures.len() != n * 65 {
            return Err(Error::new(Status::InvalidArg, "expected 32-byte hashes and 65-byte signatures (r, s, recovery id)"));
        }
        let start = Instant::now();
        let (hashes, sigs) = (&self.hashes, &self.signatures);
        let (out, failed) = recover_many(n, self.threads, |i| {
            let sig = &sigs[i * 65..i * 65 + 65];
            recover(&hashes[i * 32..i * 32 + 32], &sig[..32], &sig[32..64], sig[64]).ok()
        });
        Ok((out, failed, start.elapsed().as_secs_f64() * 1e3))
    }

    fn resolve(&mut self, _env: Env, (signers, failed, wall_ms): Self::Output) -> Result<RecoveredSenders> {
        Ok(RecoveredSenders { signers: signers.into(), failed, wall_ms })
    }
}

/// Recovers many signers at once on `threads` native threads, off the JS thread.
#[napi(catch_unwind, ts_return_type = "Promise<RecoveredSenders>")]
pub fn recover_signers(hashes: Uint8ArraySlice, signatures: Uint8ArraySlice, threads: u32) -> AsyncTask<RecoverTask> {
    AsyncTask::new(RecoverTask { hashes: hashes.to_vec(), signatures: signatures.to_vec(), threads: threads as usize })
}

#[napi(catch_unwind)]
pub fn keccak256(data: Uint8ArraySlice) -> Buffer {
    keccak(&*data).to_vec().into()
}

/// Writes the hash of `data` into the first 32 bytes of `out` (no allocation on this side:
/// cheaper than `keccak256` for the short inputs the EVM hashes most).
#[napi]
pub fn keccak256_into(data: Uint8ArraySlice, mut out: Uint8ArraySlice) -> Result<()> {
    let dst = unsafe { out.as_mut() };
    if dst.len() < 32 {
        return Err(Error::new(Status::InvalidArg, "out must hold 32 bytes"));
    }
    dst[..32].copy_from_slice(keccak(&*data).as_slice());
    Ok(())
}

/// The root of the trie mapping `rlp(i)` to the i-th item (receipts and transactions roots).
/// `items` is the concatenation of the items; `lengths` their byte lengths.
#[napi(catch_unwind)]
pub fn ordered_trie_root(items: Uint8ArraySlice, lengths: Vec<u32>) -> Result<Buffer> {
    let mut parts = Vec::with_capacity(lengths.len());
    let mut at = 0usize;
    for len in lengths {
        let end = at + len as usize;
        parts.push(items.get(at..end).ok_or_else(|| Error::new(Status::InvalidArg, "lengths exceed the items"))?);
        at = end;
    }
    let root = alloy_trie::root::ordered_trie_root_with_encoder(&parts, |item: &&[u8], buf: &mut Vec<u8>| buf.extend_from_slice(item));
    Ok(root.to_vec().into())
}
