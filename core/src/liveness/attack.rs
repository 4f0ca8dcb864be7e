//! Image-level presentation attacks for tests: a photo held in a hand (random homography), a screen
//! (blur plus moiré-like interference).
//!
//! The liveness check itself works on landmarks; these helpers let the integrator build attack *frames*
//! from the real photos in `../shared/faces`, run the face engine on them and feed the observations to
//! [`super::check`]. Plain Rust over packed RGB8 buffers (`width * height * 3` bytes), no image crate.

use super::planarity::Homography;
use super::synth::Rng;
use crate::{Error, Result};

/// A packed RGB8 image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, row-major.
    pub data: Vec<u8>,
}

impl Rgb {
    /// Wrap a buffer, checking its length.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Rgb> {
        let want = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(3))
            .ok_or_else(|| Error::invalid("image", "dimensions overflow"))?;
        if width == 0 || height == 0 || data.len() != want {
            return Err(Error::invalid(
                "image",
                "buffer length is not width * height * 3",
            ));
        }
        Ok(Rgb {
            width,
            height,
            data,
        })
    }

    /// The rectangle `[x0, y0, x1, y1)` (clamped to the image) as a new image.
    pub fn crop(&self, rect: [u32; 4]) -> Result<Rgb> {
        let [x0, y0] = [rect[0].min(self.width), rect[1].min(self.height)];
        let [x1, y1] = [rect[2].min(self.width), rect[3].min(self.height)];
        if x1 <= x0 || y1 <= y0 {
            return Err(Error::invalid("crop", "empty rectangle"));
        }
        let mut data = Vec::with_capacity(((x1 - x0) * (y1 - y0) * 3) as usize);
        for y in y0..y1 {
            let row = (y * self.width) as usize * 3;
            data.extend_from_slice(&self.data[row + x0 as usize * 3..row + x1 as usize * 3]);
        }
        Rgb::new(x1 - x0, y1 - y0, data)
    }

    fn sample(&self, x: f64, y: f64, fill: [u8; 3]) -> [u8; 3] {
        // Bilinear; outside the image: the fill colour (the background behind the photo).
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        if !(x >= 0.0 && y >= 0.0 && x <= w - 1.0 && y <= h - 1.0) {
            return fill;
        }
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = (
            (x0 + 1).min(self.width as usize - 1),
            (y0 + 1).min(self.height as usize - 1),
        );
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        let px = |xx: usize, yy: usize, c: usize| {
            f64::from(self.data[(yy * self.width as usize + xx) * 3 + c])
        };
        let mut out = [0u8; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let top = px(x0, y0, c) * (1.0 - fx) + px(x1, y0, c) * fx;
            let bot = px(x0, y1, c) * (1.0 - fx) + px(x1, y1, c) * fx;
            *o = (top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8;
        }
        out
    }
}

/// Warp `src` by `h` (source → destination pixel coordinates) into a `width x height` image; pixels that
/// come from outside the source get `fill`.
pub fn warp(src: &Rgb, h: &Homography, width: u32, height: u32, fill: [u8; 3]) -> Result<Rgb> {
    let inv = h
        .inverse()
        .ok_or_else(|| Error::invalid("homography", "singular"))?;
    let mut data = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let px = inv
                .apply([f64::from(x), f64::from(y)])
                .map_or(fill, |[sx, sy]| src.sample(sx, sy, fill));
            data.extend_from_slice(&px);
        }
    }
    Rgb::new(width, height, data)
}

/// A random "photo in a hand" homography for a `width x height` image: each corner moved by up to
/// `strength` times the image size (0.15 is a strongly tilted photo), keeping the photo inside the frame
/// in the typical case. Retries until the map is valid.
pub fn random_homography(rng: &mut Rng, width: u32, height: u32, strength: f64) -> Homography {
    let (w, h) = (f64::from(width), f64::from(height));
    let src = [[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]];
    loop {
        let dst = src.map(|[x, y]| {
            [
                x + rng.uniform(-strength, strength) * w,
                y + rng.uniform(-strength, strength) * h,
            ]
        });
        if let Some(m) = Homography::from_4_points(&src, &dst) {
            return m;
        }
    }
}

/// Box blur of the given radius (a screen or a reprinted photo is softer than a face).
pub fn box_blur(img: &Rgb, radius: u32) -> Rgb {
    if radius == 0 {
        return img.clone();
    }
    let (w, h) = (img.width as usize, img.height as usize);
    let r = radius as usize;
    let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
        let mut out = vec![0u8; src.len()];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let (mut sum, mut n) = (0u32, 0u32);
                    let (lo, hi, fixed) = if horizontal {
                        (x.saturating_sub(r), (x + r).min(w - 1), y)
                    } else {
                        (y.saturating_sub(r), (y + r).min(h - 1), x)
                    };
                    for k in lo..=hi {
                        let (xx, yy) = if horizontal { (k, fixed) } else { (fixed, k) };
                        sum += u32::from(src[(yy * w + xx) * 3 + c]);
                        n += 1;
                    }
                    out[(y * w + x) * 3 + c] = (sum / n) as u8;
                }
            }
        }
        out
    };
    let data = pass(&pass(&img.data, true), false);
    Rgb {
        width: img.width,
        height: img.height,
        data,
    }
}

/// Add a moiré-like interference pattern (two slightly different gratings beating, as a camera sees a
/// pixel grid) of the given amplitude (grey levels) and period (pixels), plus per-channel RGB subpixel
/// tint, in place.
pub fn add_moire(img: &mut Rgb, period_px: f64, angle_deg: f64, amplitude: f64) {
    let (s, c) = angle_deg.to_radians().sin_cos();
    let k1 = std::f64::consts::TAU / period_px.max(1.0);
    let k2 = k1 * 1.07;
    let w = img.width as usize;
    for (i, px) in img.data.chunks_exact_mut(3).enumerate() {
        let (x, y) = ((i % w) as f64, (i / w) as f64);
        let u = x * c + y * s;
        let v = -x * s + y * c;
        let beat = (k1 * u).sin() * (k2 * (u + 0.3 * v)).sin();
        for (ch, p) in px.iter_mut().enumerate() {
            let phase = (k1 * 3.0 * x + ch as f64 * std::f64::consts::TAU / 3.0).sin();
            let d = amplitude * (beat + 0.3 * phase);
            *p = (f64::from(*p) + d).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// How an attacker holds a picture of the enrolled person up to the camera during a challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldPicture {
    /// Output frame size, pixels (a low-resolution preview stream, e.g. 480x360).
    pub frame: (u32, u32),
    /// Width the face should have in the frame at zero tilt, pixels.
    pub face_px: f64,
    /// The picture is tilted to imitate each movement by this much at the peak, degrees (sign: the
    /// movement's own; an attacker may as well tilt the other way, see `flip`).
    pub tilt_deg: f64,
    /// Tilt the opposite way to the movement.
    pub flip: bool,
    /// Hand jitter, degrees (σ) of tilt and roll, and pixels (σ) of shift.
    pub jitter: f64,
    /// A screen instead of a print: blur of this radius plus moiré (0 = a print).
    pub screen_blur: u32,
    /// Focal length of the simulated camera, pixels.
    pub focal_px: f64,
}

impl Default for HeldPicture {
    fn default() -> Self {
        HeldPicture {
            frame: (480, 360),
            face_px: 150.0,
            tilt_deg: 35.0,
            flip: false,
            jitter: 1.5,
            screen_blur: 0,
            focal_px: 500.0,
        }
    }
}

/// The homography that a flat picture undergoes when it is rotated in 3-D (yaw about its vertical axis,
/// pitch about its horizontal axis, then roll) around the point `centre` of the picture, seen by a
/// pinhole camera of focal `focal` at distance `focal` (1 picture pixel = `scale` frame pixels at zero
/// tilt), and shifted by `shift` in the frame.
#[allow(clippy::too_many_arguments)]
pub fn plane_tilt(
    picture: (u32, u32),
    centre: [f64; 2],
    scale: f64,
    frame: (u32, u32),
    angles_deg: [f64; 3],
    shift: [f64; 2],
    focal: f64,
) -> Option<Homography> {
    let (w, h) = (f64::from(picture.0), f64::from(picture.1));
    let [yaw, pitch, roll] = angles_deg.map(f64::to_radians);
    let corners = [[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]];
    let project = |[x, y]: [f64; 2]| {
        let (px, py) = ((x - centre[0]) * scale, (y - centre[1]) * scale);
        // yaw about the vertical axis, then pitch about the horizontal one, then roll in the image.
        let (x1, z1) = (px * yaw.cos(), -px * yaw.sin());
        let (y2, z2) = (
            py * pitch.cos() - z1 * pitch.sin(),
            py * pitch.sin() + z1 * pitch.cos(),
        );
        let (x3, y3) = (
            x1 * roll.cos() - y2 * roll.sin(),
            x1 * roll.sin() + y2 * roll.cos(),
        );
        let z = focal + z2;
        [
            focal * x3 / z + f64::from(frame.0) / 2.0 + shift[0],
            focal * y3 / z + f64::from(frame.1) / 2.0 + shift[1],
        ]
    };
    let dst = corners.map(project);
    Homography::from_4_points(&corners, &dst)
}

/// Frames (with their times after the first frame, ms) of `picture` held up to the camera and tilted to
/// imitate `steps` at `fps`, following the same neutral / out / back schedule as a live answer
/// ([`super::synth::schedule`]). `face` is the face's box in the picture `[x1, y1, x2, y2]`.
pub fn held_picture_frames(
    picture: &Rgb,
    face: [f32; 4],
    steps: &[super::Movement],
    how: &HeldPicture,
    fps: f64,
    rng: &mut Rng,
) -> Result<Vec<(i64, Rgb)>> {
    let width = f64::from(face[2] - face[0]);
    if !(width.is_finite() && width > 1.0 && fps > 0.0) {
        return Err(Error::invalid("held_picture", "bad face box or frame rate"));
    }
    // The print: a square of 2.4 face widths around the face (a portrait photo), cut from the picture.
    let (cx, cy) = (
        f64::from(face[0] + face[2]) / 2.0,
        f64::from(face[1] + face[3]) / 2.0,
    );
    let half = 1.2 * width;
    let x0 = (cx - half).max(0.0) as u32;
    let y0 = (cy - half).max(0.0) as u32;
    let picture = &picture.crop([x0, y0, (cx + half) as u32, (cy + half) as u32])?;
    let centre = [cx - f64::from(x0), cy - f64::from(y0)];
    let spec = super::synth::SequenceSpec {
        yaw_deg: how.tilt_deg,
        pitch_deg: how.tilt_deg,
        ..super::synth::SequenceSpec::default()
    };
    let sign = if how.flip { -1.0 } else { 1.0 };
    let mut out = Vec::new();
    for (i, (yaw, pitch)) in super::synth::schedule(steps, &spec).into_iter().enumerate() {
        let j = how.jitter;
        let angles = [
            sign * yaw + j * rng.gaussian(),
            sign * pitch + j * rng.gaussian(),
            j * rng.gaussian(),
        ];
        let shift = [3.0 * j * rng.gaussian(), 3.0 * j * rng.gaussian()];
        let h = plane_tilt(
            (picture.width, picture.height),
            centre,
            how.face_px / width,
            how.frame,
            angles,
            shift,
            how.focal_px,
        )
        .ok_or_else(|| Error::invalid("held_picture", "degenerate tilt"))?;
        let mut img = warp(picture, &h, how.frame.0, how.frame.1, [96, 90, 84])?;
        if how.screen_blur > 0 {
            img = box_blur(&img, how.screen_blur);
            add_moire(&mut img, 4.0, 15.0 + 10.0 * rng.gaussian(), 14.0);
        }
        out.push(((i as f64 * 1000.0 / fps).round() as i64, img));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: u32, h: u32) -> Rgb {
        let mut d = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = if (x / 8 + y / 8) % 2 == 0 { 220 } else { 30 };
                d.extend_from_slice(&[v, v / 2, 255 - v]);
            }
        }
        Rgb::new(w, h, d).unwrap()
    }

    #[test]
    fn identity_warp_is_lossless_and_bad_buffers_are_errors() {
        let img = checker(40, 30);
        let out = warp(&img, &Homography::IDENTITY, 40, 30, [0, 0, 0]).unwrap();
        assert_eq!(out, img);
        assert!(Rgb::new(4, 4, vec![0; 47]).is_err());
        assert!(Rgb::new(0, 4, vec![]).is_err());
        let singular = Homography([[0.0; 3]; 3]);
        assert!(warp(&img, &singular, 10, 10, [0, 0, 0]).is_err());
    }

    #[test]
    fn random_homography_moves_a_point_like_the_image() {
        let mut rng = Rng::new(3);
        let img = checker(64, 48);
        let h = random_homography(&mut rng, 64, 48, 0.1);
        let out = warp(&img, &h, 64, 48, [0, 255, 0]).unwrap();
        assert_ne!(out, img);
        // A source pixel lands where the homography says (up to interpolation at checker edges).
        let [dx, dy] = h.apply([20.0 + 4.0, 16.0 + 4.0]).unwrap();
        if (0.0..63.0).contains(&dx) && (0.0..47.0).contains(&dy) {
            let src_px = &img.data[((20 * 64 + 24) * 3)..((20 * 64 + 24) * 3 + 3)];
            let dst = out.sample(dx, dy, [0, 0, 0]);
            assert!((i32::from(src_px[0]) - i32::from(dst[0])).abs() < 120);
        }
    }

    #[test]
    fn blur_and_moire_change_high_frequencies() {
        let img = checker(32, 32);
        let energy = |i: &Rgb| -> u64 {
            i.data
                .chunks_exact(3)
                .zip(i.data.chunks_exact(3).skip(1))
                .map(|(a, b)| u64::from(a[0].abs_diff(b[0])))
                .sum()
        };
        let blurred = box_blur(&img, 2);
        assert!(energy(&blurred) < energy(&img));
        let mut m = blurred.clone();
        add_moire(&mut m, 4.0, 20.0, 25.0);
        assert_ne!(m, blurred);
        assert_eq!(box_blur(&img, 0), img);
    }
}
