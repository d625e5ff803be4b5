//! Pixel operations of the pipeline: resize, orientation, alpha flattening, colour management,
//! and the blurhash / dominant-colour summaries.

use fast_image_resize as fir;

use super::error::MediaError;

/// Channel layout of an 8-bit interleaved pixel buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Channels {
    Gray,
    Rgb,
    Rgba,
}

impl Channels {
    pub(super) fn count(self) -> usize {
        match self {
            Self::Gray => 1,
            Self::Rgb => 3,
            Self::Rgba => 4,
        }
    }

    fn fir_type(self) -> fir::PixelType {
        match self {
            Self::Gray => fir::PixelType::U8,
            Self::Rgb => fir::PixelType::U8x3,
            Self::Rgba => fir::PixelType::U8x4,
        }
    }
}

/// An 8-bit image in memory; `buf.len() == width * height * channels` always holds.
#[derive(Debug, Clone)]
pub(super) struct Pixels {
    pub width: u32,
    pub height: u32,
    pub channels: Channels,
    pub buf: Vec<u8>,
}

impl Pixels {
    /// Wraps `buf`, checking its length.
    pub(super) fn new(
        width: u32,
        height: u32,
        channels: Channels,
        buf: Vec<u8>,
    ) -> Result<Self, MediaError> {
        let want = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(channels.count()));
        if width == 0 || height == 0 || want != Some(buf.len()) {
            return Err(MediaError::Corrupt(format!(
                "decoder returned {} bytes for a {width}x{height} {channels:?} image",
                buf.len()
            )));
        }
        Ok(Self {
            width,
            height,
            channels,
            buf,
        })
    }

    /// Drops an alpha channel that is fully opaque (cheaper to resize and encode).
    pub(super) fn drop_opaque_alpha(self) -> Self {
        if self.channels != Channels::Rgba || self.buf.chunks_exact(4).any(|p| p[3] != 255) {
            return self;
        }
        let mut buf = self.buf;
        compact_rgba_to_rgb(&mut buf);
        Self {
            channels: Channels::Rgb,
            buf,
            ..self
        }
    }
}

/// Rewrites RGBA pixels as RGB in place (alpha discarded) and truncates.
fn compact_rgba_to_rgb(buf: &mut Vec<u8>) {
    let n = buf.len() / 4;
    for i in 0..n {
        buf.copy_within(i * 4..i * 4 + 3, i * 3);
    }
    buf.truncate(n * 3);
}

/// Size that fits `width`×`height` into a `longest`×`longest` box keeping the aspect ratio;
/// never upscales. Symmetric: `fit(h, w, l)` is `fit(w, h, l)` swapped.
pub(super) fn fit(width: u32, height: u32, longest: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= longest || long == 0 {
        return (width, height);
    }
    let scale = |side: u32| -> u32 {
        // Rounded side * longest / long, at least 1; fits in u32 since side <= long.
        let v = (u64::from(side) * u64::from(longest) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(v).unwrap_or(longest).clamp(1, longest)
    };
    (scale(width), scale(height))
}

/// Resizes with Lanczos3 (SIMD). `resizer` keeps its scratch buffers between calls.
pub(super) fn resize(
    resizer: &mut fir::Resizer,
    src: &Pixels,
    width: u32,
    height: u32,
) -> Result<Pixels, MediaError> {
    if (src.width, src.height) == (width, height) {
        return Ok(src.clone());
    }
    let pt = src.channels.fir_type();
    let src_view = fir::images::ImageRef::new(src.width, src.height, &src.buf, pt)
        .map_err(|e| MediaError::Internal(format!("resize source: {e}")))?;
    let mut dst = fir::images::Image::new(width, height, pt);
    let opts = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
    resizer
        .resize(&src_view, &mut dst, &opts)
        .map_err(|e| MediaError::Internal(format!("resize: {e}")))?;
    Pixels::new(width, height, src.channels, dst.into_vec())
}

/// Applies an EXIF orientation (1..=8) so the result is upright. 5..=8 swap width and height.
pub(super) fn orient(src: Pixels, orientation: u8) -> Pixels {
    if !(2..=8).contains(&orientation) {
        return src;
    }
    let (w, h) = (src.width as usize, src.height as usize);
    let bpp = src.channels.count();
    let swap = orientation >= 5;
    let (ow, oh) = if swap { (h, w) } else { (w, h) };
    let mut out = vec![0u8; src.buf.len()];
    for y in 0..oh {
        for x in 0..ow {
            // Stored pixel shown at display (x, y).
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x), // 8
            };
            let s = (sy * w + sx) * bpp;
            let d = (y * ow + x) * bpp;
            out[d..d + bpp].copy_from_slice(&src.buf[s..s + bpp]);
        }
    }
    Pixels {
        // ow/oh come from u32 width/height, so they fit.
        width: ow as u32,
        height: oh as u32,
        channels: src.channels,
        buf: out,
    }
}

/// RGB copy suitable for encoders without alpha: RGBA is composited onto white; gray is expanded
/// when `expand_gray` (otherwise gray stays gray).
pub(super) fn flatten(src: &Pixels, expand_gray: bool) -> Pixels {
    let buf = match src.channels {
        Channels::Rgb => return src.clone(),
        Channels::Gray if !expand_gray => return src.clone(),
        Channels::Gray => src.buf.iter().flat_map(|&v| [v, v, v]).collect(),
        Channels::Rgba => {
            let mut out = Vec::with_capacity(src.buf.len() / 4 * 3);
            for p in src.buf.chunks_exact(4) {
                let a = u32::from(p[3]);
                for &c in &p[..3] {
                    // c*a + 255*(255-a), rounded /255; always <= 255.
                    out.push(((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
                }
            }
            out
        }
    };
    Pixels {
        width: src.width,
        height: src.height,
        channels: Channels::Rgb,
        buf,
    }
}

/// Converts RGB/RGBA pixels from the embedded ICC profile to sRGB. Unusable profiles (unparseable,
/// not RGB, unsupported by the CMS) leave the pixels as they are, treated as sRGB, with a warning.
pub(super) fn to_srgb(px: &mut Pixels, icc: &[u8]) {
    let layout = match px.channels {
        Channels::Rgb => moxcms::Layout::Rgb,
        Channels::Rgba => moxcms::Layout::Rgba,
        Channels::Gray => {
            tracing::debug!("ignoring ICC profile of a grayscale image");
            return;
        }
    };
    let src = match moxcms::ColorProfile::new_from_slice(icc) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "unparseable ICC profile; treating pixels as sRGB");
            return;
        }
    };
    if src.color_space != moxcms::DataColorSpace::Rgb {
        tracing::warn!(color_space = ?src.color_space, "ICC profile is not RGB; treating pixels as sRGB");
        return;
    }
    let dst = moxcms::ColorProfile::new_srgb();
    let transform = match src.create_transform_8bit(
        layout,
        &dst,
        layout,
        moxcms::TransformOptions::default(),
    ) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "unsupported ICC profile; treating pixels as sRGB");
            return;
        }
    };
    let mut out = vec![0u8; px.buf.len()];
    match transform.transform(&px.buf, &mut out) {
        Ok(()) => px.buf = out,
        Err(e) => tracing::warn!(error = %e, "ICC transform failed; treating pixels as sRGB"),
    }
}

/// CMYK (as jpeg-decoder returns it: 0 = no ink) to RGB, in place; `buf` has 4 bytes a pixel.
pub(super) fn cmyk_to_rgb(buf: &mut Vec<u8>) {
    let n = buf.len() / 4;
    for i in 0..n {
        let p = &buf[i * 4..i * 4 + 4];
        let k = 255 - u32::from(p[3]);
        let rgb = [0, 1, 2].map(|j| (((255 - u32::from(p[j])) * k + 127) / 255) as u8);
        buf[i * 3..i * 3 + 3].copy_from_slice(&rgb);
    }
    buf.truncate(n * 3);
}

/// Dominant colour as `#rrggbb`: the pixels (flattened onto white) are binned by their top 4 bits
/// per channel (4096 bins); the result is the mean colour of the most populated bin.
pub(super) fn dominant_color(px: &Pixels) -> String {
    let rgb = flatten(px, true);
    let mut count = vec![0u32; 4096];
    let mut sums = vec![[0u64; 3]; 4096];
    for p in rgb.buf.chunks_exact(3) {
        let bin =
            (usize::from(p[0] >> 4) << 8) | (usize::from(p[1] >> 4) << 4) | usize::from(p[2] >> 4);
        count[bin] += 1;
        for c in 0..3 {
            sums[bin][c] += u64::from(p[c]);
        }
    }
    let (best, n) = count
        .iter()
        .enumerate()
        .max_by_key(|&(i, &n)| (n, std::cmp::Reverse(i)))
        .map(|(i, &n)| (i, u64::from(n)))
        .unwrap_or((0, 0));
    if n == 0 {
        return "#000000".into();
    }
    let [r, g, b] = sums[best].map(|s| (s + n / 2) / n);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Blurhash with 4×3 components, computed on a copy of `px` scaled to fit 64×64 (the hash only
/// keeps low frequencies) and flattened onto white.
pub(super) fn blurhash(resizer: &mut fir::Resizer, px: &Pixels) -> Result<String, MediaError> {
    let (w, h) = fit(px.width, px.height, 64);
    let small = resize(resizer, px, w, h)?;
    let rgb = flatten(&small, true);
    let rgba: Vec<u8> = rgb
        .buf
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    blurhash::encode(4, 3, w, h, &rgba).map_err(|e| MediaError::Internal(format!("blurhash: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fit_never_upscales_and_keeps_aspect() {
        assert_eq!(fit(1200, 900, 1600), (1200, 900));
        assert_eq!(fit(1200, 900, 800), (800, 600));
        assert_eq!(fit(1200, 900, 200), (200, 150));
        assert_eq!(fit(900, 1200, 200), (150, 200));
        assert_eq!(fit(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit(10_000, 10, 200), (200, 1));
        assert_eq!(fit(1, 1, 200), (1, 1));
    }

    fn numbered(w: u32, h: u32) -> Pixels {
        let buf = (0..w * h).map(|i| i as u8).collect();
        Pixels::new(w, h, Channels::Gray, buf).unwrap()
    }

    #[test]
    fn orientations_map_corners() {
        // Stored 3x2:  0 1 2 / 3 4 5
        let cases: [(u8, (u32, u32), &[u8]); 8] = [
            (1, (3, 2), &[0, 1, 2, 3, 4, 5]),
            (2, (3, 2), &[2, 1, 0, 5, 4, 3]),
            (3, (3, 2), &[5, 4, 3, 2, 1, 0]),
            (4, (3, 2), &[3, 4, 5, 0, 1, 2]),
            (5, (2, 3), &[0, 3, 1, 4, 2, 5]),
            (6, (2, 3), &[3, 0, 4, 1, 5, 2]),
            (7, (2, 3), &[5, 2, 4, 1, 3, 0]),
            (8, (2, 3), &[2, 5, 1, 4, 0, 3]),
        ];
        for (o, dims, want) in cases {
            let out = orient(numbered(3, 2), o);
            assert_eq!((out.width, out.height), dims, "orientation {o}");
            assert_eq!(out.buf, want, "orientation {o}");
        }
    }

    #[test]
    fn flatten_composites_on_white() {
        let px = Pixels::new(2, 1, Channels::Rgba, vec![255, 0, 0, 255, 0, 0, 0, 0]).unwrap();
        assert_eq!(flatten(&px, true).buf, vec![255, 0, 0, 255, 255, 255]);
        let half = Pixels::new(1, 1, Channels::Rgba, vec![0, 0, 0, 128]).unwrap();
        assert_eq!(flatten(&half, true).buf, vec![127, 127, 127]);
    }

    #[test]
    fn opaque_alpha_is_dropped() {
        let px = Pixels::new(2, 1, Channels::Rgba, vec![1, 2, 3, 255, 4, 5, 6, 255]).unwrap();
        let px = px.drop_opaque_alpha();
        assert_eq!(px.channels, Channels::Rgb);
        assert_eq!(px.buf, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn cmyk_conversion() {
        let mut buf = vec![255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255];
        cmyk_to_rgb(&mut buf);
        assert_eq!(buf, vec![0, 255, 255, 255, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn dominant_is_the_most_common_bin() {
        let mut buf = Vec::new();
        for i in 0..10 {
            buf.extend_from_slice(if i < 7 { &[10, 200, 30] } else { &[250, 0, 0] });
        }
        let px = Pixels::new(10, 1, Channels::Rgb, buf).unwrap();
        assert_eq!(dominant_color(&px), "#0ac81e");
    }

    #[test]
    fn bad_buffer_length_is_an_error() {
        assert!(Pixels::new(2, 2, Channels::Rgb, vec![0; 11]).is_err());
        assert!(Pixels::new(0, 2, Channels::Rgb, vec![]).is_err());
    }
}
