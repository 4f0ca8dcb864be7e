//! Image input: encoded JPEG/PNG bytes and raw camera frames, both turned into one RGB8 image.
//!
//! Everything downstream (detection, alignment) works on [`FaceImage`], an upright, 8-bit, interleaved RGB
//! picture. Decoding honours the EXIF orientation and converts RGBA, grayscale and 16-bit PNGs; raw frames
//! (RGBA8, BGRA8, NV21, I420) are converted and rotated so that the shells never re-encode camera frames.
//! Sizes are checked from the header before any pixel buffer is allocated, so a hostile header cannot make
//! the phone allocate gigabytes.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest side accepted for any input image (a 50 MP sensor is 8160 px wide).
pub const MAX_SIDE: u32 = 8192;
/// Largest pixel count accepted (keeps a decode well inside the 150 MB check-in memory budget).
pub const MAX_PIXELS: u64 = 24_000_000;
/// Smallest side accepted: anything smaller cannot hold a face MTCNN can find (its smallest window is 12).
pub const MIN_SIDE: u32 = 12;

/// An upright RGB8 image, ready for detection.
#[derive(Clone, PartialEq, Eq)]
pub struct FaceImage {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl std::fmt::Debug for FaceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never dump pixels (biometric data) into logs.
        f.debug_struct("FaceImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// Pixel layout of a raw camera frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PixelFormat {
    /// 4 bytes per pixel: R, G, B, A (Android `Bitmap.Config.ARGB_8888` memory order).
    Rgba8,
    /// 4 bytes per pixel: B, G, R, A (iOS `kCVPixelFormatType_32BGRA`).
    Bgra8,
    /// Y plane, then interleaved V/U at half resolution (Android camera default).
    Nv21,
    /// Y plane, then U plane, then V plane at half resolution (YUV 4:2:0 planar).
    I420,
}

/// A raw frame from a camera, as delivered by the platform.
#[derive(Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// Pixel layout of `data`.
    pub format: PixelFormat,
    /// Width of the buffer in pixels (before rotation).
    pub width: u32,
    /// Height of the buffer in pixels (before rotation).
    pub height: u32,
    /// Clockwise rotation that makes the frame upright: 0, 90, 180 or 270.
    pub rotation_degrees: u32,
    /// The pixels, tightly packed (no row padding).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFrame")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rotation_degrees", &self.rotation_degrees)
            .field("data_len", &self.data.len())
            .finish()
    }
}

fn check_size(width: u32, height: u32) -> Result<()> {
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::Image(format!(
            "image is {width}x{height}; at least {MIN_SIDE}x{MIN_SIDE} is needed"
        )));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::Image(format!(
            "image is {width}x{height}; at most {MAX_SIDE} px per side and {MAX_PIXELS} pixels are accepted"
        )));
    }
    Ok(())
}

impl FaceImage {
    /// Decodes JPEG or PNG bytes, honouring EXIF orientation. Fails with [`Error::Image`] for empty,
    /// truncated, unsupported, too small or too large images (size checked from the header first).
    pub fn decode(bytes: &[u8]) -> Result<FaceImage> {
        if bytes.is_empty() {
            return Err(Error::Image("empty input".into()));
        }
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::Image(format!("cannot read: {}", e.kind())))?;
        if !matches!(
            reader.format(),
            Some(image::ImageFormat::Jpeg | image::ImageFormat::Png)
        ) {
            return Err(Error::Image("not a JPEG or PNG image".into()));
        }
        let mut decoder = reader
            .into_decoder()
            .map_err(|e| Error::Image(format!("cannot decode header: {e}")))?;
        let (w, h) = decoder.dimensions();
        check_size(w, h)?;
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
        decoder
            .set_limits(limits)
            .map_err(|e| Error::Image(format!("image too large: {e}")))?;
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut img = DynamicImage::from_decoder(decoder)
            .map_err(|e| Error::Image(format!("cannot decode: {e}")))?;
        img.apply_orientation(orientation);
        let rgb = img.into_rgb8();
        let (width, height) = rgb.dimensions();
        Ok(FaceImage {
            width,
            height,
            rgb: rgb.into_raw(),
        })
    }

    /// Converts a raw camera frame (RGBA8, BGRA8, NV21, I420) and rotates it upright.
    pub fn from_raw(frame: &RawFrame) -> Result<FaceImage> {
        let (w, h) = (frame.width, frame.height);
        check_size(w, h)?;
        if !matches!(frame.rotation_degrees, 0 | 90 | 180 | 270) {
            return Err(Error::invalid(
                "rotation_degrees",
                "must be 0, 90, 180 or 270",
            ));
        }
        let (wu, hu) = (w as usize, h as usize);
        let n = wu * hu;
        let (cw, ch) = (wu.div_ceil(2), hu.div_ceil(2));
        let expected = match frame.format {
            PixelFormat::Rgba8 | PixelFormat::Bgra8 => n * 4,
            PixelFormat::Nv21 | PixelFormat::I420 => n + 2 * cw * ch,
        };
        if frame.data.len() != expected {
            return Err(Error::invalid(
                "data",
                format!(
                    "{} bytes for this format and size, expected {expected}",
                    frame.data.len()
                ),
            ));
        }
        let d = &frame.data;
        let mut rgb = vec![0u8; n * 3];
        match frame.format {
            PixelFormat::Rgba8 | PixelFormat::Bgra8 => {
                let bgr = frame.format == PixelFormat::Bgra8;
                for (px, out) in d.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
                    if bgr {
                        out.copy_from_slice(&[px[2], px[1], px[0]]);
                    } else {
                        out.copy_from_slice(&px[..3]);
                    }
                }
            }
            PixelFormat::Nv21 | PixelFormat::I420 => {
                let (y_plane, chroma) = d.split_at(n);
                for yy in 0..hu {
                    for xx in 0..wu {
                        let ci = (yy / 2) * cw + xx / 2;
                        let (u, v) = if frame.format == PixelFormat::Nv21 {
                            (chroma[2 * ci + 1], chroma[2 * ci])
                        } else {
                            (chroma[ci], chroma[cw * ch + ci])
                        };
                        let o = (yy * wu + xx) * 3;
                        rgb[o..o + 3].copy_from_slice(&yuv_to_rgb(y_plane[yy * wu + xx], u, v));
                    }
                }
            }
        }
        let img = FaceImage {
            width: w,
            height: h,
            rgb,
        };
        Ok(img.rotated(frame.rotation_degrees))
    }

    /// Builds an image from tightly packed RGB8 pixels.
    pub fn from_rgb8(width: u32, height: u32, rgb: Vec<u8>) -> Result<FaceImage> {
        check_size(width, height)?;
        if rgb.len() != width as usize * height as usize * 3 {
            return Err(Error::invalid(
                "rgb",
                "length does not match width x height x 3",
            ));
        }
        Ok(FaceImage { width, height, rgb })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Interleaved RGB8 pixels, row by row.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Returns the image rotated clockwise by 0, 90, 180 or 270 degrees (other values: unchanged).
    fn rotated(self, degrees: u32) -> FaceImage {
        let (w, h) = (self.width as usize, self.height as usize);
        let (nw, nh) = if degrees % 180 == 90 { (h, w) } else { (w, h) };
        if degrees == 0 || !matches!(degrees, 90 | 180 | 270) {
            return self;
        }
        let mut out = vec![0u8; w * h * 3];
        for y in 0..nh {
            for x in 0..nw {
                // Source pixel of output (x, y) for a clockwise rotation.
                let (sx, sy) = match degrees {
                    90 => (y, h - 1 - x),
                    180 => (w - 1 - x, h - 1 - y),
                    _ => (w - 1 - y, x),
                };
                let s = (sy * w + sx) * 3;
                let o = (y * nw + x) * 3;
                out[o..o + 3].copy_from_slice(&self.rgb[s..s + 3]);
            }
        }
        FaceImage {
            width: nw as u32,
            height: nh as u32,
            rgb: out,
        }
    }
}

/// BT.601 full-range YUV (as produced by Android and iOS cameras) to RGB.
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let y = f32::from(y);
    let u = f32::from(u) - 128.0;
    let v = f32::from(v) - 128.0;
    let r = y + 1.402 * v;
    let g = y - 0.344_136 * u - 0.714_136 * v;
    let b = y + 1.772 * u;
    [
        r.round().clamp(0.0, 255.0) as u8,
        g.round().clamp(0.0, 255.0) as u8,
        b.round().clamp(0.0, 255.0) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(format: PixelFormat, w: u32, h: u32, rot: u32, data: Vec<u8>) -> RawFrame {
        RawFrame {
            format,
            width: w,
            height: h,
            rotation_degrees: rot,
            data,
        }
    }

    #[test]
    fn rotation_moves_the_top_left_pixel() {
        let (w, h) = (16u32, 12u32);
        let mut data = vec![0u8; (w * h * 4) as usize];
        data[..4].copy_from_slice(&[255, 0, 0, 255]);
        for (rot, (x, y)) in [(0, (0, 0)), (90, (11, 0)), (180, (15, 11)), (270, (0, 15))] {
            let img = FaceImage::from_raw(&frame(PixelFormat::Rgba8, w, h, rot, data.clone()))
                .expect("valid frame");
            let o = ((y * img.width() + x) * 3) as usize;
            assert_eq!(&img.rgb()[o..o + 3], &[255, 0, 0], "rotation {rot}");
        }
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert!(matches!(
            FaceImage::from_raw(&frame(PixelFormat::Nv21, 16, 16, 0, vec![0; 10])),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            FaceImage::from_raw(&frame(PixelFormat::Rgba8, 16, 16, 45, vec![0; 1024])),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            FaceImage::from_raw(&frame(PixelFormat::Rgba8, 1, 1, 0, vec![0; 4])),
            Err(Error::Image(_))
        ));
        assert!(matches!(FaceImage::decode(&[]), Err(Error::Image(_))));
    }

    #[test]
    fn grey_yuv_is_grey_rgb() {
        assert_eq!(yuv_to_rgb(128, 128, 128), [128, 128, 128]);
    }
}
