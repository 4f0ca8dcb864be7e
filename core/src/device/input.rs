//! Images and photos as the app hands them in: bytes it already holds, a file the camera wrote, or
//! (for faces) a raw camera frame. Reading files here spares the shells from copying megabytes through
//! the FFI as byte arrays; reads are bounded so a wrong path cannot exhaust memory.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::inspection::{MAX_PHOTO_BYTES, Photo};
use crate::{Error, Result};

/// Largest image file read for the face pipeline (a full-resolution phone JPEG is 3-8 MB).
pub const MAX_IMAGE_FILE_BYTES: usize = 32 * 1024 * 1024;

/// An inspection photo: JPEG or PNG, bytes or a file.
#[derive(Debug, Clone)]
pub enum PhotoInput {
    /// The file's bytes.
    Bytes(Vec<u8>),
    /// A file in the app's storage.
    File(PathBuf),
}

impl PhotoInput {
    /// Reads and type-checks the photo (see [`Photo::sniff`]).
    pub fn load(self) -> Result<Photo> {
        Photo::sniff(match self {
            PhotoInput::Bytes(b) => b,
            PhotoInput::File(p) => read_bounded(&p, MAX_PHOTO_BYTES, "photo")?,
        })
    }
}

/// Reads at most `limit` bytes of `path`; a longer file is bad input. Errors name the field, never the
/// path (it can contain a user name).
pub(crate) fn read_bounded(path: &Path, limit: usize, field: &'static str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::invalid(
            field,
            format!("file cannot be opened ({})", kind_of(e.kind())),
        )
    })?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::invalid(
                field,
                format!("file cannot be read ({})", kind_of(e.kind())),
            )
        })?;
    if bytes.len() > limit {
        return Err(Error::invalid(field, format!("file is over {limit} bytes")));
    }
    Ok(bytes)
}

fn kind_of(k: std::io::ErrorKind) -> String {
    format!("{k:?}").to_lowercase()
}

/// An image for the face pipeline.
#[cfg(feature = "face")]
#[derive(Debug, Clone)]
pub enum ImageInput {
    /// JPEG or PNG bytes (EXIF orientation honoured).
    Encoded(Vec<u8>),
    /// A JPEG or PNG file in the app's storage.
    File(PathBuf),
    /// A raw camera frame, so the shell never re-encodes.
    Raw(crate::face::RawFrame),
}

#[cfg(feature = "face")]
impl ImageInput {
    /// Decodes to the core's upright RGB image.
    pub fn decode(&self) -> Result<crate::face::FaceImage> {
        use crate::face::FaceImage;
        match self {
            ImageInput::Encoded(b) => FaceImage::decode(b),
            ImageInput::File(p) => {
                FaceImage::decode(&read_bounded(p, MAX_IMAGE_FILE_BYTES, "image")?)
            }
            ImageInput::Raw(f) => FaceImage::from_raw(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_are_typed_by_their_bytes_and_files_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("a.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").unwrap();
        assert_eq!(PhotoInput::File(png).load().unwrap().mime, "image/png");
        assert_eq!(
            PhotoInput::Bytes(vec![0xFF, 0xD8, 0xFF, 0xE0])
                .load()
                .unwrap()
                .mime,
            "image/jpeg"
        );
        // A GIF (or anything else) is refused instead of being stored as a JPEG.
        assert!(matches!(
            PhotoInput::Bytes(b"GIF89a".to_vec()).load(),
            Err(Error::InvalidInput { .. })
        ));
        let big = dir.path().join("big.jpg");
        std::fs::write(&big, vec![0xFFu8; MAX_PHOTO_BYTES + 1]).unwrap();
        assert!(matches!(
            PhotoInput::File(big).load(),
            Err(Error::InvalidInput { .. })
        ));
        let err = PhotoInput::File(dir.path().join("secret-name.jpg"))
            .load()
            .unwrap_err();
        assert!(!err.to_string().contains("secret-name"), "{err}");
    }
}
