//! A referee game: one challenger against one commitment of a referee
//! model, decided by bisection and one step recomputed on chain, with no
//! vote. Its rules live here; the instructions only load accounts, check
//! proofs and move tokens.
//!
//! Both parties descend their trees side by side, one level a round, each
//! revealing the two children of its current node. The game follows the
//! left child where the lefts differ, else the right: every subtree it
//! passes on the left is equal in both trees, so the node it reaches is
//! the first where they differ. First over the trace (which node's output),
//! then over that node's elements (which element), then, for a node that
//! sums or scans an axis, over that element's terms (which term, each party
//! revealing its running state). The step then recomputes that element (or
//! that one term) from operands proven against the agreed trace, the
//! model's weights root or the request's input, and whoever claimed
//! otherwise loses.
use crate::{constants::REFEREE_GAME_SEED, errors::SibylError, math};
use anchor_lang::prelude::*;
use sibyl_sdk::{
    constants::REFEREE_MOVE_SLOTS,
    referee::{
        commit::{self, EMPTY},
        record::MAX_RECORD_BYTES,
        step::{self, State},
        NodeRecord, RefereeError,
    },
};

/// The two parties, by index into a game's per-party fields.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum Party {
    Operator,
    Challenger,
}

impl Party {
    fn index(self) -> usize {
        match self {
            Party::Operator => 0,
            Party::Challenger => 1,
        }
    }
}

/// What the parties' trees disagree on.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum GameSubject {
    /// Their traces: the game finds the first node whose output differs
    /// and recomputes one element of it.
    Trace,
    /// The same trace, other outputs: the game finds an output element and
    /// reads it from the agreed trace.
    Outputs,
}

/// Where a game stands.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum GamePhase {
    /// Both descend the tree over nodes (or outputs).
    Items,
    /// Anyone proves the record of the node found against the model's
    /// graph root.
    Record,
    /// Both descend the tree over that node's elements.
    Elements,
    /// Both open their leaf: the element's value.
    Values,
    /// Both reveal running states of a reduction's terms, halving the range.
    Reduce,
    /// Anyone proves the step's operands; the last one decides.
    Operands,
    /// Decided; waiting to be settled.
    Decided,
}

/// How a game ended.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum GameOutcome {
    Open,
    /// The operator's claim was wrong (or it stopped answering), the
    /// challenger's right: the commitment is rejected, the operator slashed
    /// to the challenger, the requester refunded.
    OperatorLost,
    /// The challenger's claim was wrong (or it stopped answering, or did
    /// not prove the step): its bond goes to the operator.
    ChallengerLost,
    /// Both claims were wrong (or both stopped answering): the commitment
    /// is rejected and the requester refunded, and the slash and the bond go
    /// to the protocol, so that a challenger sharing the operator's purse
    /// wins nothing back.
    BothLost,
}

/// One move of one party.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Move {
    /// The two children of the party's current node (`Items`, `Elements`).
    Children([[u8; 32]; 2]),
    /// The value of the party's leaf (`Values`).
    Value(i64),
    /// The running state after the round's number of terms (`Reduce`; the
    /// first round: after every term, which must finish to the party's
    /// value).
    State([i64; 2]),
}

/// A referee game, PDA `["referee_game", model, sequence, challenger]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct RefereeGame {
    pub request: Pubkey,
    pub model: Pubkey,
    pub request_sequence: u64,
    /// The committing operator's account, and its node key, which moves.
    pub operator: Pubkey,
    pub operator_authority: Pubkey,
    pub challenger: Pubkey,
    /// Where the challenger's bond came from and its payouts go.
    pub challenger_token: Pubkey,
    pub bond: u64,
    pub slash_bps: u16,
    pub opened_slot: u64,
    /// The slot by which the parties owing a move must make it.
    pub deadline_slot: u64,
    pub subject: GameSubject,
    pub phase: GamePhase,
    pub outcome: GameOutcome,
    /// The operator's trace root (the commitment's) and the challenger's.
    pub trace_roots: [[u8; 32]; 2],
    /// The tree over each party's outputs: the operator's computed from
    /// its committed result, the challenger's its claim.
    pub output_roots: [[u8; 32]; 2],
    /// The descent: the tree's depth, the level reached, the index there,
    /// and each party's node at it.
    pub depth: u8,
    pub level: u8,
    pub index: u64,
    pub nodes: [[u8; 32]; 2],
    /// What each party revealed this round, and whether it has moved.
    pub revealed: [[[u8; 32]; 2]; 2],
    pub moved: [bool; 2],
    /// How many nodes (`Trace`) or outputs (`Outputs`) the first tree holds.
    pub item_count: u64,
    /// The node (`Trace`) or output (`Outputs`) found, and its element.
    pub item: u64,
    pub element: u64,
    /// How many elements the item has (from its record).
    pub element_count: u64,
    /// Each party's value of the element.
    pub values: [i64; 2],
    /// A reduction's terms still disputed: the state after `lo` terms is
    /// agreed, each party's after `hi` differs.
    pub lo: u64,
    pub hi: u64,
    pub state_lo: [i64; 2],
    pub states_hi: [[i64; 2]; 2],
    pub states_revealed: [[i64; 2]; 2],
    /// Whether the parties' states after every term are known.
    pub ends_known: bool,
    /// The step's operand values, proven so far.
    #[max_len(8)]
    pub operands: Vec<i64>,
    pub bump: u8,
    /// The found node's record, once proven.
    #[max_len(MAX_RECORD_BYTES)]
    pub record: Vec<u8>,
}

/// What a round or a proof changed, for the instruction's event.
pub struct Advance {
    pub phase: GamePhase,
    pub decided: bool,
}

impl RefereeGame {
    pub const SEED: &'static [u8] = REFEREE_GAME_SEED;
    /// Byte offset of `operator_authority` (after the discriminator, the
    /// request, the model, the sequence and the operator account), for
    /// `getProgramAccounts` filters: a node finds its games.
    pub const OPERATOR_AUTHORITY_OFFSET: usize = 8 + 32 + 32 + 8 + 32;
    /// Byte offset of `challenger`.
    pub const CHALLENGER_OFFSET: usize = Self::OPERATOR_AUTHORITY_OFFSET + 32;

    /// Starts the descent of the tree the parties disagree on: the traces
    /// where they differ, else the outputs. `items` is how many nodes (or
    /// outputs) that tree holds.
    pub fn begin(&mut self, subject: GameSubject, items: u64, slot: u64) -> Result<()> {
        let party_roots = match subject {
            GameSubject::Trace => self.trace_roots,
            GameSubject::Outputs => self.output_roots,
        };
        self.subject = subject;
        self.item_count = items;
        self.nodes = party_roots;
        self.begin_descent(GamePhase::Items, items, slot)
    }

    fn begin_descent(&mut self, phase: GamePhase, leaves: u64, slot: u64) -> Result<()> {
        self.phase = phase;
        self.depth = commit::depth(leaves) as u8;
        self.level = 0;
        self.index = 0;
        self.next_round(slot)?;
        if self.depth == 0 {
            self.reach_bottom(slot)?;
        }
        Ok(())
    }

    fn next_round(&mut self, slot: u64) -> Result<()> {
        self.moved = [false; 2];
        self.deadline_slot = math::add(slot, REFEREE_MOVE_SLOTS)?;
        Ok(())
    }

    /// Whether `party` owes a move this round.
    pub fn owes(&self, party: Party) -> bool {
        matches!(
            self.phase,
            GamePhase::Items | GamePhase::Elements | GamePhase::Values | GamePhase::Reduce
        ) && !self.moved[party.index()]
    }

    /// The record of the node found, as proven.
    pub fn node_record(&self) -> Result<NodeRecord> {
        NodeRecord::from_bytes(&self.record).ok_or_else(|| error!(SibylError::RefereeProofInvalid))
    }

    /// The dtype of the element disputed.
    fn element_dtype(&self) -> Result<sibyl_sdk::referee::tensor::IntType> {
        Ok(self.node_record()?.output.dtype)
    }

    /// One party's move, checked against its own commitment; the round
    /// ends once both parties have moved.
    pub fn play(&mut self, party: Party, play: Move, slot: u64) -> Result<Advance> {
        require!(
            self.outcome == GameOutcome::Open,
            SibylError::RefereeGameDecided
        );
        require!(slot <= self.deadline_slot, SibylError::RefereeMoveLate);
        require!(self.owes(party), SibylError::RefereeWrongMove);
        let p = party.index();
        match (self.phase, play) {
            (GamePhase::Items | GamePhase::Elements, Move::Children([left, right])) => {
                require!(
                    commit::parent(&left, &right) == self.nodes[p],
                    SibylError::RefereeRevealMismatch
                );
                self.revealed[p] = [left, right];
            }
            (GamePhase::Values, Move::Value(value)) => {
                let dtype = self.element_dtype()?;
                // A value out of its type's range would hash like the one it
                // wraps to.
                require!(
                    dtype.wrap(value) == value
                        && commit::element_leaf(dtype, value) == self.nodes[p],
                    SibylError::RefereeRevealMismatch
                );
                self.values[p] = value;
            }
            (GamePhase::Reduce, Move::State(state)) => {
                if !self.ends_known {
                    require!(
                        step::finish(&self.node_record()?, state) == self.values[p],
                        SibylError::RefereeRevealMismatch
                    );
                }
                self.states_revealed[p] = state;
            }
            _ => return err!(SibylError::RefereeWrongMove),
        }
        self.moved[p] = true;
        if self.moved != [true; 2] {
            return Ok(Advance {
                phase: self.phase,
                decided: false,
            });
        }
        self.end_round(slot)?;
        Ok(Advance {
            phase: self.phase,
            decided: self.outcome != GameOutcome::Open,
        })
    }

    fn end_round(&mut self, slot: u64) -> Result<()> {
        self.next_round(slot)?;
        match self.phase {
            GamePhase::Items | GamePhase::Elements => {
                let [operator, challenger] = self.revealed;
                let side = usize::from(operator[0] == challenger[0]);
                self.nodes = [operator[side], challenger[side]];
                self.index = math::add(
                    self.index.checked_mul(2).ok_or(SibylError::MathOverflow)?,
                    side as u64,
                )?;
                self.level = self.level.checked_add(1).ok_or(SibylError::MathOverflow)?;
                if self.level >= self.depth {
                    self.reach_bottom(slot)?;
                }
            }
            GamePhase::Values => {
                let record = self.node_record()?;
                let terms = step::reduction_len(&record).unwrap_or(0);
                if self.subject == GameSubject::Trace && terms > 0 {
                    self.phase = GamePhase::Reduce;
                    self.lo = 0;
                    self.hi = terms;
                    self.state_lo = step::initial(&record);
                    self.ends_known = false;
                } else {
                    self.begin_operands(slot)?;
                }
            }
            GamePhase::Reduce => {
                if !self.ends_known {
                    self.states_hi = self.states_revealed;
                    self.ends_known = true;
                } else {
                    let mid = self.mid();
                    let [operator, challenger] = self.states_revealed;
                    if operator == challenger {
                        self.lo = mid;
                        self.state_lo = operator;
                    } else {
                        self.hi = mid;
                        self.states_hi = self.states_revealed;
                    }
                }
                if self.hi - self.lo <= 1 {
                    self.begin_operands(slot)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The number of terms whose state a `Reduce` round reveals.
    pub fn mid(&self) -> u64 {
        self.lo + (self.hi - self.lo) / 2
    }

    /// The descent reached its leaves: past the real ones is padding, which
    /// an honest tree holds as [`EMPTY`]; otherwise the next phase.
    fn reach_bottom(&mut self, slot: u64) -> Result<()> {
        let leaves = match self.phase {
            GamePhase::Items => {
                self.item = self.index;
                self.item_count
            }
            _ => {
                self.element = self.index;
                self.element_count
            }
        };
        if self.index >= leaves {
            let [operator, challenger] = self.nodes;
            self.decide(operator != EMPTY, challenger != EMPTY);
            return Ok(());
        }
        self.phase = match self.phase {
            GamePhase::Items => GamePhase::Record,
            _ => GamePhase::Values,
        };
        self.next_round(slot)
    }

    /// The record of the node found is proven: descend its elements.
    pub fn accept_record(&mut self, record: Vec<u8>, slot: u64) -> Result<Advance> {
        let parsed = NodeRecord::from_bytes(&record).ok_or(SibylError::RefereeProofInvalid)?;
        self.element_count = parsed
            .output
            .count()
            .ok_or(SibylError::RefereeProofInvalid)?;
        self.record = record;
        self.begin_descent(GamePhase::Elements, self.element_count, slot)?;
        Ok(Advance {
            phase: self.phase,
            decided: self.outcome != GameOutcome::Open,
        })
    }

    fn begin_operands(&mut self, slot: u64) -> Result<()> {
        self.phase = GamePhase::Operands;
        self.operands.clear();
        self.next_round(slot)?;
        self.try_decide()
    }

    /// The term a reduction's step folds (zero for other steps).
    pub fn term(&self) -> u64 {
        if self.ends_known {
            self.lo
        } else {
            0
        }
    }

    /// The operand the step needs next: the input slot of the record and
    /// the element's index there; `None` once the step has them all. For
    /// `Outputs` the one operand is the element of the output's node, read
    /// from the agreed trace (slot `usize::MAX`).
    pub fn next_operand(&self) -> Result<Option<step::Position>> {
        if self.subject == GameSubject::Outputs {
            return Ok(self.operands.is_empty().then_some(step::Position {
                slot: usize::MAX,
                index: self.element,
            }));
        }
        let record = self.node_record()?;
        Ok(
            match step::positions(&record, self.element, self.term(), &self.operands) {
                Ok(positions) => positions.get(self.operands.len()).copied(),
                // No operand can make a refused element right.
                Err(_) => None,
            },
        )
    }

    /// One operand proven: decides once the step has them all. Each proof
    /// restarts the clock: a step of several operands is not raced.
    pub fn accept_operand(&mut self, value: i64, slot: u64) -> Result<Advance> {
        self.operands.push(value);
        self.next_round(slot)?;
        self.try_decide()?;
        Ok(Advance {
            phase: self.phase,
            decided: self.outcome != GameOutcome::Open,
        })
    }

    /// Recomputes the step once every operand is in, and decides: each
    /// party whose claim differs from it was wrong. An element the
    /// interpreter refuses (a division by zero) has no right value, so only
    /// the operator, which committed it, is wrong.
    fn try_decide(&mut self) -> Result<()> {
        if self.next_operand()?.is_some() {
            return Ok(());
        }
        if self.subject == GameSubject::Outputs {
            let truth = self.operands.first().copied();
            let [operator, challenger] = self.values;
            self.decide(Some(operator) != truth, Some(challenger) != truth);
            return Ok(());
        }
        let record = self.node_record()?;
        if self.ends_known {
            let truth: core::result::Result<State, RefereeError> =
                step::fold(&record, self.state_lo, self.lo, &self.operands);
            let [operator, challenger] = self.states_hi;
            match truth {
                Ok(truth) => self.decide(operator != truth, challenger != truth),
                Err(_) => self.decide(true, false),
            }
        } else {
            let truth = if step::is_reduction(&record.op) {
                // A reduction of no terms (with terms, `Reduce` ran).
                Ok(step::finish(&record, step::initial(&record)))
            } else {
                step::element(&record, self.element, &self.operands)
            };
            let [operator, challenger] = self.values;
            match truth {
                Ok(truth) => self.decide(operator != truth, challenger != truth),
                Err(_) => self.decide(true, false),
            }
        }
        Ok(())
    }

    fn decide(&mut self, operator_wrong: bool, challenger_wrong: bool) {
        self.outcome = match (operator_wrong, challenger_wrong) {
            (true, true) => GameOutcome::BothLost,
            (true, false) => GameOutcome::OperatorLost,
            // The parties' claims differ, so both right cannot happen.
            (false, _) => GameOutcome::ChallengerLost,
        };
        self.phase = GamePhase::Decided;
    }

    /// A deadline passed: whoever owes a move loses; where the step is
    /// anyone's to prove (a record, operands), the challenger, who opened
    /// the game, bears the burden.
    pub fn time_out(&mut self, slot: u64) -> Result<GameOutcome> {
        require!(
            self.outcome == GameOutcome::Open,
            SibylError::RefereeGameDecided
        );
        require!(
            slot > self.deadline_slot,
            SibylError::RefereeDeadlineNotPassed
        );
        match self.phase {
            GamePhase::Record | GamePhase::Operands => self.decide(false, true),
            _ => self.decide(self.owes(Party::Operator), self.owes(Party::Challenger)),
        }
        Ok(self.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A game holds one node's record and a few states: under 1.2 KB,
    /// about 0.01 SOL of rent, which the challenger pays and gets back.
    #[test]
    fn a_node_finds_its_games_at_fixed_offsets() {
        let game = RefereeGame {
            request: Pubkey::new_from_array([1; 32]),
            model: Pubkey::new_from_array([2; 32]),
            request_sequence: 3,
            operator: Pubkey::new_from_array([4; 32]),
            operator_authority: Pubkey::new_from_array([5; 32]),
            challenger: Pubkey::new_from_array([6; 32]),
            challenger_token: Pubkey::default(),
            bond: 0,
            slash_bps: 0,
            opened_slot: 0,
            deadline_slot: 0,
            subject: GameSubject::Trace,
            phase: GamePhase::Items,
            outcome: GameOutcome::Open,
            trace_roots: [[0; 32]; 2],
            output_roots: [[0; 32]; 2],
            depth: 0,
            level: 0,
            index: 0,
            nodes: [[0; 32]; 2],
            revealed: [[[0; 32]; 2]; 2],
            moved: [false; 2],
            item_count: 0,
            item: 0,
            element: 0,
            element_count: 0,
            values: [0; 2],
            lo: 0,
            hi: 0,
            state_lo: [0; 2],
            states_hi: [[0; 2]; 2],
            states_revealed: [[0; 2]; 2],
            ends_known: false,
            operands: Vec::new(),
            bump: 0,
            record: Vec::new(),
        };
        let mut data = Vec::new();
        game.try_serialize(&mut data).unwrap();
        let at = RefereeGame::OPERATOR_AUTHORITY_OFFSET;
        assert_eq!(&data[at..at + 32], &[5; 32]);
        let at = RefereeGame::CHALLENGER_OFFSET;
        assert_eq!(&data[at..at + 32], &[6; 32]);
    }

    #[test]
    fn a_game_account_stays_small() {
        assert_eq!(8 + RefereeGame::INIT_SPACE, 1_171);
    }
}
