//! Deploying and initializing a cluster from a plan (`sibyl migrate`),
//! idempotently: check that the program is deployed, choose or create the
//! payment mint, initialize the protocol, register the plan's models and
//! fund test wallets. Every step first reads what is on chain and acts only
//! on what is missing, so a second run sends nothing.
//!
//! Everything that can be checked without a transaction (the program, the
//! mint, amounts, parameters, every model file in the pinned runtime) is
//! checked before the first transaction is sent.
use super::{
    format_amount,
    model::{self, Listing},
    parse_amount, protocol,
};
use crate::{
    chain::{ChainClient, ChainError, MintInfo},
    engine::Engine,
    hex,
};
use anchor_lang::prelude::Pubkey;
use anchor_spl::token_2022::spl_token_2022::instruction as token_instruction;
use sibyl::{
    instructions::RegisterModelArgs,
    state::{ComparisonRule, Config, ConfigParams, Model},
};
use sibyl_client::{accounts::Tokens, pda};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::{fmt, path::PathBuf};

/// Decimals of a mint `migrate` creates.
pub const CREATED_MINT_DECIMALS: u8 = 6;
/// Size of an SPL Token mint account (Token-2022's base layout is the same).
const MINT_LEN: usize = 82;

/// What to bring about on a cluster.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The payment mint, unless the protocol is already initialized (then
    /// the config's mint is used).
    pub mint: MintChoice,
    /// Parameters for `initialize` (unused if the protocol is initialized).
    pub params: ConfigParams,
    pub models: Vec<PlannedModel>,
    /// Wallets to fund with payment tokens (needs the signer to be the mint
    /// authority).
    pub fund: Option<Fund>,
}

/// Where the payment mint comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MintChoice {
    /// A new 6-decimal SPL Token mint with the signer as mint authority.
    Create,
    /// An existing SPL Token or Token-2022 mint.
    Existing(Pubkey),
}

/// One model to register, as the plan lists it.
#[derive(Clone, Debug)]
pub struct PlannedModel {
    /// How the plan names it (its file as written), for messages.
    pub name: String,
    /// The ONNX file on this machine.
    pub file: PathBuf,
    /// Where operators fetch it.
    pub uri: String,
    /// Price per request, in tokens (parsed with the mint's decimals).
    pub price: String,
    pub royalty_bps: u16,
    /// `None`: the default for the output's dtype.
    pub comparison: Option<ComparisonRule>,
    pub challenge_window_override_slots: Option<u64>,
    pub max_input_bytes: Option<u32>,
    pub max_output_bytes: Option<u32>,
    /// Views of named outputs (the rest whole).
    pub views: Vec<(String, sibyl::state::OutputView)>,
    /// Whether the on-chain referee decides its disputes.
    pub referee: bool,
}

/// Payment tokens each wallet should hold (at least).
#[derive(Clone, Debug)]
pub struct Fund {
    /// Target balance, in tokens.
    pub tokens: String,
    pub wallets: Vec<Pubkey>,
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// This run did it.
    Done,
    /// The chain already was as planned.
    AlreadyDone,
    /// Not applicable (the reason says why).
    Skipped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Done => "done",
            Status::AlreadyDone => "already done",
            Status::Skipped => "skipped",
        })
    }
}

/// One step's outcome: `[step] status: detail`.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub step: String,
    pub status: Status,
    pub detail: String,
}

impl fmt::Display for StepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.step, self.status, self.detail)
    }
}

/// What the caller is told as the migration goes.
#[derive(Clone, Debug)]
pub enum Event {
    Step(StepReport),
    /// The chain differs from the plan in a way `migrate` does not change.
    Warning(String),
}

/// Where the cluster stands after a migration.
#[derive(Clone, Debug)]
pub struct Summary {
    pub config: Pubkey,
    pub authority: Pubkey,
    pub mint: Pubkey,
    pub decimals: u8,
    /// Each planned model: its name in the plan, address and hash.
    pub models: Vec<(String, Pubkey, [u8; 32])>,
    /// Transactions this run sent (0 when the cluster already was as planned).
    pub transactions: usize,
}

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the Sibyl program {program} is not deployed on {url} ({reason}); deploy it first \
         with `anchor build && anchor deploy --provider.cluster {url}` (needs the Solana \
         platform tools), then run this again"
    )]
    ProgramNotDeployed {
        program: Pubkey,
        url: String,
        reason: String,
    },
    #[error(
        "only the program's upgrade authority ({authority}) may initialize Sibyl; this \
         keypair is {signer}: run the migration with the upgrade authority's keypair"
    )]
    NotUpgradeAuthority { authority: String, signer: Pubkey },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("payment mint {mint}: {reason}")]
    Mint { mint: Pubkey, reason: String },
    #[error("model {name}: {reason}")]
    Model { name: String, reason: String },
    #[error("{0}")]
    Plan(String),
    #[error(
        "{source}; this run created the payment mint {mint}: put `mint = \"{mint}\"` in the \
         plan to use it on the next run"
    )]
    AfterMintCreated {
        mint: Pubkey,
        #[source]
        source: ChainError,
    },
}

/// A planned model with its registration computed from the file.
struct Prepared<'a> {
    planned: &'a PlannedModel,
    address: Pubkey,
    args: RegisterModelArgs,
}

/// What is on chain before anything is sent, and everything the plan
/// yields that can be checked without a transaction.
struct Before<'a> {
    /// The protocol config, if initialized.
    existing: Option<Config>,
    /// The payment mint, when known (the config's, or the plan's).
    tokens: Option<Tokens>,
    decimals: u8,
    prepared: Vec<Prepared<'a>>,
    fund_target: Option<u64>,
}

/// One run of a plan: the client, the plan, who hears each step, and how
/// many transactions were sent.
struct Run<'a, F> {
    chain: &'a ChainClient,
    plan: &'a Plan,
    on: F,
    transactions: usize,
}

/// Runs the plan's steps against `chain` (the signer pays, is the authority
/// of a protocol it initializes and the publisher of the models it
/// registers); `on` hears each step and warning as it happens.
pub async fn migrate(
    chain: &ChainClient,
    engine: &Engine,
    plan: &Plan,
    on: impl FnMut(Event),
) -> Result<Summary, MigrateError> {
    let mut run = Run {
        chain,
        plan,
        on,
        transactions: 0,
    };
    run.program().await?;
    let before = run.before(engine).await?;
    let (tokens, created_mint) = run.mint(&before).await?;
    let config = run.protocol(before.existing, tokens, created_mint).await?;
    let models = run.models(tokens, before.prepared, before.decimals).await?;
    run.fund(tokens, before.decimals, before.fund_target)
        .await?;
    Ok(Summary {
        config: pda::config(),
        authority: config.authority,
        mint: config.payment_mint,
        decimals: before.decimals,
        models,
        transactions: run.transactions,
    })
}

impl<'a, F: FnMut(Event)> Run<'a, F> {
    fn step(&mut self, step: &str, status: Status, detail: String) {
        (self.on)(Event::Step(StepReport {
            step: step.to_string(),
            status,
            detail,
        }));
    }

    fn warn(&mut self, warning: String) {
        (self.on)(Event::Warning(warning));
    }

    /// Step 1: the program is deployed (after one cheap call that says whether
    /// the cluster answers).
    async fn program(&mut self) -> Result<(), MigrateError> {
        self.chain.slot().await?;
        let not_deployed = |reason: &str| MigrateError::ProgramNotDeployed {
            program: sibyl::ID,
            url: self.chain.rpc().url(),
            reason: reason.to_string(),
        };
        match self.chain.is_executable(&sibyl::ID).await? {
            None => return Err(not_deployed("no account at its address")),
            Some(false) => return Err(not_deployed("its account is not executable")),
            Some(true) => {}
        }
        self.step(
            "program",
            Status::AlreadyDone,
            format!("sibyl {} is deployed (executable)", sibyl::ID),
        );
        Ok(())
    }

    /// What is there already, and everything checkable before sending.
    async fn before(&mut self, engine: &Engine) -> Result<Before<'a>, MigrateError> {
        let (chain, plan) = (self.chain, self.plan);
        let existing: Option<Config> = chain.fetch(&pda::config(), "protocol config").await?;
        if existing.is_none() {
            check_upgrade_authority(chain).await?;
        }
        let (tokens, decimals) = match (&existing, plan.mint) {
            (Some(_), _) => {
                let tokens = chain
                    .payment_tokens()
                    .await
                    .map_err(|err| MigrateError::Plan(err.to_string()))?;
                (Some(tokens), chain.mint(&tokens.mint).await?.decimals)
            }
            (None, MintChoice::Existing(mint)) => {
                let mint = read_mint(chain, &mint).await?;
                (Some(mint.tokens), mint.decimals)
            }
            (None, MintChoice::Create) => (None, CREATED_MINT_DECIMALS),
        };
        if existing.is_none() {
            plan.params
                .validate()
                .map_err(|err| MigrateError::Plan(format!("protocol parameters: {err}")))?;
        }
        let prepared = prepare_models(engine, plan, decimals)?;
        let fund_target = match &plan.fund {
            Some(fund) => Some(
                parse_amount(&fund.tokens, decimals)
                    .map_err(|err| MigrateError::Plan(format!("[fund] tokens: {err}")))?,
            ),
            None => None,
        };
        Ok(Before {
            existing,
            tokens,
            decimals,
            prepared,
            fund_target,
        })
    }

    /// Step 2: the payment mint: the protocol's, the plan's, or a new one.
    /// Returns it, and its address if this run created it.
    async fn mint(
        &mut self,
        before: &Before<'_>,
    ) -> Result<(Tokens, Option<Pubkey>), MigrateError> {
        let decimals = before.decimals;
        match (before.tokens, &before.existing) {
            (Some(tokens), Some(_)) => {
                self.step(
                    "mint",
                    Status::AlreadyDone,
                    format!("{} (the protocol's, {decimals} decimals)", tokens.mint),
                );
                if let MintChoice::Existing(planned) = self.plan.mint {
                    if planned != tokens.mint {
                        self.warn(format!(
                            "the plan's mint {planned} is not the protocol's; the protocol's is used"
                        ));
                    }
                }
                Ok((tokens, None))
            }
            (Some(tokens), None) => {
                self.step(
                    "mint",
                    Status::AlreadyDone,
                    format!("{} (from the plan, {decimals} decimals)", tokens.mint),
                );
                Ok((tokens, None))
            }
            (None, _) => {
                let tokens = create_mint(self.chain).await?;
                self.transactions += 1;
                self.step(
                    "mint",
                    Status::Done,
                    format!(
                        "created {} ({decimals} decimals, mint authority {})",
                        tokens.mint,
                        self.chain.wallet()
                    ),
                );
                Ok((tokens, Some(tokens.mint)))
            }
        }
    }

    /// Step 3: the protocol: initialized with the plan's parameters unless it is.
    async fn protocol(
        &mut self,
        existing: Option<Config>,
        tokens: Tokens,
        created_mint: Option<Pubkey>,
    ) -> Result<Config, MigrateError> {
        let (config, status) = match existing {
            Some(config) => {
                if config.params != self.plan.params {
                    self.warn(
                        "the protocol's parameters differ from the plan's; `migrate` does not \
                         change them (the authority can, with update_config)"
                            .to_string(),
                    );
                }
                (config, Status::AlreadyDone)
            }
            None => {
                let (config, created) = protocol::initialize(self.chain, tokens, self.plan.params)
                    .await
                    .map_err(|source| match created_mint {
                        Some(mint) => MigrateError::AfterMintCreated { mint, source },
                        None => source.into(),
                    })?;
                self.transactions += usize::from(created);
                let status = if created {
                    Status::Done
                } else {
                    Status::AlreadyDone
                };
                (config, status)
            }
        };
        self.step(
            "initialize",
            status,
            format!(
                "config {} (authority {}, mint {})",
                pda::config(),
                config.authority,
                config.payment_mint
            ),
        );
        Ok(config)
    }

    /// Step 4: the models: each registered unless it is (then how it differs
    /// from the plan is reported).
    async fn models(
        &mut self,
        tokens: Tokens,
        prepared: Vec<Prepared<'_>>,
        decimals: u8,
    ) -> Result<Vec<(String, Pubkey, [u8; 32])>, MigrateError> {
        let mut models = Vec::new();
        for Prepared {
            planned,
            address,
            args,
        } in prepared
        {
            let name = format!("model {}", planned.name);
            let hash = args.model_hash;
            let short = &hex::encode(&hash)[..16];
            match self.chain.fetch::<Model>(&address, "model").await? {
                Some(on_chain) => {
                    self.step(
                        &name,
                        Status::AlreadyDone,
                        format!("{address} (sha256 {short}…)"),
                    );
                    for drift in model_drift(&on_chain, &args, self.chain.wallet(), decimals) {
                        self.warn(format!("{name} ({address}): {drift}"));
                    }
                }
                None => {
                    model::register(self.chain, tokens, args).await?;
                    self.transactions += 1;
                    self.step(
                        &name,
                        Status::Done,
                        format!("registered {address} (sha256 {short}…)"),
                    );
                }
            }
            models.push((planned.name.clone(), address, hash));
        }
        Ok(models)
    }

    /// Step 5: funding: each listed wallet's balance topped up to the target,
    /// when the signer is the mint authority.
    async fn fund(
        &mut self,
        tokens: Tokens,
        decimals: u8,
        target: Option<u64>,
    ) -> Result<(), MigrateError> {
        let chain = self.chain;
        let (fund, target) = match (&self.plan.fund, target) {
            (Some(fund), Some(target)) if !fund.wallets.is_empty() => (fund, target),
            (Some(_), _) => {
                self.step(
                    "fund",
                    Status::Skipped,
                    "no wallets (list them in [fund] wallets or pass --fund WALLET)".into(),
                );
                return Ok(());
            }
            (None, _) => {
                self.step("fund", Status::Skipped, "the plan has no [fund]".into());
                return Ok(());
            }
        };
        if read_mint(chain, &tokens.mint).await?.authority != Some(chain.wallet()) {
            self.step(
                "fund",
                Status::Skipped,
                format!(
                    "the signer {} is not the mint authority of {}",
                    chain.wallet(),
                    tokens.mint
                ),
            );
            return Ok(());
        }
        let amount = |units| format_amount(units, decimals);
        for wallet in &fund.wallets {
            let name = format!("fund {wallet}");
            let balance = chain
                .token_balance(&tokens.account_of(wallet))
                .await?
                .unwrap_or(0);
            if balance >= target {
                self.step(
                    &name,
                    Status::AlreadyDone,
                    format!("balance {} ≥ {}", amount(balance), amount(target)),
                );
                continue;
            }
            let mint_to = token_instruction::mint_to(
                &tokens.token_program,
                &tokens.mint,
                &tokens.account_of(wallet),
                &chain.wallet(),
                &[],
                target - balance,
            )
            .map_err(|err| MigrateError::Plan(format!("mint_to: {err}")))?;
            chain
                .send(
                    "fund",
                    &[tokens.create_account(&chain.wallet(), wallet), mint_to],
                    &[],
                )
                .await?;
            self.transactions += 1;
            self.step(
                &name,
                Status::Done,
                format!(
                    "minted {} (balance {} → {})",
                    amount(target - balance),
                    amount(balance),
                    amount(target)
                ),
            );
        }
        Ok(())
    }
}

/// Refuses, before anything is sent, to initialize with a keypair that is not
/// the program's upgrade authority (the program would refuse it after the
/// mint was made). A program without a ProgramData account (a native
/// build, as on the localnet) accepts any first caller.
async fn check_upgrade_authority(chain: &ChainClient) -> Result<(), MigrateError> {
    match chain.upgrade_authority(&sibyl::ID).await? {
        None => Ok(()),
        Some(Some(authority)) if authority == chain.wallet() => Ok(()),
        Some(authority) => Err(MigrateError::NotUpgradeAuthority {
            authority: authority.map_or("none: the program is immutable".into(), |key| {
                key.to_string()
            }),
            signer: chain.wallet(),
        }),
    }
}

/// Every planned model's registration, computed from its file in `engine`
/// (which loads and checks it); refuses a plan listing one file twice.
fn prepare_models<'a>(
    engine: &Engine,
    plan: &'a Plan,
    decimals: u8,
) -> Result<Vec<Prepared<'a>>, MigrateError> {
    let mut prepared: Vec<Prepared<'a>> = Vec::new();
    for planned in &plan.models {
        let error = |reason: String| MigrateError::Model {
            name: planned.name.clone(),
            reason,
        };
        let price = parse_amount(&planned.price, decimals).map_err(|err| error(err.to_string()))?;
        let listing = Listing {
            uri: planned.uri.clone(),
            price,
            royalty_bps: planned.royalty_bps,
            comparison: planned.comparison,
            challenge_window_override_slots: planned.challenge_window_override_slots,
            max_input_bytes: planned.max_input_bytes,
            max_output_bytes: planned.max_output_bytes,
            views: planned.views.clone(),
            referee: planned.referee,
        };
        let args = model::registration(engine, &planned.file, listing)
            .map_err(|err| error(one_line(&err.to_string())))?;
        if let Some(twin) = prepared
            .iter()
            .find(|other| other.args.model_hash == args.model_hash)
        {
            return Err(error(format!(
                "the same file as model {} (one registration per hash)",
                twin.planned.name
            )));
        }
        prepared.push(Prepared {
            planned,
            address: pda::model(&args.model_hash),
            args,
        });
    }
    Ok(prepared)
}

/// How a registered model differs from the plan's registration.
fn model_drift(
    on_chain: &Model,
    planned: &RegisterModelArgs,
    signer: Pubkey,
    decimals: u8,
) -> Vec<String> {
    let mut drift = Vec::new();
    if on_chain.uri != planned.uri {
        drift.push(format!(
            "its URI is {:?}, the plan's {:?} (sibyl model update --uri)",
            on_chain.uri, planned.uri
        ));
    }
    if on_chain.price != planned.price {
        drift.push(format!(
            "its price is {}, the plan's {} (sibyl model update --price)",
            format_amount(on_chain.price, decimals),
            format_amount(planned.price, decimals)
        ));
    }
    if on_chain.royalty_bps != planned.royalty_bps {
        drift.push(format!(
            "its royalty is {} bps, the plan's {}",
            on_chain.royalty_bps, planned.royalty_bps
        ));
    }
    if on_chain.comparison != planned.comparison {
        drift.push(format!(
            "its rule is {:?}, the plan's {:?} (fixed at registration)",
            on_chain.comparison, planned.comparison
        ));
    }
    if on_chain.profile_id != planned.profile_id {
        drift.push(format!(
            "it was registered with profile id {}…, this machine's is {}…",
            &hex::encode(&on_chain.profile_id)[..16],
            &hex::encode(&planned.profile_id)[..16]
        ));
    }
    if on_chain.publisher != signer {
        drift.push(format!(
            "its publisher is {}, not the signer",
            on_chain.publisher
        ));
    }
    if on_chain.retired {
        drift.push("it is retired".to_string());
    }
    drift
}

/// The plan's mint, with the mint's own words for why it cannot be one.
async fn read_mint(chain: &ChainClient, mint: &Pubkey) -> Result<MintInfo, MigrateError> {
    chain.mint(mint).await.map_err(|err| match err {
        ChainError::AccountMissing { .. } => MigrateError::Mint {
            mint: *mint,
            reason: "no account at this address on this cluster".into(),
        },
        ChainError::AccountInvalid { reason, .. } => MigrateError::Mint {
            mint: *mint,
            reason,
        },
        other => other.into(),
    })
}

/// Creates a 6-decimal SPL Token mint with the signer as mint authority.
async fn create_mint(chain: &ChainClient) -> Result<Tokens, MigrateError> {
    let mint = Keypair::new();
    let rent = chain.rent_exempt_minimum(MINT_LEN).await?;
    let token_program = anchor_spl::token::ID;
    let instructions = [
        solana_system_interface::instruction::create_account(
            &chain.wallet(),
            &mint.pubkey(),
            rent,
            MINT_LEN as u64,
            &token_program,
        ),
        token_instruction::initialize_mint2(
            &token_program,
            &mint.pubkey(),
            &chain.wallet(),
            None,
            CREATED_MINT_DECIMALS,
        )
        .map_err(|err| MigrateError::Plan(format!("initialize_mint2: {err}")))?,
    ];
    chain
        .send("creating the payment mint", &instructions, &[&mint])
        .await?;
    Ok(Tokens {
        mint: mint.pubkey(),
        token_program,
    })
}

/// `text` on one line (runtime messages can span several).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
