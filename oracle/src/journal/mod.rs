//! The node's local journal: an embedded database (redb) where every step
//! that has an effect on-chain is written down before it is taken, so that a
//! restart resumes in-flight work and never commits, challenges or votes
//! twice.
//!
//! A write is durable when [`Journal::put`] or [`Journal::mark_done`]
//! returns: it is in the write-ahead log ([`wal`]), synced once for every
//! write waiting at that moment (group commit). The database takes each
//! write without waiting for the disk and is made durable at checkpoints;
//! opening the journal replays the log. Pruning is not logged: a pruned step
//! is done, and one a crash brings back is done still.
mod wal;

use anchor_lang::prelude::Pubkey;
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::{
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
};
use tokio::sync::oneshot;
use wal::{Record, Wal};

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
        TableDefinition::new(self.table_name())
    }

    /// Its table's number in the write-ahead log.
    fn code(self) -> u8 {
        match self {
            Kind::Commit => 0,
            Kind::Challenge => 1,
            Kind::Verdict => 2,
            Kind::Vote => 3,
        }
    }

    fn of_code(code: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.code() == code)
    }

    fn table_name(self) -> &'static str {
        match self {
            Kind::Commit => "commits",
            Kind::Challenge => "challenges",
            Kind::Verdict => "verdicts",
            Kind::Vote => "votes",
        }
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

/// A checkpoint is taken once the log holds this much (or at a clean
/// close): a durable database commit costs a few fsyncs, so it is paid once
/// per many steps, after their writers have been answered.
const CHECKPOINT_BYTES: u64 = 1 << 20;

/// A journal with something in its log checkpoints after this long idle.
const CHECKPOINT_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// While its log refuses appends, the journal tries a checkpoint (which
/// ends the refusal) this often: no step is sent meanwhile, so no write
/// comes to try it.
const FAILED_LOG_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The most writes one group commit takes.
const MAX_BATCH: usize = 1024;

/// A write for the writer thread, and where to answer.
enum Op {
    Put {
        kind: Kind,
        key: Pubkey,
        value: Vec<u8>,
        done: oneshot::Sender<Result<(), JournalError>>,
    },
    MarkDone {
        kind: Kind,
        key: Pubkey,
        signature: Option<String>,
        done: oneshot::Sender<Result<(), JournalError>>,
    },
    Prune {
        retention: std::time::Duration,
        done: oneshot::Sender<Result<usize, JournalError>>,
    },
    /// Tests only, sent alone: the log writes to `file` from now on (one
    /// that cannot be written stands for a failing disk); the file it wrote
    /// to comes back.
    #[cfg(test)]
    SwapLogFile {
        file: std::fs::File,
        done: oneshot::Sender<std::fs::File>,
    },
}

/// The journal database. Reads are short lookups served where they are
/// asked (scans of a table go to tokio's blocking pool); every write goes
/// to one writer thread, which groups the writes waiting into one log sync
/// and one database transaction, so a burst of steps pays for the disk
/// once, and no async worker ever waits for it.
#[derive(Clone)]
pub struct Journal {
    db: Arc<Database>,
    writer: Arc<Writer>,
}

/// The handle on the writer thread. Dropping the last one closes the
/// channel and waits (blocking the thread that drops it) for the writer to
/// finish what is queued and take its closing checkpoint.
struct Writer {
    writes: mpsc::Sender<Op>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Why the log refuses appends, while it does (a failed append, until
    /// a checkpoint empties it).
    refusing: Arc<std::sync::Mutex<Option<String>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Replacing the sender drops the last one: the thread's `recv` ends.
        self.writes = mpsc::channel().0;
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path`, creating its directory,
    /// and replays its write-ahead log (`path` with `.wal` added).
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let open_error = |reason: String| JournalError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| open_error(err.to_string()))?;
        }
        let db = Database::create(path).map_err(|err| open_error(err.to_string()))?;
        let (mut wal, logged) =
            Wal::open(&wal_path(path)).map_err(|err| open_error(err.to_string()))?;
        let write = db.begin_write().map_err(db_error)?;
        for kind in Kind::ALL {
            write.open_table(kind.table()).map_err(db_error)?;
        }
        let replayed = logged.len();
        for record in logged {
            let kind = Kind::of_code(record.table)
                .ok_or_else(|| open_error(format!("its log names table {}", record.table)))?;
            write
                .open_table(kind.table())
                .map_err(db_error)?
                .insert(record.key.as_slice(), record.value.as_slice())
                .map_err(db_error)?;
        }
        write.commit().map_err(db_error)?;
        wal.clear().map_err(|err| open_error(err.to_string()))?;
        if replayed > 0 {
            tracing::info!(replayed, "journal: replayed its write-ahead log");
        }
        let db = Arc::new(db);
        let (writes, ops) = mpsc::channel();
        let writer_db = Arc::clone(&db);
        let refusing = Arc::new(std::sync::Mutex::new(None));
        let writer_refusing = Arc::clone(&refusing);
        let thread = std::thread::Builder::new()
            .name("sibyl-journal".into())
            .spawn(move || writer(&writer_db, wal, &ops, &writer_refusing))
            .map_err(|err| open_error(format!("cannot start its writer: {err}")))?;
        Ok(Self {
            db,
            writer: Arc::new(Writer {
                writes,
                thread: std::sync::Mutex::new(Some(thread)),
                refusing,
            }),
        })
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

    /// Hands `op` to the writer thread and waits for its answer.
    async fn write<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, JournalError>>) -> Op,
    ) -> Result<T, JournalError> {
        let (done, answer) = oneshot::channel();
        let stopped = || JournalError::Database("the journal writer stopped".to_string());
        self.writer.writes.send(op(done)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Fails while the journal refuses writes (its log failed, and no
    /// checkpoint has emptied it since): a step is not sent then, though
    /// its write would run beside the send.
    pub fn check_writable(&self) -> Result<(), JournalError> {
        match &*self
            .writer
            .refusing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(failure) => Err(JournalError::Database(format!(
                "the journal refuses writes: {failure}"
            ))),
            None => Ok(()),
        }
    }

    /// The entry for `key`, if any.
    pub async fn get(&self, kind: Kind, key: &Pubkey) -> Result<Option<Entry>, JournalError> {
        read(&self.db, kind, key)
    }

    /// The entries for `key` of each of `kinds`, in that order.
    pub async fn get_each<const N: usize>(
        &self,
        kinds: [Kind; N],
        key: &Pubkey,
    ) -> Result<[Option<Entry>; N], JournalError> {
        let mut entries = std::array::from_fn(|_| None);
        for (entry, kind) in entries.iter_mut().zip(kinds) {
            *entry = read(&self.db, kind, key)?;
        }
        Ok(entries)
    }

    /// Records `entry` for `key`, durably, replacing what was there.
    pub async fn put(&self, kind: Kind, key: &Pubkey, entry: &Entry) -> Result<(), JournalError> {
        let value = stored(entry)?;
        let key = *key;
        self.write(|done| Op::Put {
            kind,
            key,
            value,
            done,
        })
        .await
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
        self.write(|done| Op::Prune { retention, done }).await
    }

    /// Marks the entry for `key` done (keeping what it recorded).
    pub async fn mark_done(
        &self,
        kind: Kind,
        key: &Pubkey,
        signature: Option<String>,
    ) -> Result<(), JournalError> {
        let key = *key;
        self.write(|done| Op::MarkDone {
            kind,
            key,
            signature,
            done,
        })
        .await
    }
}

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".wal");
    PathBuf::from(name)
}

/// The writer thread: takes every write waiting, applies them all in one
/// database transaction that does not wait for the disk, logs and syncs
/// them, answers, and checkpoints when the log has grown. It ends (with a
/// checkpoint) when every handle to the journal is gone.
fn writer(
    db: &Database,
    mut wal: Wal,
    ops: &mpsc::Receiver<Op>,
    refusing: &std::sync::Mutex<Option<String>>,
) {
    let mut last_checkpoint = std::time::Instant::now();
    let tell_refusal = |wal: &Wal| {
        *refusing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = wal.failure().map(str::to_string);
    };
    loop {
        let idle = if wal.has_failed() {
            FAILED_LOG_RETRY
        } else {
            CHECKPOINT_IDLE
        };
        let first = match ops.recv_timeout(idle) {
            Ok(op) => op,
            // A quiet journal still reaches a checkpoint: redb frees pages
            // only at a durable commit. A failed log is tried again sooner.
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if (wal.len() > 0 || wal.has_failed()) && last_checkpoint.elapsed() >= idle {
                    checkpoint(db, &mut wal);
                    last_checkpoint = std::time::Instant::now();
                    tell_refusal(&wal);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        #[cfg(test)]
        let first = match first {
            Op::SwapLogFile { file, done } => {
                let _ = done.send(wal.swap_file(file));
                continue;
            }
            op => op,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let results = match apply(db, &mut wal, &batch) {
            Ok(results) => results.into_iter().map(Ok).collect(),
            Err(err) if batch.len() == 1 => vec![Err(err)],
            // One op that cannot be applied (an unreadable entry) must not
            // fail the others that happened to share its batch.
            Err(_) => batch
                .iter()
                .map(|op| {
                    apply(db, &mut wal, std::slice::from_ref(op))
                        .map(|results| results.first().copied().unwrap_or_default())
                })
                .collect(),
        };
        // After a failed append, a checkpoint (if the disk allows it) leaves
        // a clean log behind, and appends work again. Whether the journal
        // refuses writes is told before anyone is answered.
        if wal.has_failed() {
            checkpoint(db, &mut wal);
            last_checkpoint = std::time::Instant::now();
        }
        tell_refusal(&wal);
        answer(batch, results);
        if wal.len() >= CHECKPOINT_BYTES {
            checkpoint(db, &mut wal);
            last_checkpoint = std::time::Instant::now();
        }
    }
    checkpoint(db, &mut wal);
}

/// Makes everything applied durable in the database, then empties the log.
/// A failure leaves the log as it is (it is replayed on open).
fn checkpoint(db: &Database, wal: &mut Wal) {
    let durable = db.begin_write().map_err(db_error).and_then(|mut write| {
        write.set_durability(Durability::Immediate);
        write.commit().map_err(db_error)
    });
    let cleared = durable.and_then(|()| wal.clear().map_err(db_error));
    if let Err(err) = cleared {
        tracing::warn!(log = %wal.path().display(), %err, "journal checkpoint failed; its log is kept");
    }
}

/// Applies a batch in one database transaction, logs and syncs what it
/// wrote, and only then commits the transaction (which does not wait for
/// the disk): nothing is readable before it is durable, and a batch that
/// fails leaves nothing behind. What each op returns, in order.
fn apply(db: &Database, wal: &mut Wal, batch: &[Op]) -> Result<Vec<usize>, JournalError> {
    let mut write = db.begin_write().map_err(db_error)?;
    // Durable through the log instead.
    write.set_durability(Durability::None);
    let mut logged = Vec::new();
    let mut log = |kind: Kind, key: &Pubkey, value: Vec<u8>| {
        logged.push(Record {
            table: kind.code(),
            key: key.to_bytes(),
            value,
        });
    };
    let mut results = Vec::with_capacity(batch.len());
    for op in batch {
        results.push(match op {
            Op::Put {
                kind, key, value, ..
            } => {
                insert(&write, *kind, key, value)?;
                log(*kind, key, value.clone());
                0
            }
            Op::MarkDone {
                kind,
                key,
                signature,
                ..
            } => {
                if let Some(value) = mark_done(&write, *kind, key, signature.clone())? {
                    log(*kind, key, value);
                }
                0
            }
            // Not logged: a step pruned is done, and if a crash brings it
            // back, done it is.
            Op::Prune { retention, .. } => prune(&write, *retention)?,
            #[cfg(test)]
            Op::SwapLogFile { .. } => 0,
        });
    }
    // Dropping `write` on an error aborts it.
    wal.append(&logged)
        .map_err(|err| JournalError::Database(format!("writing the journal's log: {err}")))?;
    write.commit().map_err(db_error)?;
    Ok(results)
}

fn answer(batch: Vec<Op>, results: Vec<Result<usize, JournalError>>) {
    for (op, result) in batch.into_iter().zip(results) {
        // A writer that stopped waiting (its task was dropped) needs no answer.
        match op {
            Op::Put { done, .. } | Op::MarkDone { done, .. } => {
                let _ = done.send(result.map(|_| ()));
            }
            Op::Prune { done, .. } => {
                let _ = done.send(result);
            }
            #[cfg(test)]
            Op::SwapLogFile { .. } => {}
        }
    }
}

fn read(db: &Database, kind: Kind, key: &Pubkey) -> Result<Option<Entry>, JournalError> {
    let read = db.begin_read().map_err(db_error)?;
    let table = read.open_table(kind.table()).map_err(db_error)?;
    let value = table.get(key.as_ref()).map_err(db_error)?;
    value.map(|value| parse(key, value.value())).transpose()
}

/// `entry` as stored, stamped with the time now.
fn stored(entry: &Entry) -> Result<Vec<u8>, JournalError> {
    serde_json::to_vec(&Stored {
        entry,
        written_at: unix_now(),
    })
    .map_err(db_error)
}

fn insert(
    write: &WriteTransaction,
    kind: Kind,
    key: &Pubkey,
    value: &[u8],
) -> Result<(), JournalError> {
    write
        .open_table(kind.table())
        .map_err(db_error)?
        .insert(key.as_ref(), value)
        .map_err(db_error)?;
    Ok(())
}

/// Reads and rewrites the entry within `write`; the bytes written, if
/// there was an entry.
fn mark_done(
    write: &WriteTransaction,
    kind: Kind,
    key: &Pubkey,
    signature: Option<String>,
) -> Result<Option<Vec<u8>>, JournalError> {
    let mut table = write.open_table(kind.table()).map_err(db_error)?;
    let entry: Option<Entry> = table
        .get(key.as_ref())
        .map_err(db_error)?
        .map(|value| parse(key, value.value()))
        .transpose()?;
    let Some(mut entry) = entry else {
        return Ok(None);
    };
    entry.stage = Stage::Done { signature };
    let bytes = stored(&entry)?;
    table
        .insert(key.as_ref(), bytes.as_slice())
        .map_err(db_error)?;
    Ok(Some(bytes))
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

fn prune(write: &WriteTransaction, retention: std::time::Duration) -> Result<usize, JournalError> {
    let cutoff = unix_now().saturating_sub(retention.as_secs());
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

    async fn put_prepared(journal: &Journal, kind: Kind, keys: &[&Pubkey]) {
        for key in keys {
            journal
                .put(kind, key, &entry(Stage::Prepared))
                .await
                .unwrap();
        }
    }

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
    async fn an_acknowledged_put_survives_a_crash_before_any_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (at_crash, after) = (dir.path().join("a/j.redb"), dir.path().join("b/j.redb"));
        let (prepared, done) = (Pubkey::new_unique(), Pubkey::new_unique());
        let journal = Journal::open(&at_crash).unwrap();
        put_prepared(&journal, Kind::Commit, &[&prepared, &done]).await;
        journal
            .mark_done(Kind::Commit, &done, Some("sig".into()))
            .await
            .unwrap();
        // The disk as a crash leaves it: the log as synced, and a database
        // that never reached a checkpoint (here, a fresh one).
        std::fs::create_dir_all(after.parent().unwrap()).unwrap();
        std::fs::copy(wal_path(&at_crash), wal_path(&after)).unwrap();
        let recovered = Journal::open(&after).unwrap();
        assert_eq!(
            recovered.get(Kind::Commit, &prepared).await.unwrap(),
            Some(entry(Stage::Prepared))
        );
        assert_eq!(
            recovered.get(Kind::Commit, &done).await.unwrap(),
            Some(entry(Stage::Done {
                signature: Some("sig".into())
            }))
        );
        assert_eq!(
            std::fs::metadata(wal_path(&after)).unwrap().len(),
            0,
            "replayed, then emptied"
        );
        drop(journal);
        // A clean close checkpoints: the database alone holds everything.
        std::fs::remove_file(wal_path(&at_crash)).unwrap();
        let reopened = Journal::open(&at_crash).unwrap();
        assert!(matches!(
            reopened.get(Kind::Commit, &done).await.unwrap(),
            Some(Entry {
                stage: Stage::Done { .. },
                ..
            })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_op_that_cannot_be_applied_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.redb")).unwrap();
        let corrupt = Pubkey::new_unique();
        {
            let write = journal.db.begin_write().unwrap();
            write
                .open_table(Kind::Vote.table())
                .unwrap()
                .insert(corrupt.as_ref(), b"not json".as_slice())
                .unwrap();
            write.commit().unwrap();
        }
        let keys: Vec<Pubkey> = (0..50).map(|_| Pubkey::new_unique()).collect();
        let puts = keys.iter().map(|key| {
            let journal = journal.clone();
            let key = *key;
            tokio::spawn(
                async move { journal.put(Kind::Vote, &key, &entry(Stage::Prepared)).await },
            )
        });
        // Sent among the puts, so that some batch holds it with them.
        let mark = journal.mark_done(Kind::Vote, &corrupt, None);
        let (puts, mark) = tokio::join!(futures_util::future::join_all(puts), mark);
        assert!(
            matches!(mark, Err(JournalError::Corrupt { .. })),
            "{mark:?}"
        );
        for put in puts {
            put.unwrap().unwrap();
        }
        for key in &keys {
            assert!(journal.get(Kind::Vote, key).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn a_journal_whose_log_fails_refuses_writes_until_a_checkpoint_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.redb");
        let journal = Journal::open(&path).unwrap();
        let swap = |file: std::fs::File| {
            let journal = journal.clone();
            async move {
                let (done, answer) = oneshot::channel();
                journal
                    .writer
                    .writes
                    .send(Op::SwapLogFile { file, done })
                    .unwrap();
                answer.await.unwrap()
            }
        };
        journal.check_writable().unwrap();
        // A handle that cannot be written stands for a disk that fails: the
        // append fails, and so does the checkpoint that would clear it.
        let read_only = std::fs::File::open(wal_path(&path)).unwrap();
        let writable = swap(read_only).await;
        let key = Pubkey::new_unique();
        let lost = Entry {
            output: b"lost".to_vec(),
            ..entry(Stage::Prepared)
        };
        assert!(journal.put(Kind::Commit, &key, &lost).await.is_err());
        assert_eq!(
            journal.get(Kind::Commit, &key).await.unwrap(),
            None,
            "nothing readable"
        );
        let refused = journal.check_writable().unwrap_err();
        assert!(refused.to_string().contains("refuses writes"), "{refused}");
        // The disk is back: the next retry's checkpoint ends the refusal,
        // with no write to prompt it.
        swap(writable).await;
        let deadline = std::time::Instant::now() + 5 * FAILED_LOG_RETRY;
        while journal.check_writable().is_err() {
            assert!(std::time::Instant::now() < deadline, "still refusing");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        journal
            .put(Kind::Commit, &key, &entry(Stage::Prepared))
            .await
            .unwrap();
        drop(journal);
        let reopened = Journal::open(&path).unwrap();
        assert_eq!(
            reopened.get(Kind::Commit, &key).await.unwrap(),
            Some(entry(Stage::Prepared))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_puts_are_all_durable_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.redb")).unwrap();
        let keys: Vec<Pubkey> = (0..200).map(|_| Pubkey::new_unique()).collect();
        let puts = keys.iter().map(|key| {
            let journal = journal.clone();
            let key = *key;
            tokio::spawn(
                async move { journal.put(Kind::Vote, &key, &entry(Stage::Prepared)).await },
            )
        });
        for put in futures_util::future::join_all(puts).await {
            put.unwrap().unwrap();
        }
        let logged = wal::Wal::open(&wal_path(&dir.path().join("j.redb")))
            .unwrap()
            .1;
        assert_eq!(logged.len(), keys.len(), "each put logged once");
        for key in &keys {
            assert!(journal.get(Kind::Vote, key).await.unwrap().is_some());
        }
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
        put_prepared(&journal, Kind::Commit, &[&pending, &done]).await;
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
