//! A `BlobStore` on the filesystem: `blobs/<2 hex>/<64 hex>`, crash-safe (see `DESIGN.md`).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use p2pos_core::BlobId;
use tokio::fs;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::blob::{BlobError, BlobRead, BlobStore, PutOutcome, resolve_range};

/// Bytes read from the upload stream at a time.
const CHUNK: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct FsBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating if needed) the store under `root`, deleting temp files a crash left behind.
    pub async fn open(root: &Path) -> Result<Self, BlobError> {
        let store = Self { blobs: root.join("blobs"), tmp: root.join("tmp") };
        fs::create_dir_all(&store.blobs).await?;
        if fs::try_exists(&store.tmp).await? {
            fs::remove_dir_all(&store.tmp).await?;
        }
        fs::create_dir_all(&store.tmp).await?;
        sync_dir(root).await?;
        Ok(store)
    }

    fn path_of(&self, id: &BlobId) -> PathBuf {
        let hex = id.to_string();
        self.blobs.join(&hex[..2]).join(hex)
    }

    /// Streams into a temp file, hashing as it goes; returns the temp path and size.
    async fn receive(
        &self,
        data: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
    ) -> Result<(PathBuf, u64, BlobId), BlobError> {
        let name: u128 = rand::random();
        let path = self.tmp.join(format!("{name:032x}"));
        let mut file = fs::File::create(&path).await?;
        let mut hasher = BlobId::hasher();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        let result = async {
            loop {
                let n = data.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                if size > max_bytes {
                    return Err(BlobError::TooLarge { limit: max_bytes });
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).await?;
            }
            file.flush().await?;
            file.sync_all().await?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = result {
            let _ = fs::remove_file(&path).await;
            return Err(e);
        }
        Ok((path, size, hasher.finish()))
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Makes a rename or a new entry in `dir` durable. Directories open read-only on Unix.
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await.map_err(std::io::Error::other)?
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(
        &self,
        id: BlobId,
        data: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
    ) -> Result<PutOutcome, BlobError> {
        let (tmp, size, actual) = self.receive(data, max_bytes).await?;
        if actual != id {
            let _ = fs::remove_file(&tmp).await;
            return Err(BlobError::HashMismatch { expected: id, actual });
        }
        let target = self.path_of(&id);
        if fs::try_exists(&target).await? {
            fs::remove_file(&tmp).await?;
            return Ok(PutOutcome::AlreadyPresent { size });
        }
        let shard = target.parent().unwrap_or(&self.blobs).to_path_buf();
        let new_shard = !fs::try_exists(&shard).await?;
        fs::create_dir_all(&shard).await?;
        if new_shard {
            sync_dir(&self.blobs).await?;
        }
        fs::rename(&tmp, &target).await?;
        sync_dir(&shard).await?;
        Ok(PutOutcome::Stored { size })
    }

    async fn get(&self, id: &BlobId, range: Option<(u64, Option<u64>)>) -> Result<BlobRead, BlobError> {
        let mut file = match fs::File::open(self.path_of(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound(*id)),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let (start, end) = range.unwrap_or((0, None));
        let range = resolve_range(start, end, size)?;
        file.seek(std::io::SeekFrom::Start(range.start)).await?;
        let reader = Box::new(file.take(range.end - range.start));
        Ok(BlobRead { size, range, reader })
    }

    async fn has(&self, id: &BlobId) -> Result<Option<u64>, BlobError> {
        match fs::metadata(self.path_of(id)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError> {
        let path = self.path_of(id);
        match fs::remove_file(&path).await {
            Ok(()) => {
                if let Some(shard) = path.parent() {
                    sync_dir(shard).await?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<(BlobId, u64)>, BlobError> {
        let mut out = Vec::new();
        let mut shards = fs::read_dir(&self.blobs).await?;
        while let Some(shard) = shards.next_entry().await? {
            if !shard.file_type().await?.is_dir() {
                continue;
            }
            let mut entries = fs::read_dir(shard.path()).await?;
            while let Some(entry) = entries.next_entry().await? {
                // Only canonical names count; anything else is not ours and is ignored.
                let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<BlobId>().ok()) else { continue };
                out.push((id, entry.metadata().await?.len()));
            }
        }
        out.sort_by_key(|(id, _)| *id);
        Ok(out)
    }
}
