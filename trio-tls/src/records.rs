//! Received ciphertext waiting for rustls, and the TLS record framing that decides how
//! much of it to hand over at a time.
//!
//! Invariant: rustls is only ever given whole records (or, at once, bytes whose header it
//! will reject), so it never holds bytes that follow a `close_notify` record; those stay
//! here, and `TlsStream::unwrap` returns them.

/// The largest TLS record body (TLS 1.2 ciphertext: 2^14 + 2048).
const MAX_RECORD_BODY: usize = 16 * 1024 + 2048;
const TLS_HEADER: usize = 5;

/// How many bytes of `data` to feed rustls next: one whole record; everything when the
/// header is one rustls will reject (so garbage fails at once); `None` when a plausible
/// record is still incomplete.
pub(crate) fn record_extent(data: &[u8]) -> Option<usize> {
    let plausible_type = |t: u8| (20..=24).contains(&t);
    match data {
        [] => None,
        [t, ..] if !plausible_type(*t) => Some(data.len()),
        [_, major, ..] if *major != 3 => Some(data.len()),
        _ if data.len() < TLS_HEADER => None,
        _ => {
            let body = usize::from(u16::from_be_bytes([data[3], data[4]]));
            if body > MAX_RECORD_BODY {
                Some(data.len())
            } else if data.len() >= TLS_HEADER + body {
                Some(TLS_HEADER + body)
            } else {
                None
            }
        }
    }
}

/// Received ciphertext not yet handed to rustls: a buffer consumed from the front.
#[derive(Default)]
pub(crate) struct Incoming {
    buf: Vec<u8>,
    start: usize,
}

impl Incoming {
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        // Compact before growing, so the buffer stays about one read long.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::record_extent;

    #[test]
    fn record_extent_feeds_whole_records_and_rejects_garbage_at_once() {
        assert_eq!(record_extent(b""), None);
        assert_eq!(record_extent(b"\x17\x03"), None);
        assert_eq!(record_extent(b"\x17\x03\x03\x00\x02a"), None);
        assert_eq!(record_extent(b"\x17\x03\x03\x00\x02abXYZ"), Some(7));
        assert_eq!(record_extent(b"GET / HTTP/1.1"), Some(14));
        assert_eq!(record_extent(b"\x16\x09"), Some(2));
        assert_eq!(record_extent(b"\x16\x03\x01\xff\xff"), Some(5));
    }
}
