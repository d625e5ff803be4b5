//! The image pipeline: one upload in, resized JPEG + WebP variants per preset out.
//!
//! [`process`] is pure, synchronous and CPU-bound: run it on a blocking thread with a
//! concurrency bound. Steps:
//!
//! 1. size check, format sniffing from magic bytes ([`sniff`]);
//! 2. header-only dimension check against `max_dimension` before any pixel allocation, and
//!    `image::Limits` / jpeg-decoder's buffer limit on every decode (decompression bombs);
//! 3. decode once: JPEG with jpeg-decoder using DCT shrink-on-load (1/2, 1/4, 1/8) down to the
//!    smallest scale still covering the largest variant; PNG/WebP/GIF (first frame) with `image`;
//! 4. a Lanczos3 resize cascade with `fast_image_resize`: the largest variant from the decoded
//!    image (which is then dropped), each smaller variant from the previous one;
//! 5. on the largest variant only (cheap): embedded ICC profile → sRGB (`moxcms`), then EXIF
//!    orientation, so every later variant is upright sRGB;
//! 6. encode each variant as JPEG (jpeg-encoder, 4:2:0) and lossy WebP (libwebp); no metadata
//!    is written;
//! 7. blurhash and dominant colour from the smallest variant.

mod decode;
mod encode;
mod error;
mod ops;

use std::cmp::Reverse;

use fast_image_resize as fir;
use serde::Serialize;

use crate::media::config::MediaConfig;
use crate::media::sniff::{SNIFF_LEN, SourceFormat, sniff};

pub use error::MediaError;

/// Result of processing one upload.
#[derive(Debug, Clone)]
pub struct Processed {
    /// What the upload was.
    pub source: SourceInfo,
    /// Per preset (config order): the JPEG variant, then the WebP variant.
    pub variants: Vec<Variant>,
    /// Blurhash (4×3 components) of the smallest variant.
    pub blurhash: String,
    /// Dominant colour `#rrggbb`: mean of the most populated 4-bit-per-channel colour bin of the
    /// smallest variant (alpha flattened onto white).
    pub dominant_color: String,
}

/// Facts about the source image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// Format sniffed from the content.
    pub format: SourceFormat,
    /// Width after EXIF orientation is applied.
    pub width: u32,
    /// Height after EXIF orientation is applied.
    pub height: u32,
    /// EXIF orientation 1..=8 (1 if none).
    pub orientation: u8,
}

/// Output formats of variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VariantFormat {
    /// Baseline JPEG, 4:2:0.
    Jpeg,
    /// Lossy WebP (VP8), with alpha when the source has transparency.
    WebP,
}

impl VariantFormat {
    /// Both formats, in the order variants are produced.
    pub const ALL: [VariantFormat; 2] = [VariantFormat::Jpeg, VariantFormat::WebP];

    /// The IANA media type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::WebP => "image/webp",
        }
    }

    /// File extension without the dot: `jpg` or `webp`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::WebP => "webp",
        }
    }

    /// Short name: `jpeg` or `webp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::WebP => "webp",
        }
    }
}

/// One encoded output image.
#[derive(Clone)]
pub struct Variant {
    /// Name of the preset it was made for.
    pub preset: String,
    /// Encoding of `bytes`.
    pub format: VariantFormat,
    /// Width in pixels (upright).
    pub width: u32,
    /// Height in pixels (upright).
    pub height: u32,
    /// The encoded file.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant")
            .field("preset", &self.preset)
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// Processes one upload into JPEG + WebP variants for every preset of `cfg`.
pub fn process(input: &[u8], cfg: &MediaConfig) -> Result<Processed, MediaError> {
    process_formats(input, cfg, &VariantFormat::ALL)
}

/// Like [`process`], producing only `formats` for every preset (e.g. JPEG only).
pub fn process_formats(
    input: &[u8],
    cfg: &MediaConfig,
    formats: &[VariantFormat],
) -> Result<Processed, MediaError> {
    cfg.validate().map_err(MediaError::InvalidConfig)?;
    if formats.is_empty() {
        return Err(MediaError::InvalidConfig(
            "no variant formats requested".into(),
        ));
    }
    let size = u64::try_from(input.len()).unwrap_or(u64::MAX);
    if size > cfg.max_upload_bytes {
        return Err(MediaError::UploadTooLarge {
            size,
            max: cfg.max_upload_bytes,
        });
    }
    let format = sniff(&input[..input.len().min(SNIFF_LEN)]).ok_or_else(|| {
        MediaError::Unsupported("content is not a JPEG, PNG, WebP or GIF image".into())
    })?;
    let largest = cfg
        .presets
        .iter()
        .map(|p| p.longest_side)
        .max()
        .unwrap_or(1);

    let decode::Decoded {
        pixels,
        width,
        height,
        orientation,
        icc,
    } = decode::decode(input, format, cfg, largest)?;
    let swap = orientation >= 5;
    let (ow, oh) = if swap {
        (height, width)
    } else {
        (width, height)
    };
    let source = SourceInfo {
        format,
        width: ow,
        height: oh,
        orientation,
    };

    // Largest preset first: each variant is resized from the previous (larger) one.
    let mut order: Vec<usize> = (0..cfg.presets.len()).collect();
    order.sort_by_key(|&i| Reverse(cfg.presets[i].longest_side));
    let mut per_preset: Vec<Vec<Variant>> = vec![Vec::new(); cfg.presets.len()];
    let mut resizer = fir::Resizer::new();
    let mut decoded = Some(pixels);
    let mut prev: Option<ops::Pixels> = None;
    for &i in &order {
        let preset = &cfg.presets[i];
        let (tw, th) = ops::fit(ow, oh, preset.longest_side);
        let current = match (prev.take(), decoded.take()) {
            (Some(p), _) => ops::resize(&mut resizer, &p, tw, th)?,
            (None, Some(src)) => {
                // Resize in stored orientation, then colour-convert and rotate the (small) result.
                let (sw, sh) = if swap { (th, tw) } else { (tw, th) };
                let mut first = if (src.width, src.height) == (sw, sh) {
                    src
                } else {
                    let r = ops::resize(&mut resizer, &src, sw, sh)?;
                    drop(src); // free the full decoded image as early as possible
                    r
                };
                if let Some(icc) = icc.as_deref() {
                    ops::to_srgb(&mut first, icc);
                }
                ops::orient(first, orientation)
            }
            (None, None) => {
                return Err(MediaError::Internal(
                    "resize cascade lost its source".into(),
                ));
            }
        };
        for &f in formats {
            let bytes = match f {
                VariantFormat::Jpeg => encode::jpeg(&current, cfg.jpeg_quality)?,
                VariantFormat::WebP => encode::webp(&current, cfg.webp_quality)?,
            };
            per_preset[i].push(Variant {
                preset: preset.name.clone(),
                format: f,
                width: current.width,
                height: current.height,
                bytes,
            });
        }
        prev = Some(current);
    }
    let smallest =
        prev.ok_or_else(|| MediaError::InvalidConfig("media.presets must not be empty".into()))?;
    let blurhash = ops::blurhash(&mut resizer, &smallest)?;
    let dominant_color = ops::dominant_color(&smallest);
    Ok(Processed {
        source,
        variants: per_preset.into_iter().flatten().collect(),
        blurhash,
        dominant_color,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
