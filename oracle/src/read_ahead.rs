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

/// Whether what was read at `read_at`, or last tried at `tried_at` (a
/// failed read is not tried again at once), is at least `older_than` old.
fn due(
    read_at: Option<Instant>,
    tried_at: Option<Instant>,
    now: Instant,
    older_than: Duration,
) -> bool {
    read_at
        .into_iter()
        .chain(tried_at)
        .max()
        .is_none_or(|latest| now.saturating_duration_since(latest) >= older_than)
}

/// The last blockhash read, and whether a newer one is being read.
#[derive(Default)]
pub struct LatestBlockhash {
    /// The hash, its last valid block height, and when it was read.
    read: Option<(Hash, u64, Instant)>,
    /// When the read in flight started, if one is.
    reading_since: Option<Instant>,
    /// When the last read ahead started.
    tried_at: Option<Instant>,
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

    /// Whether to read a newer one ahead now: none is being read, and the
    /// one read (or the last try) is at least `older_than` old. If so, the
    /// read counts as in flight from `now`, which is its token for
    /// [`LatestBlockhash::record`].
    pub fn start_reading(&mut self, now: Instant, older_than: Duration) -> Option<Instant> {
        let read_at = self.read.map(|(_, _, read_at)| read_at);
        if in_flight(self.reading_since, now) || !due(read_at, self.tried_at, now, older_than) {
            return None;
        }
        self.reading_since = Some(now);
        self.tried_at = Some(now);
        Some(now)
    }

    /// The read ahead that started at `started` ended: with a hash, or
    /// failed (`None`).
    pub fn record(&mut self, started: Instant, read: Option<(Hash, u64, Instant)>) {
        if self.reading_since == Some(started) {
            self.reading_since = None;
        }
        if let Some(read) = read {
            self.keep(read);
        }
    }

    /// A hash read (ahead or on a step's path): kept unless the one kept
    /// lives longer (a later block's), whichever read answered last.
    pub fn keep(&mut self, read: (Hash, u64, Instant)) {
        if self.read.is_none_or(|(_, height, _)| height <= read.1) {
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
    /// When the read in flight for an action started.
    reading_since: HashMap<&'static str, Instant>,
    /// When the last background read for an action started.
    tried_at: HashMap<&'static str, Instant>,
}

impl FeeReads {
    /// The fee for a step of `action` at `now`, if one was read under
    /// [`FEE_REUSE`] ago; and, if it is at least [`FEE_REFRESH`] old (as is
    /// the last try) and none is in flight, the token of a read to start
    /// now in the background.
    pub fn at_hand(
        &mut self,
        action: &'static str,
        now: Instant,
    ) -> (Option<FeeRead>, Option<Instant>) {
        let last = self
            .last
            .get(action)
            .map(|(read, _)| *read)
            .filter(|read| now.saturating_duration_since(read.read_at) < FEE_REUSE);
        let read_again = match last {
            Some(read) => self.start_reading(action, Some(read.read_at), now, FEE_REFRESH),
            None => None,
        };
        (last, read_again)
    }

    /// The actions whose fee (or last try) is at least `older_than` old
    /// and is not being read, with the accounts it was read for and the
    /// token of the read to start for each now.
    pub fn stale(
        &mut self,
        now: Instant,
        older_than: Duration,
    ) -> Vec<(&'static str, Vec<Pubkey>, Instant)> {
        let known: Vec<(&'static str, Instant, Vec<Pubkey>)> = self
            .last
            .iter()
            .map(|(action, (read, accounts))| (*action, read.read_at, accounts.clone()))
            .collect();
        known
            .into_iter()
            .filter_map(|(action, read_at, accounts)| {
                let started = self.start_reading(action, Some(read_at), now, older_than)?;
                Some((action, accounts, started))
            })
            .collect()
    }

    fn start_reading(
        &mut self,
        action: &'static str,
        read_at: Option<Instant>,
        now: Instant,
        older_than: Duration,
    ) -> Option<Instant> {
        let tried_at = self.tried_at.get(action).copied();
        if in_flight(self.reading_since.get(action).copied(), now)
            || !due(read_at, tried_at, now, older_than)
        {
            return None;
        }
        self.reading_since.insert(action, now);
        self.tried_at.insert(action, now);
        Some(now)
    }

    /// A read of `action`'s fee for `accounts` ended: with a fee, or failed
    /// (`None`: the fee paid meanwhile is the least, which is not kept).
    /// `started` is the token of a background read ([`FeeReads::at_hand`],
    /// [`FeeReads::stale`]); a step's own read has none. An older read
    /// than the one kept does not replace it.
    pub fn record(
        &mut self,
        action: &'static str,
        started: Option<Instant>,
        read: Option<FeeRead>,
        accounts: &[Pubkey],
    ) {
        if started.is_some() && self.reading_since.get(action).copied() == started {
            self.reading_since.remove(action);
        }
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
            (None, None),
            "none read yet: read it now"
        );
        let read = FeeRead {
            price: 7,
            read_at: at(0.0),
        };
        reads.record("commit", None, Some(read), &accounts);
        assert_eq!(reads.at_hand("commit", at(0.5)), (Some(read), None));
        assert_eq!(
            reads.at_hand("vote", at(0.5)),
            (None, None),
            "one action's fee is not another's"
        );
        // Past a second it is still used, and read again once.
        assert_eq!(
            reads.at_hand("commit", at(1.5)),
            (Some(read), Some(at(1.5)))
        );
        assert_eq!(
            reads.at_hand("commit", at(1.6)),
            (Some(read), None),
            "one read in flight"
        );
        let newer = FeeRead {
            price: 9,
            read_at: at(1.5),
        };
        reads.record("commit", Some(at(1.5)), Some(newer), &accounts);
        // A read that started before the one kept does not replace it.
        reads.record("commit", None, Some(read), &accounts);
        assert_eq!(reads.at_hand("commit", at(2.0)), (Some(newer), None));
        // Past FEE_REUSE it is read before the step is sent.
        assert_eq!(reads.at_hand("commit", at(1.5) + FEE_REUSE), (None, None));
    }

    #[test]
    fn a_failed_or_lost_fee_read_keeps_the_last_fee_and_is_tried_again_later() {
        let at = clock();
        let accounts = [Pubkey::new_unique()];
        let mut reads = FeeReads::default();
        let read = FeeRead {
            price: 7,
            read_at: at(0.0),
        };
        reads.record("commit", None, Some(read), &accounts);
        assert_eq!(
            reads.at_hand("commit", at(1.5)),
            (Some(read), Some(at(1.5)))
        );
        // The RPC node could not say: the least was paid, not kept, and the
        // read is tried again a second after the last try, not at once.
        reads.record("commit", Some(at(1.5)), None, &accounts);
        assert_eq!(reads.at_hand("commit", at(1.6)), (Some(read), None));
        assert_eq!(
            reads.at_hand("commit", at(2.5)),
            (Some(read), Some(at(2.5)))
        );
        // A step's own read does not end the background read in flight.
        reads.record("commit", None, None, &accounts);
        assert_eq!(reads.at_hand("commit", at(3.6)), (Some(read), None));
        // A read whose task never said is taken as lost after a while.
        let lost_at = at(2.5) + READ_LOST_AFTER;
        assert_eq!(reads.stale(lost_at, Duration::ZERO).len(), 1);
        // The lost read ending late does not end the one started since.
        reads.record("commit", Some(at(2.5)), None, &accounts);
        assert!(reads.stale(lost_at, Duration::ZERO).is_empty());
    }

    #[test]
    fn keeping_warm_reads_again_each_action_past_its_age_for_its_accounts() {
        let at = clock();
        let (commit, vote) = ([Pubkey::new_unique()], [Pubkey::new_unique()]);
        let mut reads = FeeReads::default();
        reads.record(
            "commit",
            None,
            Some(FeeRead {
                price: 1,
                read_at: at(0.0),
            }),
            &commit,
        );
        reads.record(
            "vote",
            None,
            Some(FeeRead {
                price: 2,
                read_at: at(2.0),
            }),
            &vote,
        );
        assert_eq!(
            reads.stale(at(3.5), KEEP_WARM_AFTER),
            vec![("commit", commit.to_vec(), at(3.5))]
        );
        assert!(
            reads.stale(at(3.6), KEEP_WARM_AFTER).is_empty(),
            "commit's read is in flight"
        );
        assert_eq!(
            reads.stale(at(5.5), KEEP_WARM_AFTER),
            vec![("vote", vote.to_vec(), at(5.5))]
        );
    }

    #[test]
    fn a_blockhash_is_reused_for_a_second_or_while_a_newer_one_is_read() {
        let at = clock();
        let mut latest = LatestBlockhash::default();
        assert_eq!(latest.usable(at(0.0)), None);
        assert_eq!(
            latest.start_reading(at(0.0), BLOCKHASH_REUSE),
            Some(at(0.0)),
            "none read"
        );
        assert_eq!(
            latest.start_reading(at(0.0), BLOCKHASH_REUSE),
            None,
            "one read at a time"
        );
        let hash = Hash::new_unique();
        latest.record(at(0.0), Some((hash, 150, at(0.0))));
        assert_eq!(latest.usable(at(0.5)), Some((hash, 150)));
        assert_eq!(
            latest.start_reading(at(0.5), BLOCKHASH_REUSE),
            None,
            "fresh enough"
        );
        assert_eq!(
            latest.start_reading(at(2.0), KEEP_WARM_AFTER),
            None,
            "not old enough to keep warm"
        );
        assert_eq!(
            latest.usable(at(2.0)),
            None,
            "past a second, with none being read"
        );
        assert_eq!(
            latest.start_reading(at(2.0), BLOCKHASH_REUSE),
            Some(at(2.0))
        );
        assert_eq!(
            latest.usable(at(2.0)),
            Some((hash, 150)),
            "used while a newer one is read"
        );
        assert_eq!(latest.usable(at(0.0) + BLOCKHASH_REUSE_WHILE_READING), None);
        // A read that failed leaves the old one, no longer counted as being
        // read, and is tried again a second after the try.
        latest.record(at(2.0), None);
        assert_eq!(latest.usable(at(2.0)), None);
        assert_eq!(latest.start_reading(at(2.5), BLOCKHASH_REUSE), None);
        assert_eq!(
            latest.start_reading(at(3.0), BLOCKHASH_REUSE),
            Some(at(3.0))
        );
        // A read that never said is taken as lost: the hash is used while
        // it is in flight only, then it may be started again.
        assert_eq!(
            latest.usable(at(9.5)),
            Some((hash, 150)),
            "in flight for 6.5 s"
        );
        let lost_at = at(3.0) + READ_LOST_AFTER;
        assert_eq!(
            latest.usable(at(9.5) + Duration::from_secs(1)),
            None,
            "in flight, past 10 s old"
        );
        assert_eq!(
            latest.start_reading(lost_at, BLOCKHASH_REUSE),
            Some(lost_at)
        );
        // The lost one ending late does not end the one started since.
        latest.record(at(3.0), None);
        assert_eq!(latest.start_reading(lost_at, BLOCKHASH_REUSE), None);
        // A hash that lives longer is kept, whichever read answered last.
        let newer = Hash::new_unique();
        latest.record(lost_at, Some((newer, 300, at(19.0))));
        latest.keep((hash, 150, at(20.0)));
        assert_eq!(latest.usable(at(19.5)), Some((newer, 300)));
    }
}
