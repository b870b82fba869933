use crate::{
    constants::INPUT_BUFFER_SEED,
    errors::SibylError,
    state::{InferenceRequest, InputBufferHeader},
};
use anchor_lang::{prelude::*, system_program};

#[derive(Accounts)]
#[instruction(model: Pubkey, sequence: u64)]
pub struct CloseInputBuffer<'info> {
    /// Anyone, once the buffer's request is final or gone; only its writer
    /// while the request is open.
    pub closer: Signer<'info>,
    /// CHECK: the request address the buffer was written for; it may be
    /// closed by now, or hold another request instance. Read only to see
    /// whether the buffer is still its input.
    pub request: UncheckedAccount<'info>,
    /// CHECK: the buffer, fixed by its seeds; checked to be a buffer.
    #[account(
        mut,
        seeds = [
            INPUT_BUFFER_SEED,
            request.key().as_ref(),
            model.as_ref(),
            sequence.to_le_bytes().as_ref(),
            writer.key().as_ref(),
        ],
        bump,
    )]
    pub buffer: UncheckedAccount<'info>,
    /// CHECK: the buffer's writer (in its seeds), which gets its rent back.
    #[account(mut)]
    pub writer: UncheckedAccount<'info>,
}

/// Closes an input buffer, its rent going back to its writer. A buffer that
/// holds the input of a request still open (not final) stays: voters and
/// watchers read it. A buffer of a request still open that is not its
/// input (incomplete, or completed by another writer second) closes only
/// at its writer's word, so nobody can undo another's upload.
pub fn handler(ctx: Context<CloseInputBuffer>, model: Pubkey, sequence: u64) -> Result<()> {
    let buffer = ctx.accounts.buffer.to_account_info();
    require!(
        buffer.owner == &crate::ID && !buffer.data_is_empty(),
        SibylError::WrongInputBuffer
    );
    {
        let data = buffer.try_borrow_data()?;
        let (header, _) =
            InputBufferHeader::parse(&data).ok_or_else(|| error!(SibylError::WrongInputBuffer))?;
        require!(
            header.request == ctx.accounts.request.key()
                && header.model == model
                && header.sequence == sequence
                && header.writer == ctx.accounts.writer.key(),
            SibylError::WrongInputBuffer
        );
    }
    if let Some(request) = open_instance(&ctx.accounts.request, model, sequence)? {
        require!(
            request.input_buffer != buffer.key(),
            SibylError::InputBufferInUse
        );
        require!(
            ctx.accounts.closer.key() == ctx.accounts.writer.key(),
            SibylError::InputBufferInUse
        );
    }
    let writer = ctx.accounts.writer.to_account_info();
    let lamports = buffer.lamports();
    **buffer.try_borrow_mut_lamports()? = 0;
    **writer.try_borrow_mut_lamports()? = writer
        .lamports()
        .checked_add(lamports)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    buffer.resize(0)?;
    buffer.assign(&system_program::ID);
    Ok(())
}

/// The request at this address when it is the buffer's instance and not
/// final yet.
fn open_instance(
    account: &UncheckedAccount,
    model: Pubkey,
    sequence: u64,
) -> Result<Option<InferenceRequest>> {
    if account.owner != &crate::ID || account.data_is_empty() {
        return Ok(None);
    }
    let data = account.try_borrow_data()?;
    let Ok(request) = InferenceRequest::try_deserialize(&mut data.as_ref()) else {
        return Ok(None);
    };
    let open =
        request.model == model && request.sequence == sequence && !request.has_final_output();
    Ok(open.then_some(request))
}
