//! `TestEnv`: a fresh runtime with a payment mint, funded actors, an
//! initialized protocol, a model and staked operators, plus one method per
//! instruction. Tests read like the protocol; tampering tests take the
//! accounts struct from an `*_accounts` method, change one field and send it.
use crate::{events, outcome::TxResult};
use anchor_lang::{
    prelude::{AccountMeta, Pubkey},
    AccountDeserialize, InstructionData, ToAccountMetas,
};
use anchor_spl::token_2022::spl_token_2022;
use sibyl::{
    accounts as acc,
    hashing::whole_output_sha256,
    instruction as ix,
    instructions::{InputReference, RegisterModelArgs, RequestInferenceArgs, UpdateConfigArgs},
    state::*,
};
use sibyl_client::{
    accounts::{self, Payees, RequestParties, Tokens, VoteParties},
    pda,
};
use sibyl_localnet::native::{install_syscall_bridge, sibyl_program_test};
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_program_test::{BanksClientError, ProgramTestContext};
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

const MINT_LEN: u64 = 82;
const TOKEN_ACCOUNT_LEN: u64 = 165;
/// Tokens each actor starts with (6 decimals: 1,000 tokens).
pub const STARTING_TOKENS: u64 = 1_000_000_000;
/// Stake each default operator registers with.
pub const OPERATOR_STAKE: u64 = 10_000_000;
/// The default model's price.
pub const MODEL_PRICE: u64 = 1_000_000;
const STARTING_LAMPORTS: u64 = 100_000_000_000;
const COMPUTE_BUDGET_ID: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");

/// A wallet and its payment-token account.
pub struct Actor {
    pub wallet: Keypair,
    pub token: Pubkey,
}

impl Clone for Actor {
    fn clone(&self) -> Self {
        Actor {
            wallet: self.wallet.insecure_clone(),
            token: self.token,
        }
    }
}

impl Actor {
    /// The wallet's address.
    pub fn key(&self) -> Pubkey {
        self.wallet.pubkey()
    }
}

/// Protocol parameters the tests start from.
pub fn default_params() -> ConfigParams {
    ConfigParams {
        protocol_fee_bps: 250,
        min_operator_stake: 1_000_000,
        challenge_window_slots: 50,
        challenge_bond: 500_000,
        vote_window_slots: 30,
        quorum_bps: 5_000,
        threshold_bps: 6_600,
        slash_bps: 2_000,
        voter_reward_bps: 5_000,
        unbonding_slots: 100,
        request_timeout_slots: 40,
        arbitration_window_slots: 20,
    }
}

/// The registration of the default model (a digits classifier's shape).
pub fn default_model_args(model_hash: [u8; 32]) -> RegisterModelArgs {
    RegisterModelArgs {
        model_hash,
        profile_id: [7; 32],
        uri: "file://models/digits.onnx".to_string(),
        price: MODEL_PRICE,
        royalty_bps: 1_000,
        inputs: vec![TensorSpec {
            name: "pixels".to_string(),
            dtype: DType::Float32,
            shape: vec![1, 64],
        }],
        outputs: vec![TensorSpec {
            name: "probabilities".to_string(),
            dtype: DType::Float32,
            shape: vec![1, 10],
        }],
        max_input_bytes: 4_096,
        max_output_bytes: 256,
        comparison: ComparisonRule::Tolerance {
            abs: 1e-4,
            rel: 1e-3,
        },
        challenge_window_override_slots: None,
        output_views: vec![],
        referee: None,
    }
}

/// A possible output of the default model (the canonical encoding of one
/// float32 `[1, 10]` tensor), distinct for each `label`: tests name outputs
/// (`output(b"honest")`, `output(b"wrong")`) instead of writing tensors.
pub fn output(label: &[u8]) -> Vec<u8> {
    let seed = label.iter().fold(17u32, |acc, &byte| {
        acc.wrapping_mul(31).wrapping_add(byte as u32)
    });
    let values: Vec<f32> = (0..10u32)
        .map(|i| (seed.wrapping_add(i.wrapping_mul(7919)) % 1000) as f32 / 1000.0)
        .collect();
    let tensor = sibyl::encoding::Tensor::from_f32("probabilities", vec![1, 10], &values)
        .expect("ten values for [1, 10]");
    sibyl::encoding::encode(&[tensor])
}

/// How to build a [`TestEnv`].
pub struct TestEnvBuilder {
    token_2022: bool,
    operators: usize,
    initialize: bool,
    params: ConfigParams,
}

impl TestEnvBuilder {
    /// Pay in a Token-2022 mint instead of an SPL Token mint.
    pub fn token_2022(mut self) -> Self {
        self.token_2022 = true;
        self
    }

    /// Register this many staked operators (default 4).
    pub fn operators(mut self, count: usize) -> Self {
        self.operators = count;
        self
    }

    /// Leave the protocol uninitialized (no config, model or operators).
    pub fn uninitialized(mut self) -> Self {
        self.initialize = false;
        self
    }

    /// Start from these parameters.
    pub fn params(mut self, params: ConfigParams) -> Self {
        self.params = params;
        self
    }

    /// Starts the runtime and sets everything up.
    pub async fn build(self) -> TestEnv {
        let mut program_test = sibyl_program_test();
        // Deployed as by the upgradeable loader, with the protocol
        // authority as upgrade authority: only it may initialize.
        let authority = Keypair::new();
        program_test.add_account(pda::program_data(), program_data(&authority.pubkey()));
        program_test.add_program(
            "relay",
            crate::relay::ID,
            solana_program_test::processor!(crate::relay::process),
        );
        let ctx = program_test.start_with_context().await;
        install_syscall_bridge();
        let token_program = if self.token_2022 {
            spl_token_2022::ID
        } else {
            anchor_spl::token::ID
        };
        let mut env = TestEnv {
            ctx,
            token_program,
            mint: Keypair::new(),
            mint_authority: Keypair::new(),
            authority: placeholder_actor(),
            treasury: placeholder_actor(),
            publisher: placeholder_actor(),
            requester: placeholder_actor(),
            challenger: placeholder_actor(),
            operators: Vec::new(),
            params: self.params,
            model_hash: [42; 32],
            tracked_token_accounts: Vec::new(),
            unrevealed: Vec::new(),
            tokens_at_start: 0,
            tx_counter: 0,
            next_nonce: 0,
        };
        env.create_mint().await;
        env.authority = env.new_actor_with(authority).await;
        env.treasury = env.new_actor().await;
        env.publisher = env.new_actor().await;
        env.requester = env.new_actor().await;
        env.challenger = env.new_actor().await;
        for _ in 0..self.operators {
            let operator = env.new_actor().await;
            env.operators.push(operator);
        }
        if self.initialize {
            env.initialize().await.expect("initialize");
            env.register_model(default_model_args(env.model_hash))
                .await
                .expect("register model");
            for index in 0..self.operators {
                env.register_operator(index, OPERATOR_STAKE)
                    .await
                    .expect("register operator");
            }
            // Operators registered before any dispute opens may vote in it.
            env.warp_slots(1).await;
        }
        env.tokens_at_start = env.tracked_token_total().await;
        env
    }
}

/// A ProgramData account of the upgradeable loader naming `upgrade_authority`.
fn program_data(upgrade_authority: &Pubkey) -> solana_account::Account {
    use anchor_lang::solana_program::bpf_loader_upgradeable::{self, UpgradeableLoaderState};
    let state = UpgradeableLoaderState::ProgramData {
        slot: 0,
        upgrade_authority_address: Some(*upgrade_authority),
    };
    let data = bincode::serialize(&state).expect("program data");
    solana_account::Account {
        lamports: 1_000_000_000,
        data,
        owner: bpf_loader_upgradeable::ID,
        executable: false,
        rent_epoch: 0,
    }
}

fn placeholder_actor() -> Actor {
    Actor {
        wallet: Keypair::new(),
        token: Pubkey::default(),
    }
}

/// A running runtime with Sibyl and the actors of the protocol.
pub struct TestEnv {
    pub ctx: ProgramTestContext,
    /// SPL Token or Token-2022.
    pub token_program: Pubkey,
    pub mint: Keypair,
    pub mint_authority: Keypair,
    /// The protocol authority.
    pub authority: Actor,
    /// Owner of the treasury token account (`treasury.token`).
    pub treasury: Actor,
    pub publisher: Actor,
    pub requester: Actor,
    pub challenger: Actor,
    pub operators: Vec<Actor>,
    pub params: ConfigParams,
    /// Hash of the default model.
    pub model_hash: [u8; 32],
    tracked_token_accounts: Vec<Pubkey>,
    tokens_at_start: u64,
    tx_counter: u32,
    next_nonce: u64,
    /// Votes committed through [`TestEnv::vote`] and not yet revealed:
    /// (dispute, operator index, side).
    unrevealed: Vec<(Pubkey, usize, VoteSide)>,
}

impl TestEnv {
    /// A builder with 4 operators, SPL Token, the protocol initialized.
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder {
            token_2022: false,
            operators: 4,
            initialize: true,
            params: default_params(),
        }
    }

    /// The default environment.
    pub async fn new() -> TestEnv {
        Self::builder().build().await
    }

    // ----- addresses -----

    /// The default model's account.
    pub fn model(&self) -> Pubkey {
        pda::model(&self.model_hash)
    }
    /// Operator `index`'s account.
    pub fn operator(&self, index: usize) -> Pubkey {
        pda::operator(&self.operators[index].key())
    }
    /// The payment mint and its token program.
    pub fn tokens(&self) -> Tokens {
        Tokens {
            mint: self.mint.pubkey(),
            token_program: self.token_program,
        }
    }

    // ----- sending -----

    /// Sends one Sibyl instruction signed by `signers` (the runtime's payer
    /// pays the fee) and returns the events it emitted.
    pub async fn send(
        &mut self,
        accounts: impl ToAccountMetas,
        data: impl InstructionData,
        signers: &[&Keypair],
    ) -> TxResult {
        self.send_instructions(vec![sibyl_client::instruction(accounts, data)], signers)
            .await
    }

    /// Sends instructions in one transaction. A compute-limit instruction that
    /// differs per call keeps repeated identical transactions distinct.
    pub async fn send_instructions(
        &mut self,
        mut instructions: Vec<Instruction>,
        signers: &[&Keypair],
    ) -> TxResult {
        self.tx_counter += 1;
        let mut limit = vec![2u8];
        limit.extend_from_slice(&(1_400_000 - self.tx_counter).to_le_bytes());
        instructions.insert(
            0,
            Instruction::new_with_bytes(COMPUTE_BUDGET_ID, &limit, vec![]),
        );
        let payer = self.ctx.payer.insecure_clone();
        let mut all_signers: Vec<&Keypair> = vec![&payer];
        all_signers.extend_from_slice(signers);
        let tx = Transaction::new_signed_with_payer(
            &instructions,
            Some(&payer.pubkey()),
            &all_signers,
            self.ctx.last_blockhash,
        );
        let simulation = self
            .ctx
            .banks_client
            .simulate_transaction(tx.clone())
            .await
            .expect("simulate");
        if let Some(Err(err)) = simulation.result {
            return Err(err);
        }
        let keys = &tx.message.account_keys;
        let inner = simulation
            .simulation_details
            .and_then(|details| details.inner_instructions)
            .unwrap_or_default();
        let emitted = events::from_inner_instruction_data(
            inner
                .iter()
                .flat_map(|ixs| ixs.iter())
                .filter(|inner| keys[inner.instruction.program_id_index as usize] == sibyl::ID)
                .map(|inner| inner.instruction.data.as_slice()),
        );
        match self.ctx.banks_client.process_transaction(tx).await {
            Ok(()) => Ok(emitted),
            Err(BanksClientError::TransactionError(err)) => Err(err),
            Err(BanksClientError::SimulationError { err, .. }) => Err(err),
            Err(other) => panic!("banks client: {other}"),
        }
    }

    /// Sends non-Sibyl instructions (system, token) that must succeed.
    async fn send_setup(&mut self, instructions: Vec<Instruction>, signers: &[&Keypair]) {
        self.send_instructions(instructions, signers)
            .await
            .unwrap_or_else(|err: TransactionError| panic!("setup transaction: {err}"));
    }

    // ----- clock -----

    /// The current slot.
    pub async fn slot(&mut self) -> u64 {
        self.ctx
            .banks_client
            .get_sysvar::<anchor_lang::prelude::Clock>()
            .await
            .expect("clock")
            .slot
    }

    /// Moves the bank `slots` slots ahead.
    pub async fn warp_slots(&mut self, slots: u64) {
        let target = self.slot().await + slots;
        self.ctx.warp_to_slot(target).expect("warp");
    }

    // ----- reading -----

    /// Deserializes an Anchor account, or `None` if it does not exist.
    pub async fn account<T: AccountDeserialize>(&mut self, address: Pubkey) -> Option<T> {
        let account = self
            .ctx
            .banks_client
            .get_account(address)
            .await
            .expect("get account")?;
        Some(T::try_deserialize(&mut account.data.as_slice()).expect("account decodes"))
    }

    /// An account's raw data (empty if it does not exist).
    pub async fn account_data(&mut self, address: Pubkey) -> Vec<u8> {
        self.ctx
            .banks_client
            .get_account(address)
            .await
            .expect("get account")
            .map(|account| account.data)
            .unwrap_or_default()
    }

    /// The rent-exempt balance of an account of `len` bytes.
    pub async fn rent_exempt(&mut self, len: usize) -> u64 {
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        rent.minimum_balance(len)
    }

    /// Whether an account exists (has lamports).
    pub async fn exists(&mut self, address: Pubkey) -> bool {
        self.ctx
            .banks_client
            .get_account(address)
            .await
            .expect("get account")
            .is_some()
    }

    /// Lamports of an account (zero if it does not exist).
    pub async fn lamports(&mut self, address: Pubkey) -> u64 {
        self.ctx
            .banks_client
            .get_balance(address)
            .await
            .expect("get balance")
    }

    /// Token balance of a token account (zero if it was closed).
    /// A token account's mint, owner and amount (SPL layout).
    pub async fn token_account_parts(&mut self, token_account: Pubkey) -> (Pubkey, Pubkey, u64) {
        let account = self
            .ctx
            .banks_client
            .get_account(token_account)
            .await
            .expect("get account")
            .expect("the token account exists");
        let key = |at: usize| Pubkey::try_from(&account.data[at..at + 32]).unwrap();
        let amount = u64::from_le_bytes(account.data[64..72].try_into().unwrap());
        (key(0), key(32), amount)
    }

    pub async fn token_balance(&mut self, token_account: Pubkey) -> u64 {
        match self
            .ctx
            .banks_client
            .get_account(token_account)
            .await
            .expect("get account")
        {
            Some(account) if account.data.len() >= 72 => {
                u64::from_le_bytes(account.data[64..72].try_into().unwrap())
            }
            _ => 0,
        }
    }

    /// The mint's supply.
    pub async fn mint_supply(&mut self) -> u64 {
        let account = self
            .ctx
            .banks_client
            .get_account(self.mint.pubkey())
            .await
            .expect("get mint")
            .expect("mint exists");
        u64::from_le_bytes(account.data[36..44].try_into().unwrap())
    }

    /// Sum of the balances of every token account this test created or the
    /// program created for it (vaults, escrows).
    pub async fn tracked_token_total(&mut self) -> u64 {
        let mut total = 0u64;
        for account in self.tracked_token_accounts.clone() {
            total += self.token_balance(account).await;
        }
        total
    }

    /// Token conservation: the tracked accounts hold exactly what they held
    /// at the start, and exactly the mint's supply (nothing went elsewhere).
    pub async fn assert_tokens_conserved(&mut self) {
        let total = self.tracked_token_total().await;
        assert_eq!(total, self.tokens_at_start, "tokens created or destroyed");
        assert_eq!(
            total,
            self.mint_supply().await,
            "tokens left the tracked accounts"
        );
    }

    /// Starts tracking a token account in the conservation check.
    pub fn track_token_account(&mut self, account: Pubkey) {
        if !self.tracked_token_accounts.contains(&account) {
            self.tracked_token_accounts.push(account);
        }
    }

    // ----- set-up -----

    async fn create_mint(&mut self) {
        let mint = self.mint.insecure_clone();
        self.create_mint_account(&mint).await;
    }

    async fn create_mint_account(&mut self, mint: &Keypair) {
        self.create_mint_with(mint, MINT_LEN as usize, Vec::new())
            .await;
    }

    /// Creates `mint` with `len` bytes, runs `setup` (extension
    /// initializations) and initializes it (6 decimals, the test mint
    /// authority).
    async fn create_mint_with(&mut self, mint: &Keypair, len: usize, setup: Vec<Instruction>) {
        let payer = self.ctx.payer.pubkey();
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        let mut instructions = vec![solana_system_interface::instruction::create_account(
            &payer,
            &mint.pubkey(),
            rent.minimum_balance(len),
            len as u64,
            &self.token_program,
        )];
        instructions.extend(setup);
        instructions.push(
            spl_token_2022::instruction::initialize_mint2(
                &self.token_program,
                &mint.pubkey(),
                &self.mint_authority.pubkey(),
                None,
                6,
            )
            .expect("initialize mint"),
        );
        self.send_setup(instructions, &[mint]).await;
    }

    /// A Token-2022 mint with `extensions`, which `setup` initializes (its
    /// instructions run between the account's creation and
    /// `initialize_mint2`), and a token account of it owned by `owner`
    /// (sized for the account extensions the mint requires). Needs an
    /// environment built with `token_2022()`.
    pub async fn create_extended_mint(
        &mut self,
        extensions: &[spl_token_2022::extension::ExtensionType],
        setup: impl FnOnce(&Pubkey) -> Vec<Instruction>,
        owner: &Pubkey,
    ) -> (Pubkey, Pubkey) {
        use spl_token_2022::{extension::ExtensionType, state};
        let mint = Keypair::new();
        let mint_len = ExtensionType::try_calculate_account_len::<state::Mint>(extensions)
            .expect("mint length");
        let setup = setup(&mint.pubkey());
        self.create_mint_with(&mint, mint_len, setup).await;
        let account_extensions = ExtensionType::get_required_init_account_extensions(extensions);
        let account_len =
            ExtensionType::try_calculate_account_len::<state::Account>(&account_extensions)
                .expect("account length");
        let account = self
            .create_sized_token_account(&mint.pubkey(), owner, account_len)
            .await;
        (mint.pubkey(), account)
    }

    /// A token account of a second, unrelated mint, owned by `owner` (not
    /// tracked: it holds no payment tokens).
    /// A mint other than the payment mint.
    pub async fn create_foreign_mint(&mut self) -> Pubkey {
        let foreign_mint = Keypair::new();
        self.create_mint_account(&foreign_mint).await;
        foreign_mint.pubkey()
    }

    pub async fn create_foreign_token_account(&mut self, owner: &Pubkey) -> Pubkey {
        let foreign_mint = Keypair::new();
        self.create_mint_account(&foreign_mint).await;
        self.create_token_account_of(&foreign_mint.pubkey(), owner)
            .await
    }

    /// Creates a payment-token account for `owner`, tracked for conservation.
    pub async fn create_token_account(&mut self, owner: &Pubkey) -> Pubkey {
        let account = self
            .create_token_account_of(&self.mint.pubkey(), owner)
            .await;
        self.track_token_account(account);
        account
    }

    async fn create_token_account_of(&mut self, mint: &Pubkey, owner: &Pubkey) -> Pubkey {
        self.create_sized_token_account(mint, owner, TOKEN_ACCOUNT_LEN as usize)
            .await
    }

    /// A token account of `mint` owned by `owner`, `len` bytes long (room for
    /// the account extensions its mint requires).
    async fn create_sized_token_account(
        &mut self,
        mint: &Pubkey,
        owner: &Pubkey,
        len: usize,
    ) -> Pubkey {
        let account = Keypair::new();
        let payer = self.ctx.payer.pubkey();
        let rent = self.ctx.banks_client.get_rent().await.expect("rent");
        let instructions = vec![
            solana_system_interface::instruction::create_account(
                &payer,
                &account.pubkey(),
                rent.minimum_balance(len),
                len as u64,
                &self.token_program,
            ),
            spl_token_2022::instruction::initialize_account3(
                &self.token_program,
                &account.pubkey(),
                mint,
                owner,
            )
            .expect("initialize account"),
        ];
        self.send_setup(instructions, &[&account]).await;
        account.pubkey()
    }

    /// Mints payment tokens into a token account.
    pub async fn mint_to(&mut self, token_account: Pubkey, amount: u64) {
        let authority = self.mint_authority.insecure_clone();
        let instruction = spl_token_2022::instruction::mint_to(
            &self.token_program,
            &self.mint.pubkey(),
            &token_account,
            &authority.pubkey(),
            &[],
            amount,
        )
        .expect("mint to");
        self.send_setup(vec![instruction], &[&authority]).await;
    }

    /// A bystander sends `lamports` to any address (anyone may).
    pub async fn donate_lamports(&mut self, to: Pubkey, lamports: u64) {
        let payer = self.ctx.payer.pubkey();
        self.send_setup(
            vec![solana_system_interface::instruction::transfer(
                &payer, &to, lamports,
            )],
            &[],
        )
        .await;
    }

    /// A new wallet with SOL and [`STARTING_TOKENS`] payment tokens.
    pub async fn new_actor(&mut self) -> Actor {
        self.new_actor_with(Keypair::new()).await
    }

    /// [`TestEnv::new_actor`] with this wallet.
    pub async fn new_actor_with(&mut self, wallet: Keypair) -> Actor {
        let payer = self.ctx.payer.pubkey();
        self.send_setup(
            vec![solana_system_interface::instruction::transfer(
                &payer,
                &wallet.pubkey(),
                STARTING_LAMPORTS,
            )],
            &[],
        )
        .await;
        let token = self.create_token_account(&wallet.pubkey()).await;
        self.mint_to(token, STARTING_TOKENS).await;
        Actor { wallet, token }
    }

    /// `from` sends `amount` payment tokens to any token account (a
    /// bystander's donation, as anyone may make one).
    pub async fn transfer_tokens(&mut self, from: &Actor, to: Pubkey, amount: u64) {
        let instruction = spl_token_2022::instruction::transfer_checked(
            &self.token_program,
            &from.token,
            &self.mint.pubkey(),
            &to,
            &from.key(),
            &[],
            amount,
            6,
        )
        .expect("transfer");
        let wallet = from.wallet.insecure_clone();
        self.send_setup(vec![instruction], &[&wallet]).await;
    }

    /// `owner` empties its token account into the treasury's and closes it
    /// (as a party walking away from the payout account it recorded).
    pub async fn close_token_account(&mut self, owner: &Actor) {
        let balance = self.token_balance(owner.token).await;
        let treasury = self.treasury.token;
        self.transfer_tokens(owner, treasury, balance).await;
        let close = spl_token_2022::instruction::close_account(
            &self.token_program,
            &owner.token,
            &owner.key(),
            &owner.key(),
            &[],
        )
        .expect("close");
        let wallet = owner.wallet.insecure_clone();
        self.send_setup(vec![close], &[&wallet]).await;
    }

    /// `owner` hands its token account to a new owner.
    pub async fn give_token_account_away(&mut self, owner: &Actor, new_owner: &Pubkey) {
        let give = spl_token_2022::instruction::set_authority(
            &self.token_program,
            &owner.token,
            Some(new_owner),
            spl_token_2022::instruction::AuthorityType::AccountOwner,
            &owner.key(),
            &[],
        )
        .expect("set authority");
        let wallet = owner.wallet.insecure_clone();
        self.send_setup(vec![give], &[&wallet]).await;
    }

    /// A new funded wallet appended to `operators` (not yet registered);
    /// returns its index. Its tokens count towards conservation.
    pub async fn add_operator_wallet(&mut self) -> usize {
        let actor = self.new_actor().await;
        self.operators.push(actor);
        self.tokens_at_start += STARTING_TOKENS;
        self.operators.len() - 1
    }

    /// A new funded wallet to be an operator's payout wallet; its tokens
    /// count towards conservation.
    pub async fn add_payout_wallet(&mut self) -> Actor {
        let actor = self.new_actor().await;
        self.tokens_at_start += STARTING_TOKENS;
        actor
    }

    // ----- config -----

    pub fn initialize_accounts(&self) -> acc::Initialize {
        accounts::initialize(self.authority.key(), self.tokens(), self.treasury.token)
    }

    pub async fn initialize(&mut self) -> TxResult {
        let accounts = self.initialize_accounts();
        let authority = self.authority.wallet.insecure_clone();
        let params = self.params;
        let result = self
            .send(accounts, ix::Initialize { params }, &[&authority])
            .await;
        if result.is_ok() {
            self.track_token_account(pda::stake_vault());
            self.track_token_account(pda::bond_vault());
        }
        result
    }

    /// The config account.
    pub async fn config(&mut self) -> Config {
        self.account(pda::config()).await.expect("config exists")
    }

    /// The authority moves the treasury to the publisher's token account, so
    /// one party is paid twice into one account (as when a protocol's
    /// authority publishes its own models).
    pub async fn make_publisher_the_treasury(&mut self) {
        let authority = self.authority.wallet.insecure_clone();
        let accounts = accounts::update_config(authority.pubkey(), Some(self.publisher.token));
        self.send(
            accounts,
            ix::UpdateConfig {
                args: UpdateConfigArgs::default(),
            },
            &[&authority],
        )
        .await
        .expect("treasury moved");
        self.treasury = self.publisher.clone();
    }

    // ----- models -----

    /// Registers a model; its fee vault joins the conservation check.
    pub async fn register_model(&mut self, args: RegisterModelArgs) -> TxResult {
        let accounts = accounts::register_model(
            self.publisher.key(),
            self.publisher.token,
            &args.model_hash,
            self.tokens(),
        );
        let fee_vault = accounts.fee_vault;
        let publisher = self.publisher.wallet.insecure_clone();
        let result = self
            .send(accounts, ix::RegisterModel { args }, &[&publisher])
            .await;
        if result.is_ok() {
            self.track_token_account(fee_vault);
        }
        result
    }

    /// The default model's protocol-fee vault.
    pub fn fee_vault(&self) -> Pubkey {
        pda::fee_vault(&self.model())
    }

    /// `sweep_fees` of the default model to the configured treasury, sent
    /// (and paid for) by a third party: the runtime's payer.
    pub async fn sweep_fees(&mut self) -> TxResult {
        let accounts = accounts::sweep_fees(self.model(), self.treasury.token, self.tokens());
        self.send(accounts, ix::SweepFees {}, &[]).await
    }

    /// A model account.
    pub async fn model_account(&mut self, model: Pubkey) -> Model {
        self.account(model).await.expect("model exists")
    }

    // ----- operators -----

    pub fn register_operator_accounts(&self, index: usize) -> acc::RegisterOperator {
        let operator = &self.operators[index];
        accounts::register_operator(
            operator.key(),
            operator.token,
            operator.key(),
            operator.token,
            self.tokens(),
        )
    }

    pub async fn register_operator(&mut self, index: usize, stake: u64) -> TxResult {
        let accounts = self.register_operator_accounts(index);
        let wallet = self.operators[index].wallet.insecure_clone();
        self.send(accounts, ix::RegisterOperator { stake }, &[&wallet])
            .await
    }

    /// Registers operator `index` to be paid into `payout`'s token account,
    /// `payout` signing its consent.
    pub async fn register_operator_paying(
        &mut self,
        index: usize,
        stake: u64,
        payout: &Actor,
    ) -> TxResult {
        let mut accounts = self.register_operator_accounts(index);
        accounts.payout_authority = payout.key();
        accounts.payout_token = payout.token;
        let wallet = self.operators[index].wallet.insecure_clone();
        let payout = payout.wallet.insecure_clone();
        self.send(
            accounts,
            ix::RegisterOperator { stake },
            &[&wallet, &payout],
        )
        .await
    }

    /// `set_operator_payout` of operator `index` to `new`'s token account,
    /// signed by `signer` (the current payout wallet, or not) and `new`.
    pub async fn set_operator_payout(
        &mut self,
        index: usize,
        signer: &Actor,
        new: &Actor,
    ) -> TxResult {
        let accounts = accounts::set_operator_payout(
            signer.key(),
            new.key(),
            self.operators[index].key(),
            new.token,
            self.tokens(),
        );
        let (signer, new) = (signer.wallet.insecure_clone(), new.wallet.insecure_clone());
        self.send(accounts, ix::SetOperatorPayout {}, &[&signer, &new])
            .await
    }

    /// An operator account.
    /// Operator `index`'s node key names where its node serves whole outputs.
    pub async fn set_output_url(&mut self, index: usize, output_url: &str) -> TxResult {
        let wallet = self.operators[index].wallet.insecure_clone();
        let accounts = accounts::set_output_url(wallet.pubkey());
        self.send(
            accounts,
            ix::SetOutputUrl {
                output_url: output_url.to_string(),
            },
            &[&wallet],
        )
        .await
    }

    pub async fn operator_account(&mut self, index: usize) -> Operator {
        let address = self.operator(index);
        self.account(address).await.expect("operator exists")
    }

    /// The accounts of `add_stake`.
    pub fn stake_accounts(&self, index: usize) -> acc::AddStake {
        let operator = &self.operators[index];
        accounts::stake(operator.key(), operator.token, self.tokens())
    }

    pub async fn add_stake(&mut self, index: usize, amount: u64) -> TxResult {
        let accounts = self.stake_accounts(index);
        let wallet = self.operators[index].wallet.insecure_clone();
        self.send(accounts, ix::AddStake { amount }, &[&wallet])
            .await
    }

    pub async fn request_unstake(&mut self, index: usize, amount: u64) -> TxResult {
        let wallet = self.operators[index].wallet.insecure_clone();
        let accounts = accounts::request_unstake(wallet.pubkey(), wallet.pubkey());
        self.send(accounts, ix::RequestUnstake { amount }, &[&wallet])
            .await
    }

    /// The accounts of `withdraw_stake` signed by the node key, into the
    /// operator's recorded payout account.
    pub async fn withdraw_stake_accounts(&mut self, index: usize) -> acc::WithdrawStake {
        let key = self.operators[index].key();
        let payout_token = self.operator_account(index).await.payout_token;
        accounts::withdraw_stake(key, key, payout_token, self.tokens())
    }

    pub async fn withdraw_stake(&mut self, index: usize) -> TxResult {
        let accounts = self.withdraw_stake_accounts(index).await;
        let wallet = self.operators[index].wallet.insecure_clone();
        self.send(accounts, ix::WithdrawStake {}, &[&wallet]).await
    }

    // ----- requests -----

    /// A fresh nonce for the next request.
    pub fn next_nonce(&mut self) -> u64 {
        self.next_nonce += 1;
        self.next_nonce
    }

    pub fn request_accounts(
        &self,
        requester: &Actor,
        model: Pubkey,
        nonce: u64,
    ) -> acc::RequestInference {
        accounts::request_inference(
            requester.key(),
            requester.token,
            model,
            nonce,
            self.tokens(),
        )
    }

    /// Sends `request_inference` with explicit accounts and arguments.
    pub async fn send_request(
        &mut self,
        accounts: acc::RequestInference,
        args: RequestInferenceArgs,
        requester: &Keypair,
    ) -> TxResult {
        let escrow = accounts.escrow;
        let result = self
            .send(accounts, ix::RequestInference { args }, &[requester])
            .await;
        if result.is_ok() {
            self.track_token_account(escrow);
        }
        result
    }

    /// The default requester asks the default model for one inference, paying
    /// the model's price; returns the request address.
    pub async fn request(&mut self, input: &[u8]) -> Pubkey {
        self.request_with_fee(input, MODEL_PRICE)
            .await
            .expect("request")
    }

    /// The default requester asks `model` (another than the default) for
    /// one inference on `input`, carried whole, paying the default price;
    /// returns the request address.
    pub async fn request_model(&mut self, model: Pubkey, input: &[u8]) -> Pubkey {
        let nonce = self.next_nonce();
        let accounts = self.request_accounts(&self.requester, model, nonce);
        let request = accounts.request;
        let requester = self.requester.wallet.insecure_clone();
        let args = RequestInferenceArgs {
            nonce,
            fee: MODEL_PRICE,
            input_len: input.len() as u32,
            input: input.to_vec(),
            input_reference: None,
            callback: None,
            max_challenge_window_slots: None,
        };
        self.send_request(accounts, args, &requester)
            .await
            .expect("request");
        request
    }

    /// Like [`Self::request`] with a chosen fee.
    pub async fn request_with_fee(
        &mut self,
        input: &[u8],
        fee: u64,
    ) -> Result<Pubkey, TransactionError> {
        self.request_with(input, fee, None).await
    }

    /// A request by the default requester (paying the price) that names a
    /// consumer to call back with the final result.
    pub async fn request_with_callback(
        &mut self,
        input: &[u8],
        callback: sibyl::callback::CallbackSpec,
    ) -> Result<Pubkey, TransactionError> {
        self.request_with(input, MODEL_PRICE, Some(callback)).await
    }

    async fn request_with(
        &mut self,
        input: &[u8],
        fee: u64,
        callback: Option<sibyl::callback::CallbackSpec>,
    ) -> Result<Pubkey, TransactionError> {
        let nonce = self.next_nonce();
        self.request_at_nonce(nonce, input, fee, callback).await
    }

    /// A request by the default requester with a chosen nonce (a closed
    /// request's nonce may be used again: the address is the same).
    pub async fn request_at_nonce(
        &mut self,
        nonce: u64,
        input: &[u8],
        fee: u64,
        callback: Option<sibyl::callback::CallbackSpec>,
    ) -> Result<Pubkey, TransactionError> {
        let accounts = self.request_accounts(&self.requester, self.model(), nonce);
        let request = accounts.request;
        let requester = self.requester.wallet.insecure_clone();
        let args = RequestInferenceArgs {
            nonce,
            fee,
            input_len: input.len() as u32,
            input: input.to_vec(),
            input_reference: None,
            callback,
            max_challenge_window_slots: None,
        };
        self.send_request(accounts, args, &requester).await?;
        Ok(request)
    }

    /// A request by the default requester (paying the price) that names
    /// `input` by its SHA-256 and `uri` instead of carrying it.
    pub async fn request_by_reference(
        &mut self,
        input: &[u8],
        uri: &str,
    ) -> Result<Pubkey, TransactionError> {
        let uri = uri.to_string();
        self.send_request_by_reference(input, |args| {
            args.input_reference.as_mut().expect("a reference").uri = uri
        })
        .await
    }

    /// Like [`Self::request_by_reference`] (at `https://inputs.example/in`)
    /// after letting the test change the arguments.
    pub async fn send_request_by_reference(
        &mut self,
        input: &[u8],
        change: impl FnOnce(&mut RequestInferenceArgs),
    ) -> Result<Pubkey, TransactionError> {
        let nonce = self.next_nonce();
        let accounts = self.request_accounts(&self.requester, self.model(), nonce);
        let request = accounts.request;
        let requester = self.requester.wallet.insecure_clone();
        let mut args = RequestInferenceArgs {
            nonce,
            fee: MODEL_PRICE,
            input_len: input.len() as u32,
            input: Vec::new(),
            input_reference: Some(InputReference {
                sha256: sibyl::hashing::input_hash(input),
                uri: "https://inputs.example/in".to_string(),
            }),
            callback: None,
            max_challenge_window_slots: None,
        };
        change(&mut args);
        self.send_request(accounts, args, &requester).await?;
        Ok(request)
    }

    /// Operator `index` demands the referenced input of `request` on chain.
    pub async fn demand_input(&mut self, index: usize, request: Pubkey) -> TxResult {
        let accounts = accounts::demand_input(self.operators[index].key(), request);
        let wallet = self.operators[index].wallet.insecure_clone();
        let sequence = self.request_account(request).await.sequence;
        self.send(accounts, ix::DemandInput { sequence }, &[&wallet])
            .await
    }

    /// The default requester writes the rest of `input` (from where the
    /// account's input ends) in chunks of 800 bytes; the last chunk's result.
    pub async fn write_whole_input(&mut self, request: Pubkey, input: &[u8]) -> TxResult {
        let written = self.request_account(request).await.input.len();
        let mut last = None;
        for (k, chunk) in input[written..].chunks(800).enumerate() {
            let offset = (written + k * 800) as u32;
            last = Some(self.write_input(request, offset, chunk).await?);
        }
        Ok(last.expect("some input left to write"))
    }

    /// `writer` writes `data` at `offset` of its own input buffer for
    /// `request`'s referenced input.
    pub async fn write_input_buffer(
        &mut self,
        writer: &Keypair,
        request: Pubkey,
        offset: u32,
        data: &[u8],
    ) -> TxResult {
        let state = self.request_account(request).await;
        let accounts =
            accounts::write_input_buffer(writer.pubkey(), request, state.model, state.sequence);
        let data = data.to_vec();
        let sequence = state.sequence;
        self.send(
            accounts,
            ix::WriteInputBuffer {
                sequence,
                offset,
                data,
            },
            &[writer],
        )
        .await
    }

    /// `writer` writes the rest of `input` into its own buffer (from where
    /// the buffer ends), in chunks of 800 bytes; the last chunk's result.
    pub async fn write_whole_input_buffer(
        &mut self,
        writer: &Keypair,
        request: Pubkey,
        input: &[u8],
    ) -> TxResult {
        let state = self.request_account(request).await;
        let buffer = sibyl_client::pda::input_buffer_of(&request, &state, &writer.pubkey());
        let written = self
            .account_data(buffer)
            .await
            .len()
            .saturating_sub(sibyl::state::INPUT_BUFFER_HEADER_LEN);
        let mut last = None;
        for (k, chunk) in input[written..].chunks(800).enumerate() {
            let offset = (written + k * 800) as u32;
            last = Some(
                self.write_input_buffer(writer, request, offset, chunk)
                    .await?,
            );
        }
        Ok(last.expect("some input left to write"))
    }

    /// `closer` closes `writer`'s input buffer for `request` (its model and
    /// sequence given, as the request may be gone).
    pub async fn close_input_buffer(
        &mut self,
        closer: &Keypair,
        request: Pubkey,
        model: Pubkey,
        sequence: u64,
        writer: Pubkey,
    ) -> TxResult {
        let accounts =
            accounts::close_input_buffer(closer.pubkey(), request, model, sequence, writer);
        self.send(
            accounts,
            ix::CloseInputBuffer { model, sequence },
            &[closer],
        )
        .await
    }

    pub async fn void_accounts(&mut self, request: Pubkey) -> acc::VoidRequest {
        let state = self.request_account(request).await;
        accounts::void_request(
            self.challenger.key(),
            RequestParties::of(request, &state),
            self.tokens(),
        )
    }

    /// Anyone (here the challenger's wallet) voids a request whose demanded
    /// input was not written in time.
    pub async fn void(&mut self, request: Pubkey) -> TxResult {
        let accounts = self.void_accounts(request).await;
        let cranker = self.challenger.wallet.insecure_clone();
        self.send(accounts, ix::VoidRequest {}, &[&cranker]).await
    }

    /// A request by the default requester that operator `index` has
    /// committed `output` to.
    pub async fn committed_request(&mut self, index: usize, output: &[u8]) -> Pubkey {
        let request = self.request(b"in").await;
        self.commit(index, request, output).await.expect("commit");
        request
    }

    /// A request account.
    pub async fn request_account(&mut self, request: Pubkey) -> InferenceRequest {
        self.account(request).await.expect("request exists")
    }

    pub fn write_input_accounts(&self, request: Pubkey) -> acc::WriteInput {
        accounts::write_input(self.requester.key(), request)
    }

    pub async fn write_input(&mut self, request: Pubkey, offset: u32, data: &[u8]) -> TxResult {
        let accounts = self.write_input_accounts(request);
        let requester = self.requester.wallet.insecure_clone();
        let data = data.to_vec();
        self.send(accounts, ix::WriteInput { offset, data }, &[&requester])
            .await
    }

    pub fn cancel_accounts(&self, request: Pubkey) -> acc::CancelRequest {
        accounts::cancel_request(
            self.requester.key(),
            self.requester.token,
            request,
            self.tokens(),
        )
    }

    pub async fn cancel(&mut self, request: Pubkey) -> TxResult {
        let accounts = self.cancel_accounts(request);
        let requester = self.requester.wallet.insecure_clone();
        self.send(accounts, ix::CancelRequest {}, &[&requester])
            .await
    }

    pub async fn expire_accounts(&mut self, request: Pubkey) -> acc::ExpireRequest {
        let state = self.request_account(request).await;
        accounts::expire_request(
            self.challenger.key(),
            RequestParties::of(request, &state),
            self.tokens(),
        )
    }

    /// Anyone (here the challenger's wallet) cranks an expired request.
    pub async fn expire(&mut self, request: Pubkey) -> TxResult {
        let accounts = self.expire_accounts(request).await;
        let cranker = self.challenger.wallet.insecure_clone();
        self.send(accounts, ix::ExpireRequest {}, &[&cranker]).await
    }

    // ----- results -----

    pub async fn commit_accounts(&mut self, index: usize, request: Pubkey) -> acc::CommitResult {
        let model = self.request_account(request).await.model;
        accounts::commit_result(self.operators[index].key(), request, model)
    }

    /// Operator `index` commits `output`.
    pub async fn commit(&mut self, index: usize, request: Pubkey, output: &[u8]) -> TxResult {
        let accounts = self.commit_accounts(index, request).await;
        let wallet = self.operators[index].wallet.insecure_clone();
        let output = output.to_vec();
        let sequence = self.request_account(request).await.sequence;
        let whole_output_sha256 = whole_output_sha256(&output);
        self.send(
            accounts,
            ix::CommitResult {
                sequence,
                output,
                whole_output_sha256,
                trace_root: None,
            },
            &[&wallet],
        )
        .await
    }

    /// Operator `index` commits `result`, naming a whole output by hash
    /// (for a model whose outputs have views).
    pub async fn commit_with_whole(
        &mut self,
        index: usize,
        request: Pubkey,
        result: &[u8],
        whole_output_sha256: [u8; 32],
    ) -> TxResult {
        let accounts = self.commit_accounts(index, request).await;
        let wallet = self.operators[index].wallet.insecure_clone();
        let sequence = self.request_account(request).await.sequence;
        self.send(
            accounts,
            ix::CommitResult {
                sequence,
                output: result.to_vec(),
                whole_output_sha256,
                trace_root: None,
            },
            &[&wallet],
        )
        .await
    }

    /// The request's parties; while nobody has committed, operator 0 stands
    /// in as the operator so that tests reach the request's own checks.
    async fn parties(&mut self, request: Pubkey) -> (RequestParties, Operator) {
        let state = self.request_account(request).await;
        let mut parties = RequestParties::of(request, &state);
        if parties.operator == Pubkey::default() {
            parties.operator = self.operator(0);
        }
        let operator = self.account(parties.operator).await.expect("operator");
        (parties, operator)
    }

    /// Where a settlement of this request pays: the payout accounts the
    /// operator and the publisher recorded (and the model's fee vault).
    async fn payees(&mut self, parties: &RequestParties, operator: &Operator) -> Payees {
        let model = self.model_account(parties.model).await;
        Payees::recorded(operator, &model)
    }

    pub async fn finalize_accounts(&mut self, request: Pubkey) -> acc::Finalize {
        let (parties, operator) = self.parties(request).await;
        let payees = self.payees(&parties, &operator).await;
        accounts::finalize(self.challenger.key(), parties, payees, self.tokens())
    }

    /// Anyone cranks `finalize` (with the consumer's callback accounts when
    /// the request named a callback).
    pub async fn finalize(&mut self, request: Pubkey) -> TxResult {
        let callback = self.callback_accounts(request).await;
        self.finalize_with(request, callback).await
    }

    /// `finalize` with these remaining accounts.
    pub async fn finalize_with(
        &mut self,
        request: Pubkey,
        remaining: Vec<AccountMeta>,
    ) -> TxResult {
        let accounts = self.finalize_accounts(request).await;
        let cranker = self.challenger.wallet.insecure_clone();
        let mut finalize = sibyl_client::instruction(accounts, ix::Finalize {});
        finalize.accounts.extend(remaining);
        self.send_instructions(vec![finalize], &[&cranker]).await
    }

    /// The remaining accounts that deliver `request`'s callback (none if it named none).
    pub async fn callback_accounts(&mut self, request: Pubkey) -> Vec<AccountMeta> {
        let state = self.request_account(request).await;
        accounts::callback_accounts(&state)
    }

    pub async fn close_request(&mut self, request: Pubkey) -> TxResult {
        let requester = self.requester.wallet.insecure_clone();
        let accounts = accounts::close_request(requester.pubkey(), request);
        self.send(accounts, ix::CloseRequest {}, &[&requester])
            .await
    }

    // ----- disputes -----

    /// The payment-token account of a known wallet.
    pub fn token_of(&self, wallet: &Pubkey) -> Pubkey {
        self.all_actors()
            .find(|actor| actor.key() == *wallet)
            .map(|actor| actor.token)
            .expect("a known wallet")
    }

    fn all_actors(&self) -> impl Iterator<Item = &Actor> {
        [
            &self.authority,
            &self.treasury,
            &self.publisher,
            &self.requester,
            &self.challenger,
        ]
        .into_iter()
        .chain(self.operators.iter())
    }

    /// The accounts of a challenge by the wallet `challenger` paying from `challenger_token`.
    pub async fn challenge_accounts(
        &mut self,
        challenger: Pubkey,
        challenger_token: Pubkey,
        request: Pubkey,
    ) -> acc::Challenge {
        let (parties, _) = self.parties(request).await;
        accounts::challenge(challenger, challenger_token, parties, self.tokens())
    }

    /// The default challenger disputes a result with its own output.
    pub async fn challenge(&mut self, request: Pubkey, output: &[u8]) -> TxResult {
        let challenger = self.challenger.clone();
        self.challenge_as(&challenger, request, output).await
    }

    /// `challenger` disputes a result with its own output.
    pub async fn challenge_as(
        &mut self,
        challenger: &Actor,
        request: Pubkey,
        output: &[u8],
    ) -> TxResult {
        self.challenge_with_whole_as(challenger, request, output, whole_output_sha256(output))
            .await
    }

    /// `challenger` disputes a result with its own, naming its whole output
    /// by hash (for a model whose outputs have views).
    pub async fn challenge_with_whole_as(
        &mut self,
        challenger: &Actor,
        request: Pubkey,
        output: &[u8],
        whole_output_sha256: [u8; 32],
    ) -> TxResult {
        let accounts = self
            .challenge_accounts(challenger.key(), challenger.token, request)
            .await;
        let output = output.to_vec();
        let sequence = self.request_account(request).await.sequence;
        self.send(
            accounts,
            ix::Challenge {
                sequence,
                output,
                whole_output_sha256,
            },
            &[&challenger.wallet],
        )
        .await
    }

    pub async fn vote_accounts(&mut self, index: usize, request: Pubkey) -> acc::CastVote {
        let dispute = self.dispute_address(request).await;
        accounts::cast_vote(self.operators[index].key(), dispute)
    }

    /// The salt operator `index` commits its votes with.
    pub fn vote_salt(index: usize) -> [u8; 32] {
        [index as u8 + 1; 32]
    }

    /// Operator `index` commits `commitment` in the dispute over `request`.
    pub async fn commit_vote(
        &mut self,
        index: usize,
        request: Pubkey,
        commitment: [u8; 32],
    ) -> TxResult {
        let accounts = self.vote_accounts(index, request).await;
        let wallet = self.operators[index].wallet.insecure_clone();
        self.send(accounts, ix::CastVote { commitment }, &[&wallet])
            .await
    }

    /// Operator `index` votes `side` in the dispute over `request`: commits
    /// it now; [`TestEnv::resolve`] (or [`TestEnv::reveal_votes`]) reveals it.
    pub async fn vote(&mut self, index: usize, request: Pubkey, side: VoteSide) -> TxResult {
        let dispute = self.dispute_address(request).await;
        let commitment = sibyl::hashing::vote_commitment(
            &dispute,
            &self.operator(index),
            side,
            &Self::vote_salt(index),
        );
        let result = self.commit_vote(index, request, commitment).await;
        if result.is_ok() {
            self.unrevealed.push((dispute, index, side));
        }
        result
    }

    /// Reveals operator `index`'s vote in `dispute` as `side` with `salt`
    /// (sent by that operator's wallet).
    pub async fn reveal_vote(
        &mut self,
        index: usize,
        dispute: Pubkey,
        side: VoteSide,
        salt: [u8; 32],
    ) -> TxResult {
        let wallet = self.operators[index].wallet.insecure_clone();
        let accounts = accounts::reveal_vote(wallet.pubkey(), dispute, self.operator(index));
        let output_hash = [0; 32];
        self.send(
            accounts,
            ix::RevealVote {
                side,
                salt,
                output_hash,
            },
            &[&wallet],
        )
        .await
    }

    /// Once the vote window of `dispute` has closed (warping to it if
    /// needed), reveals every vote committed there through
    /// [`TestEnv::vote`].
    pub async fn reveal_votes_in(&mut self, dispute: Pubkey) {
        let (pending, rest) = std::mem::take(&mut self.unrevealed)
            .into_iter()
            .partition(|(voted_in, _, _)| *voted_in == dispute);
        self.unrevealed = rest;
        let pending: Vec<(Pubkey, usize, VoteSide)> = pending;
        if pending.is_empty() {
            return;
        }
        let state: Dispute = self.account(dispute).await.expect("dispute");
        let slot = self.slot().await;
        if slot <= state.vote_deadline_slot {
            self.warp_slots(state.vote_deadline_slot + 1 - slot).await;
        }
        for (_, index, side) in pending {
            self.reveal_vote(index, dispute, side, Self::vote_salt(index))
                .await
                .expect("revealed");
        }
    }

    /// [`TestEnv::reveal_votes_in`] the dispute over `request`.
    pub async fn reveal_votes(&mut self, request: Pubkey) {
        let dispute = self.dispute_address(request).await;
        self.reveal_votes_in(dispute).await;
    }

    /// The address of the dispute over `request` (its current instance).
    pub async fn dispute_address(&mut self, request: Pubkey) -> Pubkey {
        pda::dispute_of(&self.request_account(request).await)
    }

    /// The dispute over `request`.
    pub async fn dispute_of(&mut self, request: Pubkey) -> Dispute {
        let address = self.dispute_address(request).await;
        self.account(address).await.expect("dispute")
    }

    pub async fn settle_accounts(&mut self, request: Pubkey) -> acc::SettleDispute {
        let (parties, operator) = self.parties(request).await;
        let dispute = self.dispute_of(request).await;
        let payees = self.payees(&parties, &operator).await;
        accounts::settle_dispute(
            parties,
            dispute.challenger,
            dispute.challenger_token,
            payees,
            self.tokens(),
        )
    }

    /// Anyone cranks `resolve_dispute` (with the callback accounts, if any),
    /// after revealing the votes committed through [`TestEnv::vote`].
    pub async fn resolve(&mut self, request: Pubkey) -> TxResult {
        self.reveal_votes(request).await;
        let settle = self.settle_accounts(request).await;
        let cranker = self.requester.wallet.insecure_clone();
        let accounts = accounts::resolve_dispute(cranker.pubkey(), settle);
        let mut resolve = sibyl_client::instruction(accounts, ix::ResolveDispute {});
        resolve
            .accounts
            .extend(self.callback_accounts(request).await);
        self.send_instructions(vec![resolve], &[&cranker]).await
    }

    /// `signer` arbitrates the dispute over `request`.
    pub async fn arbitrate_as(
        &mut self,
        signer: &Keypair,
        request: Pubkey,
        outcome: DisputeOutcome,
    ) -> TxResult {
        let settle = self.settle_accounts(request).await;
        let accounts = accounts::arbitrate(signer.pubkey(), settle);
        self.send(accounts, ix::Arbitrate { outcome }, &[signer])
            .await
    }

    /// The protocol authority arbitrates.
    pub async fn arbitrate(&mut self, request: Pubkey, outcome: DisputeOutcome) -> TxResult {
        let authority = self.authority.wallet.insecure_clone();
        self.arbitrate_as(&authority, request, outcome).await
    }

    pub async fn expire_arbitration(&mut self, request: Pubkey) -> TxResult {
        let (parties, _) = self.parties(request).await;
        let dispute = self.dispute_of(request).await;
        let cranker = self.requester.wallet.insecure_clone();
        let accounts = accounts::expire_arbitration(
            cranker.pubkey(),
            parties,
            dispute.challenger,
            dispute.challenger_token,
            self.tokens(),
        );
        self.send(accounts, ix::ExpireArbitration {}, &[&cranker])
            .await
    }

    pub async fn claim_vote_accounts(&mut self, index: usize, request: Pubkey) -> acc::ClaimVote {
        let address = self.dispute_address(request).await;
        self.claim_vote_accounts_in(index, address).await
    }

    /// The accounts of operator `index`'s claim in the dispute at `address`
    /// (its request may be closed already).
    pub async fn claim_vote_accounts_in(
        &mut self,
        index: usize,
        address: Pubkey,
    ) -> acc::ClaimVote {
        let dispute: Dispute = self.account(address).await.expect("dispute");
        let operator = self.operator(index);
        let voter: Operator = self.account(operator).await.expect("operator");
        accounts::claim_vote(
            self.operators[index].key(),
            VoteParties::of(address, &dispute, operator, &voter),
            self.tokens(),
        )
    }

    /// Operator `index` claims its vote in the dispute over `request`.
    pub async fn claim_vote(&mut self, index: usize, request: Pubkey) -> TxResult {
        let address = self.dispute_address(request).await;
        self.claim_vote_in(index, address).await
    }

    /// Operator `index` claims its vote in the dispute at `address`.
    pub async fn claim_vote_in(&mut self, index: usize, address: Pubkey) -> TxResult {
        let accounts = self.claim_vote_accounts_in(index, address).await;
        let wallet = self.operators[index].wallet.insecure_clone();
        self.send(accounts, ix::ClaimVote {}, &[&wallet]).await
    }

    // ----- convenience -----

    /// Config authority's pause/unpause.
    pub async fn set_paused(&mut self, paused: bool) -> TxResult {
        let authority = self.authority.wallet.insecure_clone();
        let accounts = accounts::set_paused(authority.pubkey());
        if paused {
            self.send(accounts, ix::Pause {}, &[&authority]).await
        } else {
            self.send(accounts, ix::Unpause {}, &[&authority]).await
        }
    }
}
