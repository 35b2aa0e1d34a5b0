//! MSB-first bit reader for codec headers, with Exp-Golomb helpers.
//!
//! Every read is bounds-checked and returns [`MediaError::Truncated`] instead
//! of panicking, so garbage headers from the network are harmless.

use crate::MediaError;

/// Longest NAL unit payload we are willing to unescape. SPS/PPS in an
/// AVCDecoderConfigurationRecord are bounded by a 16-bit length anyway.
pub const MAX_RBSP_INPUT: usize = 64 * 1024;

/// Strips H.264/H.265 emulation-prevention bytes: every `00 00 03` becomes
/// `00 00`, turning a NAL unit payload into its raw byte sequence payload.
pub fn remove_emulation_prevention(nal: &[u8]) -> Result<Vec<u8>, MediaError> {
    if nal.len() > MAX_RBSP_INPUT {
        return Err(MediaError::TooLarge { what: "NAL unit", size: nal.len(), limit: MAX_RBSP_INPUT });
    }
    let mut rbsp = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &byte in nal {
        if zeros >= 2 && byte == 0x03 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        rbsp.push(byte);
    }
    Ok(rbsp)
}

pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// `what` names the structure being read, for error messages.
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        BitReader { data, pos: 0, what }
    }

    pub fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    fn truncated(&self, bits: usize) -> MediaError {
        MediaError::Truncated { what: self.what, needed: (bits - self.bits_left()).div_ceil(8) }
    }

    pub fn read_bit(&mut self) -> Result<bool, MediaError> {
        let byte = self.data.get(self.pos / 8).ok_or_else(|| self.truncated(1))?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads up to 32 bits as an unsigned big-endian value.
    pub fn read_bits(&mut self, count: u32) -> Result<u32, MediaError> {
        if count > 32 {
            return Err(MediaError::invalid(self.what, format!("read of {count} bits")));
        }
        if self.bits_left() < count as usize {
            return Err(self.truncated(count as usize));
        }
        let mut value: u64 = 0;
        for _ in 0..count {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        // count <= 32, so the value always fits.
        Ok(value as u32)
    }

    pub fn read_u8(&mut self, count: u32) -> Result<u8, MediaError> {
        let value = self.read_bits(count.min(8))?;
        Ok(value as u8)
    }

    pub fn skip_bits(&mut self, count: usize) -> Result<(), MediaError> {
        if self.bits_left() < count {
            return Err(self.truncated(count));
        }
        self.pos += count;
        Ok(())
    }

    /// Unsigned Exp-Golomb code, ue(v). Values needing more than 32 bits
    /// are rejected rather than wrapped.
    pub fn read_ue(&mut self) -> Result<u32, MediaError> {
        let mut leading_zeros = 0u32;
        while !self.read_bit()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return Err(MediaError::invalid(self.what, "exp-Golomb code too long"));
            }
        }
        let suffix = u64::from(self.read_bits(leading_zeros)?);
        let value = (1u64 << leading_zeros) - 1 + suffix;
        u32::try_from(value).map_err(|_| MediaError::invalid(self.what, "exp-Golomb value overflows 32 bits"))
    }

    /// ue(v) that must not exceed `max`; `field` names it in the error.
    pub fn read_ue_max(&mut self, max: u32, field: &str) -> Result<u32, MediaError> {
        let value = self.read_ue()?;
        if value > max {
            return Err(MediaError::invalid(self.what, format!("{field} = {value} exceeds {max}")));
        }
        Ok(value)
    }

    /// Signed Exp-Golomb code, se(v).
    pub fn read_se(&mut self) -> Result<i32, MediaError> {
        let code = i64::from(self.read_ue()?);
        let value = if code % 2 == 1 { (code + 1) / 2 } else { -(code / 2) };
        i32::try_from(value).map_err(|_| MediaError::invalid(self.what, "se(v) out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_width_fields() {
        let mut reader = BitReader::new(&[0b1010_0000, 0xff], "test");
        assert!(reader.read_bit().unwrap());
        assert_eq!(reader.read_bits(3).unwrap(), 0b010);
        assert_eq!(reader.read_bits(8).unwrap(), 0x0f);
        assert_eq!(reader.bits_left(), 4);
        assert!(matches!(reader.read_bits(5), Err(MediaError::Truncated { .. })));
    }

    #[test]
    fn reads_exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 => ue 0,1,2,3,4
        let mut reader = BitReader::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000], "test");
        let values: Vec<u32> = (0..5).map(|_| reader.read_ue().unwrap()).collect();
        assert_eq!(values, [0, 1, 2, 3, 4]);

        // se: codes 1,2,3,4 => +1,-1,+2,-2
        let mut reader = BitReader::new(&[0b0100_1100, 0b1000_0101, 0], "test");
        let values: Vec<i32> = (0..4).map(|_| reader.read_se().unwrap()).collect();
        assert_eq!(values, [1, -1, 2, -2]);
    }

    #[test]
    fn rejects_overlong_and_truncated_codes() {
        let zeros = [0u8; 8];
        assert!(BitReader::new(&zeros, "test").read_ue().is_err());
        assert!(BitReader::new(&[0x00, 0x01], "test").read_ue().is_err());
        assert!(BitReader::new(&[], "test").read_bit().is_err());
        // Largest 32-bit value: 31 zeros, a one, 31 ones after it.
        let max = [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe];
        assert_eq!(BitReader::new(&max, "test").read_ue().unwrap(), u32::MAX - 1);
    }

    #[test]
    fn strips_emulation_prevention_bytes() {
        let nal = [0x67, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x03];
        let rbsp = remove_emulation_prevention(&nal).unwrap();
        assert_eq!(rbsp, [0x67, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03]);
    }
}
