//! Frame layer: CRC-16/MODBUS, one frame encoded and decoded, and a streaming framer that hunts
//! for SOM and survives any garbage. See the module docs of [`super`] for the wire format.

use std::fmt;

/// Start of message.
pub const SOM: u8 = 0xA5;
/// Broadcast address: only SET_TIME may be sent to it, and nobody replies.
pub const BROADCAST: u8 = 0xFF;
/// Highest unicast machine number.
pub const MAX_MACHINE_NO: u8 = 247;
/// SOM + ADDR + LEN(2) + CTRL + CMD before the data.
pub const HEADER_LEN: usize = 6;
/// Header plus CRC: the length of a frame without data.
pub const MIN_FRAME: usize = HEADER_LEN + 2;
/// The longest frame on the wire; a firmware receive buffer of this size always suffices.
pub const MAX_FRAME: usize = 512;
/// The longest DATA field.
pub const MAX_DATA: usize = MAX_FRAME - MIN_FRAME;

/// CTRL bits 0-1.
pub const CTRL_SEQ_MASK: u8 = 0x03;
/// CTRL bit 2: set in every reply, clear in every request.
pub const CTRL_REPLY: u8 = 0x04;

/// CRC-16/MODBUS: poly 0x8005 reflected (0xA001), init 0xFFFF, refin/refout, xorout 0.
/// Check value over ASCII "123456789" is 0x4B37.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc = (crc >> 8) ^ CRC_TABLE[usize::from((crc as u8) ^ b)];
    }
    crc
}

/// The CRC-16/MODBUS check value, as catalogued (CRC RevEng).
pub const CRC_CHECK: u16 = 0x4B37;

const CRC_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xA001
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// One frame, either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub addr: u8,
    /// 0..=3; 0 resets the sequence.
    pub seq: u8,
    pub reply: bool,
    pub cmd: u8,
    pub data: Vec<u8>,
}

/// Why bytes could not be a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    TooShort(usize),
    TooLong(usize),
    NoSom(u8),
    BadAddress(u8),
    LengthMismatch { field: usize, actual: usize },
    BadCrc { expected: u16, got: u16 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooShort(n) => write!(f, "frame of {n} bytes is shorter than {MIN_FRAME}"),
            FrameError::TooLong(n) => write!(f, "frame of {n} bytes is longer than {MAX_FRAME}"),
            FrameError::NoSom(b) => write!(f, "frame starts with {b:#04x}, not SOM {SOM:#04x}"),
            FrameError::BadAddress(a) => write!(f, "address {a} is reserved"),
            FrameError::LengthMismatch { field, actual } => {
                write!(f, "LEN says {field} bytes, got {actual}")
            }
            FrameError::BadCrc { expected, got } => {
                write!(f, "CRC {got:#06x}, computed {expected:#06x}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    pub fn request(addr: u8, seq: u8, cmd: u8, data: Vec<u8>) -> Frame {
        Frame {
            addr,
            seq: seq & CTRL_SEQ_MASK,
            reply: false,
            cmd,
            data,
        }
    }

    pub fn reply_to(request: &Frame, cmd: u8, data: Vec<u8>) -> Frame {
        Frame {
            addr: request.addr,
            seq: request.seq,
            reply: true,
            cmd,
            data,
        }
    }

    pub fn ctrl(&self) -> u8 {
        (self.seq & CTRL_SEQ_MASK) | if self.reply { CTRL_REPLY } else { 0 }
    }

    /// Length on the wire.
    pub fn wire_len(&self) -> usize {
        MIN_FRAME + self.data.len()
    }

    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let len = self.wire_len();
        if len > MAX_FRAME {
            return Err(FrameError::TooLong(len));
        }
        if self.addr == 0 {
            return Err(FrameError::BadAddress(0));
        }
        let mut out = Vec::with_capacity(len);
        out.push(SOM);
        out.push(self.addr);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.push(self.ctrl());
        out.push(self.cmd);
        out.extend_from_slice(&self.data);
        let crc = crc16(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes exactly one whole frame.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() < MIN_FRAME {
            return Err(FrameError::TooShort(bytes.len()));
        }
        if bytes.len() > MAX_FRAME {
            return Err(FrameError::TooLong(bytes.len()));
        }
        if bytes[0] != SOM {
            return Err(FrameError::NoSom(bytes[0]));
        }
        if bytes[1] == 0 {
            return Err(FrameError::BadAddress(0));
        }
        let field = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
        if field != bytes.len() {
            return Err(FrameError::LengthMismatch {
                field,
                actual: bytes.len(),
            });
        }
        let body = bytes.len() - 2;
        let expected = crc16(&bytes[..body]);
        let got = u16::from_le_bytes([bytes[body], bytes[body + 1]]);
        if expected != got {
            return Err(FrameError::BadCrc { expected, got });
        }
        Ok(Frame {
            addr: bytes[1],
            seq: bytes[4] & CTRL_SEQ_MASK,
            reply: bytes[4] & CTRL_REPLY != 0,
            cmd: bytes[5],
            data: bytes[HEADER_LEN..body].to_vec(),
        })
    }
}

/// What the framer found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramerEvent {
    Frame(Frame),
    /// A frame-shaped run (SOM, address, LEN in bounds, all bytes present) whose CRC failed.
    /// `aligned` is true when it started right where a frame was expected (stream start, or
    /// right after a good frame): only then may a device answer NAK BAD_CRC, because a SOM
    /// found while rescanning garbage may be a data byte.
    BadCrc {
        addr: u8,
        len: usize,
        aligned: bool,
    },
    /// Bytes thrown away while hunting for SOM (noise, a false SOM).
    Skipped(usize),
    /// A SOM and an address followed by a LEN no frame can have (beyond [`MAX_FRAME`], or
    /// shorter than [`MIN_FRAME`]): one byte thrown away, the hunt resumes after the SOM.
    BadLength {
        addr: u8,
        len: usize,
    },
}

/// Streaming frame decoder: push bytes as they arrive (any split), pull events.
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    aligned: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    pub fn new() -> Framer {
        Framer {
            buf: Vec::with_capacity(MAX_FRAME * 2),
            aligned: true,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Forgets any partial frame (the master does this before each request).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.aligned = true;
    }

    /// Bytes held: a partial frame waiting for the rest.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The frame begun but not complete: (bytes held, bytes its LEN announces). None when
    /// nothing is held or too little to know its length.
    pub fn partial(&self) -> Option<(usize, usize)> {
        if self.buf.len() < 4 || self.buf[0] != SOM {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([self.buf[2], self.buf[3]]));
        (len > self.buf.len()).then_some((self.buf.len(), len))
    }

    pub fn next_event(&mut self) -> Option<FramerEvent> {
        let Some(start) = self.buf.iter().position(|&b| b == SOM) else {
            let n = self.buf.len();
            self.buf.clear();
            if n == 0 {
                return None;
            }
            self.aligned = false;
            return Some(FramerEvent::Skipped(n));
        };
        if start > 0 {
            self.buf.drain(..start);
            self.aligned = false;
            return Some(FramerEvent::Skipped(start));
        }
        if self.buf.len() < 4 {
            return None;
        }
        let addr = self.buf[1];
        let len = usize::from(u16::from_le_bytes([self.buf[2], self.buf[3]]));
        if addr == 0 || !(MIN_FRAME..=MAX_FRAME).contains(&len) {
            // A false SOM: resume the hunt one byte on.
            self.buf.drain(..1);
            self.aligned = false;
            return Some(if addr == 0 {
                FramerEvent::Skipped(1)
            } else {
                FramerEvent::BadLength { addr, len }
            });
        }
        if self.buf.len() < len {
            return None;
        }
        match Frame::decode(&self.buf[..len]) {
            Ok(frame) => {
                self.buf.drain(..len);
                self.aligned = true;
                Some(FramerEvent::Frame(frame))
            }
            Err(_) => {
                // Drop only the SOM: a real frame may start inside the bad one.
                let aligned = self.aligned;
                self.buf.drain(..1);
                self.aligned = false;
                Some(FramerEvent::BadCrc { addr, len, aligned })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), CRC_CHECK);
    }

    #[test]
    fn poll_frame_bytes() {
        let f = Frame::request(3, 1, 0x01, vec![]);
        let bytes = f.encode().unwrap();
        assert_eq!(&bytes[..6], &[0xA5, 0x03, 0x08, 0x00, 0x01, 0x01]);
        assert_eq!(Frame::decode(&bytes).unwrap(), f);
    }

    #[test]
    fn framer_resyncs_after_garbage_and_bad_crc() {
        let good = Frame::request(7, 2, 0x02, vec![1, 2, 3]).encode().unwrap();
        let mut bad = good.clone();
        bad[6] ^= 0x40;
        let mut fr = Framer::new();
        fr.push(&[0x00, SOM, 0x00, 0x99]);
        fr.push(&bad);
        fr.push(&good);
        let mut frames = 0;
        let mut bad_crc = 0;
        while let Some(ev) = fr.next_event() {
            match ev {
                FramerEvent::Frame(f) => {
                    assert_eq!(f.addr, 7);
                    frames += 1
                }
                FramerEvent::BadCrc { .. } => bad_crc += 1,
                FramerEvent::Skipped(_) | FramerEvent::BadLength { .. } => {}
            }
        }
        assert_eq!((frames, bad_crc), (1, 1));
        assert_eq!(fr.pending(), 0);
    }
}
