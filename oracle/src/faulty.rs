//! Deliberate faults, compiled in only with the `test-faults` feature (the
//! demo and the node tests ask for it; the shipped binary lacks it):
//! `--faulty` mode, an operator that commits a wrong output for a configured
//! fraction of requests so that demos and tests exercise the dispute path,
//! and a halt between journaling a step and sending it. Neither is ever on
//! by default, and the node says so loudly when one is.
#[cfg(feature = "test-faults")]
use crate::tensor::{decode, encode};
use anchor_lang::prelude::Pubkey;
#[cfg(feature = "test-faults")]
use sha2::{Digest, Sha256};

/// Set (to anything) in a node's environment to make it stop dead after
/// journaling a step and before sending it, as a crash there would.
#[cfg(feature = "test-faults")]
pub const HALT_AFTER_JOURNAL_ENV: &str = "SIBYL_TEST_HALT_AFTER_JOURNAL";

/// Set (to anything) in a node's environment to make it send a step
/// without journaling it and stop dead once it landed, as a crash between
/// the send and the entry's sync would.
#[cfg(feature = "test-faults")]
pub const SKIP_JOURNAL_ENV: &str = "SIBYL_TEST_SKIP_JOURNAL";

/// Whether this build can commit deliberately wrong outputs.
pub const COMPILED_IN: bool = cfg!(feature = "test-faults");

/// The lie a referee model's run carries, when `request` is chosen at
/// `rate`: a faulty operator commits it and defends it, a faulty watcher
/// challenges with it (always `None` without `test-faults`).
pub fn referee_lie(
    request: &Pubkey,
    rate: f64,
    model: &crate::referee::RefereeModel,
    input: &[u8],
) -> Option<sibyl_sdk::referee::Lie> {
    #[cfg(feature = "test-faults")]
    if is_chosen(request, rate) {
        return Some(model.drill_lie(input));
    }
    let _ = (request, rate, model, input);
    None
}

/// The output to commit for `request`: `honest`, or, in a build with
/// `test-faults` and for a `rate` share of requests, a wrong one. Returns
/// it and whether it is wrong.
pub fn output_to_commit(request: &Pubkey, rate: f64, honest: Vec<u8>) -> (Vec<u8>, bool) {
    #[cfg(feature = "test-faults")]
    if is_chosen(request, rate) {
        return (corrupt(&honest), true);
    }
    let _ = (request, rate);
    (honest, false)
}

/// Whether a fresh step is to be journaled, then halted before it is sent
/// (`HALT_AFTER_JOURNAL_ENV` set, only in a build with `test-faults`): a
/// test kills the node in that state.
pub fn halts_after_journal() -> bool {
    #[cfg(feature = "test-faults")]
    {
        static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *SET.get_or_init(|| std::env::var_os(HALT_AFTER_JOURNAL_ENV).is_some())
    }
    #[cfg(not(feature = "test-faults"))]
    false
}

/// Whether a fresh step is to be sent without its journal entry, then
/// halted (`SKIP_JOURNAL_ENV` set, only in a build with `test-faults`): the
/// state a crash leaves when it comes after the send and before the
/// entry's sync.
pub fn skips_journal() -> bool {
    #[cfg(feature = "test-faults")]
    {
        static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *SET.get_or_init(|| std::env::var_os(SKIP_JOURNAL_ENV).is_some())
    }
    #[cfg(not(feature = "test-faults"))]
    false
}

/// Stops the step here forever, saying so (a test kills the node).
pub async fn halt(action: &str, state: &str) {
    tracing::warn!("halting at {action}, {state}");
    std::future::pending::<()>().await;
}

#[cfg(feature = "test-faults")]
/// Whether this request gets a wrong output: a hash of its address decides,
/// so the choice is the same after a restart.
pub fn is_chosen(request: &Pubkey, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let digest: [u8; 32] = Sha256::digest(request.as_ref()).into();
    let [a, b, c, d, e, f, g, h, ..] = digest;
    let draw = u64::from_le_bytes([a, b, c, d, e, f, g, h]) as f64 / u64::MAX as f64;
    draw < rate
}

#[cfg(feature = "test-faults")]
/// A wrong version of a canonical output: every row along the last axis is
/// rotated by one element, which moves the top class and breaks every
/// comparison rule unless the row is constant. Single elements are bumped.
pub fn corrupt(output: &[u8]) -> Vec<u8> {
    let Ok(mut tensors) = decode(output) else {
        let mut wrong = output.to_vec();
        if let Some(last) = wrong.last_mut() {
            *last ^= 0xff;
        }
        return wrong;
    };
    for tensor in &mut tensors {
        let element = crate::tensor::element_size(tensor.dtype);
        let row = crate::compare::row_len(&tensor.dims).saturating_mul(element);
        if row <= element {
            if let Some(first) = tensor.data.first_mut() {
                *first ^= 0x55;
            }
            continue;
        }
        for chunk in tensor.data.chunks_mut(row) {
            chunk.rotate_right(element);
        }
    }
    encode(&tensors)
}

#[cfg(any(test, feature = "test-faults"))]
/// A local HTTP/1.1 server (tests of the model store) answering every
/// request with `head` then `body`; with `stall`, it then keeps the
/// connection open and says nothing more. Returns its `http://` base URL.
#[allow(
    clippy::unwrap_used,
    reason = "a test server: failing to bind fails the test"
)]
pub async fn raw_http_server(head: String, body: Vec<u8>, stall: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (head, body) = (head.clone(), body.clone());
            tokio::spawn(async move {
                let mut request: Vec<u8> = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(buffer.get(..n).unwrap_or_default()),
                    }
                }
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                if stall {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

#[cfg(all(test, feature = "test-faults"))]
mod tests {
    use super::*;
    use crate::{compare::outputs_agree, tensor::Tensor};
    use sibyl::state::ComparisonRule;

    #[test]
    fn a_corrupted_output_fails_every_rule() {
        let honest = encode(&[Tensor::from_f32("p", vec![1, 4], &[0.1, 0.7, 0.15, 0.05]).unwrap()]);
        let wrong = corrupt(&honest);
        for rule in [
            ComparisonRule::Exact,
            ComparisonRule::Tolerance {
                abs: 1e-3,
                rel: 1e-3,
            },
            ComparisonRule::TopK {
                k: 1,
                tie_margin: 1e-4,
            },
        ] {
            assert!(!outputs_agree(&rule, &honest, &wrong), "{rule:?}");
        }
    }

    #[test]
    fn the_choice_is_stable_and_follows_the_rate() {
        let requests: Vec<Pubkey> = (0..400).map(|_| Pubkey::new_unique()).collect();
        assert!(requests.iter().all(|r| !is_chosen(r, 0.0)));
        assert!(requests.iter().all(|r| is_chosen(r, 1.0)));
        let half = requests.iter().filter(|r| is_chosen(r, 0.5)).count();
        assert!((120..280).contains(&half), "{half}");
        assert_eq!(is_chosen(&requests[0], 0.5), is_chosen(&requests[0], 0.5));
    }
}
