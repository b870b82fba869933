//! Which verification to do first: watch and vote re-execute others'
//! work against deadlines (a challenge window, a vote window), so they take
//! the earliest deadline first and drop what can no longer be finished in
//! time, rather than working through a flood in arrival order while the
//! wrong commitment in it runs out its window.
use anchor_lang::prelude::Pubkey;
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

/// Slots a verification needs before its deadline: one to re-execute and
/// send, one for the transaction to land.
pub const SLOTS_TO_ACT: u64 = 2;

/// `items` with their deadline slots, earliest deadline first, split into
/// those that can still be acted on before their deadline from `slot` and
/// those that cannot.
pub fn earliest_deadline_first<T>(mut items: Vec<(u64, T)>, slot: u64) -> (Vec<T>, Vec<T>) {
    items.sort_by_key(|(deadline, _)| *deadline);
    let (feasible, hopeless): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|(deadline, _)| *deadline >= slot.saturating_add(SLOTS_TO_ACT));
    (
        feasible.into_iter().map(|(_, item)| item).collect(),
        hopeless.into_iter().map(|(_, item)| item).collect(),
    )
}

/// Commitments that needed this node's verdict, until they have one or
/// their window closes without it (then they count as unverified).
#[derive(Default)]
pub struct Unverified {
    awaiting: HashMap<Pubkey, u64>,
    dropped: HashSet<Pubkey>,
}

impl Unverified {
    /// `request` needs a verdict before `deadline_slot`.
    pub fn awaiting(&mut self, request: Pubkey, deadline_slot: u64) {
        self.awaiting.entry(request).or_insert(deadline_slot);
    }

    /// `request` has its verdict.
    pub fn verified(&mut self, request: &Pubkey) {
        self.awaiting.remove(request);
    }

    /// Whether `request` is dropped for the first time (its deadline can no
    /// longer be met): each is counted once.
    pub fn first_drop(&mut self, request: Pubkey) -> bool {
        self.dropped.insert(request)
    }

    /// Forgets the commitments whose window closed before `slot` without a
    /// verdict; returns how many.
    pub fn missed_by(&mut self, slot: u64) -> usize {
        let before = self.awaiting.len();
        let dropped = &mut self.dropped;
        self.awaiting.retain(|request, deadline| {
            let open = *deadline >= slot;
            if !open {
                dropped.remove(request);
            }
            open
        });
        before - self.awaiting.len()
    }
}

/// Work on one account that failed, tried again after a backoff that
/// doubles with each failure in a row (from [`Retries::FIRST`] to
/// [`Retries::MAX`]), so a failing input never holds a verification permit
/// every scan.
#[derive(Debug, Default)]
pub struct Retries(HashMap<Pubkey, (u32, Instant)>);

impl Retries {
    pub const FIRST: Duration = Duration::from_secs(2);
    pub const MAX: Duration = Duration::from_secs(120);

    /// Whether `key` waits out a backoff now.
    pub fn waiting(&self, key: &Pubkey) -> bool {
        self.0
            .get(key)
            .is_some_and(|(_, retry_at)| Instant::now() < *retry_at)
    }

    /// Records a failure; returns the wait before the next try.
    pub fn failed(&mut self, key: Pubkey) -> Duration {
        let failures = self.0.get(&key).map_or(0, |(failures, _)| *failures) + 1;
        let wait = Self::FIRST
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(Self::MAX);
        self.0.insert(key, (failures, Instant::now() + wait));
        wait
    }

    pub fn succeeded(&mut self, key: &Pubkey) {
        self.0.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_goes_first_and_the_hopeless_are_dropped() {
        let items = vec![(50, "late"), (12, "soon"), (11, "too late"), (30, "middle")];
        let (order, dropped) = earliest_deadline_first(items, 10);
        assert_eq!(order, vec!["soon", "middle", "late"]);
        assert_eq!(dropped, vec!["too late"]);
    }

    #[test]
    fn a_commitment_whose_window_closed_without_a_verdict_is_counted_once() {
        let mut unverified = Unverified::default();
        let (checked, missed) = (Pubkey::new_unique(), Pubkey::new_unique());
        unverified.awaiting(checked, 20);
        unverified.awaiting(missed, 20);
        unverified.verified(&checked);
        assert_eq!(unverified.missed_by(20), 0, "the window is still open");
        assert_eq!(unverified.missed_by(21), 1);
        assert_eq!(unverified.missed_by(22), 0, "counted once");
        let late = Pubkey::new_unique();
        assert!(unverified.first_drop(late));
        assert!(!unverified.first_drop(late), "a drop is counted once");
    }

    #[test]
    fn a_failing_key_waits_longer_each_time_up_to_the_ceiling() {
        let mut retries = Retries::default();
        let key = Pubkey::new_unique();
        assert!(!retries.waiting(&key));
        assert_eq!(retries.failed(key), Retries::FIRST);
        assert!(retries.waiting(&key));
        assert_eq!(retries.failed(key), Retries::FIRST * 2);
        for _ in 0..10 {
            retries.failed(key);
        }
        assert_eq!(retries.failed(key), Retries::MAX);
        retries.succeeded(&key);
        assert!(!retries.waiting(&key));
    }
}
