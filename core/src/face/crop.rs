//! Aligned face crops as evidence: the 112x112 RGB face a decision was made on, JPEG-encoded so it
//! can travel as a blob (about 4-6 KB) and be embedded again by the server or shown to an approver.
//!
//! The crop is small on purpose: enough to recompute the embedding and for a person to see whose face
//! it is, not a photo of the surroundings.

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageFormat};

use super::ALIGNED;
use crate::{Error, Result};

/// JPEG quality of stored crops: high enough that the re-computed embedding stays within a few
/// thousandths of the original.
pub const JPEG_QUALITY: u8 = 92;

/// The MIME type crops are stored and uploaded with.
pub const MIME: &str = "image/jpeg";

/// Encodes an aligned RGB8 crop (112x112x3) as JPEG.
pub fn encode(aligned: &[u8]) -> Result<Vec<u8>> {
    if aligned.len() != ALIGNED * ALIGNED * 3 {
        return Err(Error::invalid("face", "aligned face must be 112x112 RGB"));
    }
    let mut out = Vec::with_capacity(8 * 1024);
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(
            aligned,
            ALIGNED as u32,
            ALIGNED as u32,
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::Image(format!("cannot encode a face crop: {e}")))?;
    Ok(out)
}

/// Decodes a stored crop back to 112x112 RGB8; anything else is a typed error.
pub fn decode(jpeg: &[u8]) -> Result<Vec<u8>> {
    let img = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg)
        .map_err(|_| Error::Image("a face crop is not a readable JPEG".into()))?
        .to_rgb8();
    if img.width() as usize != ALIGNED || img.height() as usize != ALIGNED {
        return Err(Error::Image("a face crop is not 112x112".into()));
    }
    Ok(img.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_survives_encoding_and_bad_input_is_typed() {
        let rgb: Vec<u8> = (0..ALIGNED * ALIGNED * 3)
            .map(|i| (i % 251) as u8)
            .collect();
        let jpeg = encode(&rgb).expect("encode");
        assert_eq!(decode(&jpeg).expect("decode").len(), rgb.len());
        assert!(encode(&rgb[1..]).is_err());
        assert!(matches!(decode(b"not a jpeg"), Err(Error::Image(_))));
    }
}
