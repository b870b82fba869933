//! The example consumer (a digit bounty) driven from `TestEnv`: its
//! instructions, and digits-model outputs to commit.
use crate::{outcome::TxResult, TestEnv};
use anchor_lang::{prelude::Pubkey, InstructionData, ToAccountMetas};
use example_consumer::{
    accounts as bounty_acc, instruction as bounty_ix, instructions::CreateBountyArgs, state::Bounty,
};
use sibyl::{
    callback::{CallbackAccount, CallbackSpec},
    encoding::{encode, Tensor},
};
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// The reward of every test bounty.
pub const BOUNTY_LAMPORTS: u64 = 1_000_000_000;

/// The digits model's output naming `digit` with probability `p` (the rest
/// spread evenly): `probabilities`, float32 [1, 10].
pub fn digit_output(digit: usize, p: f32) -> Vec<u8> {
    let mut scores = [(1.0 - p) / 9.0; 10];
    scores[digit] = p;
    encode(&[Tensor::from_f32("probabilities", vec![1, 10], &scores).unwrap()])
}

/// A consumer instruction from its accounts and data.
pub fn bounty_instruction(
    accounts: impl ToAccountMetas,
    data: impl InstructionData,
) -> Instruction {
    Instruction {
        program_id: example_consumer::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

impl TestEnv {
    /// The publisher sponsors a bounty for `target_digit` on the default
    /// model; returns the bounty address.
    pub async fn create_bounty(&mut self, id: u64, target_digit: u8, max_age_slots: u64) -> Pubkey {
        let model_hash = self.model_account(self.model()).await.model_hash;
        self.create_bounty_for(id, model_hash, target_digit, max_age_slots)
            .await
    }

    /// A bounty for another model hash (asking for a 90 % probability).
    pub async fn create_bounty_for(
        &mut self,
        id: u64,
        model_hash: [u8; 32],
        target_digit: u8,
        max_age_slots: u64,
    ) -> Pubkey {
        self.create_bounty_with_floor(id, model_hash, target_digit, max_age_slots, 9_000)
            .await
    }

    /// A bounty asking for `min_probability_bps` of the target digit.
    pub async fn create_bounty_with_floor(
        &mut self,
        id: u64,
        model_hash: [u8; 32],
        target_digit: u8,
        max_age_slots: u64,
        min_probability_bps: u16,
    ) -> Pubkey {
        let sponsor = self.publisher.wallet.insecure_clone();
        let bounty = Pubkey::find_program_address(
            &[Bounty::SEED, sponsor.pubkey().as_ref(), &id.to_le_bytes()],
            &example_consumer::ID,
        )
        .0;
        let create = bounty_instruction(
            bounty_acc::CreateBounty {
                sponsor: sponsor.pubkey(),
                bounty,
                system_program: anchor_lang::system_program::ID,
            },
            bounty_ix::CreateBounty {
                args: CreateBountyArgs {
                    id,
                    model_hash,
                    target_digit,
                    min_probability_bps,
                    max_age_slots,
                    reward_lamports: BOUNTY_LAMPORTS,
                },
            },
        );
        self.send_instructions(vec![create], &[&sponsor])
            .await
            .expect("bounty created");
        bounty
    }

    pub async fn bounty(&mut self, bounty: Pubkey) -> Bounty {
        self.account(bounty).await.expect("bounty exists")
    }

    /// `claimant` claims `bounty` with the result of `request` (read path).
    pub async fn claim_with_result(
        &mut self,
        bounty: Pubkey,
        request: Pubkey,
        claimant: &Keypair,
    ) -> TxResult {
        let claim = bounty_instruction(
            bounty_acc::ClaimWithResult {
                claimant: claimant.pubkey(),
                bounty,
                request,
            },
            bounty_ix::ClaimWithResult {},
        );
        self.send_instructions(vec![claim], &[claimant]).await
    }

    /// The callback that pays `bounty` to the default requester.
    pub fn bounty_callback(&self, bounty: Pubkey) -> CallbackSpec {
        CallbackSpec {
            program: example_consumer::ID,
            accounts: vec![
                CallbackAccount {
                    pubkey: bounty,
                    writable: true,
                },
                CallbackAccount {
                    pubkey: self.requester.key(),
                    writable: true,
                },
            ],
        }
    }
}
