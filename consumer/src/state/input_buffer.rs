//! An input buffer: one writer's copy of a demanded referenced input, PDA
//! `["input", request, model, sequence_le, writer]`. It is not an Anchor
//! account: its input bytes are never deserialized (a program's heap is
//! 32 KiB and an input may be 1 MiB), only copied into and hashed in place.
//! Its layout is a fixed header, then the input bytes written so far:
//!
//! ```text
//! 0    8   tag `sibylib1`
//! 8    32  request
//! 40   32  model
//! 72   8   sequence (LE)
//! 80   32  writer (paid its rent; gets it back when it closes)
//! 112  ..  input bytes, in order
//! ```
//!
//! Anyone may write one (the bytes authenticate themselves: the write that
//! completes a buffer must make it hash to the request's input hash), each
//! in its own buffer, so no writer can spoil another's.
use crate::state::InferenceRequest;
use anchor_lang::prelude::Pubkey;

/// The tag a buffer starts with (filters find them by it).
pub const INPUT_BUFFER_TAG: [u8; 8] = *b"sibylib1";
/// Bytes before the input.
pub const INPUT_BUFFER_HEADER_LEN: usize = 112;
/// Offset of the writer in the header (for `getProgramAccounts` filters).
pub const INPUT_BUFFER_WRITER_OFFSET: usize = 80;

/// Who and what a buffer is for, read from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputBufferHeader {
    pub request: Pubkey,
    pub model: Pubkey,
    pub sequence: u64,
    pub writer: Pubkey,
}

impl InputBufferHeader {
    /// The header bytes.
    pub fn to_bytes(&self) -> [u8; INPUT_BUFFER_HEADER_LEN] {
        let mut bytes = [0u8; INPUT_BUFFER_HEADER_LEN];
        let fields: [&[u8]; 5] = [
            &INPUT_BUFFER_TAG,
            self.request.as_ref(),
            self.model.as_ref(),
            &self.sequence.to_le_bytes(),
            self.writer.as_ref(),
        ];
        let mut at = 0;
        for field in fields {
            if let Some(slot) = bytes.get_mut(at..at + field.len()) {
                slot.copy_from_slice(field);
            }
            at += field.len();
        }
        bytes
    }

    /// Whether the buffer at `buffer` can no longer be, or become, its
    /// request's input, given what its request address holds now (`None`:
    /// nothing): the request is gone, made again, final, or its input was
    /// completed in another buffer. Only then may its writer close it
    /// without ending its own upload.
    pub fn is_spent(&self, buffer: &Pubkey, request: Option<&InferenceRequest>) -> bool {
        match request {
            None => true,
            Some(request) if request.model != self.model || request.sequence != self.sequence => {
                true
            }
            Some(request) if request.has_final_output() => true,
            Some(request) => request.input_complete() && request.input_buffer != *buffer,
        }
    }

    /// The header of a buffer's data and the input bytes after it; `None`
    /// if the data is not a buffer.
    pub fn parse(data: &[u8]) -> Option<(InputBufferHeader, &[u8])> {
        let (header, input) = data.split_at_checked(INPUT_BUFFER_HEADER_LEN)?;
        let key = |at: usize| -> Option<Pubkey> {
            Some(Pubkey::new_from_array(
                header.get(at..at + 32)?.try_into().ok()?,
            ))
        };
        if header.get(..8)? != INPUT_BUFFER_TAG {
            return None;
        }
        let sequence = u64::from_le_bytes(header.get(72..80)?.try_into().ok()?);
        Some((
            InputBufferHeader {
                request: key(8)?,
                model: key(40)?,
                sequence,
                writer: key(INPUT_BUFFER_WRITER_OFFSET)?,
            },
            input,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_and_garbage_is_no_buffer() {
        let header = InputBufferHeader {
            request: Pubkey::new_from_array([1; 32]),
            model: Pubkey::new_from_array([2; 32]),
            sequence: 7,
            writer: Pubkey::new_from_array([3; 32]),
        };
        let mut data = header.to_bytes().to_vec();
        data.extend_from_slice(b"input");
        assert_eq!(
            InputBufferHeader::parse(&data),
            Some((header, &b"input"[..]))
        );
        assert_eq!(&data[INPUT_BUFFER_WRITER_OFFSET..][..32], &[3; 32]);
        assert_eq!(InputBufferHeader::parse(&data[..100]), None);
        data[0] = b'x';
        assert_eq!(InputBufferHeader::parse(&data), None);
    }

    /// A writer closes its buffer only once it can no longer be, or
    /// become, its request's input.
    #[test]
    fn a_buffer_is_spent_once_its_request_is_gone_remade_final_or_completed_elsewhere() {
        use crate::state::RequestStatus;
        let mut request = crate::result::tests::request(RequestStatus::Committed, 10);
        request.input_uri = "https://a/b".to_string();
        let header = InputBufferHeader {
            request: Pubkey::new_from_array([9; 32]),
            model: request.model,
            sequence: request.sequence,
            writer: Pubkey::new_from_array([3; 32]),
        };
        let ours = Pubkey::new_from_array([4; 32]);
        // Being written, or the input: not spent.
        assert!(!header.is_spent(&ours, Some(&request)));
        request.input_buffer = ours;
        assert!(!header.is_spent(&ours, Some(&request)));
        // Another buffer completed it.
        assert!(header.is_spent(&Pubkey::new_from_array([5; 32]), Some(&request)));
        // Final, gone, or another instance at the address.
        request.status = RequestStatus::Finalized;
        assert!(header.is_spent(&ours, Some(&request)));
        assert!(header.is_spent(&ours, None));
        request.status = RequestStatus::Committed;
        request.sequence += 1;
        assert!(header.is_spent(&ours, Some(&request)));
    }
}
