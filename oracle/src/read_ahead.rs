//! What the chain client reads ahead of a step, so that the step does not
//! wait for it: the latest blockhash and each action's priority fee, with
//! when they were read and which reads are in flight
//! ([`crate::chain::ChainClient::refresh_blockhash_ahead`],
//! [`crate::chain::ChainClient::fee_at_hand`],
//! [`crate::chain::ChainClient::keep_warm`]). Only the bookkeeping lives
//! here; the reads are the client's.
use anchor_lang::prelude::Pubkey;
use solana_hash::Hash;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// How long a blockhash is reused for new transactions. A blockhash stays
/// valid for 150 blocks (about a minute); a retry always reads a fresh one.
pub const BLOCKHASH_REUSE: Duration = Duration::from_secs(1);

/// How long a blockhash is still used while a newer one is being read: it
/// has most of its minute left, and whether it expired is told by its last
/// valid block height, read with it.
pub const BLOCKHASH_REUSE_WHILE_READING: Duration = Duration::from_secs(10);

/// How long a priority fee read for one step of an action is used for the
/// next ones. It is the upper quartile of the last 150 slots' fees (about a
/// minute) for the accounts written, which a few seconds barely move; two
/// steps of an action write the same accounts but for their own request or
/// dispute, which only its few parties write, so it moves the quartile
/// little.
pub const FEE_REUSE: Duration = Duration::from_secs(5);

/// A fee read older than this is read again in the background when a step
/// finds it, for the steps after that one.
pub const FEE_REFRESH: Duration = Duration::from_secs(1);

/// [`crate::chain::ChainClient::keep_warm`] reads again what is older than
/// this, so that a step after a quiet spell still finds a fee under
/// [`FEE_REUSE`] and a blockhash it may sign with while a newer one is read.
pub const KEEP_WARM_AFTER: Duration = Duration::from_secs(3);

/// A read in flight longer than this is taken as lost (its task ended
/// without saying), and may be started again.
const READ_LOST_AFTER: Duration = Duration::from_secs(10);

fn in_flight(since: Option<Instant>, now: Instant) -> bool {
    since.is_some_and(|since| now.saturating_duration_since(since) < READ_LOST_AFTER)
}

/// The last blockhash read, and whether a newer one is being read.
#[derive(Default)]
pub struct LatestBlockhash {
    /// The hash, its last valid block height, and when it was read.
    read: Option<(Hash, u64, Instant)>,
    reading_since: Option<Instant>,
}

impl LatestBlockhash {
    /// The hash to sign with at `now`, if the one read will do: under
    /// [`BLOCKHASH_REUSE`] old, or [`BLOCKHASH_REUSE_WHILE_READING`] while a
    /// newer one is read.
    pub fn usable(&self, now: Instant) -> Option<(Hash, u64)> {
        let (hash, height, read_at) = self.read?;
        let age = now.saturating_duration_since(read_at);
        let limit = if in_flight(self.reading_since, now) {
            BLOCKHASH_REUSE_WHILE_READING
        } else {
            BLOCKHASH_REUSE
        };
        (age < limit).then_some((hash, height))
    }

    /// Whether to read a newer one now: none is being read, and the one
    /// read is at least `older_than` old (or there is none). If so, it
    /// counts as being read from `now`.
    pub fn start_reading(&mut self, now: Instant, older_than: Duration) -> bool {
        let stale = self
            .read
            .is_none_or(|(_, _, read_at)| now.saturating_duration_since(read_at) >= older_than);
        let start = stale && !in_flight(self.reading_since, now);
        if start {
            self.reading_since = Some(now);
        }
        start
    }

    /// A read ended: with a hash (read at `read_at`), or failed (`None`).
    /// An older read than the one kept does not replace it.
    pub fn record(&mut self, read: Option<(Hash, u64, Instant)>) {
        self.reading_since = None;
        if let Some(read) = read {
            self.keep(read);
        }
    }

    /// A hash read on a step's path (not ahead).
    pub fn keep(&mut self, read: (Hash, u64, Instant)) {
        if self.read.is_none_or(|(_, _, kept_at)| kept_at <= read.2) {
            self.read = Some(read);
        }
    }
}

/// A priority fee and when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeRead {
    pub price: u64,
    pub read_at: Instant,
}

/// The last fee read for each action (with the accounts it was read for),
/// and which are being read again.
#[derive(Default)]
pub struct FeeReads {
    last: HashMap<&'static str, (FeeRead, Vec<Pubkey>)>,
    reading_since: HashMap<&'static str, Instant>,
}

impl FeeReads {
    /// The fee for a step of `action` at `now`, if one was read under
    /// [`FEE_REUSE`] ago; and whether to read it again now (it is at least
    /// [`FEE_REFRESH`] old, and no read of it is in flight).
    pub fn at_hand(&mut self, action: &'static str, now: Instant) -> (Option<FeeRead>, bool) {
        let last = self
            .last
            .get(action)
            .map(|(read, _)| *read)
            .filter(|read| now.saturating_duration_since(read.read_at) < FEE_REUSE);
        let stale =
            last.is_some_and(|read| now.saturating_duration_since(read.read_at) >= FEE_REFRESH);
        let read_again = stale && self.start_reading(action, now);
        (last, read_again)
    }

    /// The actions whose fee was read at least `older_than` ago and is not
    /// being read, with the accounts it was read for; each now counts as
    /// being read.
    pub fn stale(
        &mut self,
        now: Instant,
        older_than: Duration,
    ) -> Vec<(&'static str, Vec<Pubkey>)> {
        let due: Vec<(&'static str, Vec<Pubkey>)> = self
            .last
            .iter()
            .filter(|(_, (read, _))| now.saturating_duration_since(read.read_at) >= older_than)
            .map(|(action, (_, accounts))| (*action, accounts.clone()))
            .collect();
        due.into_iter()
            .filter(|(action, _)| self.start_reading(action, now))
            .collect()
    }

    fn start_reading(&mut self, action: &'static str, now: Instant) -> bool {
        if in_flight(self.reading_since.get(action).copied(), now) {
            return false;
        }
        self.reading_since.insert(action, now);
        true
    }

    /// A read of `action`'s fee for `accounts` ended: with a fee, or failed
    /// (`None`: the fee paid meanwhile is the least, which is not kept). An
    /// older read than the one kept does not replace it.
    pub fn record(&mut self, action: &'static str, read: Option<FeeRead>, accounts: &[Pubkey]) {
        self.reading_since.remove(action);
        let Some(read) = read else {
            return;
        };
        let newer = self
            .last
            .get(action)
            .is_none_or(|(last, _)| last.read_at <= read.read_at);
        if newer {
            self.last.insert(action, (read, accounts.to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> impl Fn(f64) -> Instant {
        let start = Instant::now();
        move |secs| start + Duration::from_secs_f64(secs)
    }

    #[test]
    fn a_step_uses_the_last_fee_read_for_its_action_while_it_is_recent() {
        let at = clock();
        let accounts = [Pubkey::new_unique()];
        let mut reads = FeeReads::default();
        assert_eq!(
            reads.at_hand("commit", at(0.0)),
            (None, false),
            "none read yet: read it now"
        );
        let read = FeeRead {
            price: 7,
            read_at: at(0.0),
        };
        reads.record("commit", Some(read), &accounts);
        assert_eq!(reads.at_hand("commit", at(0.5)), (Some(read), false));
        assert_eq!(
            reads.at_hand("vote", at(0.5)),
            (None, false),
            "one action's fee is not another's"
        );
        // Past a second it is still used, and read again once.
        assert_eq!(reads.at_hand("commit", at(1.5)), (Some(read), true));
        assert_eq!(
            reads.at_hand("commit", at(1.6)),
            (Some(read), false),
            "one read in flight"
        );
        let newer = FeeRead {
            price: 9,
            read_at: at(1.5),
        };
        reads.record("commit", Some(newer), &accounts);
        // A read that started before the one kept does not replace it.
        reads.record("commit", Some(read), &accounts);
        assert_eq!(reads.at_hand("commit", at(2.0)), (Some(newer), false));
        // Past FEE_REUSE it is read before the step is sent.
        assert_eq!(reads.at_hand("commit", at(1.5) + FEE_REUSE), (None, false));
    }

    #[test]
    fn a_failed_or_lost_fee_read_keeps_the_last_fee_and_is_tried_again() {
        let at = clock();
        let accounts = [Pubkey::new_unique()];
        let mut reads = FeeReads::default();
        let read = FeeRead {
            price: 7,
            read_at: at(0.0),
        };
        reads.record("commit", Some(read), &accounts);
        assert_eq!(reads.at_hand("commit", at(1.5)), (Some(read), true));
        // The RPC node could not say: the least was paid, not kept.
        reads.record("commit", None, &accounts);
        assert_eq!(
            reads.at_hand("commit", at(1.6)),
            (Some(read), true),
            "tried again"
        );
        // A read whose task never said is taken as lost after a while.
        assert_eq!(reads.at_hand("commit", at(1.7)), (Some(read), false));
        assert_eq!(
            reads.stale(at(1.7) + READ_LOST_AFTER, Duration::ZERO).len(),
            1
        );
    }

    #[test]
    fn keeping_warm_reads_again_each_action_past_its_age_for_its_accounts() {
        let at = clock();
        let (commit, vote) = ([Pubkey::new_unique()], [Pubkey::new_unique()]);
        let mut reads = FeeReads::default();
        reads.record(
            "commit",
            Some(FeeRead {
                price: 1,
                read_at: at(0.0),
            }),
            &commit,
        );
        reads.record(
            "vote",
            Some(FeeRead {
                price: 2,
                read_at: at(2.0),
            }),
            &vote,
        );
        assert_eq!(
            reads.stale(at(3.5), KEEP_WARM_AFTER),
            vec![("commit", commit.to_vec())]
        );
        assert!(
            reads.stale(at(3.6), KEEP_WARM_AFTER).is_empty(),
            "commit's read is in flight"
        );
        assert_eq!(
            reads.stale(at(5.5), KEEP_WARM_AFTER),
            vec![("vote", vote.to_vec())]
        );
    }

    #[test]
    fn a_blockhash_is_reused_for_a_second_or_while_a_newer_one_is_read() {
        let at = clock();
        let mut latest = LatestBlockhash::default();
        assert_eq!(latest.usable(at(0.0)), None);
        assert!(
            latest.start_reading(at(0.0), BLOCKHASH_REUSE),
            "none read: read one"
        );
        assert!(
            !latest.start_reading(at(0.0), BLOCKHASH_REUSE),
            "one read at a time"
        );
        let hash = Hash::new_unique();
        latest.record(Some((hash, 150, at(0.0))));
        assert_eq!(latest.usable(at(0.5)), Some((hash, 150)));
        assert!(
            !latest.start_reading(at(0.5), BLOCKHASH_REUSE),
            "fresh enough"
        );
        assert!(
            !latest.start_reading(at(2.0), KEEP_WARM_AFTER),
            "not old enough to keep warm"
        );
        assert_eq!(
            latest.usable(at(2.0)),
            None,
            "past a second, with none being read"
        );
        assert!(latest.start_reading(at(2.0), BLOCKHASH_REUSE));
        assert_eq!(
            latest.usable(at(2.0)),
            Some((hash, 150)),
            "used while a newer one is read"
        );
        assert_eq!(latest.usable(at(0.0) + BLOCKHASH_REUSE_WHILE_READING), None);
        // A read that failed leaves the old one, no longer counted as being read.
        latest.record(None);
        assert_eq!(latest.usable(at(2.0)), None);
        assert!(latest.start_reading(at(2.0), BLOCKHASH_REUSE));
        // A read that never said is taken as lost.
        assert!(!latest.start_reading(at(3.0), BLOCKHASH_REUSE));
        assert_eq!(latest.usable(at(2.0) + READ_LOST_AFTER), None);
        assert!(latest.start_reading(at(2.0) + READ_LOST_AFTER, BLOCKHASH_REUSE));
        // An older read does not replace a newer one.
        let newer = Hash::new_unique();
        latest.keep((newer, 300, at(20.0)));
        latest.record(Some((hash, 150, at(19.0))));
        assert_eq!(latest.usable(at(20.5)), Some((newer, 300)));
    }
}
