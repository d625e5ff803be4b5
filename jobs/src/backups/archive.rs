//! The bytes of a stored backup: the dump, zstd-compressed (with zstd's
//! content checksum), then optionally age-encrypted to X25519 recipients,
//! and hashed (SHA-256) exactly as stored.
//!
//! Both directions are plain blocking [`Read`]/[`Write`] pipelines meant for
//! a blocking thread: a backup streams from its source through [`seal`] into
//! an upload, and a restore streams a download through [`unseal`] into
//! `pg_restore` or a file. Neither ever holds more than a buffer of the dump.

use std::io::{self, BufRead, BufReader, Read, Write};

use sha2::{Digest, Sha256};

/// zstd's level for backups: its default, about pg_dump's own speed with a
/// far better ratio than pg_dump's gzip.
const ZSTD_LEVEL: i32 = 3;

/// The first bytes of an age file.
const AGE_MAGIC: &[u8] = b"age-encryption.org/";

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// What [`seal`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Bytes read from the source (the dump itself).
    pub source_bytes: u64,
    /// Bytes written to the sink (what storage holds).
    pub stored_bytes: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
}

/// Why [`unseal`] refused a stored backup.
#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    /// The stored bytes are not the ones the backup recorded.
    #[error(
        "checksum mismatch: the stored backup has SHA-256 {actual}, the manifest says {expected}"
    )]
    Checksum {
        /// What the manifest recorded.
        expected: String,
        /// What was read.
        actual: String,
    },
    /// Encrypted, and no identity given can decrypt it.
    #[error("{0}")]
    Identity(String),
    /// The bytes do not decrypt or decompress (and no checksum was given to
    /// tell whether they changed).
    #[error("the backup is corrupt: {0}")]
    Corrupt(String),
    /// Reading the source or writing the sink failed.
    #[error("backup i/o: {0}")]
    Io(#[from] io::Error),
}

/// What [`unseal`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsealed {
    /// Bytes read (what storage holds).
    pub stored_bytes: u64,
    /// Bytes written to the sink (the dump).
    pub source_bytes: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// Whether the stored bytes were age-encrypted.
    pub encrypted: bool,
}

/// Compresses `source`, encrypts it to `recipients` unless there are none,
/// and writes the result to `sink`, hashing what is written. The sink is
/// flushed, not closed: the caller completes (or aborts) its upload.
pub fn seal(
    source: impl Read,
    sink: impl Write,
    recipients: &[age::x25519::Recipient],
) -> io::Result<Sealed> {
    let mut source = Counting::new(source);
    let mut stored = Hashing::new(sink);
    if recipients.is_empty() {
        compress(&mut source, &mut stored)?;
    } else {
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(io::Error::other)?;
        let mut encrypted = encryptor.wrap_output(&mut stored)?;
        compress(&mut source, &mut encrypted)?;
        encrypted.finish()?;
    }
    stored.flush()?;
    Ok(Sealed {
        source_bytes: source.count,
        stored_bytes: stored.count,
        sha256: stored.hex(),
    })
}

fn compress(source: &mut impl Read, sink: &mut impl Write) -> io::Result<()> {
    let mut encoder = zstd::Encoder::new(sink, ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    io::copy(source, &mut encoder)?;
    encoder.finish()?;
    Ok(())
}

/// Reads a stored backup from `stored`, decrypts it with `identities` when it
/// is encrypted (told by its first bytes), decompresses it into `sink`, and
/// checks the SHA-256 of every stored byte against `expected` when given.
///
/// A checksum mismatch wins over any other failure: a flipped byte is
/// reported as such, not as the decoding error it also causes.
pub fn unseal(
    stored: impl Read,
    mut sink: impl Write,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    expected: Option<&str>,
) -> Result<Unsealed, UnsealError> {
    let mut stored = BufReader::with_capacity(64 * 1024, Hashing::new(stored));
    let head = stored.fill_buf()?;
    let encrypted = head.starts_with(AGE_MAGIC);
    if !encrypted && !head.starts_with(ZSTD_MAGIC) {
        return Err(finish_error(
            stored,
            expected,
            UnsealError::Corrupt("neither an age file nor a zstd stream".into()),
        ));
    }
    let decoded = if encrypted {
        decrypt_into(&mut stored, &mut sink, identities)
    } else {
        decompress(&mut stored, &mut sink).map_err(decode_error)
    };
    let source_bytes = match decoded {
        Ok(n) => n,
        Err(e) => return Err(finish_error(stored, expected, e)),
    };
    // What a decoder left unread still counts towards the checksum.
    io::copy(&mut stored, &mut io::sink())?;
    sink.flush()?;
    let hashing = stored.into_inner();
    let unsealed = Unsealed {
        stored_bytes: hashing.count,
        source_bytes,
        sha256: hashing.hex(),
        encrypted,
    };
    match expected {
        Some(want) if !want.eq_ignore_ascii_case(&unsealed.sha256) => Err(UnsealError::Checksum {
            expected: want.to_owned(),
            actual: unsealed.sha256,
        }),
        _ => Ok(unsealed),
    }
}

fn decrypt_into<R: BufRead>(
    stored: R,
    sink: &mut impl Write,
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<u64, UnsealError> {
    if identities.is_empty() {
        return Err(UnsealError::Identity(
            "the backup is encrypted: give the age identity file that holds its key".into(),
        ));
    }
    let decryptor = age::Decryptor::new_buffered(stored).map_err(decrypt_error)?;
    let mut plain = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(decrypt_error)?;
    decompress(&mut plain, sink).map_err(decode_error)
}

fn decompress(stored: &mut impl Read, sink: &mut impl Write) -> io::Result<u64> {
    let mut decoder = zstd::Decoder::new(stored)?;
    io::copy(&mut decoder, sink)
}

fn decrypt_error(e: age::DecryptError) -> UnsealError {
    match e {
        age::DecryptError::NoMatchingKeys => UnsealError::Identity(
            "none of the given age identities can decrypt this backup (wrong identity file?)"
                .into(),
        ),
        age::DecryptError::Io(e) => decode_error(e),
        other => UnsealError::Corrupt(format!("age: {other}")),
    }
}

/// A failed read of the stored bytes is corruption unless the sink failed.
fn decode_error(e: io::Error) -> UnsealError {
    match e.kind() {
        io::ErrorKind::BrokenPipe => UnsealError::Io(e),
        _ => UnsealError::Corrupt(e.to_string()),
    }
}

/// Reads what is left, and returns a checksum mismatch if there is one,
/// otherwise `error`.
fn finish_error<R: Read>(
    mut stored: BufReader<Hashing<R>>,
    expected: Option<&str>,
    error: UnsealError,
) -> UnsealError {
    let Some(want) = expected else {
        return error;
    };
    if matches!(error, UnsealError::Identity(_)) {
        return error;
    }
    if let Err(e) = io::copy(&mut stored, &mut io::sink()) {
        return UnsealError::Io(e);
    }
    let actual = stored.into_inner().hex();
    if want.eq_ignore_ascii_case(&actual) {
        error
    } else {
        UnsealError::Checksum {
            expected: want.to_owned(),
            actual,
        }
    }
}

/// The hex SHA-256 and length of everything `stored` holds.
pub fn digest(stored: impl Read) -> io::Result<(String, u64)> {
    let mut hashing = Hashing::new(stored);
    io::copy(&mut hashing, &mut io::sink())?;
    let count = hashing.count;
    Ok((hashing.hex(), count))
}

/// Reads an age identity file (`AGE-SECRET-KEY-1…` lines, `#` comments).
pub fn read_identities(
    path: &std::path::Path,
) -> anyhow::Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    use anyhow::Context as _;
    let file = std::fs::File::open(path)
        .with_context(|| format!("open age identity file {}", path.display()))?;
    let identities = age::IdentityFile::from_buffer(BufReader::new(file))
        .with_context(|| format!("read age identity file {}", path.display()))?
        .into_identities()
        .with_context(|| format!("age identity file {}", path.display()))?;
    anyhow::ensure!(
        !identities.is_empty(),
        "age identity file {} holds no identity",
        path.display()
    );
    Ok(identities)
}

/// A reader that counts what passes.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Self { inner, count: 0 }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader or writer that hashes and counts what passes.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    count: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| format!("row {i}\n").into_bytes())
            .collect()
    }

    fn keypair() -> (age::x25519::Identity, age::x25519::Recipient) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        (identity, recipient)
    }

    fn boxed(id: age::x25519::Identity) -> Vec<Box<dyn age::Identity + Send + Sync>> {
        vec![Box::new(id)]
    }

    #[test]
    fn a_plain_backup_round_trips_and_its_checksum_is_of_the_stored_bytes() {
        let input = dump();
        let mut stored = Vec::new();
        let sealed = seal(&input[..], &mut stored, &[]).expect("seal");
        assert_eq!(sealed.source_bytes, input.len() as u64);
        assert_eq!(sealed.stored_bytes, stored.len() as u64);
        assert!(stored.len() < input.len() / 4, "zstd compresses the dump");
        assert_eq!(sealed.sha256, hex::encode(Sha256::digest(&stored)));

        let mut out = Vec::new();
        let unsealed = unseal(&stored[..], &mut out, &[], Some(&sealed.sha256)).expect("unseal");
        assert_eq!(out, input);
        assert!(!unsealed.encrypted);
        assert_eq!(unsealed.sha256, sealed.sha256);
    }

    #[test]
    fn an_encrypted_backup_needs_its_identity() {
        let input = dump();
        let (identity, recipient) = keypair();
        let mut stored = Vec::new();
        let sealed = seal(&input[..], &mut stored, &[recipient]).expect("seal");
        assert!(stored.starts_with(AGE_MAGIC));
        assert!(
            !stored.windows(7).any(|w| w == b"row 100"),
            "no plaintext in the stored bytes"
        );

        let none = unseal(&stored[..], io::sink(), &[], Some(&sealed.sha256));
        assert!(matches!(none, Err(UnsealError::Identity(_))), "{none:?}");
        let (other, _) = keypair();
        let wrong = unseal(&stored[..], io::sink(), &boxed(other), Some(&sealed.sha256));
        assert!(
            matches!(&wrong, Err(UnsealError::Identity(m)) if m.contains("wrong identity")),
            "{wrong:?}"
        );

        let mut out = Vec::new();
        let ok = unseal(
            &stored[..],
            &mut out,
            &boxed(identity),
            Some(&sealed.sha256),
        )
        .expect("the right identity decrypts");
        assert!(ok.encrypted);
        assert_eq!(out, input);
    }

    #[test]
    fn one_flipped_byte_is_a_checksum_mismatch_plain_or_encrypted() {
        let input = dump();
        let (identity, recipient) = keypair();
        for recipients in [vec![], vec![recipient]] {
            let mut stored = Vec::new();
            let sealed = seal(&input[..], &mut stored, &recipients).expect("seal");
            let at = stored.len() / 2;
            stored[at] ^= 0x01;
            let ids = boxed(identity.clone());
            let checked = unseal(&stored[..], io::sink(), &ids, Some(&sealed.sha256));
            assert!(
                matches!(checked, Err(UnsealError::Checksum { .. })),
                "{checked:?}"
            );
            // Without the checksum, zstd's or age's own check still refuses it.
            let unchecked = unseal(&stored[..], io::sink(), &ids, None);
            assert!(
                matches!(unchecked, Err(UnsealError::Corrupt(_))),
                "{unchecked:?}"
            );
        }
    }

    #[test]
    fn bytes_that_are_no_backup_are_refused() {
        let refused = unseal(&b"PGDMP not sealed"[..], io::sink(), &[], None);
        assert!(
            matches!(refused, Err(UnsealError::Corrupt(_))),
            "{refused:?}"
        );
    }
}
