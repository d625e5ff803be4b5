//! Content sniffing: which image format an upload is, from its magic bytes only.
//!
//! File names and client-supplied content types are never trusted.

use serde::{Deserialize, Serialize};

/// Source image formats Kiln accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// JPEG/JFIF/EXIF.
    Jpeg,
    /// PNG (first image; APNG animation is ignored).
    Png,
    /// WebP, lossy or lossless (first frame).
    WebP,
    /// GIF (first frame).
    Gif,
}

/// Bytes [`sniff`] looks at, at most.
pub const SNIFF_LEN: usize = 16;

impl SourceFormat {
    /// The IANA media type, e.g. `image/jpeg`.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
            Self::Gif => "image/gif",
        }
    }

    /// Short lowercase name: `jpeg`, `png`, `webp`, `gif`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::WebP => "webp",
            Self::Gif => "gif",
        }
    }
}

impl std::fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies the format from the first bytes of a file (at most [`SNIFF_LEN`] are read).
///
/// Returns `None` for anything else, including prefixes too short to tell.
pub fn sniff(prefix: &[u8]) -> Option<SourceFormat> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    match prefix {
        // SOI followed by the start of another marker.
        [0xFF, 0xD8, 0xFF, ..] => Some(SourceFormat::Jpeg),
        p if p.starts_with(PNG) => Some(SourceFormat::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(SourceFormat::Gif),
        // RIFF <u32 size> WEBP VP8(space|L|X)
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            b'V',
            b'P',
            b'8',
            b' ' | b'L' | b'X',
            ..,
        ] => Some(SourceFormat::WebP),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn sniffs_fixtures() {
        for (name, want) in [
            ("photo_1200x900.jpg", SourceFormat::Jpeg),
            ("alpha_300x200.png", SourceFormat::Png),
            ("lossy_320x240.webp", SourceFormat::WebP),
            ("anim_3frames.gif", SourceFormat::Gif),
        ] {
            let data = fixture(name);
            assert_eq!(sniff(&data[..SNIFF_LEN]), Some(want), "{name}");
            assert_eq!(sniff(&data), Some(want), "{name} (whole file)");
        }
    }

    #[test]
    fn sniffs_magic_bytes() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0"),
            Some(SourceFormat::Jpeg)
        );
        assert_eq!(sniff(b"GIF87a\x01\0"), Some(SourceFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8L"), Some(SourceFormat::WebP));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8X"), Some(SourceFormat::WebP));
    }

    #[test]
    fn rejects_junk_and_short_prefixes() {
        for junk in [
            &b""[..],
            b"\xFF\xD8",
            b"\x89PNG\r\n",
            b"GIF89",
            b"RIFF\0\0\0\0WAVEfmt ",
            b"RIFF\0\0\0\0WEBPVP9 ",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"BM\x36\0\0\0\0\0\0\0",
            b"\0\0\0\x20ftypavif",
            b"%PDF-1.7\n",
        ] {
            assert_eq!(sniff(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn names_and_mimes() {
        assert_eq!(SourceFormat::Jpeg.as_str(), "jpeg");
        assert_eq!(SourceFormat::WebP.mime(), "image/webp");
        assert_eq!(SourceFormat::Gif.to_string(), "gif");
        assert_eq!(SourceFormat::Png.mime(), "image/png");
    }
}
