//! The two small statistics the check needs: a median that never panics and a cosine similarity
//! computed in f64.

/// The upper median (`v[len / 2]` after sorting); `None` for no values.
pub(super) fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// Cosine similarity, accumulated in f64. Symmetric bit for bit (`cosine(a, b) == cosine(b, a)`), so the
/// order embeddings arrive in does not change the check.
pub(super) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab / (aa.sqrt() * bb.sqrt())) as f32
}
