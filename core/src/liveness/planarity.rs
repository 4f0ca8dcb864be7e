//! Planarity: does what the camera sees move like one flat picture?
//!
//! A printed photo or a phone screen is flat. However it is moved, tilted or scaled in front of the camera,
//! the image of every point on it moves by one and the same plane-to-plane projective map (a homography).
//!
//! The decisive test ([`track_residual`]) fits that map by least squares to the feature points the face
//! engine tracked by optical flow between two frames of a step and measures how far the points stray
//! from it. The older test ([`nose_residual`], recorded, not decisive by default) fits it on the eyes and
//! the mouth corners of the five detector landmarks of a neutral frame and of a peak-pose frame and asks
//! where it sends the nose tip. For a flat picture the
//! prediction lands on the observed nose (up to landmark noise); for a real head the nose tip sticks out
//! about half an inter-ocular distance in front of the eye/mouth plane, so turning or nodding moves it away
//! from the prediction (motion parallax). The residual, divided by the neutral frame's inter-ocular distance,
//! is the evidence.
//!
//! The fits use Hartley normalisation in `f64` (an exact 4-point solve, or least squares over many
//! points); they return `None` for degenerate configurations instead of a meaningless map.

/// A 3x3 plane projective map, row-major, acting on `[x, y, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [[f64; 3]; 3]);

/// Solve `a x = b` (n unknowns) by Gaussian elimination with partial pivoting; `None` if singular.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (v, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let tail: f64 = a[row][row + 1..]
            .iter()
            .zip(&x[row + 1..])
            .map(|(p, q)| p * q)
            .sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// [`normaliser_n`] of four points.
fn normaliser(pts: &[[f64; 2]; 4]) -> Option<Homography> {
    normaliser_n(pts)
}

impl Homography {
    /// The identity map.
    pub const IDENTITY: Homography =
        Homography([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);

    /// The homography mapping each `src[i]` exactly onto `dst[i]`; `None` if any three points of either
    /// set are (nearly) collinear or a value is not finite.
    pub fn from_4_points(src: &[[f64; 2]; 4], dst: &[[f64; 2]; 4]) -> Option<Homography> {
        let ts = normaliser(src)?;
        let td = normaliser(dst)?;
        let s = src.map(|p| ts.apply(p)).map(Option::unwrap_or_default);
        let d = dst.map(|p| td.apply(p)).map(Option::unwrap_or_default);
        let mut a = [[0.0; 8]; 8];
        let mut b = [0.0; 8];
        for i in 0..4 {
            let [x, y] = s[i];
            let [u, v] = d[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y];
            b[2 * i] = u;
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y];
            b[2 * i + 1] = v;
        }
        let h = solve(a, b)?;
        let hn = Homography([[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], 1.0]]);
        let out = td.inverse()?.compose(&hn).compose(&ts);
        // Reject maps that fold the plane between the points (a sign change of w at a source point).
        let w0 = out.w(src[0]);
        if src.iter().any(|&p| out.w(p) * w0 <= 0.0) {
            return None;
        }
        Some(out)
    }

    fn w(&self, p: [f64; 2]) -> f64 {
        let m = &self.0;
        m[2][0] * p[0] + m[2][1] * p[1] + m[2][2]
    }

    /// Image of a point; `None` if it maps to infinity.
    pub fn apply(&self, p: [f64; 2]) -> Option<[f64; 2]> {
        let m = &self.0;
        let w = self.w(p);
        if w.abs() < 1e-12 {
            return None;
        }
        let x = (m[0][0] * p[0] + m[0][1] * p[1] + m[0][2]) / w;
        let y = (m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]) / w;
        (x.is_finite() && y.is_finite()).then_some([x, y])
    }

    /// `self ∘ other` (apply `other` first).
    #[must_use]
    pub fn compose(&self, other: &Homography) -> Homography {
        let (a, b) = (&self.0, &other.0);
        let mut m = [[0.0; 3]; 3];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        Homography(m)
    }

    /// The inverse map; `None` if singular.
    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.0;
        let c = |r0: usize, r1: usize, c0: usize, c1: usize| {
            m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]
        };
        let adj = [
            [c(1, 2, 1, 2), -c(0, 2, 1, 2), c(0, 1, 1, 2)],
            [-c(1, 2, 0, 2), c(0, 2, 0, 2), -c(0, 1, 0, 2)],
            [c(1, 2, 0, 1), -c(0, 2, 0, 1), c(0, 1, 0, 1)],
        ];
        let det = m[0][0] * adj[0][0] + m[0][1] * adj[1][0] + m[0][2] * adj[2][0];
        if det.abs() < 1e-15 || !det.is_finite() {
            return None;
        }
        Some(Homography(adj.map(|r| r.map(|v| v / det))))
    }
}

/// Similarity that moves the centroid of `pts` to the origin and their mean distance to sqrt(2)
/// (Hartley's normalisation, for any number of points).
fn normaliser_n(pts: &[[f64; 2]]) -> Option<Homography> {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let mean = pts
        .iter()
        .map(|p| (p[0] - cx).hypot(p[1] - cy))
        .sum::<f64>()
        / n;
    if !(mean > 1e-9 && mean.is_finite()) {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / mean;
    Some(Homography([
        [s, 0.0, -s * cx],
        [0.0, s, -s * cy],
        [0.0, 0.0, 1.0],
    ]))
}

impl Homography {
    /// The least-squares homography sending `src[i]` near `dst[i]` (algebraic error on normalised
    /// points, `h33 = 1`); `None` with fewer than 4 pairs or a degenerate configuration.
    pub fn fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Homography> {
        if src.len() != dst.len() || src.len() < 4 {
            return None;
        }
        let ts = normaliser_n(src)?;
        let td = normaliser_n(dst)?;
        let mut ata = [[0.0; 8]; 8];
        let mut atb = [0.0; 8];
        for (p, q) in src.iter().zip(dst) {
            let [x, y] = ts.apply(*p)?;
            let [u, v] = td.apply(*q)?;
            for (row, rhs) in [
                ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
                ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
            ] {
                for i in 0..8 {
                    atb[i] += row[i] * rhs;
                    for j in 0..8 {
                        ata[i][j] += row[i] * row[j];
                    }
                }
            }
        }
        let h = solve(ata, atb)?;
        let hn = Homography([[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], 1.0]]);
        Some(td.inverse()?.compose(&hn).compose(&ts))
    }
}

/// The parallax of tracked feature points between two frames of one generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackParallax {
    /// 75th percentile of the points' distances from the least-squares homography's prediction,
    /// divided by the inter-ocular distance given.
    pub residual: f32,
    /// Points the map was fitted on (alive in both frames).
    pub points: usize,
}

/// How far feature points tracked in the pixels stray from one plane-to-plane map between frames `a`
/// and `b` (same generation: the same points, `None` where lost), in inter-ocular distances `iod_px`.
///
/// Everything on a printed photo or a screen moves by one homography however the picture is held, so
/// its points fit one up to tracking noise; on a turning head the nose, the eyes and the cheeks are at
/// different depths and do not. The points come from the pixels (optical flow), not from a face model,
/// which would place them as on a head whatever it is shown (measured: `README.md` beside this file).
/// The 75th percentile keeps a few bad tracks from making a photo look three-dimensional. `None` with
/// fewer than `min_points` points alive in both frames, or a degenerate configuration.
pub fn track_residual(
    a: &[Option<[f32; 2]>],
    b: &[Option<[f32; 2]>],
    iod_px: f32,
    min_points: usize,
) -> Option<TrackParallax> {
    if a.len() != b.len() || iod_px.is_nan() || iod_px <= 0.0 {
        return None;
    }
    let (src, dst): (Vec<[f64; 2]>, Vec<[f64; 2]>) = a
        .iter()
        .zip(b)
        .filter_map(|(p, q)| Some((p.as_ref()?, q.as_ref()?)))
        .map(|(p, q)| {
            (
                [f64::from(p[0]), f64::from(p[1])],
                [f64::from(q[0]), f64::from(q[1])],
            )
        })
        .unzip();
    if src.len() < min_points.max(5) {
        return None;
    }
    let h = Homography::fit(&src, &dst)?;
    let mut d: Vec<f64> = src
        .iter()
        .zip(&dst)
        .map(|(p, q)| {
            h.apply(*p)
                .map_or(f64::INFINITY, |m| (m[0] - q[0]).hypot(m[1] - q[1]))
        })
        .collect();
    d.sort_by(f64::total_cmp);
    let k = (d.len() * 3).div_ceil(4).saturating_sub(1);
    let r = d.get(k)? / f64::from(iod_px);
    r.is_finite().then_some(TrackParallax {
        residual: r as f32,
        points: src.len(),
    })
}

/// The four non-nose landmarks (eyes, mouth corners) in `f64`.
fn rim(l: &[[f32; 2]; 5]) -> [[f64; 2]; 4] {
    [0, 1, 3, 4].map(|i| [f64::from(l[i][0]), f64::from(l[i][1])])
}

/// Nose parallax between a neutral frame and a moved frame: the distance between the observed nose in
/// `moved` and where the homography fitted on the eyes and mouth corners sends the neutral frame's nose,
/// divided by the neutral frame's inter-ocular distance. About 0 (plus landmark noise) for a flat picture.
/// `None` when the geometry is degenerate.
pub fn nose_residual(neutral: &[[f32; 2]; 5], moved: &[[f32; 2]; 5]) -> Option<f32> {
    let iod =
        f64::from(neutral[1][0] - neutral[0][0]).hypot(f64::from(neutral[1][1] - neutral[0][1]));
    if iod.is_nan() || iod <= 1e-3 {
        return None;
    }
    let h = Homography::from_4_points(&rim(neutral), &rim(moved))?;
    let predicted = h.apply([f64::from(neutral[2][0]), f64::from(neutral[2][1])])?;
    let d = (predicted[0] - f64::from(moved[2][0])).hypot(predicted[1] - f64::from(moved[2][1]));
    let r = (d / iod) as f32;
    r.is_finite().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_fit_reproduces_a_known_homography() {
        let h = Homography([[1.1, 0.2, 5.0], [-0.1, 0.9, -3.0], [0.001, -0.0005, 1.0]]);
        let src = [[10.0, 10.0], [90.0, 12.0], [15.0, 80.0], [85.0, 95.0]];
        let dst = src.map(|p| h.apply(p).unwrap());
        let g = Homography::from_4_points(&src, &dst).unwrap();
        for p in [[50.0, 50.0], [0.0, 0.0], [120.0, 33.0]] {
            let (a, b) = (h.apply(p).unwrap(), g.apply(p).unwrap());
            assert!((a[0] - b[0]).abs() < 1e-7 && (a[1] - b[1]).abs() < 1e-7);
        }
        let back = g.inverse().unwrap().compose(&g);
        for (i, row) in back.0.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v / back.0[2][2] - want).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn collinear_points_are_rejected() {
        let src = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]];
        let dst = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        assert!(Homography::from_4_points(&src, &dst).is_none());
        assert!(Homography::from_4_points(&dst, &src).is_none());
    }

    #[test]
    fn planar_motion_gives_zero_nose_residual() {
        let l = [
            [100.0, 100.0],
            [160.0, 100.0],
            [131.0, 137.0],
            [108.0, 170.0],
            [152.0, 170.0],
        ];
        let h = Homography([
            [0.8, 0.15, 40.0],
            [-0.05, 1.05, 10.0],
            [0.0008, 0.0003, 1.0],
        ]);
        let moved = l.map(|[x, y]| {
            let q = h.apply([f64::from(x), f64::from(y)]).unwrap();
            [q[0] as f32, q[1] as f32]
        });
        assert!(nose_residual(&l, &moved).unwrap() < 1e-4);
        let mut off = moved;
        off[2][0] += 12.0;
        let r = nose_residual(&l, &off).unwrap();
        assert!(r > 0.1, "{r}");
    }
}
