//! Status codes, the mapping from core errors to them, and the thread-local
//! message that explains the last failure.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};

use sturdycache_core::{DiskErrorKind, Error};

/// What a call did. `STURDY_STATUS_OK` (0) is success; `STURDY_STATUS_NOT_FOUND`
/// is an answer, not a failure (a miss, the end of an iteration, an unknown
/// id) and leaves the last error message alone. Every other code is a failure
/// and sets the calling thread's message (`sturdy_last_error_message`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sturdy_status {
    /// Success.
    Ok = 0,
    /// No such key (a miss), no more keys, or no such listener or fault id.
    NotFound = 1,
    /// A required pointer argument was NULL (or a length was non-zero with a NULL pointer).
    NullArgument = 2,
    /// An argument is out of range: an unknown enum value, a tag that is not
    /// UTF-8, a length above `PTRDIFF_MAX`, a struct size too small.
    InvalidArgument = 3,
    /// The key is empty (keys are 1 to `max_key_size` bytes).
    EmptyKey = 4,
    /// The key is longer than `max_key_size`; the message names the limit.
    KeyTooLarge = 5,
    /// The value is longer than `max_value_size`; the message names the limit.
    ValueTooLarge = 6,
    /// The tag is longer than the format allows (65535 bytes).
    TagTooLarge = 7,
    /// A setting is out of range; the message names it and its bounds.
    InvalidConfig = 8,
    /// The cache path exists and is not a directory.
    NotADirectory = 9,
    /// The directory (or an entry) was written by a newer sturdycache format.
    NewerFormat = 10,
    /// The disk is full (`ENOSPC`, `EDQUOT`).
    DiskNoSpace = 11,
    /// The file system is read-only (`EROFS`).
    DiskReadOnly = 12,
    /// Permission denied (`EACCES`, `EPERM`).
    DiskPermissionDenied = 13,
    /// A low-level I/O error (`EIO`).
    DiskIo = 14,
    /// A disk call timed out.
    DiskTimedOut = 15,
    /// Any other disk error (for example `ENOTDIR`).
    DiskOther = 16,
    /// The cache handle was closed (`sturdy_cache_close`); also the answer to a second close.
    Closed = 17,
    /// The caller's buffer is too small; the needed size was written to the length out-parameter.
    BufferTooSmall = 18,
    /// An event listener or loader callback reported failure.
    CallbackFailed = 19,
    /// Bytes given to `sturdy_entry_decode` are not a valid entry (the corruption reason is reported).
    Corrupt = 20,
    /// A bug in the library was caught at the boundary (a Rust panic); the message says where.
    Panic = 21,
    /// An error of a kind this version of the ABI does not know yet.
    Other = 22,
}

impl sturdy_status {
    /// The constant's name as written in the header.
    pub fn name(self) -> &'static CStr {
        match self {
            Self::Ok => c"STURDY_STATUS_OK",
            Self::NotFound => c"STURDY_STATUS_NOT_FOUND",
            Self::NullArgument => c"STURDY_STATUS_NULL_ARGUMENT",
            Self::InvalidArgument => c"STURDY_STATUS_INVALID_ARGUMENT",
            Self::EmptyKey => c"STURDY_STATUS_EMPTY_KEY",
            Self::KeyTooLarge => c"STURDY_STATUS_KEY_TOO_LARGE",
            Self::ValueTooLarge => c"STURDY_STATUS_VALUE_TOO_LARGE",
            Self::TagTooLarge => c"STURDY_STATUS_TAG_TOO_LARGE",
            Self::InvalidConfig => c"STURDY_STATUS_INVALID_CONFIG",
            Self::NotADirectory => c"STURDY_STATUS_NOT_A_DIRECTORY",
            Self::NewerFormat => c"STURDY_STATUS_NEWER_FORMAT",
            Self::DiskNoSpace => c"STURDY_STATUS_DISK_NO_SPACE",
            Self::DiskReadOnly => c"STURDY_STATUS_DISK_READ_ONLY",
            Self::DiskPermissionDenied => c"STURDY_STATUS_DISK_PERMISSION_DENIED",
            Self::DiskIo => c"STURDY_STATUS_DISK_IO",
            Self::DiskTimedOut => c"STURDY_STATUS_DISK_TIMED_OUT",
            Self::DiskOther => c"STURDY_STATUS_DISK_OTHER",
            Self::Closed => c"STURDY_STATUS_CLOSED",
            Self::BufferTooSmall => c"STURDY_STATUS_BUFFER_TOO_SMALL",
            Self::CallbackFailed => c"STURDY_STATUS_CALLBACK_FAILED",
            Self::Corrupt => c"STURDY_STATUS_CORRUPT",
            Self::Panic => c"STURDY_STATUS_PANIC",
            Self::Other => c"STURDY_STATUS_OTHER",
        }
    }

    /// The status a core error maps to.
    pub fn of_error(err: &Error) -> Self {
        match err {
            Error::EmptyKey => Self::EmptyKey,
            Error::KeyTooLarge { .. } => Self::KeyTooLarge,
            Error::ValueTooLarge { .. } => Self::ValueTooLarge,
            Error::TagTooLarge { .. } => Self::TagTooLarge,
            Error::InvalidConfig(_) => Self::InvalidConfig,
            Error::NotADirectory(_) => Self::NotADirectory,
            Error::NewerFormat { .. } => Self::NewerFormat,
            Error::Disk { kind, .. } => Self::of_disk_kind(*kind),
            _ => Self::Other,
        }
    }

    /// The status for a classified disk failure.
    pub fn of_disk_kind(kind: DiskErrorKind) -> Self {
        match kind {
            DiskErrorKind::NoSpace => Self::DiskNoSpace,
            DiskErrorKind::ReadOnly => Self::DiskReadOnly,
            DiskErrorKind::PermissionDenied => Self::DiskPermissionDenied,
            DiskErrorKind::Io => Self::DiskIo,
            DiskErrorKind::TimedOut => Self::DiskTimedOut,
            _ => Self::DiskOther,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as the calling thread's last error (NUL bytes, which a
/// C string cannot hold, are replaced).
pub(crate) fn set_last_error(message: String) {
    let text = CString::new(message).unwrap_or_else(|e| {
        let bytes: Vec<u8> = e.into_vec().into_iter().map(|b| if b == 0 { b'?' } else { b }).collect();
        CString::new(bytes).unwrap_or_default()
    });
    // During thread teardown the slot may be gone; the message is then dropped.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

/// The message of the last failure on the calling thread, in English, as a
/// NUL-terminated UTF-8 string (for example `"sturdy_cache_set: key is 70000
/// bytes; the limit (max_key_size) is 65536 bytes"`); `""` if no call on this
/// thread has failed yet.
///
/// Successful calls and `STURDY_STATUS_NOT_FOUND` answers leave it unchanged,
/// like `errno`: read it right after the failing call.
///
/// Ownership: the string belongs to the library; do not free it. It stays
/// valid until the next failing call on the same thread, or the thread's exit.
/// Thread safety: each thread has its own message. Never fails, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sturdy_last_error_message() -> *const c_char {
    LAST_ERROR.try_with(|slot| slot.borrow().as_ptr()).unwrap_or(c"".as_ptr())
}

/// The name of a status constant, for logs: `"STURDY_STATUS_KEY_TOO_LARGE"`;
/// `"STURDY_STATUS_UNKNOWN"` for a value that is not a status.
///
/// Ownership: a static string; do not free it. Thread safety: any thread.
/// Never fails, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sturdy_status_name(status: i32) -> *const c_char {
    status_from_code(status).map_or(c"STURDY_STATUS_UNKNOWN", sturdy_status::name).as_ptr()
}

/// Every status, in code order.
pub(crate) const ALL_STATUSES: [sturdy_status; 23] = [
    sturdy_status::Ok,
    sturdy_status::NotFound,
    sturdy_status::NullArgument,
    sturdy_status::InvalidArgument,
    sturdy_status::EmptyKey,
    sturdy_status::KeyTooLarge,
    sturdy_status::ValueTooLarge,
    sturdy_status::TagTooLarge,
    sturdy_status::InvalidConfig,
    sturdy_status::NotADirectory,
    sturdy_status::NewerFormat,
    sturdy_status::DiskNoSpace,
    sturdy_status::DiskReadOnly,
    sturdy_status::DiskPermissionDenied,
    sturdy_status::DiskIo,
    sturdy_status::DiskTimedOut,
    sturdy_status::DiskOther,
    sturdy_status::Closed,
    sturdy_status::BufferTooSmall,
    sturdy_status::CallbackFailed,
    sturdy_status::Corrupt,
    sturdy_status::Panic,
    sturdy_status::Other,
];

fn status_from_code(code: i32) -> Option<sturdy_status> {
    usize::try_from(code).ok().and_then(|i| ALL_STATUSES.get(i)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_codes_and_the_static_strings() {
        for (i, s) in ALL_STATUSES.iter().enumerate() {
            assert_eq!(*s as i32, i as i32, "codes are dense and in order");
            let c = unsafe { CStr::from_ptr(sturdy_status_name(i as i32)) };
            assert_eq!(c, s.name());
        }
        let unknown = unsafe { CStr::from_ptr(sturdy_status_name(999)) };
        assert_eq!(unknown.to_str().unwrap(), "STURDY_STATUS_UNKNOWN");
        let negative = unsafe { CStr::from_ptr(sturdy_status_name(-1)) };
        assert_eq!(negative.to_str().unwrap(), "STURDY_STATUS_UNKNOWN");
    }

    #[test]
    fn every_disk_kind_has_its_own_status() {
        let statuses: Vec<_> = DiskErrorKind::ALL.iter().map(|k| sturdy_status::of_disk_kind(*k)).collect();
        assert_eq!(
            statuses,
            [
                sturdy_status::DiskNoSpace,
                sturdy_status::DiskReadOnly,
                sturdy_status::DiskPermissionDenied,
                sturdy_status::DiskIo,
                sturdy_status::DiskTimedOut,
                sturdy_status::DiskOther,
            ]
        );
    }

    #[test]
    fn a_message_with_a_nul_byte_is_kept_readable() {
        set_last_error("bad\0path".into());
        let c = unsafe { CStr::from_ptr(sturdy_last_error_message()) };
        assert_eq!(c.to_str().unwrap(), "bad?path");
    }
}
