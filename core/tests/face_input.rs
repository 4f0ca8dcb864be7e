//! Input paths agree and bad input is a typed error: the same face as JPEG, as EXIF-rotated JPEG and as
//! raw RGBA / BGRA / NV21 / I420 frames in all four rotations gives (almost) the same embedding; truncated,
//! empty, tiny and hostile-header images and wrong model files fail with typed errors.
#![cfg(feature = "face")]
#![allow(clippy::many_single_char_names)]

mod face_common;

use std::io::Cursor;

use image::{ImageEncoder, RgbImage, imageops};
use siap_core::Error;
use siap_core::face::{
    FaceConfig, FaceEngine, FaceImage, PixelFormat, RawFrame, cosine, default_models_dir,
};

fn embedding(img: &FaceImage) -> Vec<f32> {
    face_common::engine()
        .sample(img)
        .expect("sample")
        .embedding
        .expect("a face")
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode");
    out
}

/// Inserts an EXIF APP1 segment with the given orientation right after the JPEG SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn yuv(img: &RgbImage, nv21: bool) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut y = vec![0u8; w * h];
    let (cw, ch) = (w / 2, h / 2);
    let mut u = vec![0u8; cw * ch];
    let mut v = vec![0u8; cw * ch];
    for (i, p) in img.pixels().enumerate() {
        let [r, g, b] = p.0.map(f32::from);
        y[i] = (0.299 * r + 0.587 * g + 0.114 * b).round() as u8;
    }
    for cy in 0..ch {
        for cx in 0..cw {
            let p = img
                .get_pixel((cx * 2) as u32, (cy * 2) as u32)
                .0
                .map(f32::from);
            u[cy * cw + cx] = (128.0 - 0.168_736 * p[0] - 0.331_264 * p[1] + 0.5 * p[2])
                .round()
                .clamp(0.0, 255.0) as u8;
            v[cy * cw + cx] = (128.0 + 0.5 * p[0] - 0.418_688 * p[1] - 0.081_312 * p[2])
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    if nv21 {
        y.extend(v.iter().zip(&u).flat_map(|(v, u)| [*v, *u]));
    } else {
        y.extend(u);
        y.extend(v);
    }
    y
}

#[test]
fn raw_frames_and_exif_rotations_agree_with_the_jpeg_path() {
    let Some(dir) = face_common::faces_dir() else {
        return;
    };
    let src = image::open(dir.join("obama/2.jpg"))
        .expect("photo")
        .to_rgb8();
    // Even dimensions for 4:2:0 chroma; half size keeps the test quick.
    let upright = imageops::resize(&src, 312, 600, imageops::FilterType::Triangle);
    let base_jpeg = jpeg(&upright);
    let reference = embedding(&FaceImage::decode(&base_jpeg).expect("decode"));

    // EXIF: store the pixels turned so that the tag's rotation makes them upright again.
    for (tag, stored) in [
        (3u16, imageops::rotate180(&upright)),
        (6, imageops::rotate270(&upright)),
        (8, imageops::rotate90(&upright)),
    ] {
        let img = FaceImage::decode(&with_exif_orientation(&jpeg(&stored), tag)).expect("decode");
        assert_eq!(
            (img.width(), img.height()),
            (upright.width(), upright.height()),
            "orientation {tag}"
        );
        let c = cosine(&reference, &embedding(&img));
        eprintln!("EXIF orientation {tag}: cosine {c:.4}");
        assert!(c > 0.95, "EXIF orientation {tag}: cosine {c}");
    }

    // Raw frames: the sensor buffer is the upright picture turned counter-clockwise by `rotation`.
    for rotation in [0u32, 90, 180, 270] {
        let sensor = match rotation {
            0 => upright.clone(),
            90 => imageops::rotate270(&upright),
            180 => imageops::rotate180(&upright),
            _ => imageops::rotate90(&upright),
        };
        let rgba: Vec<u8> = sensor
            .pixels()
            .flat_map(|p| [p.0[0], p.0[1], p.0[2], 255])
            .collect();
        let bgra: Vec<u8> = sensor
            .pixels()
            .flat_map(|p| [p.0[2], p.0[1], p.0[0], 255])
            .collect();
        for (format, data) in [
            (PixelFormat::Rgba8, rgba),
            (PixelFormat::Bgra8, bgra),
            (PixelFormat::Nv21, yuv(&sensor, true)),
            (PixelFormat::I420, yuv(&sensor, false)),
        ] {
            let frame = RawFrame {
                format,
                width: sensor.width(),
                height: sensor.height(),
                rotation_degrees: rotation,
                data,
            };
            let img = FaceImage::from_raw(&frame).expect("frame converts");
            let c = cosine(&reference, &embedding(&img));
            eprintln!("{format:?} rotation {rotation}: cosine {c:.4}");
            assert!(c > 0.95, "{format:?} rotation {rotation}: cosine {c}");
        }
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A PNG whose IHDR (with a correct CRC) claims `w` x `h` but which carries almost no data.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // Start of image data (a few bytes of a zlib stream), so that the header parses completely.
    let mut idat = b"IDAT".to_vec();
    idat.extend_from_slice(&[0x78, 0x9c, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&idat);
    out.extend_from_slice(&crc32(&idat).to_be_bytes());
    out
}

#[test]
fn bad_images_are_typed_errors() {
    let img = RgbImage::from_pixel(64, 64, image::Rgb([90, 120, 150]));
    let good = jpeg(&img);
    assert!(FaceImage::decode(&good).is_ok());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zero bytes", Vec::new()),
        ("truncated JPEG", good[..good.len() / 2].to_vec()),
        (
            "random bytes",
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        ("1x1 PNG", {
            let mut out = Vec::new();
            image::codecs::png::PngEncoder::new(Cursor::new(&mut out))
                .write_image(&[1, 2, 3], 1, 1, image::ExtendedColorType::Rgb8)
                .expect("encode");
            out
        }),
        ("60000x60000 PNG header", png_header(60000, 60000)),
    ];
    for (what, bytes) in cases {
        let t = std::time::Instant::now();
        let r = FaceImage::decode(&bytes);
        eprintln!("{what}: {r:?} in {:?}", t.elapsed());
        assert!(matches!(r, Err(Error::Image(_))), "{what}: {r:?}");
        if what.starts_with("60000") {
            assert!(
                matches!(&r, Err(Error::Image(m)) if m.contains("at most")),
                "{what}: refused by the size limit: {r:?}"
            );
        }
    }
}

#[test]
fn missing_random_and_wrong_hash_models_are_typed_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = default_models_dir();
    for f in [
        "pnet.nnef.tar",
        "rnet.nnef.tar",
        "onet.nnef.tar",
        "mobilefacenet.nnef.tar",
    ] {
        std::fs::copy(src.join(f), tmp.path().join(f)).expect("copy model");
    }
    // Missing file.
    std::fs::remove_file(tmp.path().join("rnet.nnef.tar")).expect("remove");
    let r = FaceEngine::open(tmp.path(), FaceConfig::default());
    assert!(
        matches!(&r, Err(Error::Model { name, .. }) if name == "rnet.nnef.tar"),
        "{r:?}"
    );
    std::fs::copy(src.join("rnet.nnef.tar"), tmp.path().join("rnet.nnef.tar")).expect("copy");
    // Random bytes.
    std::fs::write(
        tmp.path().join("pnet.nnef.tar"),
        (0..30_000u32)
            .map(|i| (i * 31 % 253) as u8)
            .collect::<Vec<_>>(),
    )
    .expect("write");
    let r = FaceEngine::open(tmp.path(), FaceConfig::default());
    assert!(
        matches!(&r, Err(Error::Model { name, .. }) if name == "pnet.nnef.tar"),
        "{r:?}"
    );
    std::fs::copy(src.join("pnet.nnef.tar"), tmp.path().join("pnet.nnef.tar")).expect("copy");
    // A real model under the wrong name (valid file, wrong hash).
    std::fs::copy(src.join("rnet.nnef.tar"), tmp.path().join("onet.nnef.tar")).expect("copy");
    let r = FaceEngine::open(tmp.path(), FaceConfig::default());
    assert!(
        matches!(&r, Err(Error::Model { name, reason }) if name == "onet.nnef.tar" && reason.contains("SHA-256")),
        "{r:?}"
    );
}
