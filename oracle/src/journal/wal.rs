//! The journal's write-ahead log: the durable half of a journal write. A
//! step's entry is appended here and the file synced (one `fdatasync` for
//! every write waiting, group commit) before the step may act; the database
//! takes the same write without waiting for the disk, and is made durable
//! now and then (a checkpoint), after which the log starts empty again. On
//! open, whatever the log holds is replayed into the database.
//!
//! A record is `[length u32 LE][CRC-32 of the payload u32 LE][payload]`,
//! the payload `[table u8][key: 32 bytes][value]`. A crash can leave the
//! last record torn; reading stops at the first record that is short or
//! fails its checksum, which can only be one that was never acknowledged.
use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
};

/// One logged write: an entry stored under `key` in table `table`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub table: u8,
    pub key: [u8; 32],
    pub value: Vec<u8>,
}

const HEADER: usize = 8;
const KEY_AT: usize = 1;
const VALUE_AT: usize = KEY_AT + 32;

impl Record {
    fn encode_into(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let length = u32::try_from(VALUE_AT + self.value.len())
            .map_err(|_| std::io::Error::other("a journal entry over 4 GiB"))?;
        let mut payload = Vec::with_capacity(VALUE_AT + self.value.len());
        payload.push(self.table);
        payload.extend_from_slice(&self.key);
        payload.extend_from_slice(&self.value);
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(())
    }
}

/// The records of a log's bytes, up to the first torn or corrupt one.
pub fn records(mut bytes: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    while let (Some(length), Some(crc)) = (word(bytes, 0), word(bytes, 4)) {
        let Some(payload) = usize::try_from(length)
            .ok()
            .and_then(|length| bytes.get(HEADER..HEADER.checked_add(length)?))
        else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let (Some(&table), Some(key), Some(value)) = (
            payload.first(),
            payload
                .get(KEY_AT..VALUE_AT)
                .and_then(|key| <[u8; 32]>::try_from(key).ok()),
            payload.get(VALUE_AT..),
        ) else {
            break;
        };
        records.push(Record {
            table,
            key,
            value: value.to_vec(),
        });
        bytes = bytes.get(HEADER + payload.len()..).unwrap_or_default();
    }
    records
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

/// The open log file, written only by the journal's writer thread.
pub struct Wal {
    file: File,
    path: PathBuf,
    /// Bytes appended since the log was last emptied.
    len: u64,
    /// Why an append failed, once one has.
    failed: Option<String>,
}

impl Wal {
    /// Opens (or creates) the log at `path` and reads what it holds. The
    /// file is made durable with its directory entry, so a write synced into
    /// it cannot vanish with the file.
    pub fn open(path: &Path) -> std::io::Result<(Wal, Vec<Record>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        // Every open, not only the one that created it: a crash may have
        // come between creating the file and syncing its directory.
        file.sync_all()?;
        let parent = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(parent)?.sync_all()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        Ok((
            Wal {
                file,
                path: path.to_path_buf(),
                len,
                failed: None,
            },
            records(&bytes),
        ))
    }

    /// Appends `records` and waits for the disk: once this returns, they
    /// survive a crash. After a failed write or sync the log refuses every
    /// later append: what the failure left in the file (a torn record, pages
    /// the kernel dropped) would end a replay before records appended after
    /// it, so nothing more may be acknowledged until a restart replays what
    /// is durable.
    pub fn append(&mut self, records: &[Record]) -> std::io::Result<()> {
        if let Some(failure) = &self.failed {
            return Err(std::io::Error::other(format!(
                "the log failed earlier ({failure}); restart the node"
            )));
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for record in records {
            record.encode_into(&mut bytes)?;
        }
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(err) = written {
            self.failed = Some(err.to_string());
            return Err(err);
        }
        self.len = self
            .len
            .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        Ok(())
    }

    /// Empties the log, once the database holds everything in it durably
    /// (which also clears an earlier failure: the log holds nothing torn).
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        self.failed = None;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether an append failed since the log was last emptied.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Tests only: writes to `file` from now on; returns the file before.
    #[cfg(test)]
    pub fn swap_file(&mut self, file: File) -> File {
        std::mem::replace(&mut self.file, file)
    }

    /// Why an append failed, if one did since the log was last emptied.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(table: u8, fill: u8, value: &[u8]) -> Record {
        Record {
            table,
            key: [fill; 32],
            value: value.to_vec(),
        }
    }

    #[test]
    fn appended_records_read_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.wal");
        let written = vec![
            record(0, 1, b"first"),
            record(3, 2, b""),
            record(1, 3, b"x"),
        ];
        {
            let (mut wal, found) = Wal::open(&path).unwrap();
            assert!(found.is_empty());
            wal.append(&written[..1]).unwrap();
            wal.append(&written[1..]).unwrap();
        }
        let (mut wal, found) = Wal::open(&path).unwrap();
        assert_eq!(found, written);
        wal.clear().unwrap();
        drop(wal);
        assert!(Wal::open(&path).unwrap().1.is_empty());
    }

    #[test]
    fn after_a_failed_append_the_log_refuses_more_until_it_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        // A handle that cannot write stands for a disk that fails.
        let writable = std::mem::replace(&mut wal.file, File::open(&path).unwrap());
        assert!(wal.append(&[record(0, 1, b"lost")]).is_err());
        assert!(wal.has_failed());
        wal.file = writable;
        let refused = wal.append(&[record(0, 2, b"after")]).unwrap_err();
        assert!(refused.to_string().contains("failed earlier"), "{refused}");
        wal.clear().unwrap();
        wal.append(&[record(0, 3, b"fresh")]).unwrap();
        drop(wal);
        assert_eq!(Wal::open(&path).unwrap().1, vec![record(0, 3, b"fresh")]);
    }

    #[test]
    fn reading_stops_at_a_torn_or_corrupt_record() {
        let written = vec![record(0, 1, b"kept"), record(0, 2, b"torn by a crash")];
        let mut bytes = Vec::new();
        for record in &written {
            record.encode_into(&mut bytes).unwrap();
        }
        // Every cut inside the second record leaves the first alone.
        let first_len = HEADER + VALUE_AT + 4;
        for cut in first_len..bytes.len() {
            assert_eq!(records(&bytes[..cut]), written[..1], "cut at {cut}");
        }
        assert_eq!(records(&bytes), written);
        // A flipped bit in the second record's payload ends the log there.
        let mut corrupt = bytes.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        assert_eq!(records(&corrupt), written[..1]);
        // So does a length pointing past the end.
        let mut long = bytes[..first_len].to_vec();
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        long.extend_from_slice(&[0; 8]);
        assert_eq!(records(&long), written[..1]);
        assert!(records(&[]).is_empty());
    }
}
