//! Where indexes live under the node's data directory, and the atomic swap of a rebuilt index.
//!
//! ```text
//! <data_dir>/search/        the live index (tantivy files, meta.json holds the position)
//! <data_dir>/search.new/    a rebuild in progress, or a finished one waiting to be swapped in
//! <data_dir>/search.old/    the previous live index, only for the instant of a swap
//! ```
//!
//! A rebuild creates its index in [`IndexLayout::prepare_staging`], fills it, commits with the
//! position its snapshot of the source corresponds to, drops or closes its writer, and calls
//! [`IndexLayout::swap_in_staging`]. The swap syncs the staging files, marks the staging
//! directory complete (`kg-search.ready`), renames `search` to `search.old` and `search.new` to
//! `search`, syncs the data directory and removes `search.old`. If the process dies midway,
//! [`IndexLayout::recover`] (called before opening the live index) finishes the swap, because
//! the mark says the staging index is complete; without the mark an unfinished rebuild is never
//! mistaken for a complete one.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tantivy::Directory;
use tantivy::TantivyError;
use tantivy::directory::error::LockError;
use tantivy::directory::{DirectoryLock, INDEX_WRITER_LOCK, MmapDirectory};

use crate::error::{Error, Result};
use crate::index::holds_index;

/// Name of the live index directory under the data directory.
pub const LIVE_DIR: &str = "search";
/// Name of the staging directory of a rebuild.
pub const STAGING_DIR: &str = "search.new";
/// Name the live directory takes during a swap.
pub const RETIRED_DIR: &str = "search.old";
/// File that marks a staging index as complete and ready to be swapped in.
const READY_MARKER: &str = "kg-search.ready";

/// What [`IndexLayout::recover`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// There was nothing to finish.
    Nothing,
    /// A swap had been interrupted after the rebuilt index was complete; it is now in place.
    SwapCompleted,
}

/// The index directories under one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLayout {
    data_dir: PathBuf,
}

impl IndexLayout {
    /// The layout under `data_dir` (the node's `node.data_dir`).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<data_dir>/search`, the live index.
    pub fn live(&self) -> PathBuf {
        self.data_dir.join(LIVE_DIR)
    }

    /// `<data_dir>/search.new`, where a rebuild writes.
    pub fn staging(&self) -> PathBuf {
        self.data_dir.join(STAGING_DIR)
    }

    /// `<data_dir>/search.old`, the previous index during a swap.
    pub fn retired(&self) -> PathBuf {
        self.data_dir.join(RETIRED_DIR)
    }

    /// Removes what an earlier, unfinished rebuild left in the staging directory and returns
    /// it, empty. Create the new index there with
    /// [`SearchIndex::create_in`](crate::SearchIndex::create_in).
    pub fn prepare_staging(&self) -> Result<PathBuf> {
        let staging = self.staging();
        remove_dir_if_present(&staging)?;
        fs::create_dir_all(&staging).map_err(Error::io("create directory", &staging))?;
        Ok(staging)
    }

    /// Replaces the live index by the staging one, atomically as far as readers of the data
    /// directory can tell: at every instant either the old or the new index is complete on disk.
    ///
    /// Fails with [`Error::StagingIncomplete`] if the staging directory holds no committed
    /// index, and with [`Error::Locked`] while a writer is open on either index (close the
    /// rebuild's writer first, and stop the live index's writer: a process that keeps the old
    /// index open goes on using the old files, which stay readable until it closes them).
    pub fn swap_in_staging(&self) -> Result<()> {
        let staging = self.staging();
        if !holds_index(&staging)? {
            return Err(Error::StagingIncomplete { path: staging });
        }
        let live = self.live();
        let _staging_lock = lock_writer(&staging)?;
        let _live_lock = if holds_index(&live)? {
            Some(lock_writer(&live)?)
        } else {
            None
        };
        for entry in fs::read_dir(&staging).map_err(Error::io("list", &staging))? {
            let path = entry.map_err(Error::io("list", &staging))?.path();
            if path.is_file() {
                sync(&path)?;
            }
        }
        let marker = staging.join(READY_MARKER);
        File::create(&marker)
            .and_then(|file| file.sync_all())
            .map_err(Error::io("create", &marker))?;
        sync(&staging)?;
        self.promote_staging()
    }

    /// Finishes a swap that was interrupted after the rebuilt index had been marked complete,
    /// and removes a leftover `search.old`. Call it before opening the live index. An unfinished
    /// rebuild is left alone (the next [`prepare_staging`](Self::prepare_staging) clears it).
    pub fn recover(&self) -> Result<Recovery> {
        let staging = self.staging();
        let ready = staging.join(READY_MARKER);
        if ready.try_exists().map_err(Error::io("inspect", &ready))? && holds_index(&staging)? {
            self.promote_staging()?;
            return Ok(Recovery::SwapCompleted);
        }
        remove_dir_if_present(&self.retired())?;
        Ok(Recovery::Nothing)
    }

    /// Renames live → retired, staging → live, syncs, removes the retired index.
    fn promote_staging(&self) -> Result<()> {
        let (live, staging, retired) = (self.live(), self.staging(), self.retired());
        remove_dir_if_present(&retired)?;
        if live.try_exists().map_err(Error::io("inspect", &live))? {
            fs::rename(&live, &retired).map_err(Error::io("rename", &live))?;
        }
        fs::rename(&staging, &live).map_err(Error::io("rename", &staging))?;
        sync(&self.data_dir)?;
        let marker = live.join(READY_MARKER);
        fs::remove_file(&marker).map_err(Error::io("remove", &marker))?;
        remove_dir_if_present(&retired)
    }
}

/// Takes the writer lock of the index in `dir`, proving no writer is open on it.
fn lock_writer(dir: &Path) -> Result<DirectoryLock> {
    let directory = MmapDirectory::open(dir).map_err(TantivyError::from)?;
    directory
        .acquire_lock(&INDEX_WRITER_LOCK)
        .map_err(|error| match error {
            LockError::LockBusy => Error::Locked {
                path: dir.to_path_buf(),
            },
            LockError::IoError(source) => Error::Io {
                operation: "lock",
                path: dir.to_path_buf(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
        })
}

/// Flushes a file or directory to disk.
fn sync(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(Error::io("sync", path))
}

fn remove_dir_if_present(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(Error::io("remove", path)(error))
        }
        _ => Ok(()),
    }
}
