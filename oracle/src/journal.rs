//! The node's local journal: an embedded database (redb) where every step
//! that has an effect on-chain is written down before it is taken, so that a
//! restart resumes in-flight work and never commits, challenges or votes
//! twice. Each write is its own durable transaction.
use anchor_lang::prelude::Pubkey;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::{path::Path, sync::Arc};

/// What the journal records, one table each, keyed by account address.
/// Work on a request is keyed by the request *instance*
/// (`node::instance_key`): a request address can be used again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Our commitments, keyed by request instance.
    Commit,
    /// Our challenges, keyed by request instance.
    Challenge,
    /// Our verdicts on other operators' commitments, keyed by request instance.
    Verdict,
    /// Our votes, keyed by dispute.
    Vote,
}

impl Kind {
    fn table(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        TableDefinition::new(match self {
            Kind::Commit => "commits",
            Kind::Challenge => "challenges",
            Kind::Verdict => "verdicts",
            Kind::Vote => "votes",
        })
    }

    pub const ALL: [Kind; 4] = [Kind::Commit, Kind::Challenge, Kind::Verdict, Kind::Vote];

    /// Its name, for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Challenge => "challenge",
            Kind::Verdict => "verdict",
            Kind::Vote => "vote",
        }
    }
}

/// How far one on-chain step has got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Computed and about to be sent; a restart sends it.
    Prepared,
    /// Confirmed on-chain (the signature), or found done by someone else.
    Done { signature: Option<String> },
}

/// One recorded step: the bytes it carries (an output) and its stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The output committed or challenged with (canonical encoding); for a
    /// vote, the output hash our re-execution produced.
    pub output: Vec<u8>,
    /// For a verdict or a vote: whether we agree with the committed output.
    pub agrees: Option<bool>,
    /// Whether this output was deliberately wrong (`--faulty` mode).
    pub faulty: bool,
    pub stage: Stage,
    /// For a commitment or a challenge: the SHA-256 of the whole output
    /// `output` was taken from (kept in the node's output store before the
    /// step is journaled). Zero in journals written before it was recorded.
    #[serde(default)]
    pub whole_output_sha256: [u8; 32],
    /// For a referee model's commitment or game: the trace root committed
    /// or opened with.
    #[serde(default)]
    pub trace_root: Option<[u8; 32]>,
}

/// An entry as stored: the entry and when it was written (seconds since
/// the Unix epoch; 0 in journals written before it was recorded).
#[derive(Serialize, Deserialize)]
struct Stored<E> {
    #[serde(flatten)]
    entry: E,
    #[serde(default)]
    written_at: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("journal database error: {0}")]
    Database(String),
    #[error("journal entry for {key} is unreadable: {reason}")]
    Corrupt { key: Pubkey, reason: String },
}

fn db_error(err: impl std::fmt::Display) -> JournalError {
    JournalError::Database(err.to_string())
}

/// The journal database. Every read and write runs on tokio's blocking
/// pool: a durable commit waits for the disk (an fsync), which must not
/// stall the async workers that serve, watch and vote.
#[derive(Clone)]
pub struct Journal {
    db: Arc<Database>,
}

impl Journal {
    /// Opens (or creates) the journal at `path`, creating its directory.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let open_error = |reason: String| JournalError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| open_error(err.to_string()))?;
        }
        let db = Database::create(path).map_err(|err| open_error(err.to_string()))?;
        let write = db.begin_write().map_err(db_error)?;
        for kind in Kind::ALL {
            write.open_table(kind.table()).map_err(db_error)?;
        }
        write.commit().map_err(db_error)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs `work` on the database on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|err| JournalError::Database(format!("the journal task failed: {err}")))?
    }

    /// The entry for `key`, if any.
    pub async fn get(&self, kind: Kind, key: &Pubkey) -> Result<Option<Entry>, JournalError> {
        let key = *key;
        self.blocking(move |db| read(db, kind, &key)).await
    }

    /// The entries for `key` of each of `kinds`, in that order, in one
    /// trip to the blocking pool.
    pub async fn get_each<const N: usize>(
        &self,
        kinds: [Kind; N],
        key: &Pubkey,
    ) -> Result<[Option<Entry>; N], JournalError> {
        let key = *key;
        self.blocking(move |db| {
            let mut entries = std::array::from_fn(|_| None);
            for (entry, kind) in entries.iter_mut().zip(kinds) {
                *entry = read(db, kind, &key)?;
            }
            Ok(entries)
        })
        .await
    }

    /// Records `entry` for `key`, durably, replacing what was there.
    pub async fn put(&self, kind: Kind, key: &Pubkey, entry: &Entry) -> Result<(), JournalError> {
        let (key, entry) = (*key, entry.clone());
        self.blocking(move |db| write(db, kind, &key, &entry)).await
    }

    /// Every entry of `kind` still at [`Stage::Prepared`]: the work a restart resumes.
    pub async fn unfinished(&self, kind: Kind) -> Result<Vec<(Pubkey, Entry)>, JournalError> {
        self.blocking(move |db| unfinished(db, kind)).await
    }

    /// How many entries of each kind are still at [`Stage::Prepared`], in
    /// one trip to the blocking pool.
    pub async fn unfinished_counts(&self) -> Result<Vec<(Kind, usize)>, JournalError> {
        self.blocking(|db| {
            Kind::ALL
                .into_iter()
                .map(|kind| Ok((kind, unfinished(db, kind)?.len())))
                .collect()
        })
        .await
    }

    /// Deletes the steps done more than `retention` ago (those written
    /// before times were recorded count as old); steps still prepared are
    /// kept whatever their age. Returns how many were deleted. A done step
    /// only saves work while its request or dispute is open, which is far
    /// shorter than any sensible retention.
    pub async fn prune(&self, retention: std::time::Duration) -> Result<usize, JournalError> {
        self.blocking(move |db| prune(db, retention)).await
    }

    /// Marks the entry for `key` done (keeping what it recorded).
    pub async fn mark_done(
        &self,
        kind: Kind,
        key: &Pubkey,
        signature: Option<String>,
    ) -> Result<(), JournalError> {
        let key = *key;
        self.blocking(move |db| mark_done(db, kind, &key, signature))
            .await
    }
}

fn read(db: &Database, kind: Kind, key: &Pubkey) -> Result<Option<Entry>, JournalError> {
    let read = db.begin_read().map_err(db_error)?;
    let table = read.open_table(kind.table()).map_err(db_error)?;
    let value = table.get(key.as_ref()).map_err(db_error)?;
    value.map(|value| parse(key, value.value())).transpose()
}

fn write(db: &Database, kind: Kind, key: &Pubkey, entry: &Entry) -> Result<(), JournalError> {
    let bytes = serde_json::to_vec(&Stored {
        entry,
        written_at: unix_now(),
    })
    .map_err(db_error)?;
    let write = db.begin_write().map_err(db_error)?;
    {
        let mut table = write.open_table(kind.table()).map_err(db_error)?;
        table
            .insert(key.as_ref(), bytes.as_slice())
            .map_err(db_error)?;
    }
    write.commit().map_err(db_error)
}

/// Reads and rewrites the entry in one write transaction.
fn mark_done(
    db: &Database,
    kind: Kind,
    key: &Pubkey,
    signature: Option<String>,
) -> Result<(), JournalError> {
    let write = db.begin_write().map_err(db_error)?;
    {
        let mut table = write.open_table(kind.table()).map_err(db_error)?;
        let entry: Option<Entry> = table
            .get(key.as_ref())
            .map_err(db_error)?
            .map(|value| parse(key, value.value()))
            .transpose()?;
        let Some(mut entry) = entry else {
            return Ok(());
        };
        entry.stage = Stage::Done { signature };
        let bytes = serde_json::to_vec(&Stored {
            entry: &entry,
            written_at: unix_now(),
        })
        .map_err(db_error)?;
        table
            .insert(key.as_ref(), bytes.as_slice())
            .map_err(db_error)?;
    }
    write.commit().map_err(db_error)
}

fn unfinished(db: &Database, kind: Kind) -> Result<Vec<(Pubkey, Entry)>, JournalError> {
    let read = db.begin_read().map_err(db_error)?;
    let table = read.open_table(kind.table()).map_err(db_error)?;
    let mut entries = Vec::new();
    for row in table.iter().map_err(db_error)? {
        let (key, value) = row.map_err(db_error)?;
        let key = Pubkey::try_from(key.value())
            .map_err(|_| JournalError::Database("a journal key is not an address".to_string()))?;
        let entry: Entry = parse(&key, value.value())?;
        if entry.stage == Stage::Prepared {
            entries.push((key, entry));
        }
    }
    Ok(entries)
}

fn prune(db: &Database, retention: std::time::Duration) -> Result<usize, JournalError> {
    let cutoff = unix_now().saturating_sub(retention.as_secs());
    let write = db.begin_write().map_err(db_error)?;
    let mut removed = 0;
    for kind in Kind::ALL {
        let mut table = write.open_table(kind.table()).map_err(db_error)?;
        let mut old = Vec::new();
        for row in table.iter().map_err(db_error)? {
            let (key, value) = row.map_err(db_error)?;
            let key_bytes = key.value().to_vec();
            let key = Pubkey::try_from(key_bytes.as_slice()).unwrap_or_default();
            let stored: Stored<Entry> = parse_stored(&key, value.value())?;
            if matches!(stored.entry.stage, Stage::Done { .. }) && stored.written_at < cutoff {
                old.push(key_bytes);
            }
        }
        for key in &old {
            table.remove(key.as_slice()).map_err(db_error)?;
        }
        removed += old.len();
    }
    write.commit().map_err(db_error)?;
    Ok(removed)
}

fn parse<T: DeserializeOwned>(key: &Pubkey, bytes: &[u8]) -> Result<T, JournalError> {
    parse_stored(key, bytes).map(|stored| stored.entry)
}

fn parse_stored<T: DeserializeOwned>(
    key: &Pubkey,
    bytes: &[u8],
) -> Result<Stored<T>, JournalError> {
    serde_json::from_slice(bytes).map_err(|err| JournalError::Corrupt {
        key: *key,
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stage: Stage) -> Entry {
        Entry {
            output: vec![1, 2, 3],
            agrees: None,
            faulty: false,
            stage,
            whole_output_sha256: [0; 32],
            trace_root: None,
        }
    }

    #[tokio::test]
    async fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/journal.redb");
        let request = Pubkey::new_unique();
        {
            let journal = Journal::open(&path).unwrap();
            journal
                .put(Kind::Commit, &request, &entry(Stage::Prepared))
                .await
                .unwrap();
        }
        let journal = Journal::open(&path).unwrap();
        assert_eq!(
            journal.get(Kind::Commit, &request).await.unwrap(),
            Some(entry(Stage::Prepared))
        );
        assert_eq!(journal.get(Kind::Vote, &request).await.unwrap(), None);
    }

    #[tokio::test]
    async fn pruning_deletes_old_done_steps_and_keeps_prepared_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.redb");
        let journal = Journal::open(&path).unwrap();
        let (prepared, done, legacy) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        journal
            .put(Kind::Vote, &prepared, &entry(Stage::Prepared))
            .await
            .unwrap();
        journal
            .put(Kind::Vote, &done, &entry(Stage::Done { signature: None }))
            .await
            .unwrap();
        // Fresh entries are kept.
        assert_eq!(
            journal
                .prune(std::time::Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        // An entry as journals wrote them before times were recorded.
        {
            let legacy_bytes = serde_json::to_vec(&entry(Stage::Done { signature: None })).unwrap();
            let write = journal.db.begin_write().unwrap();
            write
                .open_table(Kind::Commit.table())
                .unwrap()
                .insert(legacy.as_ref(), legacy_bytes.as_slice())
                .unwrap();
            write.commit().unwrap();
        }
        assert_eq!(
            journal.get(Kind::Commit, &legacy).await.unwrap(),
            Some(entry(Stage::Done { signature: None })),
            "an old journal still reads"
        );
        assert_eq!(
            journal
                .prune(std::time::Duration::from_secs(3600))
                .await
                .unwrap(),
            1
        );
        assert_eq!(journal.get(Kind::Commit, &legacy).await.unwrap(), None);
        // With no retention, every done step goes; the prepared one stays.
        assert_eq!(journal.prune(std::time::Duration::ZERO).await.unwrap(), 0);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(journal.prune(std::time::Duration::ZERO).await.unwrap(), 1);
        assert_eq!(journal.get(Kind::Vote, &done).await.unwrap(), None);
        assert!(journal.get(Kind::Vote, &prepared).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn unfinished_lists_only_prepared_steps() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.redb")).unwrap();
        let (pending, done) = (Pubkey::new_unique(), Pubkey::new_unique());
        journal
            .put(Kind::Commit, &pending, &entry(Stage::Prepared))
            .await
            .unwrap();
        journal
            .put(Kind::Commit, &done, &entry(Stage::Prepared))
            .await
            .unwrap();
        journal
            .mark_done(Kind::Commit, &done, Some("sig".into()))
            .await
            .unwrap();
        let unfinished = journal.unfinished(Kind::Commit).await.unwrap();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0].0, pending);
        assert!(journal
            .unfinished(Kind::Challenge)
            .await
            .unwrap()
            .is_empty());
    }
}
