//! Unit tests of the image pipeline, driven by the fixtures in `jobs/tests/fixtures/`.

use super::*;
use image::GenericImageView;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(name: &str) -> Processed {
    process(&fixture(name), &MediaConfig::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn decoded(v: &Variant) -> image::DynamicImage {
    let fmt = match v.format {
        VariantFormat::Jpeg => image::ImageFormat::Jpeg,
        VariantFormat::WebP => image::ImageFormat::WebP,
    };
    assert_eq!(
        crate::media::sniff::sniff(&v.bytes).map(|f| f.as_str()),
        Some(v.format.as_str())
    );
    let img = image::load_from_memory_with_format(&v.bytes, fmt)
        .unwrap_or_else(|e| panic!("{}/{:?}: {e}", v.preset, v.format));
    assert_eq!(
        img.dimensions(),
        (v.width, v.height),
        "{}/{:?}",
        v.preset,
        v.format
    );
    img
}

fn variant<'a>(p: &'a Processed, preset: &str, f: VariantFormat) -> &'a Variant {
    p.variants
        .iter()
        .find(|v| v.preset == preset && v.format == f)
        .unwrap_or_else(|| panic!("no {preset}/{f:?}"))
}

fn sizes(p: &Processed) -> Vec<(&str, VariantFormat, u32, u32)> {
    p.variants
        .iter()
        .map(|v| (v.preset.as_str(), v.format, v.width, v.height))
        .collect()
}

fn near(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(&x, y)| (i32::from(x) - i32::from(y)).abs() <= tol)
}

fn rgb_at(img: &image::DynamicImage, x: u32, y: u32) -> [u8; 3] {
    let p = img.to_rgb8();
    p.get_pixel(x, y).0
}

/// Whether the WebP file is lossy: a `VP8 ` chunk (directly, or after VP8X/ALPH), no `VP8L`.
fn webp_is_lossy(b: &[u8]) -> bool {
    assert_eq!(&b[..4], b"RIFF");
    assert_eq!(&b[8..12], b"WEBP");
    let mut chunks = Vec::new();
    let mut i = 12;
    while i + 8 <= b.len() {
        chunks.push(b[i..i + 4].to_vec());
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        i += 8 + len + (len & 1);
    }
    chunks.iter().any(|c| c == b"VP8 ") && !chunks.iter().any(|c| c == b"VP8L")
}

fn assert_no_metadata(v: &Variant) {
    let b = &v.bytes;
    match v.format {
        VariantFormat::Jpeg => {
            // Walk the marker segments up to SOS: only APP0 (JFIF) is allowed.
            let mut i = 2;
            while i + 4 <= b.len() && b[i] == 0xFF && b[i + 1] != 0xDA {
                let marker = b[i + 1];
                assert!(
                    !(0xE1..=0xEF).contains(&marker),
                    "{}: APP{} segment in output",
                    v.preset,
                    marker - 0xE0
                );
                i += 2 + usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
            }
            assert!(!b.windows(6).any(|w| w == b"Exif\0\0"));
            assert!(!b.windows(12).any(|w| w == b"ICC_PROFILE\0"));
        }
        VariantFormat::WebP => {
            for tag in [b"EXIF", b"ICCP", b"XMP "] {
                assert!(!b.windows(4).any(|w| w == tag), "{tag:?} chunk in WebP");
            }
        }
    }
}

#[test]
fn jpeg_1200x900_gives_exact_sizes_never_upscaled() {
    let p = run("photo_1200x900.jpg");
    assert_eq!(
        p.source,
        SourceInfo {
            format: SourceFormat::Jpeg,
            width: 1200,
            height: 900,
            orientation: 1
        }
    );
    use VariantFormat::{Jpeg, WebP};
    assert_eq!(
        sizes(&p),
        vec![
            ("thumb", Jpeg, 200, 150),
            ("thumb", WebP, 200, 150),
            ("small", Jpeg, 800, 600),
            ("small", WebP, 800, 600),
            ("large", Jpeg, 1200, 900),
            ("large", WebP, 1200, 900),
        ]
    );
    for v in &p.variants {
        decoded(v);
        assert_no_metadata(v);
    }
    assert_eq!(p.blurhash.len(), 28, "{}", p.blurhash); // 4x3 components
    assert!(blurhash::decode(&p.blurhash, 8, 6, 1.0).is_ok());
    assert!(p.dominant_color.starts_with('#') && p.dominant_color.len() == 7);
}

/// A photo-like 4000×3000 JPEG (gradients + noise): exercises shrink-on-load.
fn big_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut buf = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..u32::from(h) {
        for x in 0..u32::from(w) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed & 15) as u32;
            buf.extend_from_slice(&[
                (x * 255 / u32::from(w) + n) as u8,
                (y * 255 / u32::from(h) + n) as u8,
                ((x + y) % 256) as u8,
            ]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&buf, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

#[test]
fn large_jpeg_shrinks_on_load_to_exact_sizes() {
    let p = process(&big_jpeg(4000, 3000), &MediaConfig::default()).unwrap();
    assert_eq!((p.source.width, p.source.height), (4000, 3000));
    let got: Vec<_> = sizes(&p)
        .into_iter()
        .map(|(n, _, w, h)| (n, w, h))
        .collect();
    assert_eq!(
        got,
        vec![
            ("thumb", 200, 150),
            ("thumb", 200, 150),
            ("small", 800, 600),
            ("small", 800, 600),
            ("large", 1600, 1200),
            ("large", 1600, 1200),
        ]
    );
    for v in &p.variants {
        decoded(v);
    }
}

#[test]
fn jpeg_only_formats() {
    let p = process_formats(
        &fixture("gray_320x240.jpg"),
        &MediaConfig::default(),
        &[VariantFormat::Jpeg],
    )
    .unwrap();
    assert!(p.variants.iter().all(|v| v.format == VariantFormat::Jpeg));
    assert_eq!(p.variants.len(), 3);
}

#[test]
fn png_with_alpha_flattens_jpeg_and_keeps_webp_alpha() {
    let p = run("alpha_300x200.png");
    assert_eq!(
        (p.source.format, p.source.width, p.source.height),
        (SourceFormat::Png, 300, 200)
    );
    let jpeg = decoded(variant(&p, "large", VariantFormat::Jpeg));
    assert_eq!((jpeg.width(), jpeg.height()), (300, 200));
    assert!(near(rgb_at(&jpeg, 50, 50), [255, 0, 0], 12), "red square");
    assert!(
        near(rgb_at(&jpeg, 120, 10), [255, 255, 255], 8),
        "transparent → white"
    );
    // Half-transparent blue over white.
    assert!(
        near(rgb_at(&jpeg, 220, 120), [127, 127, 255], 12),
        "{:?}",
        rgb_at(&jpeg, 220, 120)
    );
    let wv = variant(&p, "large", VariantFormat::WebP);
    assert!(webp_is_lossy(&wv.bytes));
    assert!(wv.bytes.windows(4).any(|w| w == b"ALPH"));
    let webp = decoded(wv).to_rgba8();
    assert!(
        webp.get_pixel(120, 10).0[3] < 10,
        "transparent stays transparent"
    );
    assert!(webp.get_pixel(50, 50).0[3] > 245);
    let thumb = variant(&p, "thumb", VariantFormat::Jpeg);
    assert_eq!((thumb.width, thumb.height), (200, 133));
}

#[test]
fn webp_source() {
    let p = run("lossy_320x240.webp");
    assert_eq!(
        (p.source.format, p.source.width, p.source.height),
        (SourceFormat::WebP, 320, 240)
    );
    assert_eq!(
        sizes(&p)
            .into_iter()
            .map(|(_, _, w, h)| (w, h))
            .collect::<Vec<_>>(),
        vec![
            (200, 150),
            (200, 150),
            (320, 240),
            (320, 240),
            (320, 240),
            (320, 240)
        ]
    );
    for v in &p.variants {
        decoded(v);
    }
}

#[test]
fn gif_uses_first_frame() {
    let p = run("anim_3frames.gif");
    assert_eq!(
        (p.source.format, p.source.width, p.source.height),
        (SourceFormat::Gif, 120, 80)
    );
    let img = decoded(variant(&p, "thumb", VariantFormat::Jpeg));
    assert!(
        near(rgb_at(&img, 60, 40), [255, 0, 0], 10),
        "{:?}",
        rgb_at(&img, 60, 40)
    );
    assert_eq!(p.dominant_color, "#ff0000");
}

#[test]
fn exif_orientation_6_jpeg_comes_out_upright() {
    let input = fixture("exif_orient6_64x32.jpg");
    assert!(input.windows(6).any(|w| w == b"Exif\0\0"));
    let p = process(&input, &MediaConfig::default()).unwrap();
    assert_eq!(
        p.source,
        SourceInfo {
            format: SourceFormat::Jpeg,
            width: 32,
            height: 64,
            orientation: 6
        }
    );
    for v in &p.variants {
        assert_no_metadata(v);
        let img = decoded(v);
        assert_eq!(img.dimensions(), (32, 64));
        // Stored top-left (red) is shown top-right after a 90° clockwise turn.
        assert!(
            near(rgb_at(&img, 24, 8), [255, 0, 0], 40),
            "{:?}: {:?}",
            v.format,
            rgb_at(&img, 24, 8)
        );
        assert!(
            near(rgb_at(&img, 8, 8), [0, 0, 255], 40),
            "{:?}",
            rgb_at(&img, 8, 8)
        );
        assert!(near(rgb_at(&img, 24, 56), [0, 0, 255], 40));
    }
}

#[test]
fn exif_orientation_8_png_comes_out_upright() {
    let p = run("exif_orient8_64x32.png");
    assert_eq!(
        (p.source.width, p.source.height, p.source.orientation),
        (32, 64, 8)
    );
    let img = decoded(variant(&p, "large", VariantFormat::Jpeg));
    // 90° counter-clockwise: stored top-left is shown bottom-left.
    assert!(
        near(rgb_at(&img, 8, 56), [255, 0, 0], 40),
        "{:?}",
        rgb_at(&img, 8, 56)
    );
    assert!(near(rgb_at(&img, 24, 8), [0, 0, 255], 40));
}

#[test]
fn corrupt_is_permanent() {
    let err = process(&fixture("garbage.jpg"), &MediaConfig::default()).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt(_)), "{err:?}");
    assert!(err.is_permanent());
    assert!(err.to_string().starts_with("corrupt image: "), "{err}");
}

#[test]
fn truncated_is_permanent() {
    let err = process(&fixture("truncated.jpg"), &MediaConfig::default()).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt(_)), "{err:?}");
    assert!(err.is_permanent());
    // PNG cut in the middle of its IDAT.
    let png = fixture("p3_red_64x64.png");
    let err = process(&png[..png.len() - 30], &MediaConfig::default()).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt(_)), "{err:?}");
    // Every prefix of a small JPEG fails cleanly (no panic).
    let jpg = fixture("exif_orient6_64x32.jpg");
    for n in (0..jpg.len() - 2).step_by(7) {
        assert!(
            process(&jpg[..n], &MediaConfig::default()).is_err(),
            "prefix {n}"
        );
    }
}

#[test]
fn png_bomb_is_refused_from_the_header() {
    let bomb = fixture("bomb_20000x20000.png");
    assert!(bomb.len() < 100_000);
    let t = Instant::now();
    let err = process(&bomb, &MediaConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::TooLarge {
                width: 20_000,
                height: 20_000,
                max: 12_000
            }
        ),
        "{err:?}"
    );
    assert!(err.is_permanent());
    // Decoding 400 Mpx would take seconds; a header check takes microseconds.
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn jpeg_bomb_is_refused_from_the_header() {
    // Patch a small JPEG's SOF0 to claim 20000x20000 (no pixel data for it).
    let mut jpg = fixture("gray_320x240.jpg");
    let sof = jpg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpg[sof + 5..sof + 9].copy_from_slice(&[0x4E, 0x20, 0x4E, 0x20]);
    let err = process(&jpg, &MediaConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::TooLarge {
                width: 20_000,
                height: 20_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn alloc_limit_applies() {
    let cfg = MediaConfig {
        max_alloc_bytes: 1024 * 1024,
        ..MediaConfig::default()
    };
    // 1200x900 RGB needs 3.24 MB (no shrink-on-load: the large preset is 1600).
    let err = process(&fixture("photo_1200x900.jpg"), &cfg).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::MemoryLimit {
                needed: 3_240_000,
                max: 1_048_576
            }
        ),
        "{err:?}"
    );
    assert!(err.is_permanent());
    let err = process(
        &fixture("lossy_320x240.webp"),
        &MediaConfig {
            max_alloc_bytes: 100_000,
            ..cfg.clone()
        },
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::MemoryLimit { .. }), "{err:?}");
    let err = process(
        &fixture("alpha_300x200.png"),
        &MediaConfig {
            max_dimension: 100,
            ..cfg
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::TooLarge {
                width: 300,
                height: 200,
                max: 100
            }
        ),
        "{err:?}"
    );
}

#[test]
fn webp_is_lossy_and_much_smaller_than_lossless() {
    let p = run("photo_1200x900.jpg");
    let v = variant(&p, "large", VariantFormat::WebP);
    assert_eq!(&v.bytes[12..16], b"VP8 ");
    assert!(webp_is_lossy(&v.bytes));
    let rgb = decoded(v).to_rgb8();
    let mut lossless = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut lossless)
        .encode(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    assert!(
        v.bytes.len() * 3 < lossless.len(),
        "lossy {} vs lossless {}",
        v.bytes.len(),
        lossless.len()
    );
}

#[test]
fn icc_profile_is_converted_to_srgb() {
    // Display P3 (200,80,60) is more saturated in sRGB terms; expected value from moxcms.
    let p3 = moxcms::ColorProfile::new_display_p3();
    let t = p3
        .create_transform_8bit(
            moxcms::Layout::Rgb,
            &moxcms::ColorProfile::new_srgb(),
            moxcms::Layout::Rgb,
            moxcms::TransformOptions::default(),
        )
        .unwrap();
    let mut want = [0u8; 3];
    t.transform(&[200, 80, 60], &mut want).unwrap();
    assert!(want[0] > 210 && want[1] < 75, "{want:?}");
    for name in ["p3_red_64x64.jpg", "p3_red_64x64.png"] {
        let untouched = rgb_at(&image::load_from_memory(&fixture(name)).unwrap(), 8, 32);
        assert!(near(untouched, [200, 80, 60], 4), "{name}: {untouched:?}");
        let p = run(name);
        for f in VariantFormat::ALL {
            let img = decoded(variant(&p, "large", f));
            let got = rgb_at(&img, 8, 32);
            assert!(
                near(got, want, 6),
                "{name} {f:?}: got {got:?}, want {want:?}"
            );
            assert!(!near(got, untouched, 8), "{name} {f:?}: unchanged {got:?}");
            assert!(
                near(rgb_at(&img, 56, 32), [128, 128, 128], 4),
                "gray stays gray"
            );
            assert_no_metadata(variant(&p, "large", f));
        }
    }
}

#[test]
fn unparseable_icc_profile_is_ignored() {
    let mut px = ops::Pixels::new(1, 1, ops::Channels::Rgb, vec![1, 2, 3]).unwrap();
    ops::to_srgb(&mut px, b"definitely not an ICC profile");
    assert_eq!(px.buf, vec![1, 2, 3]);
}

#[test]
fn grayscale_jpeg() {
    let p = run("gray_320x240.jpg");
    let j = decoded(variant(&p, "large", VariantFormat::Jpeg));
    assert_eq!(
        j.color(),
        image::ColorType::L8,
        "gray JPEG stays single-channel"
    );
    assert_eq!(j.dimensions(), (320, 240));
    let w = decoded(variant(&p, "thumb", VariantFormat::WebP)).to_rgb8();
    assert_eq!(w.dimensions(), (200, 150));
    let [r, g, b] = w.get_pixel(150, 75).0;
    assert!(r.abs_diff(g) < 6 && g.abs_diff(b) < 6, "{r},{g},{b}");
    assert!(
        near(rgb_at(&j, 310, 120), [250, 250, 250], 8),
        "gradient right end is light"
    );
}

#[test]
fn cmyk_jpeg() {
    let p = run("cmyk_64x64.jpg");
    let img = decoded(variant(&p, "large", VariantFormat::Jpeg));
    assert!(
        near(rgb_at(&img, 8, 32), [0, 255, 255], 12),
        "cyan: {:?}",
        rgb_at(&img, 8, 32)
    );
    assert!(
        near(rgb_at(&img, 56, 32), [255, 255, 255], 8),
        "white: {:?}",
        rgb_at(&img, 56, 32)
    );
}

#[test]
fn rejects_junk_and_oversized_uploads() {
    let err = process(
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        &MediaConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, MediaError::Unsupported(_)) && err.is_permanent(),
        "{err:?}"
    );
    assert!(process(b"", &MediaConfig::default()).is_err());
    let cfg = MediaConfig {
        max_upload_bytes: 100,
        ..MediaConfig::default()
    };
    let err = process(&fixture("photo_1200x900.jpg"), &cfg).unwrap_err();
    assert!(matches!(err, MediaError::UploadTooLarge { max: 100, .. }) && err.is_permanent());
}

#[test]
fn invalid_config_is_not_permanent() {
    let cfg = MediaConfig {
        presets: vec![],
        ..MediaConfig::default()
    };
    let err = process(&fixture("gray_320x240.jpg"), &cfg).unwrap_err();
    assert!(
        matches!(err, MediaError::InvalidConfig(_)) && !err.is_permanent(),
        "{err:?}"
    );
}

#[test]
fn presets_in_any_order() {
    let cfg = MediaConfig {
        presets: vec![
            crate::media::config::Preset::new("b", 100),
            crate::media::config::Preset::new("a", 1000),
            crate::media::config::Preset::new("c", 300),
        ],
        ..MediaConfig::default()
    };
    let p = process_formats(&fixture("photo_1200x900.jpg"), &cfg, &[VariantFormat::WebP]).unwrap();
    assert_eq!(
        sizes(&p)
            .into_iter()
            .map(|(n, _, w, h)| (n, w, h))
            .collect::<Vec<_>>(),
        vec![("b", 100, 75), ("a", 1000, 750), ("c", 300, 225)]
    );
}

#[test]
fn error_kinds() {
    assert_eq!(MediaError::Corrupt(String::new()).kind(), "corrupt");
    assert!(!MediaError::ResourceExhausted(String::new()).is_permanent());
    assert!(MediaError::Internal(String::new()).is_permanent());
    assert_eq!(VariantFormat::Jpeg.extension(), "jpg");
    assert_eq!(VariantFormat::WebP.mime(), "image/webp");
}
