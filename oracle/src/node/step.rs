//! One journaled step: the one way a service acts on chain. What it sends is
//! prepared (an inference, a verdict), journaled, then sent; it is marked
//! done once it lands, or once the program refuses it with an error that
//! means it is no longer needed (done by this node before a crash, by
//! someone else first, or overtaken). A restart finds a prepared entry and
//! sends the same bytes again instead of preparing anew, so a commitment,
//! challenge or vote is never made twice, nor made differently.
use super::{NodeError, Shared};
use crate::{
    chain::{ChainError, Sent},
    faulty,
    journal::{Entry, Kind, Stage},
};
use anchor_lang::prelude::Pubkey;
use sibyl::errors::SibylError;
use solana_instruction::Instruction;
use std::future::Future;

/// How a step ended.
#[derive(Debug)]
pub enum Outcome {
    /// It landed now.
    Sent(Sent),
    /// The program refused it with one of the step's `already_done`
    /// refusals (kept, for the caller to look at).
    NotNeeded(ChainError),
    /// The journal had it done already; nothing was sent.
    WasDone,
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
        let entry = match journal.get(self.kind, &self.key).await? {
            Some(Entry {
                stage: Stage::Done { .. },
                ..
            }) => return Ok(Outcome::WasDone),
            Some(prepared) => {
                tracing::info!(action = self.action, "resuming a journaled step");
                prepared
            }
            None => {
                let entry = Entry {
                    stage: Stage::Prepared,
                    ..prepare.await?
                };
                journal.put(self.kind, &self.key, &entry).await?;
                faulty::halt_after_journal(self.action).await;
                entry
            }
        };
        let instructions = build(&entry)?;
        match shared
            .chain
            .send_receipt(self.action, &instructions, &[])
            .await
        {
            Ok(sent) => {
                journal
                    .mark_done(self.kind, &self.key, Some(sent.signature.to_string()))
                    .await?;
                Ok(Outcome::Sent(sent))
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
