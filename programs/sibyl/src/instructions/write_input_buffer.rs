use crate::{
    constants::INPUT_BUFFER_SEED,
    errors::SibylError,
    events::InputWritten,
    math,
    state::{Config, InferenceRequest, InputBufferHeader, RequestStatus, INPUT_BUFFER_HEADER_LEN},
};
use anchor_lang::{
    prelude::*,
    system_program::{
        allocate as system_allocate, assign, create_account, transfer, Allocate, Assign,
        CreateAccount, Transfer,
    },
};

#[event_cpi]
#[derive(Accounts)]
#[instruction(sequence: u64)]
pub struct WriteInputBuffer<'info> {
    /// Anyone holding the bytes; pays the buffer's rent, and gets it back
    /// when the buffer closes.
    #[account(mut)]
    pub writer: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        seeds = [InferenceRequest::SEED, request.requester.as_ref(), request.nonce.to_le_bytes().as_ref()],
        bump = request.bump,
    )]
    pub request: Box<Account<'info, InferenceRequest>>,
    /// CHECK: the writer's own buffer for this request instance, fixed by
    /// its seeds; created by its first chunk. Never deserialized: its bytes
    /// are copied into and hashed in place.
    #[account(
        mut,
        seeds = [
            INPUT_BUFFER_SEED,
            request.key().as_ref(),
            request.model.as_ref(),
            sequence.to_le_bytes().as_ref(),
            writer.key().as_ref(),
        ],
        bump,
    )]
    pub buffer: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

/// Appends one chunk of a demanded referenced input to the writer's own
/// buffer, in order. The bytes authenticate themselves: the chunk that
/// completes the buffer must make it hash to the request's input hash, so
/// any holder may write (the requester, the operator that committed, a
/// watcher that will challenge), and no writer can spoil another's buffer.
/// The first complete buffer becomes the request's input; the clocks start
/// again (a whole challenge window, or a whole commit timeout). Allowed
/// while the protocol is paused: the upload window runs regardless.
pub fn handler(
    ctx: Context<WriteInputBuffer>,
    sequence: u64,
    offset: u32,
    data: Vec<u8>,
) -> Result<()> {
    let slot = Clock::get()?.slot;
    let request = &ctx.accounts.request;
    require!(
        request.is_instance(sequence),
        SibylError::RequestInstanceMismatch
    );
    require!(request.is_by_reference(), SibylError::InputNotByReference);
    require!(!request.input_complete(), SibylError::InputAlreadyComplete);
    require!(request.input_demanded(), SibylError::InputNotDemanded);
    require!(
        slot <= request.input_upload_deadline_slot,
        SibylError::InputUploadWindowClosed
    );

    let header = InputBufferHeader {
        request: request.key(),
        model: request.model,
        sequence,
        writer: ctx.accounts.writer.key(),
    };
    let written = written_len(&ctx.accounts.buffer)?;
    require!(offset as usize == written, SibylError::InputOffsetMismatch);
    let end = written
        .checked_add(data.len())
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    require!(end <= request.input_len as usize, SibylError::InputOverflow);
    let new_len = INPUT_BUFFER_HEADER_LEN
        .checked_add(end)
        .ok_or_else(|| error!(SibylError::MathOverflow))?;
    allocate(&ctx, new_len, ctx.bumps.buffer)?;

    let buffer = ctx.accounts.buffer.to_account_info();
    {
        let mut bytes = buffer.try_borrow_mut_data()?;
        if written == 0 {
            bytes
                .get_mut(..INPUT_BUFFER_HEADER_LEN)
                .ok_or_else(|| error!(SibylError::MathOverflow))?
                .copy_from_slice(&header.to_bytes());
        }
        bytes
            .get_mut(INPUT_BUFFER_HEADER_LEN + written..new_len)
            .ok_or_else(|| error!(SibylError::MathOverflow))?
            .copy_from_slice(&data);
    }
    let complete = end == request.input_len as usize;
    if complete {
        let hash = {
            let bytes = buffer.try_borrow_data()?;
            let input = bytes
                .get(INPUT_BUFFER_HEADER_LEN..)
                .ok_or_else(|| error!(SibylError::MathOverflow))?;
            crate::hashing::input_hash(input)
        };
        require!(hash == request.input_hash, SibylError::InputHashMismatch);
        let timeout = ctx.accounts.config.params.request_timeout_slots;
        let request = &mut ctx.accounts.request;
        request.input_buffer = buffer.key();
        restart_clocks(request, timeout, slot)?;
    }
    let request = &ctx.accounts.request;
    let event = InputWritten {
        request: request.key(),
        written: end as u32,
        input_len: request.input_len,
        input_hash: complete.then_some(request.input_hash),
    };
    emit_cpi!(event);
    Ok(())
}

/// Input bytes in the buffer so far (0 before its first chunk). The seeds
/// fix its address, and only this program can have written there.
fn written_len(buffer: &UncheckedAccount) -> Result<usize> {
    if buffer.data_is_empty() {
        return Ok(0);
    }
    require!(buffer.owner == &crate::ID, SibylError::WrongInputBuffer);
    buffer
        .data_len()
        .checked_sub(INPUT_BUFFER_HEADER_LEN)
        .ok_or_else(|| error!(SibylError::WrongInputBuffer))
}

/// Creates the buffer with its first chunk, or grows it by the next, the
/// writer paying the rent.
fn allocate(ctx: &Context<WriteInputBuffer>, new_len: usize, bump: u8) -> Result<()> {
    let buffer = ctx.accounts.buffer.to_account_info();
    let writer = ctx.accounts.writer.to_account_info();
    let rent = Rent::get()?.minimum_balance(new_len);
    let top_up = |needed: u64| -> Result<()> {
        if needed == 0 {
            return Ok(());
        }
        transfer(
            CpiContext::new(
                ctx.accounts.system_program.key(),
                Transfer {
                    from: writer.clone(),
                    to: buffer.clone(),
                },
            ),
            needed,
        )
    };
    if buffer.data_is_empty() {
        let request = ctx.accounts.request.key();
        let model = ctx.accounts.request.model;
        let sequence = ctx.accounts.request.sequence.to_le_bytes();
        let writer_key = writer.key();
        let seeds: &[&[u8]] = &[
            INPUT_BUFFER_SEED,
            request.as_ref(),
            model.as_ref(),
            &sequence,
            writer_key.as_ref(),
            &[bump],
        ];
        if buffer.lamports() == 0 {
            return create_account(
                CpiContext::new_with_signer(
                    ctx.accounts.system_program.key(),
                    CreateAccount {
                        from: writer.clone(),
                        to: buffer.clone(),
                    },
                    &[seeds],
                ),
                rent,
                new_len as u64,
                &crate::ID,
            );
        }
        // Someone sent lamports to the address first, which `create_account`
        // refuses: top it up, allocate and assign instead, so that no
        // donation can keep a writer from its buffer.
        top_up(rent.saturating_sub(buffer.lamports()))?;
        system_allocate(
            CpiContext::new_with_signer(
                ctx.accounts.system_program.key(),
                Allocate {
                    account_to_allocate: buffer.clone(),
                },
                &[seeds],
            ),
            new_len as u64,
        )?;
        return assign(
            CpiContext::new_with_signer(
                ctx.accounts.system_program.key(),
                Assign {
                    account_to_assign: buffer.clone(),
                },
                &[seeds],
            ),
            &crate::ID,
        );
    }
    top_up(rent.saturating_sub(buffer.lamports()))?;
    buffer.resize(new_len)?;
    Ok(())
}

/// A demanded input is now on chain: watchers get a whole challenge window
/// with the bytes in hand, and an operator a whole commit timeout.
fn restart_clocks(
    request: &mut InferenceRequest,
    request_timeout_slots: u64,
    slot: u64,
) -> Result<()> {
    request.input_upload_deadline_slot = 0;
    match request.status {
        RequestStatus::Committed => {
            request.challenge_deadline_slot = math::add(slot, request.challenge_window_slots)?;
        }
        RequestStatus::Pending => {
            request.deadline_slot = request
                .deadline_slot
                .max(math::add(slot, request_timeout_slots)?);
        }
        // A demand is refused in any other state, and no dispute opens while
        // the input is awaited.
        _ => {}
    }
    Ok(())
}
