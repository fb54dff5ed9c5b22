//! Python objects ↔ entry bytes, per the cross-language contract
//! (docs/FORMAT.md §3.3, `sturdycache::value_type`).
//!
//! Keys: `str` is its UTF-8 bytes and `bytes` is itself, so `"k"` names the same
//! entry in every language. Other hashable keys get a typed, self-delimiting
//! encoding after a leading `0xFF` (a byte UTF-8 text never contains, so no
//! text key collides with one). Equal keys encode equally: `1`, `1.0` and
//! `True` are one key, as they are one `dict` key.
//!
//! Values: bytes, str, int, float, bool and None map to their own value types;
//! anything else goes to the Python package's fallback (JSON or pickle), as do
//! JSON, pickle and unknown codes on the way back.
//!
//! Memoize keys use the key grammar, widened to lists, dicts and sets, with the
//! Python fallback for other objects (numpy arrays by content, pickles).
//!
//! This is type translation, kept here rather than in Python because it is on
//! every call's path; `python/src/sturdycache/_codec.py` holds the fallbacks
//! and the key decoder, and the tests check both directions against each other.

use std::borrow::Cow;
use std::io::Write;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple, PyType,
};
use sturdycache::value_type as vt;

/// First byte of every typed (non-text, non-bytes) key.
pub const TYPED_KEY: u8 = 0xFF;
/// Memoize argument encodings longer than this are replaced by `#` and 16 bytes of their BLAKE3 hash.
pub const HASH_OVER: usize = 128;
/// Deepest nesting of tuples (keys) or containers (memoize arguments) encoded here.
pub const MAX_DEPTH: usize = 64;

/// The Python package's halves of the codec.
struct Fallbacks {
    /// `(value, use_json) -> (value_type, bytes)` for values with no native type.
    encode_value: Py<PyAny>,
    /// `(value_type, raw, unpickle) -> object` for JSON, big ints and unknown codes.
    decode_value: Py<PyAny>,
    /// `pickle.loads`, called directly for value type 7.
    unpickle: Py<PyAny>,
    /// `(obj) -> bytes`: one memoize argument of a type this module does not know.
    memo_arg: Py<PyAny>,
    uuid: Py<PyType>,
}

static FALLBACKS: PyOnceLock<Fallbacks> = PyOnceLock::new();

/// Installs the Python fallbacks (called once by `sturdycache` at import).
#[pyfunction]
pub fn _install_codec(
    py: Python<'_>,
    encode_value: Py<PyAny>,
    decode_value: Py<PyAny>,
    memo_arg: Py<PyAny>,
) -> PyResult<()> {
    let uuid = py.import("uuid")?.getattr("UUID")?.cast_into::<PyType>()?.unbind();
    let unpickle = py.import("pickle")?.getattr("loads")?.unbind();
    let _ = FALLBACKS.set(py, Fallbacks { encode_value, decode_value, unpickle, memo_arg, uuid });
    Ok(())
}

fn fallbacks(py: Python<'_>) -> PyResult<&Fallbacks> {
    FALLBACKS
        .get(py)
        .ok_or_else(|| PyRuntimeError::new_err("import sturdycache, not sturdycache._native, to use caches"))
}

fn netstring(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}:", payload.len());
    out.extend_from_slice(payload);
}

fn count(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    let _ = write!(out, "{n}:");
}

unsafe extern "C" {
    // In every CPython 3 (part of the limited API from 3.10, exported before
    // that too): the str's UTF-8 form, cached inside the object, no copy.
    fn PyUnicode_AsUTF8AndSize(unicode: *mut pyo3::ffi::PyObject, size: *mut pyo3::ffi::Py_ssize_t) -> *const u8;
}

/// A str's UTF-8 bytes, borrowed from the object (UnicodeEncodeError for lone surrogates).
fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, [u8]>> {
    let mut len: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str for 'a, so its cached UTF-8 buffer lives (unchanged:
    // str is immutable) at least as long; a null pointer means an exception is set.
    unsafe {
        let data = PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut len);
        if data.is_null() {
            return Err(PyErr::fetch(s.py()));
        }
        Ok(Cow::Borrowed(std::slice::from_raw_parts(data, len as usize)))
    }
}

/// An int's decimal text (fails beyond Python's int-to-str digit limit).
fn decimal(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match obj.extract::<i64>() {
        Ok(i) => Ok(i.to_string().into_bytes()),
        Err(_) => Ok(obj.str()?.to_cow()?.into_owned().into_bytes()),
    }
}

/// A float as a key component: integral values as ints (so `1.0 == 1`),
/// others in shortest round-trip exponent form.
fn float_key(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() && v.fract() == 0.0 {
        let text = if v == 0.0 { "0".to_string() } else { format!("{v:.0}") };
        netstring(out, b'i', text.as_bytes());
    } else {
        netstring(out, b'f', format!("{v:e}").as_bytes());
    }
}

/// The entry key for `key`.
pub fn key<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = key.cast_exact::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(s) = key.cast_exact::<PyString>() {
        return utf8(s).map_err(|e| {
            PyValueError::new_err(format!("key is not valid Unicode text (it cannot be encoded as UTF-8): {e}"))
        });
    }
    if let Ok(b) = key.cast_exact::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    let mut out = vec![TYPED_KEY];
    typed(key, &mut out, 0)?;
    Ok(Cow::Owned(out))
}

fn typed(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!("key is nested too deeply (the limit is {MAX_DEPTH} levels)")));
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        let bytes = utf8(s)?;
        netstring(out, b's', &bytes);
    } else if let Ok(b) = obj.cast_exact::<PyBytes>() {
        netstring(out, b'b', b.as_bytes());
    } else if obj.is_exact_instance_of::<PyInt>() || obj.is_exact_instance_of::<PyBool>() {
        netstring(out, b'i', &decimal(obj)?);
    } else if let Ok(f) = obj.cast_exact::<PyFloat>() {
        float_key(out, f.value());
    } else if obj.is_none() {
        out.push(b'n');
    } else if let Ok(t) = obj.cast_exact::<PyTuple>() {
        count(out, b't', t.len());
        for item in t.iter() {
            typed(&item, out, depth + 1)?;
        }
    } else if let Ok(s) = obj.cast_exact::<PyFrozenSet>() {
        let mut items = Vec::with_capacity(s.len());
        for item in s.iter() {
            let mut one = Vec::new();
            typed(&item, &mut one, depth + 1)?;
            items.push(one);
        }
        items.sort();
        count(out, b'z', items.len());
        items.iter().for_each(|i| out.extend_from_slice(i));
    } else if obj.get_type().is(fallbacks(obj.py())?.uuid.bind(obj.py())) {
        out.push(b'u');
        out.extend_from_slice(obj.getattr("bytes")?.cast::<PyBytes>()?.as_bytes());
    } else {
        return Err(PyTypeError::new_err(format!(
            "unsupported key type '{}': keys are str, bytes, int, float, bool, None, uuid.UUID, \
             or tuples/frozensets of those",
            obj.get_type().name()?.to_cow()?
        )));
    }
    Ok(())
}

/// `(value_type, bytes)` for `value`.
pub fn value<'a>(value: &'a Bound<'_, PyAny>, use_json: bool) -> PyResult<(u8, Cow<'a, [u8]>)> {
    if let Ok(b) = value.cast_exact::<PyBytes>() {
        return Ok((vt::BYTES, Cow::Borrowed(b.as_bytes())));
    }
    if let Ok(s) = value.cast_exact::<PyString>() {
        if let Ok(bytes) = utf8(s) {
            return Ok((vt::STRING, bytes));
        } // lone surrogates: not text another language can read; the fallback pickles it
    } else if value.is_exact_instance_of::<PyBool>() {
        let one = value.is_truthy()?;
        return Ok((vt::BOOL, Cow::Borrowed(if one { b"\x01" } else { b"\x00" })));
    } else if value.is_exact_instance_of::<PyInt>() {
        if let Ok(text) = decimal(value) {
            return Ok((vt::INT, Cow::Owned(text)));
        } // beyond the int-to-str limit: the fallback pickles it
    } else if let Ok(f) = value.cast_exact::<PyFloat>() {
        return Ok((vt::FLOAT, Cow::Owned(f.value().to_le_bytes().to_vec())));
    } else if value.is_none() {
        return Ok((vt::NULL, Cow::Borrowed(b"")));
    } else if let Ok(b) = value.cast_exact::<PyByteArray>() {
        return Ok((vt::BYTES, Cow::Owned(b.to_vec())));
    }
    let py = value.py();
    let encoded = fallbacks(py)?.encode_value.bind(py).call1((value, use_json))?;
    let (value_type, bytes): (u8, Bound<'_, PyBytes>) = encoded.extract()?;
    Ok((value_type, Cow::Owned(bytes.as_bytes().to_vec())))
}

fn parse_i64(raw: &[u8]) -> Option<i64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The Python object a stored `(value_type, raw)` stands for.
pub fn decode<'py>(py: Python<'py>, value_type: u8, raw: &[u8], unpickle: bool) -> PyResult<Bound<'py, PyAny>> {
    let fast = match value_type {
        vt::BYTES => Some(PyBytes::new(py, raw).into_any()),
        vt::STRING => std::str::from_utf8(raw).ok().map(|s| PyString::new(py, s).into_any()),
        vt::INT => match parse_i64(raw) {
            Some(i) => Some(i.into_pyobject(py)?.into_any()),
            None => None, // more digits than an i64: the fallback parses it
        },
        vt::FLOAT => <[u8; 8]>::try_from(raw).ok().map(|b| PyFloat::new(py, f64::from_le_bytes(b)).into_any()),
        vt::BOOL => match raw {
            [0] => Some(PyBool::new(py, false).to_owned().into_any()),
            [1] => Some(PyBool::new(py, true).to_owned().into_any()),
            _ => Some(PyBytes::new(py, raw).into_any()),
        },
        vt::NULL if raw.is_empty() => Some(py.None().into_bound(py)),
        _ => None,
    };
    if let Some(v) = fast {
        return Ok(v);
    }
    let f = fallbacks(py)?;
    if value_type == vt::PICKLE && unpickle {
        if let Some(v) = trivial_pickle(py, raw) {
            return Ok(v);
        }
        return f.unpickle.bind(py).call1((PyBytes::new(py, raw),));
    }
    f.decode_value.bind(py).call1((value_type, PyBytes::new(py, raw), unpickle))
}

fn le(bytes: &[u8]) -> Option<usize> {
    let mut n: u64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        n |= u64::from(*b) << (8 * i);
    }
    usize::try_from(n).ok()
}

/// A protocol-5 pickle of exactly one bytes, str, None, True or False — what
/// `pickle.dumps(v, 5)` writes for those — decoded without the unpickler
/// (memoize stores every result pickled; this skips a second copy and a call
/// for the common results). `None` for anything else: the caller unpickles.
fn trivial_pickle<'py>(py: Python<'py>, raw: &[u8]) -> Option<Bound<'py, PyAny>> {
    let mut rest = raw.strip_prefix(b"\x80\x05")?;
    if let Some(framed) = rest.strip_prefix(b"\x95") {
        let (len, body) = (le(framed.get(..8)?)?, framed.get(8..)?);
        if len != body.len() {
            return None;
        }
        rest = body;
    }
    let (&op, body) = rest.split_first()?;
    let constant = match op {
        b'N' => Some(py.None().into_bound(py)),
        0x88 => Some(PyBool::new(py, true).to_owned().into_any()),
        0x89 => Some(PyBool::new(py, false).to_owned().into_any()),
        _ => None,
    };
    if let Some(value) = constant {
        return (body == b".").then_some(value);
    }
    let (text, width) = match op {
        b'C' => (false, 1),
        b'B' => (false, 4),
        0x8e => (false, 8),
        0x8c => (true, 1),
        b'X' => (true, 4),
        0x8d => (true, 8),
        _ => return None,
    };
    let len = le(body.get(..width)?)?;
    let payload = body.get(width..width.checked_add(len)?)?;
    if body.get(width + len..)? != b"\x94." {
        return None;
    }
    if text {
        std::str::from_utf8(payload).ok().map(|s| PyString::new(py, s).into_any())
    } else {
        Some(PyBytes::new(py, payload).into_any())
    }
}

/// One memoize argument (any object), self-delimiting.
fn memo_arg(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    let fallback = |out: &mut Vec<u8>| -> PyResult<()> {
        let py = obj.py();
        let encoded = fallbacks(py)?.memo_arg.bind(py).call1((obj,))?;
        out.extend_from_slice(encoded.cast::<PyBytes>()?.as_bytes());
        Ok(())
    };
    if depth > MAX_DEPTH {
        return fallback(out); // pickled: pickle copes with depth and cycles, or says why not
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        match utf8(s) {
            Ok(bytes) => netstring(out, b's', &bytes),
            Err(_) => return fallback(out),
        }
    } else if obj.is_exact_instance_of::<PyInt>() || obj.is_exact_instance_of::<PyBool>() {
        match decimal(obj) {
            Ok(text) => netstring(out, b'i', &text),
            Err(_) => return fallback(out),
        }
    } else if let Ok(f) = obj.cast_exact::<PyFloat>() {
        float_key(out, f.value());
    } else if let Ok(b) = obj.cast_exact::<PyBytes>() {
        netstring(out, b'b', b.as_bytes());
    } else if let Ok(b) = obj.cast_exact::<PyByteArray>() {
        netstring(out, b'b', &b.to_vec());
    } else if obj.is_none() {
        out.push(b'n');
    } else if let Ok(t) = obj.cast_exact::<PyTuple>() {
        count(out, b't', t.len());
        for item in t.iter() {
            memo_arg(&item, out, depth + 1)?;
        }
    } else if let Ok(l) = obj.cast_exact::<PyList>() {
        count(out, b'l', l.len());
        for item in l.iter() {
            memo_arg(&item, out, depth + 1)?;
        }
    } else if let Ok(d) = obj.cast_exact::<PyDict>() {
        let mut items = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let mut one = Vec::new();
            memo_arg(&k, &mut one, depth + 1)?;
            memo_arg(&v, &mut one, depth + 1)?;
            items.push(one);
        }
        items.sort();
        count(out, b'd', items.len());
        items.iter().for_each(|i| out.extend_from_slice(i));
    } else if obj.is_exact_instance_of::<PySet>() || obj.is_exact_instance_of::<PyFrozenSet>() {
        let mut items = Vec::new();
        for item in obj.try_iter()? {
            let mut one = Vec::new();
            memo_arg(&item?, &mut one, depth + 1)?;
            items.push(one);
        }
        items.sort();
        count(out, b'z', items.len());
        items.iter().for_each(|i| out.extend_from_slice(i));
    } else {
        return fallback(out);
    }
    Ok(())
}

/// Which arguments a memoized function's key leaves out.
#[derive(Default, Clone)]
pub struct Ignore {
    /// Positional indexes.
    pub positions: Vec<usize>,
    /// Keyword names.
    pub names: Vec<String>,
}

/// The entry key of one memoized call: `prefix` + the encoded arguments
/// (hashed when long).
pub fn memo_key(
    prefix: &[u8],
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    typed: bool,
    ignore: &Ignore,
) -> PyResult<Vec<u8>> {
    let mut p = Vec::with_capacity(64);
    let kept: Vec<Bound<'_, PyAny>> = if ignore.positions.is_empty() {
        args.iter().collect()
    } else {
        args.iter().enumerate().filter(|(i, _)| !ignore.positions.contains(i)).map(|(_, a)| a).collect()
    };
    let _ = write!(p, "{}:", kept.len());
    for a in &kept {
        memo_arg(a, &mut p, 0)?;
    }
    let mut named: Vec<(String, Bound<'_, PyAny>)> = Vec::new();
    if let Some(kwargs) = kwargs {
        for (name, value) in kwargs.iter() {
            let name: String = name.extract()?;
            if !ignore.names.contains(&name) {
                named.push((name, value));
            }
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, value) in &named {
            p.push(b'k');
            netstring(&mut p, b's', name.as_bytes());
            memo_arg(value, &mut p, 0)?;
        }
    }
    if typed {
        p.push(b'T');
        for a in kept.iter().chain(named.iter().map(|(_, v)| v)) {
            let name = a.get_type().qualname()?;
            netstring(&mut p, b's', &utf8(&name)?);
        }
    }
    let mut key = Vec::with_capacity(prefix.len() + p.len().min(HASH_OVER + 1));
    key.extend_from_slice(prefix);
    if p.len() > HASH_OVER {
        key.push(b'#');
        key.extend_from_slice(&blake3::hash(&p).as_bytes()[..16]);
    } else {
        key.extend_from_slice(&p);
    }
    Ok(key)
}
