//! Hard limits that bound the memory a single ESL connection can make us use.
//!
//! A hostile or broken peer must never be able to make the decoder buffer without bound,
//! so every dimension of a frame is capped. The defaults are far above anything a real
//! FreeSWITCH 1.10 sends (its biggest frames are `CHANNEL_HANGUP_COMPLETE` events of a few
//! tens of KiB and `api/response` bodies such as `show channels`), and the
//! `Content-Length` cap matches libesl's `ESL_MAX_CONTENT_LENGTH` (16 MiB).

/// Limits applied by [`crate::Decoder`]. Exceeding any of them is a fatal
/// [`crate::DecodeError`] for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted header line of the outer (envelope) header block, in bytes,
    /// excluding the line feed.
    pub max_line_len: usize,
    /// Most header lines accepted in one outer header block. The outbound `connect` reply
    /// carries the whole channel data in its outer block, so this is not tiny.
    pub max_headers: usize,
    /// Largest accepted outer header block in bytes (all lines together).
    pub max_header_block: usize,
    /// Largest accepted `Content-Length` (libesl uses 16 MiB and drops the connection
    /// beyond it).
    pub max_content_length: usize,
    /// Most headers accepted inside one event body (plain, json or xml). The body is
    /// already bounded by `max_content_length`; this caps the index we build over it.
    pub max_event_headers: usize,
}

impl Limits {
    /// The defaults: 64 KiB lines, 1,000 outer headers, 4 MiB outer block,
    /// 16 MiB bodies, 10,000 event headers.
    pub const DEFAULT: Limits = Limits {
        max_line_len: 64 * 1024,
        max_headers: 1_000,
        max_header_block: 4 * 1024 * 1024,
        max_content_length: 16 * 1024 * 1024,
        max_event_headers: 10_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
