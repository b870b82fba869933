//! One journaled step: the one way a service acts on chain. What it sends is
//! prepared (an inference, a verdict), then sent while it is journaled; it
//! is marked done once it lands and its entry is durable, or once the
//! program refuses it with an error that means it is no longer needed (done
//! by this node before a crash, by someone else first, or overtaken). A
//! restart finds a prepared entry and sends the same bytes again instead of
//! preparing anew; the program takes one commitment, challenge or vote per
//! key, so none is ever made twice, journaled or not.
use super::{NodeError, Shared};
use crate::{
    chain::{writable_accounts, Budget, ChainError, Sent},
    faulty,
    journal::{Entry, Kind, Stage},
    read_ahead::FEE_REUSE,
};
use anchor_lang::prelude::Pubkey;
use sibyl::errors::SibylError;
use solana_instruction::Instruction;
use std::{future::Future, time::Instant};

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

/// A freshly journaled step: when it was ready to send (prepared, its
/// budget settled), and how long each part took: the unit limit after the
/// preparing, the priority fee beside both (zero when a recent read was
/// at hand), and the journal write beside the send.
#[derive(Clone, Copy, Debug)]
pub struct Journaled {
    pub ready_at: Instant,
    pub journal: std::time::Duration,
    pub unit_limit: std::time::Duration,
    pub fee: std::time::Duration,
}

/// A fresh step, prepared: its entry, what to send and with what budget
/// (or the program's refusal in the simulation), and how long the unit
/// limit and the fee took.
struct Fresh {
    entry: Entry,
    instructions: Vec<Instruction>,
    budget: Result<Budget, ChainError>,
    unit_limit: std::time::Duration,
    fee: std::time::Duration,
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
    /// its instruction's accounts), known before it is prepared: their
    /// priority fee is read while it is prepared, unless a recent read for
    /// the action is at hand ([`crate::chain::ChainClient::fee_at_hand`]).
    pub writes: Vec<Pubkey>,
}

impl JournaledStep<'_> {
    /// Takes the step: `prepare` runs only when the journal has no entry
    /// yet; `build` turns the entry into the instructions to send;
    /// `confirm_not_needed` runs when the program refuses with one of
    /// `already_done`, and says whether the chain agrees (a refusal may come
    /// from a simulation on an RPC node behind the cluster): only then is the
    /// step marked done, otherwise it fails and is tried again.
    ///
    /// A fresh entry is made durable while its transaction is sent, and the
    /// step ends only once both are done. A crash in between leaves no
    /// entry: the restart prepares the step anew, and the program, which
    /// takes one commitment, challenge or vote per key, refuses the second
    /// with one of `already_done` if the first landed (as it refuses a
    /// journaled step sent again).
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
        let send = |instructions: Vec<Instruction>, budget: Result<Budget, ChainError>| async move {
            shared
                .chain
                .send_budgeted(self.action, &instructions, &[], budget?)
                .await
        };
        let mut journaled = None;
        let sent = match journal.get(self.kind, &self.key).await? {
            Some(Entry {
                stage: Stage::Done { .. },
                ..
            }) => return Ok(Outcome::WasDone),
            Some(prepared) => {
                tracing::info!(action = self.action, "resuming a journaled step");
                let instructions = build(&prepared)?;
                let budget = shared.chain.budget(self.action, &instructions).await;
                send(instructions, budget).await
            }
            None => {
                // A journal that refuses writes (its disk failed) stops the
                // step before anything is run or sent.
                journal.check_writable()?;
                let Fresh {
                    entry,
                    instructions,
                    budget,
                    unit_limit,
                    fee,
                } = self.prepare_fresh(shared, prepare, build).await?;
                if faulty::halts_after_journal() {
                    journal.put(self.kind, &self.key, &entry).await?;
                    faulty::halt(self.action, "its entry durable").await;
                }
                // Its write runs beside the send: checked again before it.
                journal.check_writable()?;
                let ready_at = Instant::now();
                let put = async {
                    if faulty::skips_journal() {
                        return Ok(std::time::Duration::ZERO);
                    }
                    let (put, took) = timed(journal.put(self.kind, &self.key, &entry)).await;
                    put.map(|()| took)
                };
                // The send is polled first: it signs and hands the
                // transaction over before the write wakes the journal's
                // writer thread, which would compete with it for a core.
                let (sent, put) = tokio::join!(send(instructions, budget), put);
                let journal_took = match put {
                    Ok(took) => took,
                    Err(err) => {
                        if let Ok(sent) = &sent {
                            tracing::warn!(action = self.action, signature = %sent.signature, %err, "sent, but its journal entry could not be written");
                        }
                        return Err(err.into());
                    }
                };
                journaled = Some(Journaled {
                    ready_at,
                    journal: journal_took,
                    unit_limit,
                    fee,
                });
                if faulty::skips_journal() && sent.is_ok() {
                    faulty::halt(self.action, "its entry never written").await;
                }
                sent
            }
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

    /// Prepares a fresh step's entry and settles its transaction's budget,
    /// which acts on nothing: the priority fee (the last read for the
    /// action, or one RPC call for the accounts written, while the step is
    /// prepared), and the unit limit (a simulation, once per shape).
    async fn prepare_fresh<P, B>(
        &self,
        shared: &Shared,
        prepare: P,
        build: B,
    ) -> Result<Fresh, NodeError>
    where
        P: Future<Output = Result<Entry, NodeError>>,
        B: FnOnce(&Entry) -> Result<Vec<Instruction>, NodeError>,
    {
        let chain = &shared.chain;
        chain.refresh_blockhash_ahead();
        let at_hand = chain.fee_at_hand(self.action, &self.writes);
        let prepared = async {
            let entry = Entry {
                stage: Stage::Prepared,
                ..prepare.await?
            };
            let instructions = build(&entry)?;
            let (limit, took) = timed(chain.unit_limit(self.action, &instructions)).await;
            Ok::<_, NodeError>((entry, instructions, limit, took))
        };
        let fee = async {
            Ok(match at_hand {
                Some(read) => (read, std::time::Duration::ZERO),
                None => timed(chain.read_step_fee(self.action, &self.writes)).await,
            })
        };
        // A step that fails to prepare does not wait for its fee.
        let ((entry, instructions, limit, limit_took), (fee, fee_took)) =
            tokio::try_join!(prepared, fee)?;
        // A long run may have outlived the blockhash read before it.
        chain.refresh_blockhash_ahead();
        let writes = writable_accounts(&instructions);
        let price = if writes != self.writes {
            tracing::warn!(
                action = self.action,
                "the step declared other accounts than its transaction writes; reading their fee"
            );
            chain.read_step_fee(self.action, &writes).await.price
        } else if fee.read_at.elapsed() >= FEE_REUSE {
            // A long model run or re-execution: a newer read may have come
            // meanwhile (this step started one).
            match chain.fee_at_hand(self.action, &writes) {
                Some(read) => read.price,
                None => chain.read_step_fee(self.action, &writes).await.price,
            }
        } else {
            fee.price
        };
        let budget = limit.map(|unit_limit| Budget {
            unit_limit,
            unit_price: price,
        });
        Ok(Fresh {
            entry,
            instructions,
            budget,
            unit_limit: limit_took,
            fee: fee_took,
        })
    }
}

/// `work`'s result, and how long it took.
async fn timed<F: Future>(work: F) -> (F::Output, std::time::Duration) {
    let started = Instant::now();
    let result = work.await;
    (result, started.elapsed())
}
