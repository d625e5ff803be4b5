//! Throughput benchmark of the media pipeline.
//!
//! ```text
//! cargo run --release -p kiln-jobs --example media_bench -- --images 20 --threads 2 [--formats jpeg,webp] [--dump DIR]
//! ```
//!
//! Generates N deterministic photo-like 4000×3000 JPEGs (q90, gradients + texture + noise, no
//! network), preloads them, warms up on 2, then processes all N with T plain std threads calling
//! `process_formats` with the default presets, and prints images/s, latency p50/p99 and CPU time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kiln_jobs::media::config::MediaConfig;
use kiln_jobs::media::pipeline::{VariantFormat, process_formats};

const WIDTH: u16 = 4000;
const HEIGHT: u16 = 3000;
const WARMUP: usize = 2;

struct Args {
    images: usize,
    threads: usize,
    formats: Vec<VariantFormat>,
    dump: Option<std::path::PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: media_bench [--images N] [--threads T] [--formats jpeg|webp|jpeg,webp] [--dump DIR]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        images: 20,
        threads: 2,
        formats: VariantFormat::ALL.to_vec(),
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--images" => args.images = value.parse().unwrap_or_else(|_| usage()),
            "--threads" => args.threads = value.parse().unwrap_or_else(|_| usage()),
            "--formats" => {
                args.formats = value
                    .split(',')
                    .map(|f| match f {
                        "jpeg" => VariantFormat::Jpeg,
                        "webp" => VariantFormat::WebP,
                        _ => usage(),
                    })
                    .collect()
            }
            "--dump" => args.dump = Some(value.into()),
            _ => usage(),
        }
    }
    if args.images == 0 || args.threads == 0 || args.formats.is_empty() {
        usage()
    }
    args
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A photo-like image: smooth colour fields, some sharp-edged shapes, fine texture and sensor
/// noise, encoded as a 4:2:0 q90 JPEG (~3 MB, like a 12 MP phone photo).
fn photo(seed: u64) -> Vec<u8> {
    let (w, h) = (usize::from(WIDTH), usize::from(HEIGHT));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let phase = (rng.next() % 628) as f32 / 100.0;
    let col: Vec<f32> = (0..w)
        .map(|x| (x as f32 / 310.0 + phase).sin() * 60.0 + (x as f32 / 47.0).sin() * 12.0)
        .collect();
    let row: Vec<f32> = (0..h)
        .map(|y| (y as f32 / 420.0 - phase).cos() * 50.0 + (y as f32 / 33.0).cos() * 10.0)
        .collect();
    let shapes: Vec<(usize, usize, usize, [f32; 3])> = (0..12)
        .map(|_| {
            let cx = (rng.next() % w as u64) as usize;
            let cy = (rng.next() % h as u64) as usize;
            let r = 100 + (rng.next() % 500) as usize;
            let c = [0, 1, 2].map(|_| (rng.next() % 120) as f32 - 60.0);
            (cx, cy, r, c)
        })
        .collect();
    let mut buf = vec![0u8; w * h * 3];
    for (y, line) in buf.chunks_exact_mut(w * 3).enumerate() {
        let active: Vec<_> = shapes.iter().filter(|s| y.abs_diff(s.1) < s.2).collect();
        for (x, px) in line.chunks_exact_mut(3).enumerate() {
            let base = 110.0 + col[x] + row[y];
            let mut c = [base + 30.0, base, base - 25.0 + col[x] * 0.5];
            for s in &active {
                let (dx, dy) = (x.abs_diff(s.0), y.abs_diff(s.1));
                if dx * dx + dy * dy < s.2 * s.2 {
                    for (ch, d) in c.iter_mut().zip(s.3) {
                        *ch += d;
                    }
                }
            }
            let n = rng.next();
            let texture = ((n & 31) as f32 - 15.5) * 0.6;
            for (i, v) in px.iter_mut().enumerate() {
                let grain = ((n >> (8 + 8 * i)) & 7) as f32 - 3.5;
                *v = (c[i] + texture + grain).clamp(0.0, 255.0) as u8;
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    if let Err(e) = enc.encode(&buf, WIDTH, HEIGHT, jpeg_encoder::ColorType::Rgb) {
        eprintln!("generating image {seed}: {e}");
        std::process::exit(1);
    }
    out
}

/// Process CPU time (user + system) from /proc/self/stat; `None` off Linux.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every mainstream Linux configuration.
    Some(Duration::from_millis(ticks * 10))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn main() {
    let args = parse_args();
    let cfg = MediaConfig::default();

    let t = Instant::now();
    let gen_threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let images: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..gen_threads)
            .map(|t| {
                s.spawn(move || {
                    (t..args.images)
                        .step_by(gen_threads)
                        .map(|i| (i, photo(i as u64)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Vec<u8>)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, img)| img).collect()
    });
    if images.len() != args.images {
        eprintln!("image generation failed");
        std::process::exit(1);
    }
    if let Some(dir) = &args.dump {
        for (i, img) in images.iter().enumerate() {
            let path = dir.join(format!("bench_{i:03}.jpg"));
            if let Err(e) = std::fs::write(&path, img) {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    let avg_mb = images.iter().map(Vec::len).sum::<usize>() as f64 / images.len() as f64 / 1e6;
    let formats: Vec<&str> = args.formats.iter().map(|f| f.as_str()).collect();
    println!(
        "generated {} x {WIDTH}x{HEIGHT} JPEG q90 (avg {avg_mb:.2} MB) in {:.1}s; presets {:?}; formats {}",
        images.len(),
        t.elapsed().as_secs_f64(),
        cfg.presets
            .iter()
            .map(|p| format!("{}={}", p.name, p.longest_side))
            .collect::<Vec<_>>(),
        formats.join("+"),
    );

    for img in images.iter().take(WARMUP) {
        if let Err(e) = process_formats(img, &cfg, &args.formats) {
            eprintln!("warm-up failed: {e}");
            std::process::exit(1);
        }
    }

    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(args.images));
    let out_bytes = AtomicUsize::new(0);
    let cpu0 = cpu_time();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(img) = images.get(i) else { break };
                    let t = Instant::now();
                    match process_formats(img, &cfg, &args.formats) {
                        Ok(p) => {
                            let n: usize = p.variants.iter().map(|v| v.bytes.len()).sum();
                            out_bytes.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("image {i}: {e}");
                            std::process::exit(1);
                        }
                    }
                    let dt = t.elapsed();
                    if let Ok(mut l) = latencies.lock() {
                        l.push(dt);
                    }
                }
            });
        }
    });
    let wall = start.elapsed();
    let cpu = cpu0.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));
    let mut lat = latencies.into_inner().unwrap_or_default();
    lat.sort();
    let n = lat.len().max(1) as f64;
    println!(
        "threads {}: {} images in {:.2}s = {:.1} images/s | latency p50 {:.0} ms, p99 {:.0} ms | CPU {} | output {:.0} KB/image",
        args.threads,
        lat.len(),
        wall.as_secs_f64(),
        n / wall.as_secs_f64(),
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        cpu.map_or("n/a".to_string(), |c| format!(
            "{:.2}s ({:.0} ms/image, {:.0}% of {} threads)",
            c.as_secs_f64(),
            c.as_secs_f64() * 1e3 / n,
            c.as_secs_f64() / wall.as_secs_f64() / args.threads as f64 * 100.0,
            args.threads
        )),
        out_bytes.load(Ordering::Relaxed) as f64 / n / 1e3,
    );
}
