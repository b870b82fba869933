//! One journaled step: the one way a service acts on chain. What it sends is
//! prepared (an inference, a verdict), journaled, then sent; it is marked
//! done once it lands, or once the program refuses it with an error that
//! means it is no longer needed (done by this node before a crash, by
//! someone else first, or overtaken). A restart finds a prepared entry and
//! sends the same bytes again instead of preparing anew, so a commitment,
//! challenge or vote is never made twice, nor made differently.
use super::{NodeError, Shared};
use crate::{
    chain::{writable_accounts, Budget, ChainError, Sent},
    faulty,
    journal::{Entry, Kind, Stage},
};
use anchor_lang::prelude::Pubkey;
use sibyl::errors::SibylError;
use solana_instruction::Instruction;
use std::{future::Future, time::Instant};

/// A priority fee read this long before its transaction is signed is read
/// again. It is the upper quartile of the last 150 slots' (a minute), which
/// moves little in a few seconds.
const FEE_READ_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// How a step ended.
#[derive(Debug)]
pub enum Outcome {
    /// It landed now; `journaled` says how its entry was made durable,
    /// where this call journaled it (not on a resume).
    Sent {
        sent: Sent,
        journaled: Option<Journaled>,
    },
    /// The program refused it with one of the step's `already_done`
    /// refusals (kept, for the caller to look at).
    NotNeeded(ChainError),
    /// The journal had it done already; nothing was sent.
    WasDone,
}

/// A freshly journaled step: when it was ready to send (durable, its
/// budget settled), and how long each part took: the journal write and the
/// unit limit side by side, the priority-fee query beside the preparing
/// and both of them.
#[derive(Clone, Copy, Debug)]
pub struct Journaled {
    pub ready_at: Instant,
    pub journal: std::time::Duration,
    pub unit_limit: std::time::Duration,
    pub fee: std::time::Duration,
}

/// A step on one journal entry.
pub struct JournaledStep<'a> {
    pub kind: Kind,
    /// The request instance or dispute it is about.
    pub key: Pubkey,
    /// For logs and errors: the instruction's name.
    pub action: &'static str,
    /// Refusals that mean the step is no longer needed.
    pub already_done: &'a [SibylError],
    /// The accounts its transaction writes ([`crate::chain::writable_of`]
    /// its instruction's accounts), known before it is prepared: their priority
    /// fee is read while it is prepared and made durable.
    pub writes: Vec<Pubkey>,
}

impl JournaledStep<'_> {
    /// Takes the step: `prepare` runs only when the journal has no entry
    /// yet (its entry is journaled as prepared before anything is sent);
    /// `build` turns the journaled entry into the instructions to send;
    /// `confirm_not_needed` runs when the program refuses with one of
    /// `already_done`, and says whether the chain agrees (a refusal may come
    /// from a simulation on an RPC node behind the cluster): only then is the
    /// step marked done, otherwise it fails and is tried again.
    pub async fn take<P, B, C, F>(
        &self,
        shared: &Shared,
        prepare: P,
        build: B,
        confirm_not_needed: C,
    ) -> Result<Outcome, NodeError>
    where
        P: Future<Output = Result<Entry, NodeError>>,
        B: FnOnce(&Entry) -> Result<Vec<Instruction>, NodeError>,
        C: FnOnce() -> F,
        F: Future<Output = Result<bool, NodeError>>,
    {
        let journal = &shared.journal;
        let mut journaled = None;
        let (instructions, budget) = match journal.get(self.kind, &self.key).await? {
            Some(Entry {
                stage: Stage::Done { .. },
                ..
            }) => return Ok(Outcome::WasDone),
            Some(prepared) => {
                tracing::info!(action = self.action, "resuming a journaled step");
                let instructions = build(&prepared)?;
                let budget = shared.chain.budget(self.action, &instructions).await;
                (instructions, budget)
            }
            None => {
                // The transaction's budget acts on nothing, so it is settled
                // alongside: the priority fee (one RPC call, for the accounts
                // written) while the step is prepared and made durable, the
                // unit limit (a simulation, once per shape) while the entry
                // is made durable. Nothing is sent before all are done.
                let durable = async {
                    let entry = Entry {
                        stage: Stage::Prepared,
                        ..prepare.await?
                    };
                    let instructions = build(&entry)?;
                    let ((put, journal_took), (limit, limit_took)) = tokio::join!(
                        timed(journal.put(self.kind, &self.key, &entry)),
                        timed(shared.chain.unit_limit(self.action, &instructions)),
                    );
                    put?;
                    Ok::<_, NodeError>((instructions, limit, journal_took, limit_took))
                };
                let fee = async {
                    let (price, took) =
                        timed(shared.chain.priority_fee(self.action, &self.writes)).await;
                    Ok((price, took, Instant::now()))
                };
                // A step that fails to prepare or journal does not wait for
                // its fee.
                let ((instructions, limit, journal_took, limit_took), (price, fee_took, read_at)) =
                    tokio::try_join!(durable, fee)?;
                let writes = writable_accounts(&instructions);
                let price = if writes != self.writes {
                    tracing::warn!(action = self.action, "the step declared other accounts than its transaction writes; reading their fee");
                    shared.chain.priority_fee(self.action, &writes).await
                } else if read_at.elapsed() > FEE_READ_AGAIN_AFTER {
                    // A long model run or re-execution.
                    shared.chain.priority_fee(self.action, &writes).await
                } else {
                    price
                };
                journaled = Some(Journaled {
                    ready_at: Instant::now(),
                    journal: journal_took,
                    unit_limit: limit_took,
                    fee: fee_took,
                });
                faulty::halt_after_journal(self.action).await;
                let budget = limit.map(|unit_limit| Budget {
                    unit_limit,
                    unit_price: price,
                });
                (instructions, budget)
            }
        };
        let sent = match budget {
            Ok(budget) => {
                shared
                    .chain
                    .send_budgeted(self.action, &instructions, &[], budget)
                    .await
            }
            Err(refused) => Err(refused),
        };
        match sent {
            Ok(sent) => {
                journal
                    .mark_done(self.kind, &self.key, Some(sent.signature.to_string()))
                    .await?;
                Ok(Outcome::Sent { sent, journaled })
            }
            Err(err) if err.refused_with_any(self.already_done) => {
                if !confirm_not_needed().await? {
                    return Err(NodeError::Internal(format!(
                        "{} was refused as no longer needed ({err}), but the chain does not show it; trying again",
                        self.action
                    )));
                }
                journal.mark_done(self.kind, &self.key, None).await?;
                Ok(Outcome::NotNeeded(err))
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// `work`'s result, and how long it took.
async fn timed<F: Future>(work: F) -> (F::Output, std::time::Duration) {
    let started = Instant::now();
    let result = work.await;
    (result, started.elapsed())
}
