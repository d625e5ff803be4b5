//! Decoding with header checks before any pixel allocation.
//!
//! JPEG goes through `jpeg-decoder` with DCT shrink-on-load; PNG, WebP and GIF (first frame)
//! through the `image` crate with [`image::Limits`].

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{ImageDecoder, ImageReader};

use super::error::MediaError;
use super::ops::{self, Channels, Pixels};
use crate::media::config::MediaConfig;
use crate::media::sniff::SourceFormat;

/// A decoded source image, possibly already shrunk on load.
pub(super) struct Decoded {
    /// Pixels in stored (not yet oriented) coordinates.
    pub pixels: Pixels,
    /// Full stored size from the header.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1..=8.
    pub orientation: u8,
    pub icc: Option<Vec<u8>>,
}

/// Runs a decoder call, turning a panic in third-party decoding code into an error.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(MediaError::Corrupt(format!("{what}: decoder panicked"))))
}

fn check_dimensions(width: u32, height: u32, cfg: &MediaConfig) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt(format!(
            "image header declares an empty {width}x{height} image"
        )));
    }
    if width > cfg.max_dimension || height > cfg.max_dimension {
        return Err(MediaError::TooLarge {
            width,
            height,
            max: cfg.max_dimension,
        });
    }
    Ok(())
}

/// Refuses decodes whose output buffer alone would exceed `max_alloc_bytes`.
fn check_alloc(needed: u64, cfg: &MediaConfig) -> Result<(), MediaError> {
    if needed > cfg.max_alloc_bytes {
        return Err(MediaError::MemoryLimit {
            needed,
            max: cfg.max_alloc_bytes,
        });
    }
    Ok(())
}

/// Decodes `input`; `largest_side` is the biggest preset, which bounds JPEG shrink-on-load.
pub(super) fn decode(
    input: &[u8],
    format: SourceFormat,
    cfg: &MediaConfig,
    largest_side: u32,
) -> Result<Decoded, MediaError> {
    match format {
        SourceFormat::Jpeg => match decode_jpeg(input, cfg, largest_side)? {
            Some(d) => Ok(d),
            None => decode_with_image(input, format, cfg),
        },
        _ => decode_with_image(input, format, cfg),
    }
}

fn jpeg_error(e: jpeg_decoder::Error) -> MediaError {
    match e {
        jpeg_decoder::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Corrupt("truncated JPEG: unexpected end of file".into())
        }
        other => MediaError::Corrupt(other.to_string()),
    }
}

/// The fast path. `Ok(None)` means "valid JPEG this decoder can't handle" (e.g. 12-bit,
/// arithmetic coding): the caller falls back to the `image` crate.
fn decode_jpeg(
    input: &[u8],
    cfg: &MediaConfig,
    largest_side: u32,
) -> Result<Option<Decoded>, MediaError> {
    guarded("JPEG", || {
        let mut dec = jpeg_decoder::Decoder::new(input);
        dec.set_max_decoding_buffer_size(
            usize::try_from(cfg.max_alloc_bytes).unwrap_or(usize::MAX),
        );
        match dec.read_info() {
            Ok(()) => {}
            Err(jpeg_decoder::Error::Unsupported(f)) => {
                tracing::debug!(feature = ?f, "jpeg-decoder can't read this JPEG; using the image crate");
                return Ok(None);
            }
            Err(e) => return Err(jpeg_error(e)),
        }
        let info = dec
            .info()
            .ok_or_else(|| MediaError::Corrupt("JPEG has no frame header".into()))?;
        let (width, height) = (u32::from(info.width), u32::from(info.height));
        check_dimensions(width, height, cfg)?;
        let channels = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => Channels::Gray,
            jpeg_decoder::PixelFormat::RGB24 => Channels::Rgb,
            jpeg_decoder::PixelFormat::CMYK32 => Channels::Rgba, // 4 bytes a pixel, converted below
            jpeg_decoder::PixelFormat::L16 => return Ok(None),
        };
        let orientation = dec
            .exif_data()
            .and_then(image::metadata::Orientation::from_exif_chunk)
            .map_or(1, |o| o.to_exif());
        let icc = dec.icc_profile();

        // Shrink on load: the smallest DCT scale (1/8, 1/4, 1/2, 1) whose output is still at
        // least as large as the biggest variant in both axes. `fit` is symmetric, so the
        // target can be computed in stored coordinates.
        let (tw, th) = ops::fit(width, height, largest_side);
        let scaled = |s: u32| (width * s).div_ceil(8).max(1);
        let scaled_h = |s: u32| (height * s).div_ceil(8).max(1);
        let s = [1, 2, 4, 8]
            .into_iter()
            .find(|&s| scaled(s) >= tw && scaled_h(s) >= th)
            .unwrap_or(8);
        let bpp = info.pixel_format.pixel_bytes() as u64;
        check_alloc(u64::from(scaled(s)) * u64::from(scaled_h(s)) * bpp, cfg)?;
        if s < 8 {
            // Both fit in u16: they are at most the u16 header dimensions.
            let (rw, rh) = (scaled(s) as u16, scaled_h(s) as u16);
            dec.scale(rw, rh).map_err(jpeg_error)?;
        }
        let mut buf = dec.decode().map_err(jpeg_error)?;
        let info = dec
            .info()
            .ok_or_else(|| MediaError::Corrupt("JPEG has no frame header".into()))?;
        let (ow, oh) = (u32::from(info.width), u32::from(info.height));
        let channels = if channels == Channels::Rgba {
            // CMYK: check the length as 4-byte pixels, then convert to RGB in place.
            let cmyk = Pixels::new(ow, oh, Channels::Rgba, buf)?;
            buf = cmyk.buf;
            ops::cmyk_to_rgb(&mut buf);
            Channels::Rgb
        } else {
            channels
        };
        Ok(Some(Decoded {
            pixels: Pixels::new(ow, oh, channels, buf)?,
            width,
            height,
            orientation,
            icc,
        }))
    })
}

fn image_error(e: image::ImageError) -> MediaError {
    use image::ImageError as E;
    match e {
        E::Limits(l) => MediaError::Unsupported(format!("image exceeds decoder limits: {l}")),
        E::Unsupported(u) => MediaError::Unsupported(u.to_string()),
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Corrupt("truncated image: unexpected end of file".into())
        }
        other => MediaError::Corrupt(other.to_string()),
    }
}

fn decode_with_image(
    input: &[u8],
    format: SourceFormat,
    cfg: &MediaConfig,
) -> Result<Decoded, MediaError> {
    let image_format = match format {
        SourceFormat::Jpeg => image::ImageFormat::Jpeg,
        SourceFormat::Png => image::ImageFormat::Png,
        SourceFormat::WebP => image::ImageFormat::WebP,
        SourceFormat::Gif => image::ImageFormat::Gif,
    };
    guarded(format.as_str(), || {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(cfg.max_dimension);
        limits.max_image_height = Some(cfg.max_dimension);
        limits.max_alloc = Some(cfg.max_alloc_bytes);
        let mut reader = ImageReader::with_format(Cursor::new(input), image_format);
        reader.limits(limits);
        // The header is parsed here; nothing is allocated for pixels yet.
        let mut decoder = reader.into_decoder().map_err(|e| match e {
            image::ImageError::Limits(_) => too_large_from_header(input, format, cfg),
            other => image_error(other),
        })?;
        let (width, height) = decoder.dimensions();
        check_dimensions(width, height, cfg)?;
        check_alloc(decoder.total_bytes(), cfg)?;
        let orientation = decoder.orientation().map_or(1, |o| o.to_exif());
        let icc = decoder.icc_profile().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable ICC profile; treating pixels as sRGB");
            None
        });
        let img = image::DynamicImage::from_decoder(decoder).map_err(image_error)?;
        let color = img.color();
        let pixels = if color.has_alpha() {
            Pixels::new(width, height, Channels::Rgba, img.into_rgba8().into_raw())?
                .drop_opaque_alpha()
        } else if color.has_color() {
            Pixels::new(width, height, Channels::Rgb, img.into_rgb8().into_raw())?
        } else {
            Pixels::new(width, height, Channels::Gray, img.into_luma8().into_raw())?
        };
        Ok(Decoded {
            pixels,
            width,
            height,
            orientation,
            icc,
        })
    })
}

/// The `image` PNG decoder enforces the limits while reading the header; report the declared
/// size when we can read it ourselves.
fn too_large_from_header(input: &[u8], format: SourceFormat, cfg: &MediaConfig) -> MediaError {
    if format == SourceFormat::Png && input.len() >= 24 && &input[12..16] == b"IHDR" {
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        return MediaError::TooLarge {
            width: be(&input[16..20]),
            height: be(&input[20..24]),
            max: cfg.max_dimension,
        };
    }
    MediaError::Unsupported(format!(
        "image exceeds decoder limits ({} px per side, {} bytes)",
        cfg.max_dimension, cfg.max_alloc_bytes
    ))
}
