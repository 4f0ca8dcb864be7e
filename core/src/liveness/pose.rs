//! Head pose in degrees from the face mesh: a rigid 3-D face fitted to 28 mesh points.
//!
//! The challenge needs to know which way the head turned and by how many degrees, relative to the
//! person's own neutral pose, whatever their face looks like and whatever their expression. So the pose
//! is read from points that do not move with expression (forehead, brows, eye corners, nose, cheeks, the
//! face's edges; no mouth, no jaw opening) and fitted, not computed from a ratio:
//!
//! - [`CANONICAL`] is a 3-D face in inter-ocular distances (IOD), measured from the mesh itself: the
//!   neutral frames of the 11 people of `../shared/liveness-real` aligned together (generalised Procrustes
//!   on the model's own 3-D output) and made left-right symmetric. `xtask`-free: the table below is the
//!   result, and `README.md` beside this file says how it was made;
//! - per frame, a scaled orthographic camera (pose from orthography and scaling, "POS") is fitted to the
//!   2-D points by least squares and its rotation read as yaw, pitch and roll. Only the image positions
//!   are used, not the mesh's own depth guess: the 2-D positions follow the pixels, the depth is the
//!   network's prior.
//!
//! Directions (unmirrored camera frame, as everywhere in this module): positive yaw = nose towards
//! image +x (the person's left); positive pitch = looking up. The fit is decoupled by construction: a
//! pure turn does not move the pitch, a pure nod does not move the yaw, and in-plane roll moves neither.
//! Absolute angles carry each person's own offset (the canonical face is an average); the check only
//! uses changes from the person's neutral pose.

use serde::{Deserialize, Serialize};

/// The five detector landmarks (the MTCNN order): left eye, right eye, nose, left mouth corner, right
/// mouth corner, "left" meaning the image's left.
pub type Landmarks = [[f32; 2]; 5];

/// The MediaPipe face-mesh indices the pose is fitted to, in the order of [`CANONICAL`] and of
/// [`super::FrameObservation::mesh`]: 8 on the midline, then 10 left-right pairs.
pub const POSE_POINTS: [u16; 28] = [
    10, 151, 9, 168, 6, 4, 1, 2, 33, 263, 133, 362, 234, 454, 129, 358, 70, 300, 105, 334, 54, 284,
    50, 280, 132, 361, 127, 356,
];

/// Indices into [`POSE_POINTS`] of the four eye corners (outer, outer, inner, inner), for the
/// inter-ocular distance of a mesh.
pub const EYE_CORNERS: [usize; 4] = [8, 9, 10, 11];

/// The canonical face: x to the image's right, y down, z away from the camera, in inter-ocular
/// distances, eye centres at `(±0.5, 0, 0)`. Measured (see the module docs); comments name the point.
pub const CANONICAL: [[f64; 3]; 28] = [
    [0.000, -0.879, -0.300],  // 10: forehead top
    [0.000, -0.612, -0.335],  // 151: forehead
    [0.000, -0.325, -0.356],  // 9: glabella
    [0.000, -0.068, -0.309],  // 168: between the eyes
    [0.000, 0.059, -0.368],   // 6: nose bridge
    [0.000, 0.557, -0.620],   // 4: above the nose tip
    [0.000, 0.663, -0.577],   // 1: nose tip
    [0.000, 0.755, -0.330],   // 2: below the nose
    [-0.714, -0.007, 0.042],  // 33: right eye, outer corner
    [0.714, -0.007, 0.042],   // 263: left eye, outer corner
    [-0.286, 0.007, -0.042],  // 133: right eye, inner corner
    [0.286, 0.007, -0.042],   // 362: left eye, inner corner
    [-1.081, 0.205, 0.912],   // 234: right face edge, temple
    [1.081, 0.205, 0.912],    // 454: left face edge, temple
    [-0.334, 0.597, -0.156],  // 129: right nose wing
    [0.334, 0.597, -0.156],   // 358: left nose wing
    [-0.902, -0.265, 0.038],  // 70: right brow, outer
    [0.902, -0.265, 0.038],   // 300: left brow, outer
    [-0.645, -0.389, -0.211], // 105: right brow, middle
    [0.645, -0.389, -0.211],  // 334: left brow, middle
    [-0.945, -0.616, 0.226],  // 54: right forehead side
    [0.945, -0.616, 0.226],   // 284: left forehead side
    [-0.763, 0.528, -0.002],  // 50: right cheek
    [0.763, 0.528, -0.002],   // 280: left cheek
    [-1.025, 0.715, 0.915],   // 132: right face edge, jaw
    [1.025, 0.715, 0.915],    // 361: left face edge, jaw
    [-1.095, -0.028, 0.823],  // 127: right face edge, ear
    [1.095, -0.028, 0.823],   // 356: left face edge, ear
];

/// Head pose of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Rotation about the vertical axis, degrees (+ = nose towards image +x).
    pub yaw: f32,
    /// Rotation about the horizontal axis, degrees (+ = looking up).
    pub pitch: f32,
    /// In-plane rotation, degrees.
    pub roll: f32,
    /// The fitted scale: the face's inter-ocular distance in pixels, whatever the yaw.
    pub inter_ocular_px: f32,
}

type V3 = [f64; 3];

fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Inverse of a symmetric 3x3 matrix; `None` when singular.
fn inverse3(m: [V3; 3]) -> Option<[V3; 3]> {
    let c0 = cross(m[1], m[2]);
    let det = m[0][0] * c0[0] + m[0][1] * c0[1] + m[0][2] * c0[2];
    if det.is_nan() || det.abs() <= 1e-12 {
        return None;
    }
    let c1 = cross(m[2], m[0]);
    let c2 = cross(m[0], m[1]);
    // The inverse's columns are the cofactor rows over det (the matrix is symmetric).
    Some([0, 1, 2].map(|i| [c0[i] / det, c1[i] / det, c2[i] / det]))
}

/// The centred canonical points and the inverse of their scatter matrix (constant, computed per call:
/// 28 points).
fn canonical_frame() -> Option<([V3; 28], [V3; 3])> {
    let n = CANONICAL.len() as f64;
    let mean = [0, 1, 2].map(|k| CANONICAL.iter().map(|p| p[k]).sum::<f64>() / n);
    let centred = CANONICAL.map(|p| [p[0] - mean[0], p[1] - mean[1], p[2] - mean[2]]);
    let mut s = [[0.0; 3]; 3];
    for p in &centred {
        for i in 0..3 {
            for j in 0..3 {
                s[i][j] += p[i] * p[j];
            }
        }
    }
    Some((centred, inverse3(s)?))
}

impl Pose {
    /// The pose of a face whose [`POSE_POINTS`] are at `points` (image pixels); `None` when the points
    /// are not 28, not finite or degenerate (all on top of each other).
    pub fn from_mesh(points: &[[f32; 2]]) -> Option<Pose> {
        if points.len() != POSE_POINTS.len() || points.iter().flatten().any(|v| !v.is_finite()) {
            return None;
        }
        let (model, scatter_inv) = canonical_frame()?;
        let n = points.len() as f64;
        let mean = [0, 1].map(|k| points.iter().map(|p| f64::from(p[k])).sum::<f64>() / n);
        // Least-squares affine camera M (2x3): M = (sum q p^T) (sum p p^T)^-1.
        let mut qp = [[0.0; 3]; 2];
        for (q, p) in points.iter().zip(&model) {
            let q = [f64::from(q[0]) - mean[0], f64::from(q[1]) - mean[1]];
            for r in 0..2 {
                for c in 0..3 {
                    qp[r][c] += q[r] * p[c];
                }
            }
        }
        let m = [0, 1]
            .map(|r| [0, 1, 2].map(|c| (0..3).map(|k| qp[r][k] * scatter_inv[k][c]).sum::<f64>()));
        // The nearest scaled rotation: R2 = (M M^T)^(-1/2) M, scale = mean singular value.
        let dot = |a: V3, b: V3| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let (a, b, d) = (dot(m[0], m[0]), dot(m[0], m[1]), dot(m[1], m[1]));
        let det = a * d - b * b;
        if det.is_nan() || det <= 1e-12 {
            return None;
        }
        let sdet = det.sqrt();
        let t = (a + d + 2.0 * sdet).sqrt();
        // sqrt(A) = (A + sqrt(det) I) / t, its inverse = (adj) / det(sqrt(A)) with det(sqrt(A)) = sdet.
        let (sa, sb, sd) = ((a + sdet) / t, b / t, (d + sdet) / t);
        let (ia, ib, id) = (sd / sdet, -sb / sdet, sa / sdet);
        let r1 = [0, 1, 2].map(|c| ia * m[0][c] + ib * m[1][c]);
        let r2 = [0, 1, 2].map(|c| ib * m[0][c] + id * m[1][c]);
        let r3 = cross(r1, r2);
        let scale = f64::midpoint(sa, sd);
        let deg = |v: f64| v.clamp(-1.0, 1.0).asin().to_degrees() as f32;
        Some(Pose {
            yaw: deg(r3[0]),
            pitch: (-r3[1]).atan2(r3[2]).to_degrees() as f32,
            roll: r2[0].atan2(r1[0]).to_degrees() as f32,
            inter_ocular_px: scale as f32,
        })
    }

    /// Change from a neutral pose: `(yaw, pitch)` in degrees, signs as in [`Pose`].
    pub fn delta(&self, neutral: &Pose) -> (f32, f32) {
        (self.yaw - neutral.yaw, self.pitch - neutral.pitch)
    }
}

/// Projects the canonical face turned by `yaw`, `pitch` and `roll` (degrees) through a scaled
/// orthographic camera (`iod_px` pixels per inter-ocular distance, centred at `centre`): the mesh points a
/// perfect model would give. For tests and the synthetic sequences.
pub fn project_canonical(
    yaw: f64,
    pitch: f64,
    roll: f64,
    iod_px: f64,
    centre: [f64; 2],
) -> Vec<[f32; 2]> {
    CANONICAL
        .iter()
        .map(|&p| {
            let [x, y, _] = rotate(p, yaw, pitch, roll);
            [
                (centre[0] + iod_px * x) as f32,
                (centre[1] + iod_px * y) as f32,
            ]
        })
        .collect()
}

/// Rotates a head-frame point: pitch about x (+ = looking up: the chin comes towards the camera), then
/// yaw about y (+ = nose towards +x), then roll about the viewing axis.
pub fn rotate(p: V3, yaw_deg: f64, pitch_deg: f64, roll_deg: f64) -> V3 {
    let (sy, cy) = yaw_deg.to_radians().sin_cos();
    let (sp, cp) = pitch_deg.to_radians().sin_cos();
    let (sr, cr) = roll_deg.to_radians().sin_cos();
    let [x, y, z] = p;
    let (y, z) = (y * cp + z * sp, -y * sp + z * cp);
    let (x, z) = (x * cy - z * sy, x * sy + z * cy);
    let (x, y) = (x * cr - y * sr, x * sr + y * cr);
    [x, y, z]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_yaw_pitch_and_roll_of_the_canonical_face() {
        for (yaw, pitch, roll) in [
            (0.0, 0.0, 0.0),
            (20.0, 0.0, 0.0),
            (-35.0, 0.0, 0.0),
            (0.0, 15.0, 0.0),
            (0.0, -20.0, 0.0),
            (25.0, 10.0, 12.0),
            (-10.0, -10.0, -30.0),
        ] {
            let pts = project_canonical(yaw, pitch, roll, 80.0, [320.0, 240.0]);
            let p = Pose::from_mesh(&pts).expect("pose");
            assert!((f64::from(p.yaw) - yaw).abs() < 0.5, "{yaw} -> {p:?}");
            assert!((f64::from(p.pitch) - pitch).abs() < 0.5, "{pitch} -> {p:?}");
            assert!((f64::from(p.roll) - roll).abs() < 0.5, "{roll} -> {p:?}");
            assert!((p.inter_ocular_px - 80.0).abs() < 1.0, "{p:?}");
        }
    }

    #[test]
    fn a_turn_does_not_read_as_a_nod_and_back() {
        let turn = Pose::from_mesh(&project_canonical(30.0, 0.0, 0.0, 60.0, [0.0, 0.0])).unwrap();
        assert!(turn.pitch.abs() < 0.5, "{turn:?}");
        let nod = Pose::from_mesh(&project_canonical(0.0, 25.0, 0.0, 60.0, [0.0, 0.0])).unwrap();
        assert!(nod.yaw.abs() < 0.5, "{nod:?}");
    }

    #[test]
    fn degenerate_and_non_finite_points_give_none() {
        assert!(Pose::from_mesh(&[[5.0, 5.0]; 28]).is_none());
        let mut pts = project_canonical(0.0, 0.0, 0.0, 60.0, [100.0, 100.0]);
        pts[3][0] = f32::NAN;
        assert!(Pose::from_mesh(&pts).is_none());
        assert!(Pose::from_mesh(&pts[..27]).is_none());
    }
}
