//! Node binding of the parallel-evm engine. Thin: it owns the byte codec, the registry that
//! lets worker threads attach to a block, and a few native helpers; the engine crate holds
//! all scheduling logic.

mod codec;
mod bn254;
mod crypto;
mod mock;
mod session;
mod txsig;

pub use bn254::*;
pub use crypto::*;
pub use mock::*;
pub use session::*;
pub use txsig::*;
