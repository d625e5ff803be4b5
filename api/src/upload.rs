//! A multipart file field kept in memory when small and spilled to a
//! temporary file when large.
//!
//! poem-openapi's own `Upload` always writes the field to a temporary file,
//! which for a typical upload costs a file creation, a dozen blocking-pool
//! round trips and a second copy before the bytes reach the object store. The
//! OpenAPI schema is the same (`string`, format `binary`).

use std::{
    borrow::Cow,
    fmt::{self, Debug, Formatter},
    io::SeekFrom,
};

use bytes::Bytes;
use poem::web::Field;
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromMultipartField, ParseResult, Type},
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Fields up to this size stay in memory; larger ones go to a temporary file.
/// The object store buffers up to 10 MiB per upload anyway before it switches
/// to a multipart put, so this adds no new peak.
const IN_MEMORY_LIMIT: usize = 1024 * 1024;

/// The bytes of an uploaded file.
pub enum UploadBody {
    /// A small file, whole.
    Memory(Bytes),
    /// A large file in an unlinked temporary file, positioned at its start.
    File(tokio::fs::File),
}

/// An uploaded file field.
pub struct SpooledUpload {
    file_name: Option<String>,
    body: UploadBody,
    size: u64,
}

impl Debug for SpooledUpload {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpooledUpload")
            .field("file_name", &self.file_name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl SpooledUpload {
    /// The file name the client sent.
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Up to `N` first bytes; the body stays readable from its start.
    pub async fn prefix<const N: usize>(&mut self) -> std::io::Result<Vec<u8>> {
        match &mut self.body {
            UploadBody::Memory(b) => Ok(b[..b.len().min(N)].to_vec()),
            UploadBody::File(f) => {
                let mut head = vec![0u8; N];
                let mut filled = 0;
                while filled < N {
                    let n = f.read(&mut head[filled..]).await?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                head.truncate(filled);
                f.seek(SeekFrom::Start(0)).await?;
                Ok(head)
            }
        }
    }

    /// The bytes.
    pub fn into_body(self) -> UploadBody {
        self.body
    }

    async fn read(field: Field) -> std::io::Result<Self> {
        let file_name = field.file_name().map(ToOwned::to_owned);
        let mut reader = std::pin::pin!(field.into_async_read());
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            if reader.read_buf(&mut buf).await? == 0 {
                let size = buf.len() as u64;
                return Ok(Self {
                    file_name,
                    body: UploadBody::Memory(Bytes::from(buf)),
                    size,
                });
            }
            if buf.len() > IN_MEMORY_LIMIT {
                break;
            }
        }
        let std_file = tokio::task::spawn_blocking(tempfile::tempfile)
            .await
            .map_err(std::io::Error::other)??;
        let mut file = tokio::fs::File::from_std(std_file);
        file.write_all(&buf).await?;
        let rest = tokio::io::copy(&mut reader, &mut file).await?;
        file.flush().await?;
        file.seek(SeekFrom::Start(0)).await?;
        Ok(Self {
            file_name,
            body: UploadBody::File(file),
            size: buf.len() as u64 + rest,
        })
    }
}

impl Type for SpooledUpload {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_binary".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromMultipartField for SpooledUpload {
    async fn parse_from_multipart(field: Option<Field>) -> ParseResult<Self> {
        match field {
            Some(field) => Self::read(field).await.map_err(ParseError::custom),
            None => Err(ParseError::expected_input()),
        }
    }
}
