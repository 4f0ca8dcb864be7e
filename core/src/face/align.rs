//! Alignment: a least-squares similarity transform (rotation, uniform scale, translation) maps the five
//! detected landmarks onto the standard 112x112 ArcFace template, and the face is resampled bilinearly.
//!
//! The embedding network was trained on faces aligned this way; a wrong template, landmark order or
//! interpolation shows up directly as lost margin between same-person and different-person scores.

use super::input::FaceImage;

/// Side of the aligned face.
pub const ALIGNED: usize = 112;

/// The ArcFace / InsightFace 5-point template for 112x112 crops: left eye, right eye, nose tip, left and
/// right mouth corners.
pub const TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A similarity transform `(x, y) -> (a x - b y + tx, b x + a y + ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// scale * cos(angle).
    pub a: f32,
    /// scale * sin(angle).
    pub b: f32,
    /// Translation in x.
    pub tx: f32,
    /// Translation in y.
    pub ty: f32,
}

impl Similarity {
    /// Least-squares fit mapping `src` onto `dst` (closed form; the Umeyama solution without reflection).
    /// Returns `None` for degenerate input (all points equal, non-finite values).
    pub fn fit(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Similarity> {
        let n = src.len().min(dst.len()) as f64;
        if n < 2.0 {
            return None;
        }
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p.iter().fold((0f64, 0f64), |acc, q| {
                (acc.0 + f64::from(q[0]), acc.1 + f64::from(q[1]))
            });
            (sx / n, sy / n)
        };
        let (msx, msy) = mean(src);
        let (mdx, mdy) = mean(dst);
        let (mut sxx, mut num_a, mut num_b) = (0f64, 0f64, 0f64);
        for (s, d) in src.iter().zip(dst) {
            let (xs, ys) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
            let (xd, yd) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
            sxx += xs * xs + ys * ys;
            num_a += xs * xd + ys * yd;
            num_b += xs * yd - ys * xd;
        }
        if !(sxx > 1e-9) || !sxx.is_finite() {
            return None;
        }
        let a = num_a / sxx;
        let b = num_b / sxx;
        let tx = mdx - (a * msx - b * msy);
        let ty = mdy - (b * msx + a * msy);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }

    /// Applies the transform to a point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if !(d > 1e-12) {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        let tx = -(a * self.tx - b * self.ty);
        let ty = -(b * self.tx + a * self.ty);
        Some(Similarity { a, b, tx, ty })
    }
}

/// Warps the face into a 112x112 RGB8 crop (row-major, interleaved); pixels outside the image are black.
/// Returns `None` if the landmarks are degenerate.
pub fn align(img: &FaceImage, landmarks: &[[f32; 2]; 5]) -> Option<Vec<u8>> {
    let inv = Similarity::fit(landmarks, &TEMPLATE)?.inverse()?;
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let rgb = img.rgb();
    let mut out = vec![0u8; ALIGNED * ALIGNED * 3];
    for v in 0..ALIGNED {
        for u in 0..ALIGNED {
            let [sx, sy] = inv.apply([u as f32, v as f32]);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let mut px = [0f32; 3];
            for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
                for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                    let (x, y) = (x0 + dx, y0 + dy);
                    if x < 0 || y < 0 || x >= w || y >= h {
                        continue;
                    }
                    let o = ((y * w + x) * 3) as usize;
                    for c in 0..3 {
                        px[c] += wx * wy * f32::from(rgb[o + c]);
                    }
                }
            }
            let o = (v * ALIGNED + u) * 3;
            for c in 0..3 {
                out[o + c] = px[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_transform() {
        let t = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -7.0,
        };
        let src: Vec<[f32; 2]> = TEMPLATE
            .iter()
            .map(|p| [p[0] * 2.0 + 10.0, p[1] * 1.5 + 3.0])
            .collect();
        let dst: Vec<[f32; 2]> = src.iter().map(|p| t.apply(*p)).collect();
        let f = Similarity::fit(&src, &dst).expect("non-degenerate");
        assert!((f.a - t.a).abs() < 1e-4 && (f.b - t.b).abs() < 1e-4);
        assert!((f.tx - t.tx).abs() < 1e-2 && (f.ty - t.ty).abs() < 1e-2);
        let inv = f.inverse().expect("invertible");
        let p = inv.apply(f.apply([3.0, 4.0]));
        assert!((p[0] - 3.0).abs() < 1e-3 && (p[1] - 4.0).abs() < 1e-3);
    }

    #[test]
    fn degenerate_landmarks_are_refused() {
        assert!(Similarity::fit(&[[1.0, 1.0]; 5], &TEMPLATE).is_none());
        assert!(Similarity::fit(&[[f32::NAN, 1.0]; 5], &TEMPLATE).is_none());
    }
}
