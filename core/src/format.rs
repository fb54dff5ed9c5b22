//! The on-disk entry format (version 1), specified in `docs/FORMAT.md`.
//!
//! One file holds one entry: a fixed 48-byte header, the key, the tag, the
//! value (possibly zstd-compressed) and an xxh3-64 checksum over everything
//! before it. Every field is checked on read; any mismatch is [`Corruption`].
//! An entry written with a secret key also carries a keyed MAC (BLAKE3) before
//! the checksum, so a reader holding the key can refuse forged entries.

use std::borrow::Cow;

use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use crate::error::Corruption;

/// The four bytes every entry file starts with.
pub const MAGIC: [u8; 4] = *b"SCE\x01";
/// The entry format version this build writes and the newest it reads.
pub const VERSION: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 48;
/// Size of the trailing checksum.
pub const CHECKSUM_LEN: usize = 8;
/// The longest tag the format can hold, in bytes.
pub const MAX_TAG_LEN: usize = u16::MAX as usize;
/// Header flag: the entry carries a MAC ([`MAC_LEN`] bytes before the checksum).
pub const FLAG_AUTHENTICATED: u16 = 1;
/// Size of the keyed MAC of an authenticated entry.
pub const MAC_LEN: usize = 32;
/// The BLAKE3 key-derivation context turning a user's secret into the MAC key.
const MAC_CONTEXT: &str = "sturdycache 2026-11-22 entry MAC v1";

/// The key of entry MACs, derived from a user's secret of any length.
#[derive(Clone)]
pub struct MacKey([u8; 32]);

impl MacKey {
    /// Derives the MAC key from `secret` (BLAKE3 `derive_key`).
    pub fn derive(secret: &[u8]) -> Self {
        MacKey(blake3::derive_key(MAC_CONTEXT, secret))
    }

    fn mac(&self, body: &[u8]) -> blake3::Hash {
        blake3::keyed_hash(&self.0, body)
    }
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

/// How the stored value bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    /// Stored as given.
    None = 0,
    /// A single zstd frame.
    Zstd = 1,
}

/// Why bytes could not be decoded as an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are damaged.
    Corrupt(Corruption),
    /// A newer writer's entry: valid, but not readable by this build. Not corruption.
    NewerVersion(u16),
}

impl From<Corruption> for DecodeError {
    fn from(c: Corruption) -> Self {
        DecodeError::Corrupt(c)
    }
}

/// The 128-bit hash of a key that names its file (xxh3-128, seed 0).
pub fn key_hash(key: &[u8]) -> u128 {
    xxh3_128(key)
}

/// The decoded header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The value's codec.
    pub codec: Codec,
    /// The bindings' value-type tag (opaque to the core).
    pub value_type: u8,
    /// Tag length in bytes (0: no tag).
    pub tag_len: u16,
    /// Key length in bytes.
    pub key_len: u32,
    /// Stored (possibly compressed) value length.
    pub stored_len: u64,
    /// Decoded value length.
    pub value_len: u64,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: u64,
    /// Expiry time, milliseconds since the epoch; 0 means never.
    pub expires_ms: u64,
    /// Whether the entry carries a MAC ([`FLAG_AUTHENTICATED`]).
    pub authenticated: bool,
}

impl Header {
    /// The total file length this header implies, if it fits in memory.
    pub fn file_len(&self) -> Option<usize> {
        (HEADER_LEN as u64)
            .checked_add(self.key_len as u64)?
            .checked_add(self.tag_len as u64)?
            .checked_add(self.stored_len)?
            .checked_add(self.mac_len() as u64)?
            .checked_add(CHECKSUM_LEN as u64)
            .and_then(|n| usize::try_from(n).ok())
    }

    fn mac_len(&self) -> usize {
        if self.authenticated { MAC_LEN } else { 0 }
    }

    /// Whether the entry is expired at `now_ms` (an entry expires at its expiry instant).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_ms != 0 && now_ms >= self.expires_ms
    }
}

/// A decoded entry borrowing from the file's bytes where it can.
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    /// The header.
    pub header: Header,
    /// The key.
    pub key: &'a [u8],
    /// The tag; empty for none.
    pub tag: &'a [u8],
    /// The decoded value.
    pub value: Cow<'a, [u8]>,
}

/// What to write into a new entry.
#[derive(Debug, Clone, Copy)]
pub struct EncodeInput<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The tag; empty for none.
    pub tag: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// The bindings' value-type tag.
    pub value_type: u8,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Expiry, ms since the epoch, 0 for never.
    pub expires_ms: u64,
    /// When set, the entry is authenticated with this key.
    pub mac_key: Option<&'a MacKey>,
}

/// Compression settings for [`encode`].
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    /// Values at least this long are tried with zstd.
    pub threshold: usize,
    /// zstd level.
    pub level: i32,
}

/// Encodes an entry file. Values at or above the threshold are compressed when
/// that makes them smaller.
pub fn encode(input: &EncodeInput<'_>, compression: Compression) -> Vec<u8> {
    let compressed = (input.value.len() >= compression.threshold)
        .then(|| zstd::bulk::compress(input.value, compression.level).ok())
        .flatten()
        .filter(|c| c.len() < input.value.len());
    let (codec, stored): (Codec, &[u8]) = match &compressed {
        Some(c) => (Codec::Zstd, c),
        None => (Codec::None, input.value),
    };
    let mut out =
        Vec::with_capacity(HEADER_LEN + input.key.len() + input.tag.len() + stored.len() + MAC_LEN + CHECKSUM_LEN);
    let flags = if input.mac_key.is_some() { FLAG_AUTHENTICATED } else { 0 };
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(codec as u8);
    out.push(input.value_type);
    out.extend_from_slice(&(input.tag.len() as u16).to_le_bytes());
    out.extend_from_slice(&(input.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u64).to_le_bytes());
    out.extend_from_slice(&(input.value.len() as u64).to_le_bytes());
    out.extend_from_slice(&input.created_ms.to_le_bytes());
    out.extend_from_slice(&input.expires_ms.to_le_bytes());
    out.extend_from_slice(input.key);
    out.extend_from_slice(input.tag);
    out.extend_from_slice(stored);
    seal(out, input.mac_key)
}

/// Appends the MAC (when keyed) and the checksum to an entry body.
fn seal(mut out: Vec<u8>, mac_key: Option<&MacKey>) -> Vec<u8> {
    if let Some(key) = mac_key {
        let mac = key.mac(&out);
        out.extend_from_slice(mac.as_bytes());
    }
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes only the header, checking magic, version and reserved fields but not
/// the checksum (which needs the whole file).
pub fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    if bytes.len() < 6 || bytes[0..4] != MAGIC {
        return Err(Corruption::BadMagic.into());
    }
    let version = u16_at(bytes, 4);
    if version > VERSION {
        return Err(DecodeError::NewerVersion(version));
    }
    if version == 0 {
        return Err(Corruption::BadHeader.into());
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(Corruption::BadLength.into());
    }
    let codec = match bytes[8] {
        0 => Codec::None,
        1 => Codec::Zstd,
        _ => return Err(Corruption::BadHeader.into()),
    };
    let flags = u16_at(bytes, 6);
    if flags & !FLAG_AUTHENTICATED != 0 {
        return Err(Corruption::BadHeader.into());
    }
    let header = Header {
        codec,
        value_type: bytes[9],
        tag_len: u16_at(bytes, 10),
        key_len: u32_at(bytes, 12),
        stored_len: u64_at(bytes, 16),
        value_len: u64_at(bytes, 24),
        created_ms: u64_at(bytes, 32),
        expires_ms: u64_at(bytes, 40),
        authenticated: flags & FLAG_AUTHENTICATED != 0,
    };
    if header.codec == Codec::None && header.stored_len != header.value_len {
        return Err(Corruption::BadHeader.into());
    }
    Ok(header)
}

/// Whether the trailing checksum matches. Every format version keeps this
/// framing (an xxh3-64 of all preceding bytes, last), so a reader can tell a
/// newer writer's sound entry from a damaged one without understanding it.
fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.len() >= CHECKSUM_LEN && {
        let body_end = bytes.len() - CHECKSUM_LEN;
        xxh3_64(&bytes[..body_end]) == u64_at(bytes, body_end)
    }
}

/// Decodes and fully verifies an entry file.
///
/// A file claiming a newer version is [`DecodeError::NewerVersion`] only when
/// its checksum holds; otherwise it is corrupt (a flipped version byte must
/// not hide damage).
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let header = match decode_header(bytes) {
        Err(DecodeError::NewerVersion(_)) if !checksum_ok(bytes) => return Err(Corruption::BadChecksum.into()),
        other => other?,
    };
    if header.file_len() != Some(bytes.len()) {
        return Err(Corruption::BadLength.into());
    }
    if !checksum_ok(bytes) {
        return Err(Corruption::BadChecksum.into());
    }
    let stored_end = bytes.len() - CHECKSUM_LEN - header.mac_len();
    let key_end = HEADER_LEN + header.key_len as usize;
    let tag_end = key_end + header.tag_len as usize;
    let stored = &bytes[tag_end..stored_end];
    let value = match header.codec {
        Codec::None => Cow::Borrowed(stored),
        Codec::Zstd => {
            let want = usize::try_from(header.value_len).map_err(|_| Corruption::BadHeader)?;
            let out = zstd::bulk::decompress(stored, want).map_err(|_| Corruption::BadCompression)?;
            if out.len() != want {
                return Err(Corruption::BadCompression.into());
            }
            Cow::Owned(out)
        }
    };
    Ok(Decoded { header, key: &bytes[HEADER_LEN..key_end], tag: &bytes[key_end..tag_end], value })
}

/// Decodes and verifies an entry, and, when `mac_key` is set, also requires a
/// valid MAC under that key: an entry without one, or with a wrong one, is
/// [`Corruption::BadMac`], so forged bytes never reach a deserializer.
pub fn decode_with<'a>(bytes: &'a [u8], mac_key: Option<&MacKey>) -> Result<Decoded<'a>, DecodeError> {
    let decoded = decode(bytes)?;
    if let Some(key) = mac_key {
        if !decoded.header.authenticated {
            return Err(Corruption::BadMac.into());
        }
        let mac_at = bytes.len() - CHECKSUM_LEN - MAC_LEN;
        // `blake3::Hash` compares in constant time.
        if key.mac(&bytes[..mac_at]) != bytes[mac_at..mac_at + MAC_LEN] {
            return Err(Corruption::BadMac.into());
        }
    }
    Ok(decoded)
}

/// Returns a copy of a verified entry file with a new expiry, MAC and checksum.
/// With `mac_key` the copy is authenticated under it; without, it carries no MAC.
///
/// The caller must have verified `bytes` with [`decode`] first.
pub fn with_expiry(bytes: &[u8], expires_ms: u64, mac_key: Option<&MacKey>) -> Vec<u8> {
    let old_mac = if u16_at(bytes, 6) & FLAG_AUTHENTICATED != 0 { MAC_LEN } else { 0 };
    let mut out = bytes[..bytes.len() - CHECKSUM_LEN - old_mac].to_vec();
    let flags = if mac_key.is_some() { FLAG_AUTHENTICATED } else { 0 };
    out[6..8].copy_from_slice(&flags.to_le_bytes());
    out[40..48].copy_from_slice(&expires_ms.to_le_bytes());
    seal(out, mac_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Compression = Compression { threshold: usize::MAX, level: 3 };

    fn sample(value: &[u8]) -> EncodeInput<'_> {
        EncodeInput { key: b"k", tag: b"t", value, value_type: 7, created_ms: 1, expires_ms: 2, mac_key: None }
    }

    #[test]
    fn round_trips_plain_and_compressed() {
        let value = vec![b'a'; 10_000];
        for c in [PLAIN, Compression { threshold: 16, level: 3 }] {
            let bytes = encode(&sample(&value), c);
            let d = decode(&bytes).expect("decodes");
            assert_eq!((d.key, d.tag, &*d.value), (&b"k"[..], &b"t"[..], &value[..]));
            assert_eq!((d.header.value_type, d.header.created_ms, d.header.expires_ms), (7, 1, 2));
        }
        let small = encode(&sample(&value), Compression { threshold: 16, level: 3 });
        assert!(small.len() < 1000, "compressible value was compressed");
    }

    #[test]
    fn incompressible_value_is_stored_plain() {
        let mut rng = 0x1234_5678_u64;
        let value: Vec<u8> = (0..4096)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect();
        let bytes = encode(&sample(&value), Compression { threshold: 16, level: 3 });
        assert_eq!(decode_header(&bytes).unwrap().codec, Codec::None);
    }

    #[test]
    fn newer_version_is_not_corruption_unless_its_checksum_fails() {
        let mut bytes = encode(&sample(b"v"), PLAIN);
        bytes[4] = 2;
        assert_eq!(decode(&bytes).unwrap_err(), DecodeError::Corrupt(Corruption::BadChecksum));
        let body_end = bytes.len() - CHECKSUM_LEN;
        let sum = xxh3_64(&bytes[..body_end]);
        bytes[body_end..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(decode(&bytes).unwrap_err(), DecodeError::NewerVersion(2));
    }

    #[test]
    fn rewritten_expiry_verifies() {
        let bytes = encode(&sample(b"v"), PLAIN);
        let touched = with_expiry(&bytes, 99, None);
        assert_eq!(decode(&touched).unwrap().header.expires_ms, 99);
    }

    fn authenticated(value: &[u8], key: &MacKey) -> Vec<u8> {
        encode(&EncodeInput { mac_key: Some(key), ..sample(value) }, Compression { threshold: 16, level: 3 })
    }

    #[test]
    fn authenticated_entries_verify_only_under_their_key() {
        let key = MacKey::derive(b"secret");
        let value = vec![b'z'; 5000];
        let bytes = authenticated(&value, &key);
        let d = decode_with(&bytes, Some(&key)).expect("verifies under its key");
        assert!(d.header.authenticated);
        assert_eq!(&*d.value, &value[..]);
        // A reader without a key still checks integrity and reads it.
        assert_eq!(&*decode(&bytes).unwrap().value, &value[..]);
        let other = MacKey::derive(b"another secret");
        assert_eq!(decode_with(&bytes, Some(&other)).unwrap_err(), DecodeError::Corrupt(Corruption::BadMac));
        // An unauthenticated entry is refused by a keyed reader.
        let plain = encode(&sample(b"v"), PLAIN);
        assert_eq!(decode_with(&plain, Some(&key)).unwrap_err(), DecodeError::Corrupt(Corruption::BadMac));
    }

    #[test]
    fn forged_entry_with_a_valid_checksum_is_refused() {
        let key = MacKey::derive(b"secret");
        let mut bytes = authenticated(b"honest value", &key);
        // Change the value and recompute the (public) checksum: only the MAC can tell.
        let at = bytes.len() - CHECKSUM_LEN - MAC_LEN - 1;
        bytes[at] ^= 1;
        let body_end = bytes.len() - CHECKSUM_LEN;
        let sum = xxh3_64(&bytes[..body_end]);
        bytes[body_end..].copy_from_slice(&sum.to_le_bytes());
        assert!(decode(&bytes).is_ok(), "integrity alone cannot see a forgery");
        assert_eq!(decode_with(&bytes, Some(&key)).unwrap_err(), DecodeError::Corrupt(Corruption::BadMac));
    }

    #[test]
    fn rewritten_expiry_keeps_or_drops_the_mac() {
        let key = MacKey::derive(b"secret");
        let bytes = authenticated(b"v", &key);
        let touched = with_expiry(&bytes, 99, Some(&key));
        assert_eq!(decode_with(&touched, Some(&key)).unwrap().header.expires_ms, 99);
        let stripped = with_expiry(&bytes, 98, None);
        let d = decode(&stripped).unwrap();
        assert_eq!((d.header.authenticated, d.header.expires_ms, &*d.value), (false, 98, &b"v"[..]));
    }

    #[test]
    fn unknown_flags_are_corruption() {
        let mut bytes = encode(&sample(b"v"), PLAIN);
        bytes[6] = 2;
        let body_end = bytes.len() - CHECKSUM_LEN;
        let sum = xxh3_64(&bytes[..body_end]);
        bytes[body_end..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(decode(&bytes).unwrap_err(), DecodeError::Corrupt(Corruption::BadHeader));
    }
}
