//! [`Value`]: a cheap, immutable handle to a cached value.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A binding's own, already decoded form of a hot entry's value (a Python
/// `bytes` or `str` object, say), kept with the entry by
/// [`Cache::attach`](crate::Cache::attach) so that later hits hand out that
/// object instead of decoding the bytes again.
pub type Attachment = Arc<dyn Any + Send + Sync>;

/// A cached value. Cloning is a reference-count increment; the bytes are shared
/// with the hot tier, so a hot hit copies nothing.
#[derive(Clone)]
pub struct Value {
    /// key | tag | value, one allocation shared with the hot tier.
    buf: Arc<[u8]>,
    start: usize,
    value_type: u8,
}

impl Value {
    pub(crate) fn new(buf: Arc<[u8]>, start: usize, value_type: u8) -> Self {
        Value { buf, start, value_type }
    }

    /// Whether this value's bytes are the allocation `buf`.
    pub(crate) fn is_in(&self, buf: &Arc<[u8]>) -> bool {
        Arc::ptr_eq(&self.buf, buf)
    }

    /// A value holding a copy of `bytes`.
    pub fn from_slice(bytes: &[u8], value_type: u8) -> Self {
        Value { buf: Arc::from(bytes), start: 0, value_type }
    }

    /// The value-type tag the writer stored (opaque to the core; the bindings use
    /// it to restore a value's language type).
    #[inline]
    pub fn value_type(&self) -> u8 {
        self.value_type
    }

    /// The bytes. Inlined: every binding's hot get goes through here, across
    /// crates, where a plain function would stay a call without LTO.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

impl Deref for Value {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Value {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Value {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Value {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == &other[..]
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes() && self.value_type == other.value_type
    }
}

impl Eq for Value {}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.as_bytes();
        let shown = &bytes[..bytes.len().min(32)];
        write!(f, "Value(type={}, {} bytes, {:?}", self.value_type, bytes.len(), String::from_utf8_lossy(shown))?;
        if bytes.len() > 32 {
            f.write_str("…")?;
        }
        f.write_str(")")
    }
}
