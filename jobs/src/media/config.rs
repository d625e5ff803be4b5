//! Settings of the media pipeline (the `media` section of Kiln's config).

use serde::{Deserialize, Serialize};

/// Media processing settings (the `media` section of Kiln's config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Largest accepted upload in bytes (default 25 MiB).
    pub max_upload_bytes: u64,
    /// Largest accepted width/height in pixels, checked from the header before decoding (default 12_000).
    pub max_dimension: u32,
    /// Largest decoder allocation in bytes (default 512 MiB).
    pub max_alloc_bytes: u64,
    /// JPEG quality of variants, 1..=100 (default 80).
    pub jpeg_quality: u8,
    /// WebP quality of variants, 1..=100 (default 75).
    pub webp_quality: u8,
    /// Variant presets: name → longest side in pixels; never upscaled (default thumb 200, small 800, large 1600).
    pub presets: Vec<Preset>,
}

/// One variant preset: every processed image gets a JPEG and a WebP variant per preset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Preset name, `[a-z0-9_-]+`, unique; used in variant keys (e.g. `thumb`).
    pub name: String,
    /// Longest side of the variant in pixels; smaller images keep their size (never upscaled).
    pub longest_side: u32,
}

/// Largest side a preset may ask for: the WebP format's limit (16383) is the tighter one.
pub const MAX_PRESET_SIDE: u32 = 16_383;

impl Preset {
    /// A preset named `name` whose variants fit in `longest_side`×`longest_side`.
    pub fn new(name: impl Into<String>, longest_side: u32) -> Self {
        Self {
            name: name.into(),
            longest_side,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * 1024 * 1024,
            max_dimension: 12_000,
            max_alloc_bytes: 512 * 1024 * 1024,
            jpeg_quality: 80,
            webp_quality: 75,
            presets: vec![
                Preset::new("thumb", 200),
                Preset::new("small", 800),
                Preset::new("large", 1600),
            ],
        }
    }
}

impl MediaConfig {
    /// Checks the settings; the error names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_upload_bytes == 0 {
            return Err("media.max_upload_bytes must be > 0".into());
        }
        if self.max_dimension == 0 || self.max_dimension > u32::from(u16::MAX) {
            return Err(format!(
                "media.max_dimension must be in 1..={} (got {})",
                u16::MAX,
                self.max_dimension
            ));
        }
        if self.max_alloc_bytes < 64 * 1024 {
            return Err(format!(
                "media.max_alloc_bytes must be at least 64 KiB (got {})",
                self.max_alloc_bytes
            ));
        }
        for (field, q) in [
            ("jpeg_quality", self.jpeg_quality),
            ("webp_quality", self.webp_quality),
        ] {
            if !(1..=100).contains(&q) {
                return Err(format!("media.{field} must be in 1..=100 (got {q})"));
            }
        }
        if self.presets.is_empty() {
            return Err("media.presets must not be empty".into());
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.presets {
            let valid_name = !p.name.is_empty()
                && p.name.len() <= 64
                && p.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !valid_name {
                return Err(format!(
                    "media.presets: name {:?} must match [a-z0-9_-]{{1,64}}",
                    p.name
                ));
            }
            if !seen.insert(p.name.as_str()) {
                return Err(format!("media.presets: duplicate name {:?}", p.name));
            }
            if p.longest_side == 0 || p.longest_side > MAX_PRESET_SIDE {
                return Err(format!(
                    "media.presets.{}: longest_side must be in 1..={MAX_PRESET_SIDE} (got {})",
                    p.name, p.longest_side
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        let cfg = MediaConfig::default();
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.max_upload_bytes, 25 * 1024 * 1024);
        assert_eq!(cfg.presets.len(), 3);
    }

    #[test]
    fn rejects_bad_values() {
        let bad = |f: fn(&mut MediaConfig)| {
            let mut c = MediaConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.jpeg_quality = 0).contains("jpeg_quality"));
        assert!(bad(|c| c.webp_quality = 101).contains("webp_quality"));
        assert!(bad(|c| c.presets.clear()).contains("empty"));
        assert!(bad(|c| c.presets[0].name = "Thumb".into()).contains("[a-z0-9_-]"));
        assert!(bad(|c| c.presets[0].name = String::new()).contains("[a-z0-9_-]"));
        assert!(bad(|c| c.presets[1].name = "thumb".into()).contains("duplicate"));
        assert!(bad(|c| c.presets[0].longest_side = 0).contains("longest_side"));
        assert!(bad(|c| c.presets[0].longest_side = 20_000).contains("longest_side"));
        assert!(bad(|c| c.max_dimension = 0).contains("max_dimension"));
    }

    #[test]
    fn deserializes_partial_and_rejects_unknown() {
        let cfg: MediaConfig = serde_json::from_str(
            r#"{"jpeg_quality": 90, "presets": [{"name": "a", "longest_side": 10}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.jpeg_quality, 90);
        assert_eq!(cfg.webp_quality, 75);
        assert_eq!(cfg.presets, vec![Preset::new("a", 10)]);
        assert!(serde_json::from_str::<MediaConfig>(r#"{"jpeg_qualty": 90}"#).is_err());
        assert!(
            serde_json::from_str::<MediaConfig>(
                r#"{"presets": [{"name": "a", "longest_side": 1, "x": 1}]}"#
            )
            .is_err()
        );
    }
}
