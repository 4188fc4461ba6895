//! The BN254 (alt_bn128) precompiles, EIP-196 and EIP-197, natively (`substrate-bn`, the
//! library revm and parity use) for ethereumjs's `bn254` option (`ts/evm/bn254.ts`). The
//! checks run in the order of ethereumjs's default (noble) implementation, so that a bad
//! input fails the same way.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use substrate_bn::{pairing_batch, AffineG1, AffineG2, Fq, Fq2, Fr, Group, Gt, G1, G2};

/// Why an input is rejected: a G2 coordinate outside the field (ethereumjs reports
/// `fp point not in field`), or anything else (reported as a revert).
#[derive(Debug, PartialEq)]
enum Bad {
    FieldRange,
    Invalid,
}

fn fq(bytes: &[u8]) -> std::result::Result<Fq, Bad> {
    Fq::from_slice(bytes).map_err(|_| Bad::Invalid)
}

/// A G1 point from 64 bytes (x, y); all zeros is the point at infinity.
fn g1(bytes: &[u8]) -> std::result::Result<G1, Bad> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(G1::zero());
    }
    let p = AffineG1::new(fq(&bytes[0..32])?, fq(&bytes[32..64])?).map_err(|_| Bad::Invalid)?;
    Ok(p.into())
}

/// A G2 point from 128 bytes (x imaginary, x real, y imaginary, y real); all zeros is the
/// point at infinity. On the curve and in the subgroup, or rejected.
fn g2(bytes: &[u8]) -> std::result::Result<G2, Bad> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(G2::zero());
    }
    let mut c = [Fq::zero(); 4];
    for (k, word) in bytes.chunks_exact(32).enumerate() {
        c[k] = Fq::from_slice(word).map_err(|_| Bad::FieldRange)?;
    }
    let p = AffineG2::new(Fq2::new(c[1], c[0]), Fq2::new(c[3], c[2])).map_err(|_| Bad::Invalid)?;
    Ok(p.into())
}

fn encode(p: G1) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    if let Some(a) = AffineG1::from_jacobian(p) {
        a.x().to_big_endian(&mut out[0..32]).expect("32 bytes");
        a.y().to_big_endian(&mut out[32..64]).expect("32 bytes");
    }
    out
}

fn add(input: &[u8]) -> std::result::Result<Vec<u8>, Bad> {
    Ok(encode(g1(&input[0..64])? + g1(&input[64..128])?))
}

fn mul(input: &[u8]) -> std::result::Result<Vec<u8>, Bad> {
    let p = g1(&input[0..64])?;
    let s = Fr::from_slice(&input[64..96]).map_err(|_| Bad::Invalid)?;
    Ok(encode(p * s))
}

fn pairing(input: &[u8]) -> std::result::Result<bool, Bad> {
    let mut pairs = Vec::with_capacity(input.len() / 192);
    for pair in input.chunks_exact(192) {
        let a = g1(&pair[0..64])?;
        let b = g2(&pair[64..192])?;
        if !a.is_zero() && !b.is_zero() {
            pairs.push((a, b));
        }
    }
    Ok(pairs.is_empty() || pairing_batch(&pairs) == Gt::one())
}

fn length(input: &[u8], at_least: usize) -> Result<()> {
    if input.len() < at_least {
        return Err(Error::new(Status::InvalidArg, format!("bn254: input of {} bytes, {at_least} expected", input.len())));
    }
    Ok(())
}

/// The pairing's result code for a bad input: `-1` for a G2 coordinate outside the field,
/// `-2` for anything else (`ts/evm/bn254.ts` maps them to ethereumjs's errors).
fn code(bad: Bad) -> i32 {
    match bad {
        Bad::FieldRange => -1,
        Bad::Invalid => -2,
    }
}

/// G1 addition over the first 128 bytes: the 64-byte sum, or `null` for a bad input.
#[napi(catch_unwind)]
pub fn bn254_add(input: Uint8ArraySlice) -> Result<Option<Buffer>> {
    length(&input, 128)?;
    Ok(add(&input).ok().map(Into::into))
}

/// G1 scalar multiplication over the first 96 bytes: the 64-byte product, or `null`.
#[napi(catch_unwind)]
pub fn bn254_mul(input: Uint8ArraySlice) -> Result<Option<Buffer>> {
    length(&input, 96)?;
    Ok(mul(&input).ok().map(Into::into))
}

/// Pairing check over 192-byte pairs: 1 (holds), 0 (does not), -1 (a G2 coordinate outside
/// the field), -2 (another bad input).
#[napi(catch_unwind)]
pub fn bn254_pairing(input: Uint8ArraySlice) -> Result<i32> {
    if input.len() % 192 != 0 {
        return Err(Error::new(Status::InvalidArg, "bn254: pairing input is not a multiple of 192 bytes"));
    }
    Ok(match pairing(&input) {
        Ok(holds) => holds as i32,
        Err(bad) => code(bad),
    })
}
