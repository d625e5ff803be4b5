use image::GenericImageView;
use std::time::Duration;

use kiln_jobs::{QueueName, db::DbKind, testing::Backend};

use crate::helpers::{assert_not_found, error_code, fixture, spawn_app, spawn_app_with};

kiln_jobs::per_backend!(
    upload_is_processed_into_variants_of_the_right_sizes_and_formats,
    [sqlite, postgres]
);
async fn upload_is_processed_into_variants_of_the_right_sizes_and_formats(kind: Backend) {
    let app = spawn_app(kind).await;
    let resp = app
        .upload("alice", "photo.jpg", fixture("photo_1200x900.jpg"), None)
        .await;
    assert_eq!(resp.status(), 202, "{kind:?}");
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let body: serde_json::Value = resp.json().await.expect("json");
    let media_id = body["media_id"].as_str().expect("media id").to_owned();
    assert_eq!(location, format!("/v1/media/{media_id}"));
    let job = app
        .wait_job("alice", body["job_id"].as_str().expect("job id"))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "image.process");

    let media: serde_json::Value = app.get_json("alice", &location).await;
    assert_eq!(media["status"], "ready", "{media}");
    assert_eq!(
        (media["width"].as_u64(), media["height"].as_u64()),
        (Some(1200), Some(900))
    );
    assert_eq!(media["source_format"], "jpeg");
    assert!(media["blurhash"].as_str().is_some_and(|b| b.len() >= 6));
    assert!(
        media["dominant_color"]
            .as_str()
            .is_some_and(|c| c.starts_with('#') && c.len() == 7)
    );
    let variants = media["variants"].as_array().expect("variants");
    let mut seen: Vec<(String, u64, u64)> = variants
        .iter()
        .map(|v| {
            (
                v["name"].as_str().expect("name").to_owned(),
                v["width"].as_u64().expect("w"),
                v["height"].as_u64().expect("h"),
            )
        })
        .collect();
    seen.sort();
    let expected = [
        ("large.jpg", 1200, 900),
        ("large.webp", 1200, 900),
        ("small.jpg", 800, 600),
        ("small.webp", 800, 600),
        ("thumb.jpg", 200, 150),
        ("thumb.webp", 200, 150),
    ];
    let expected: Vec<(String, u64, u64)> = expected
        .iter()
        .map(|(n, w, h)| ((*n).to_owned(), *w, *h))
        .collect();
    assert_eq!(seen, expected, "{kind:?}");

    for v in variants {
        let resp = app
            .http
            .get(v["url"].as_str().expect("url"))
            .bearer_auth(app.token("alice"))
            .send()
            .await
            .expect("download");
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .to_owned();
        assert_eq!(ct, v["content_type"].as_str().expect("ct"));
        let etag = resp.headers()["etag"].to_str().expect("etag").to_owned();
        let bytes = resp.bytes().await.expect("bytes");
        assert_eq!(bytes.len() as u64, v["bytes"].as_u64().expect("bytes"));
        let format = image::guess_format(&bytes).expect("format");
        let expected_format = if ct == "image/webp" {
            image::ImageFormat::WebP
        } else {
            image::ImageFormat::Jpeg
        };
        assert_eq!(format, expected_format);
        let decoded = image::load_from_memory(&bytes).expect("decodes");
        assert_eq!(
            decoded.dimensions(),
            (
                v["width"].as_u64().expect("w") as u32,
                v["height"].as_u64().expect("h") as u32
            )
        );
        let again = app
            .http
            .get(v["url"].as_str().expect("url"))
            .bearer_auth(app.token("alice"))
            .header("If-None-Match", &etag)
            .send()
            .await
            .expect("conditional");
        assert_eq!(again.status(), 304);
    }
    app.stop().await;
}

#[tokio::test]
async fn exif_rotated_upload_comes_out_upright() {
    let app = spawn_app(DbKind::Sqlite).await;
    let resp = app
        .upload(
            "alice",
            "rotated.jpg",
            fixture("exif_orient6_64x32.jpg"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.expect("json");
    app.wait_job("alice", body["job_id"].as_str().expect("job"))
        .await;
    let media: serde_json::Value = app
        .get_json(
            "alice",
            &format!("/v1/media/{}", body["media_id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(
        (media["width"].as_u64(), media["height"].as_u64()),
        (Some(32), Some(64)),
        "{media}"
    );
    let thumb = media["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .find(|v| v["name"] == "thumb.jpg")
        .expect("thumb")
        .clone();
    assert_eq!(
        (thumb["width"].as_u64(), thumb["height"].as_u64()),
        (Some(32), Some(64))
    );
    let bytes = app
        .http
        .get(thumb["url"].as_str().expect("url"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    let img = image::load_from_memory(&bytes).expect("decode").to_rgb8();
    // The stored image's top-left quadrant is red; orientation 6 (rotate 90° clockwise) puts it top-right.
    let top_right = img.get_pixel(24, 8);
    let top_left = img.get_pixel(8, 8);
    assert!(
        top_right[0] > 180 && top_right[1] < 90,
        "red lands top-right: {top_right:?}"
    );
    assert!(
        top_left[0] < 180 || top_left[1] > 90,
        "top-left is not red: {top_left:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn corrupt_upload_fails_its_job_once_without_retry() {
    let app = spawn_app(DbKind::Sqlite).await;
    for name in ["truncated.jpg", "garbage.jpg"] {
        let resp = app.upload("alice", name, fixture(name), None).await;
        assert_eq!(resp.status(), 202, "{name} passes sniffing");
        let body: serde_json::Value = resp.json().await.expect("json");
        let job = app
            .wait_job("alice", body["job_id"].as_str().expect("job"))
            .await;
        assert_eq!(job["status"], "failed", "{name}: {job}");
        assert_eq!(job["attempts"], 1, "never retried");
        assert!(
            job["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("image rejected")),
            "{job}"
        );
        let media: serde_json::Value = app
            .get_json(
                "alice",
                &format!("/v1/media/{}", body["media_id"].as_str().expect("id")),
            )
            .await;
        assert_eq!(media["status"], "failed");
        assert!(media["error"].as_str().is_some());
    }
    app.stop().await;
}

#[tokio::test]
async fn decompression_bomb_is_refused_and_the_worker_keeps_running() {
    let app = spawn_app(DbKind::Sqlite).await;
    let bomb = fixture("bomb_20000x20000.png");
    assert!(bomb.len() < 100_000, "a few KB that claims 400 megapixels");
    let resp = app.upload("alice", "bomb.png", bomb, None).await;
    let body: serde_json::Value = resp.json().await.expect("json");
    let job = app
        .wait_job("alice", body["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["attempts"], 1);
    assert!(
        job["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("20000")),
        "{job}"
    );

    let resp = app
        .upload("alice", "ok.png", fixture("alpha_300x200.png"), None)
        .await;
    let body: serde_json::Value = resp.json().await.expect("json");
    let job = app
        .wait_job("alice", body["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(job["status"], "succeeded", "the worker survived: {job}");
    app.stop().await;
}

#[tokio::test]
async fn upload_over_the_limit_is_refused_with_413_whether_or_not_its_length_is_declared() {
    let app = spawn_app_with(DbKind::Sqlite, false, |c| {
        c.media.max_upload_bytes = 100_000
    })
    .await;
    let big = vec![0xFFu8; 300_000];
    let resp = app.upload("alice", "big.jpg", big.clone(), None).await;
    assert_eq!(error_code(resp, 413).await, "payload_too_large");

    // Chunked, no Content-Length: cut off while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .file_name("big.jpg");
    let form = reqwest::multipart::Form::new().part("file", part);
    let resp = app
        .http
        .post(app.url("/v1/media"))
        .bearer_auth(app.token("alice"))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 413).await, "payload_too_large");

    // Nothing was stored or queued.
    let (jobs, _) = app
        .ctx
        .app
        .ledger
        .list(&Default::default())
        .await
        .expect("list");
    assert!(jobs.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn small_and_large_uploads_are_stored_byte_for_byte() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let small = fixture("gray_320x240.jpg");
    // Past the 1 MiB an upload may occupy in memory: this one goes through a temporary file.
    let mut large = small.clone();
    large.resize(3 * 1024 * 1024 / 2, 0x5A);
    for bytes in [small, large] {
        let resp = app.upload("alice", "photo.jpg", bytes.clone(), None).await;
        assert_eq!(resp.status(), 202, "{} bytes", bytes.len());
        let body: serde_json::Value = resp.json().await.expect("json");
        let id: uuid::Uuid = body["media_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("media id");
        let stored = app
            .ctx
            .app
            .storage
            .get(&kiln_jobs::media::original_key(id))
            .await
            .expect("original stored");
        assert!(
            stored == bytes,
            "{} bytes stored as {}",
            bytes.len(),
            stored.len()
        );
        let media = app.get_json("alice", &format!("/v1/media/{id}")).await;
        assert_eq!(media["source_bytes"].as_u64(), Some(bytes.len() as u64));
    }
    app.stop().await;
}

#[tokio::test]
async fn non_image_and_empty_uploads_are_refused_with_4xx() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let resp = app
        .upload(
            "alice",
            "photo.jpg",
            b"%PDF-1.7 definitely not an image".to_vec(),
            None,
        )
        .await;
    assert_eq!(error_code(resp, 415).await, "unsupported_media_type");
    let resp = app.upload("alice", "empty.jpg", Vec::new(), None).await;
    assert_eq!(error_code(resp, 422).await, "empty_file");
    let resp = app
        .http
        .post(app.url("/v1/media"))
        .bearer_auth(app.token("alice"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(
        error_code(resp, 415).await,
        "unsupported_media_type",
        "not multipart"
    );
    app.stop().await;
}

kiln_jobs::per_backend!(
    repeated_upload_with_one_idempotency_key_returns_the_first,
    [sqlite, postgres]
);
async fn repeated_upload_with_one_idempotency_key_returns_the_first(kind: Backend) {
    let app = spawn_app_with(kind, false, |_| {}).await;
    let first = app
        .upload("alice", "a.jpg", fixture("photo_1200x900.jpg"), Some("k-1"))
        .await;
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.expect("json");
    let again = app
        .upload("alice", "a.jpg", fixture("photo_1200x900.jpg"), Some("k-1"))
        .await;
    assert_eq!(again.status(), 200, "{kind:?}");
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(first["media_id"], again["media_id"]);
    assert_eq!(first["job_id"], again["job_id"]);
    let (jobs, _) = app
        .ctx
        .app
        .ledger
        .list(&Default::default())
        .await
        .expect("list");
    assert_eq!(jobs.len(), 1, "one job");
    app.stop().await;
}

/// `DELETE /v1/media/{id}` as `user`.
async fn delete_media(
    app: &crate::helpers::TestApp,
    user: &str,
    id: &impl std::fmt::Display,
) -> reqwest::Response {
    let path = format!("/v1/media/{id}");
    app.send_as(reqwest::Method::DELETE, &path, &app.token(user), None)
        .await
}

/// Uploads a photo as alice and waits for its job: the media id and the
/// upload's answer.
async fn processed_upload(app: &crate::helpers::TestApp) -> (uuid::Uuid, serde_json::Value) {
    let resp = app
        .upload("alice", "a.jpg", fixture("photo_1200x900.jpg"), None)
        .await;
    let body: serde_json::Value = resp.json().await.expect("json");
    let id = body["media_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("media id");
    app.wait_job("alice", body["job_id"].as_str().expect("job"))
        .await;
    (id, body)
}

#[tokio::test]
async fn another_users_media_is_not_found_and_delete_removes_everything() {
    let app = spawn_app(DbKind::Sqlite).await;
    let (uuid, body) = processed_upload(&app).await;
    let id = uuid.to_string();

    assert_not_found(&app, "bob", &format!("/v1/media/{id}")).await;
    assert_not_found(&app, "bob", &format!("/v1/media/{id}/variants/thumb.jpg")).await;
    assert_eq!(
        error_code(
            app.get(
                "bob",
                &format!("/v1/jobs/{}", body["job_id"].as_str().expect("job"))
            )
            .await,
            404
        )
        .await,
        "not_found"
    );
    let resp = delete_media(&app, "bob", &id).await;
    assert_eq!(error_code(resp, 404).await, "not_found");

    let root = app.ctx.dir.path().join("objects");
    let original = root.join(kiln_jobs::media::original_key(uuid));
    let thumb = root.join(kiln_jobs::media::variant_key(uuid, "thumb.jpg"));
    assert!(original.is_file() && thumb.is_file());
    let resp = delete_media(&app, "alice", &id).await;
    assert_eq!(resp.status(), 204);
    assert!(!original.exists(), "original removed");
    let variants = thumb.parent().expect("the variants folder");
    assert!(
        !variants.exists() || std::fs::read_dir(variants).expect("dir").next().is_none(),
        "variants removed"
    );
    assert_not_found(&app, "alice", &format!("/v1/media/{id}")).await;
    assert_not_found(&app, "alice", &format!("/v1/media/{id}/variants/thumb.jpg")).await;
    app.stop().await;
}

#[tokio::test]
async fn failed_job_retried_over_http_succeeds_once_its_cause_is_fixed() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let drain = || {
        kiln_worker::run_until_idle(
            app.ctx.app.clone(),
            &[QueueName::Media],
            Duration::from_secs(30),
        )
    };
    let resp = app
        .upload("alice", "a.jpg", fixture("photo_1200x900.jpg"), None)
        .await;
    let body: serde_json::Value = resp.json().await.expect("json");
    let media_id = body["media_id"].as_str().expect("m").to_owned();
    let job_id = body["job_id"].as_str().expect("j").to_owned();

    // The original goes missing before a worker gets to it: a permanent failure.
    let original = app
        .ctx
        .dir
        .path()
        .join("objects")
        .join(kiln_jobs::media::original_key(
            media_id.parse().expect("uuid"),
        ));
    let saved = std::fs::read(&original).expect("original stored");
    std::fs::remove_file(&original).expect("remove");
    drain().await.expect("drain");
    let job: serde_json::Value = app.get_json("alice", &format!("/v1/jobs/{job_id}")).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("original upload is missing"))
    );
    let media: serde_json::Value = app
        .get_json("alice", &format!("/v1/media/{media_id}"))
        .await;
    assert_eq!(media["status"], "failed", "{media}");
    let id: uuid::Uuid = media_id.parse().expect("uuid");
    let row = kiln_jobs::media::repo::get(&app.ctx.app.db, id, None)
        .await
        .expect("media row")
        .expect("exists");
    assert_eq!(
        row.status, "failed",
        "the row itself is closed, not only its view"
    );

    // Only the owner may retry it; once the cause is fixed the retry succeeds.
    let resp = app.post("bob", &format!("/v1/jobs/{job_id}/retry")).await;
    assert_eq!(error_code(resp, 404).await, "not_found");
    std::fs::write(&original, saved).expect("restore");
    let resp = app.post("alice", &format!("/v1/jobs/{job_id}/retry")).await;
    assert_eq!(resp.status(), 200);
    let rearmed: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(rearmed["status"], "queued");
    assert_eq!(rearmed["attempts"], 0);
    drain().await.expect("drain");
    let job: serde_json::Value = app.get_json("alice", &format!("/v1/jobs/{job_id}")).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let media: serde_json::Value = app
        .get_json("alice", &format!("/v1/media/{media_id}"))
        .await;
    assert_eq!(media["status"], "ready");

    // A succeeded job cannot be retried or cancelled.
    let resp = app.post("alice", &format!("/v1/jobs/{job_id}/retry")).await;
    assert_eq!(error_code(resp, 409).await, "conflict");
    let resp = app
        .post("alice", &format!("/v1/jobs/{job_id}/cancel"))
        .await;
    assert_eq!(error_code(resp, 409).await, "conflict");
    app.stop().await;
}

/// The media pipeline with its objects on a real S3-compatible server
/// (moto_server, started by scripts/test.sh): the original and every variant
/// are written there, served from there, and deleted from there.
#[tokio::test]
async fn an_upload_is_processed_and_served_from_s3_storage_sqlite() {
    let url = kiln_jobs::testing::s3_storage_url();
    let store_url = url.clone();
    let app = spawn_app_with(DbKind::Sqlite, true, move |c| {
        c.storage.url = Some(store_url)
    })
    .await;
    let resp = app
        .upload("alice", "photo.jpg", fixture("photo_1200x900.jpg"), None)
        .await;
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.expect("json");
    let media_id = body["media_id"].as_str().expect("media id").to_owned();
    let job = app
        .wait_job("alice", body["job_id"].as_str().expect("job id"))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let media: serde_json::Value = app
        .get_json("alice", &format!("/v1/media/{media_id}"))
        .await;
    assert_eq!(media["status"], "ready", "{media}");
    let variants = media["variants"].as_array().expect("variants");
    assert_eq!(variants.len(), 6, "{media}");
    for v in variants {
        let resp = app
            .http
            .get(v["url"].as_str().expect("url"))
            .bearer_auth(app.token("alice"))
            .send()
            .await
            .expect("download");
        assert_eq!(resp.status(), 200, "{v}");
        let bytes = resp.bytes().await.expect("bytes");
        let decoded = image::load_from_memory(&bytes).expect("decodes");
        assert_eq!(
            decoded.dimensions(),
            (
                v["width"].as_u64().expect("w") as u32,
                v["height"].as_u64().expect("h") as u32
            )
        );
    }
    // The objects are in the bucket, under the media's prefix.
    let store = kiln_jobs::storage::Storage::open(&url).expect("open S3");
    let key = kiln_jobs::media::variant_key(
        uuid::Uuid::parse_str(&media_id).expect("uuid"),
        "thumb.webp",
    );
    assert!(!store.get(&key).await.expect("thumb on S3").is_empty());
    let resp = delete_media(&app, "alice", &media_id).await;
    assert_eq!(resp.status(), 204);
    assert!(
        matches!(
            store.get(&key).await,
            Err(kiln_jobs::storage::StorageError::NotFound(_))
        ),
        "deleting the media deletes its objects from S3"
    );
    app.stop().await;
}

/// Every folder under `root`, recursively.
fn folders(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path.clone());
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn an_upload_creates_no_folder_in_a_prepared_local_store_sqlite() {
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let storage = &app.ctx.app.storage;
    assert_eq!(
        kiln_jobs::media::layout::prepare(storage)
            .await
            .expect("prepare"),
        0
    );
    let root = app.ctx.dir.path().join("objects");
    let before = folders(&root);
    let mut ids = Vec::new();
    for n in 0..20 {
        let resp = app
            .upload(
                "alice",
                &format!("{n}.jpg"),
                fixture("gray_320x240.jpg"),
                None,
            )
            .await;
        assert_eq!(resp.status(), 202);
        let body: serde_json::Value = resp.json().await.expect("json");
        ids.push(
            body["media_id"]
                .as_str()
                .expect("id")
                .parse::<uuid::Uuid>()
                .expect("uuid"),
        );
    }
    assert_eq!(folders(&root), before, "no upload made a folder");
    for id in ids {
        assert!(root.join(kiln_jobs::media::original_key(id)).is_file());
    }
    app.stop().await;
}

#[tokio::test]
async fn media_of_the_old_layout_is_served_then_moved_by_prepare_sqlite() {
    use kiln_jobs::media::layout;
    let app = spawn_app(DbKind::Sqlite).await;
    let (id, _) = processed_upload(&app).await;
    let media = app.get_json("alice", &format!("/v1/media/{id}")).await;
    let names: Vec<String> = media["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names.len(), 6, "{media}");

    // Put everything where the old layout kept it, as a store written before
    // this layout holds it.
    let storage = &app.ctx.app.storage;
    storage
        .rename(&layout::original_key(id), &layout::legacy_original_key(id))
        .await
        .expect("move the original back");
    for name in &names {
        storage
            .rename(
                &layout::variant_key(id, name),
                &layout::legacy_variant_key(id, name),
            )
            .await
            .expect("move a variant back");
    }
    let download = |name: String| {
        let app = &app;
        async move {
            let resp = app
                .get("alice", &format!("/v1/media/{id}/variants/{name}"))
                .await;
            assert_eq!(resp.status(), 200, "{name}");
            resp.bytes().await.expect("bytes")
        }
    };
    let served_before = download(names[0].clone()).await;

    assert_eq!(
        layout::prepare(storage).await.expect("prepare"),
        1 + names.len() as u64,
        "the original and every variant moved"
    );
    assert_eq!(layout::prepare(storage).await.expect("prepare again"), 0);
    assert!(
        storage
            .exists(&layout::original_key(id))
            .await
            .expect("head")
    );
    assert!(
        !storage
            .exists(&layout::legacy_original_key(id))
            .await
            .expect("head")
    );
    assert_eq!(download(names[0].clone()).await, served_before);

    let resp = delete_media(&app, "alice", &id).await;
    assert_eq!(resp.status(), 204);
    let left = storage.list("media").await.expect("list");
    assert!(
        left.iter().all(|(k, _)| !k.contains(&id.to_string())),
        "{left:?}"
    );
    app.stop().await;
}
