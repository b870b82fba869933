//! The node's in-memory index of open requests, which every service reads
//! through. A scan asks the cluster only for the heads of the requests in a
//! status (`ChainClient::request_heads`: `getProgramAccounts` with
//! `dataSlice`, a few hundred bytes a request) and reads whole only the
//! requests it has not seen or whose head changed since
//! (`getMultipleAccounts`). A request's head changes at every step (its
//! status, its input hash once the input is complete, its commitment), so a
//! cached copy with the same head is the account as it is now.
//!
//! It holds a request while some scan finds it in the status the index has
//! it in: a request that moved on, or was closed, leaves at the next scan of
//! its old status.
use crate::chain::{ChainClient, ChainError};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    constants::{REQUEST_DEADLINE_OFFSET, REQUEST_MODEL_OFFSET},
    state::{InferenceRequest, RequestStatus},
};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, PoisonError,
    },
};

/// Requests the node has read, by address, with the head they were read at.
#[derive(Default)]
pub struct RequestIndex {
    known: Mutex<HashMap<Pubkey, Known>>,
    /// Requests read whole so far (a request read again after its head
    /// changed counts again).
    read_whole: AtomicU64,
}

struct Known {
    head: Vec<u8>,
    state: InferenceRequest,
}

impl RequestIndex {
    /// The requests in `status` (of `model`, or of every model), as they are
    /// now.
    pub async fn requests(
        &self,
        chain: &ChainClient,
        status: RequestStatus,
        model: Option<&Pubkey>,
    ) -> Result<Vec<(Pubkey, InferenceRequest)>, ChainError> {
        let heads = chain.request_heads(status, model).await?;
        self.current(chain, heads, |state| {
            state.status == status && model.is_none_or(|m| state.model == *m)
        })
        .await
    }

    /// The requests in `status` of any of `models`, as they are now, from
    /// one listing of every model's heads (filtered here by the model each
    /// head names): for a node serving many models, one call instead of one
    /// per model.
    pub async fn requests_of(
        &self,
        chain: &ChainClient,
        status: RequestStatus,
        models: &HashSet<Pubkey>,
    ) -> Result<Vec<(Pubkey, InferenceRequest)>, ChainError> {
        let mut heads = chain.request_heads(status, None).await?;
        heads.retain(|(_, head)| model_of(head).is_some_and(|model| models.contains(&model)));
        self.current(chain, heads, |state| {
            state.status == status && models.contains(&state.model)
        })
        .await
    }

    /// The requests `heads` lists, as they are now: the cached copy where
    /// the head is unchanged, read whole otherwise; the index forgets the
    /// requests `in_scope` covers that the listing no longer holds.
    async fn current(
        &self,
        chain: &ChainClient,
        heads: Vec<(Pubkey, Vec<u8>)>,
        in_scope: impl Fn(&InferenceRequest) -> bool,
    ) -> Result<Vec<(Pubkey, InferenceRequest)>, ChainError> {
        let mut current = Vec::with_capacity(heads.len());
        let mut changed = Vec::new();
        {
            let known = self.lock();
            for (address, head) in &heads {
                match known.get(address) {
                    Some(entry) if entry.head == *head => {
                        current.push((*address, entry.state.clone()));
                    }
                    _ => changed.push(*address),
                }
            }
        }
        let read = self.read_whole_at(chain, &changed).await?;
        let listed: HashSet<&Pubkey> = heads.iter().map(|(address, _)| address).collect();
        let mut known = self.lock();
        // Gone from this status since the last scan: moved on or closed.
        known.retain(|address, entry| listed.contains(address) || !in_scope(&entry.state));
        for (address, state, head) in read {
            // Read after the heads: it may have moved on already, and then
            // the scan of its new status reads it.
            if !in_scope(&state) {
                known.remove(&address);
                continue;
            }
            current.push((address, state.clone()));
            known.insert(address, Known { head, state });
        }
        Ok(current)
    }

    /// The pending requests (of every model) whose deadline passed before
    /// `slot`, read whole; the others are known by their heads alone and
    /// never held (a crank watches every model's requests, and most are
    /// served before their deadline).
    pub async fn expired_pending(
        &self,
        chain: &ChainClient,
        slot: u64,
    ) -> Result<Vec<(Pubkey, InferenceRequest)>, ChainError> {
        let heads = chain.request_heads(RequestStatus::Pending, None).await?;
        let expired: Vec<Pubkey> = heads
            .iter()
            .filter(|(_, head)| deadline_of(head).is_some_and(|deadline| slot > deadline))
            .map(|(address, _)| *address)
            .collect();
        Ok(self
            .read_whole_at(chain, &expired)
            .await?
            .into_iter()
            .filter(|(_, state, _)| {
                state.status == RequestStatus::Pending
                    && slot > state.deadline_slot
                    && !state.awaiting_demanded_input()
            })
            .map(|(address, state, _)| (address, state))
            .collect())
    }

    /// The requests at `addresses`, read whole (and counted), each with its
    /// head.
    async fn read_whole_at(
        &self,
        chain: &ChainClient,
        addresses: &[Pubkey],
    ) -> Result<Vec<(Pubkey, InferenceRequest, Vec<u8>)>, ChainError> {
        let read = chain.requests_at(addresses).await?;
        self.read_whole.fetch_add(
            u64::try_from(read.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        Ok(read)
    }

    /// How many requests the index holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the index holds no request.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Requests read whole so far.
    pub fn read_whole(&self) -> u64 {
        self.read_whole.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Pubkey, Known>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The model a request's head names.
fn model_of(head: &[u8]) -> Option<Pubkey> {
    let bytes = head.get(REQUEST_MODEL_OFFSET..REQUEST_MODEL_OFFSET.checked_add(32)?)?;
    Some(Pubkey::new_from_array(bytes.try_into().ok()?))
}

/// The deadline slot recorded in a request's head.
fn deadline_of(head: &[u8]) -> Option<u64> {
    let bytes = head.get(REQUEST_DEADLINE_OFFSET..REQUEST_DEADLINE_OFFSET.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::AccountSerialize;
    use sibyl::constants::REQUEST_HEAD_LEN;

    #[test]
    fn a_head_names_its_request_model_and_deadline() {
        let mut state = crate::test_support::request(RequestStatus::Pending);
        state.model = Pubkey::new_unique();
        state.deadline_slot = 4242;
        let mut data = Vec::new();
        state.try_serialize(&mut data).unwrap();
        let head = &data[..REQUEST_HEAD_LEN];
        assert_eq!(model_of(head), Some(state.model));
        assert_eq!(deadline_of(head), Some(4242));
        assert_eq!(
            model_of(&head[..REQUEST_MODEL_OFFSET + 31]),
            None,
            "cut short"
        );
    }
}
