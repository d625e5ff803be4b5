//! Object storage against a real S3-compatible server (moto_server, started
//! by scripts/test.sh): the calls uploads, variants and backups make.

use bytes::Bytes;
use futures::TryStreamExt;
use kiln_jobs::{
    storage::{Storage, StorageError},
    testing::s3_storage_url,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

fn open() -> Storage {
    Storage::open(&s3_storage_url()).expect("open the S3 store")
}

#[tokio::test]
async fn put_get_stream_and_delete_round_trip_on_s3() {
    let store = open();
    store.ping().await.expect("ping");
    store
        .put("media/a/original", Bytes::from_static(b"original bytes"))
        .await
        .expect("put");
    store
        .put("media/a/thumb.webp", Bytes::from_static(b"thumb"))
        .await
        .expect("put");
    store
        .put("media/b/original", Bytes::from_static(b"other"))
        .await
        .expect("put");
    assert_eq!(
        store.get("media/a/original").await.expect("get"),
        Bytes::from_static(b"original bytes")
    );
    let streamed: Vec<Bytes> = store
        .get_stream("media/a/thumb.webp")
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("read");
    assert_eq!(streamed.concat(), b"thumb");
    assert!(matches!(
        store.get("media/a/missing").await,
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(store.delete_prefix("media/a").await.expect("delete"), 2);
    assert!(matches!(
        store.get("media/a/original").await,
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(
        store.get("media/b/original").await.expect("untouched"),
        Bytes::from_static(b"other"),
        "a prefix deletes only its own objects"
    );
}

/// 200 MB of deterministic bytes, produced as they are read.
struct Generated {
    left: u64,
    state: u64,
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left).min(64 * 1024) as usize;
        let mut chunk = vec![0u8; n];
        for b in &mut chunk {
            // xorshift: cheap, and not compressible or all zeros.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
        self.left -= n as u64;
        buf.put_slice(&chunk);
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_200_mb_object_streams_up_in_parts_and_back_intact_on_s3() {
    const SIZE: u64 = 200 * 1024 * 1024;
    let store = open();
    let mut expected = Sha256::new();
    {
        use tokio::io::AsyncReadExt;
        let mut source = Generated {
            left: SIZE,
            state: 0x9E37_79B9_7F4A_7C15,
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = source.read(&mut buf).await.expect("generate");
            if n == 0 {
                break;
            }
            expected.update(&buf[..n]);
        }
    }
    let written = store
        .put_stream(
            "backups/2027/05/big.dump.zst",
            Generated {
                left: SIZE,
                state: 0x9E37_79B9_7F4A_7C15,
            },
        )
        .await
        .expect("multipart upload");
    assert_eq!(written, SIZE);
    let mut stream = store
        .get_stream("backups/2027/05/big.dump.zst")
        .await
        .expect("download");
    let (mut got, mut read) = (Sha256::new(), 0u64);
    while let Some(chunk) = stream.try_next().await.expect("chunk") {
        read += chunk.len() as u64;
        got.update(&chunk);
    }
    assert_eq!(read, SIZE);
    assert_eq!(
        got.finalize(),
        expected.finalize(),
        "the same bytes came back"
    );
    store.delete_prefix("backups").await.expect("clean up");
}
