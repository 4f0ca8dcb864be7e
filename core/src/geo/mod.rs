//! Geofences and fix plausibility (being written).
