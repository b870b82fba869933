//! The referee game in tests: a small integer model the interpreter
//! computes, parties that answer every move from their own run (honest, or
//! with a lie planted in it), and a driver that plays a game until it is
//! decided or nobody moves.
use crate::{env::MODEL_PRICE, TestEnv, TxResult};
use anchor_lang::prelude::Pubkey;
use sibyl::{
    instruction as ix,
    instructions::RegisterModelArgs,
    state::{
        ComparisonRule, DType, GameOutcome, GamePhase, Move, RefereeGame, RefereeRoots, TensorSpec,
    },
};
use sibyl_client::{accounts, pda, referee};
use sibyl_sdk::{
    encoding::encode,
    referee::{
        graph::{Graph, Node},
        ops::Op,
        tensor::{IntTensor, IntType},
        Commitments, Lie, Party, ProvenOperand,
    },
};
use solana_keypair::Keypair;
use solana_signer::Signer;

/// A referee model: `label = argmax(clip((relu(x·W1 + b1)) / 4, 0, 255) ·
/// W2 + b2)`, x uint8 `[1, 8]`; outputs the logits and the label.
pub struct RefereeModel {
    pub graph: Graph,
    pub commitments: Commitments,
    pub roots: RefereeRoots,
}

fn tensor(dtype: IntType, dims: &[usize], data: &[i64]) -> IntTensor {
    IntTensor::new(dtype, dims.to_vec(), data.to_vec()).expect("a consistent tensor")
}

impl RefereeModel {
    pub fn mlp() -> RefereeModel {
        let names = [
            "x", "w1", "w1_zero", "mm1", "b1", "add1", "relu1", "four", "div1", "low", "high",
            "clip1", "cast1", "w2", "mm2", "b2", "logits", "label",
        ];
        let w1: Vec<i64> = (0..32).map(|i| (i * 37 % 19) - 9).collect();
        let w2: Vec<i64> = (0..12).map(|i| (i * 23 % 15) - 7).collect();
        let graph = Graph {
            names: names.iter().map(|name| name.to_string()).collect(),
            inputs: vec![0],
            outputs: vec![16, 17],
            weights: vec![
                (1, tensor(IntType::I8, &[8, 4], &w1)),
                (2, IntTensor::scalar(IntType::I8, 1)),
                (4, tensor(IntType::I32, &[4], &[-300, 20, 5, -40])),
                (7, IntTensor::scalar(IntType::I32, 4)),
                (9, IntTensor::scalar(IntType::I32, 0)),
                (10, IntTensor::scalar(IntType::I32, 255)),
                (13, tensor(IntType::I8, &[4, 3], &w2)),
                (15, tensor(IntType::I32, &[3], &[7, -7, 0])),
            ],
            nodes: [
                (Op::MatMulInteger, vec![Some(0), Some(1), None, Some(2)], 3),
                (Op::Add, vec![Some(3), Some(4)], 5),
                (Op::Relu, vec![Some(5)], 6),
                (Op::Div, vec![Some(6), Some(7)], 8),
                (Op::Clip, vec![Some(8), Some(9), Some(10)], 11),
                (Op::Cast { to: IntType::U8 }, vec![Some(11)], 12),
                (Op::MatMulInteger, vec![Some(12), Some(13)], 14),
                (Op::Add, vec![Some(14), Some(15)], 16),
                (
                    Op::ArgMax {
                        axis: 1,
                        keep_dims: false,
                        select_last_index: false,
                    },
                    vec![Some(16)],
                    17,
                ),
            ]
            .into_iter()
            .map(|(op, inputs, output)| Node {
                op,
                inputs,
                outputs: vec![output],
            })
            .collect(),
        };
        let zero = tensor(IntType::U8, &[1, 8], &[0; 8]);
        let commitments = Commitments::new(&graph, vec![zero]).expect("the model runs");
        let roots = RefereeRoots {
            graph_root: commitments.graph.root(),
            weights_root: commitments.weights.root(),
            node_count: graph.nodes.len() as u16,
            weight_count: graph.weights.len() as u16,
            output_nodes: commitments.output_nodes.clone(),
        };
        RefereeModel {
            graph,
            commitments,
            roots,
        }
    }

    /// Its registration under `model_hash`.
    pub fn args(&self, model_hash: [u8; 32]) -> RegisterModelArgs {
        let spec = |name: &str, dtype, shape: Vec<i64>| TensorSpec {
            name: name.to_string(),
            dtype,
            shape,
        };
        RegisterModelArgs {
            model_hash,
            profile_id: [7; 32],
            uri: "file://models/referee/mlp.onnx".to_string(),
            price: MODEL_PRICE,
            royalty_bps: 1_000,
            inputs: vec![spec("x", DType::Uint8, vec![1, 8])],
            outputs: vec![
                spec("logits", DType::Int32, vec![1, 3]),
                spec("label", DType::Int64, vec![1]),
            ],
            max_input_bytes: 64,
            max_output_bytes: 128,
            comparison: ComparisonRule::Exact,
            challenge_window_override_slots: None,
            output_views: vec![],
            referee: Some(self.roots.clone()),
        }
    }

    /// The canonical encoding of the input `x` for `seed`.
    pub fn input(seed: u8) -> Vec<u8> {
        let x: Vec<i64> = (0..8u8)
            .map(|i| i64::from(seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(47))))
            .collect();
        encode(&[tensor(IntType::U8, &[1, 8], &x)
            .to_tensor("x")
            .expect("a tensor")])
    }

    /// A party's run on `input`, with `lie` planted.
    pub fn run(&self, input: &[u8], lie: Option<Lie>) -> Party {
        Party::run(&self.graph, input, lie).expect("the model runs")
    }
}

/// `party`'s move in `game`'s current round.
pub fn next_move(model: &RefereeModel, party: &Party, game: &RefereeGame) -> Move {
    referee::next_move(&model.commitments, party, game).expect("a move is owed")
}

/// The next operand of `game`'s step, proven from `party`'s run.
pub fn next_operand(
    model: &RefereeModel,
    party: &Party,
    game: &RefereeGame,
) -> Option<ProvenOperand> {
    referee::next_operand(&model.commitments, party, game)
}

/// A party at the table: its run, its key, and the phase at which it stops
/// answering (never, if `None`).
pub struct Player<'a> {
    pub run: &'a Party,
    pub wallet: Keypair,
    pub stops_at: Option<GamePhase>,
}

impl Player<'_> {
    fn answers(&self, phase: GamePhase) -> bool {
        self.stops_at != Some(phase)
    }
}

impl TestEnv {
    /// Registers `model` under `model_hash`; returns its account.
    pub async fn register_referee_model(
        &mut self,
        model: &RefereeModel,
        model_hash: [u8; 32],
    ) -> Pubkey {
        self.register_model(model.args(model_hash))
            .await
            .expect("register the referee model");
        pda::model(&model_hash)
    }

    /// Operator `index` commits `run`'s result and trace root.
    pub async fn commit_run(&mut self, index: usize, request: Pubkey, run: &Party) -> TxResult {
        let accounts = self.commit_accounts(index, request).await;
        let wallet = self.operators[index].wallet.insecure_clone();
        let sequence = self.request_account(request).await.sequence;
        self.send(
            accounts,
            ix::CommitResult {
                sequence,
                output: run.result.clone(),
                whole_output_sha256: sibyl::hashing::whole_output_sha256(&run.result),
                trace_root: Some(run.trace_root()),
            },
            &[&wallet],
        )
        .await
    }

    /// The address of `challenger`'s game on `request`.
    pub async fn game_address(&mut self, request: Pubkey, challenger: &Pubkey) -> Pubkey {
        let state = self.request_account(request).await;
        pda::referee_game(&state.model, state.sequence, challenger)
    }

    /// `challenger` opens a game on `request` with `run`'s roots.
    pub async fn open_game(
        &mut self,
        challenger: &crate::Actor,
        request: Pubkey,
        trace_root: [u8; 32],
        output_root: [u8; 32],
    ) -> TxResult {
        let state = self.request_account(request).await;
        let parties = accounts::RequestParties::of(request, &state);
        let accounts = accounts::open_referee_game(
            challenger.key(),
            challenger.token,
            parties,
            state.sequence,
            self.tokens(),
        );
        self.send(
            accounts,
            ix::OpenRefereeGame {
                sequence: state.sequence,
                trace_root,
                output_root,
            },
            &[&challenger.wallet],
        )
        .await
    }

    pub async fn game(&mut self, game: Pubkey) -> RefereeGame {
        self.account(game).await.expect("the game")
    }

    /// `mover` plays `play` in `game`.
    pub async fn play_move(&mut self, game: Pubkey, mover: &Keypair, play: Move) -> TxResult {
        let accounts = accounts::play_referee_move(mover.pubkey(), game);
        self.send(accounts, ix::PlayRefereeMove { play }, &[mover])
            .await
    }

    /// Anyone proves the record the game awaits, from `model`.
    pub async fn prove_record(
        &mut self,
        game: Pubkey,
        record: Vec<u8>,
        proof: Vec<[u8; 32]>,
    ) -> TxResult {
        let state = self.game(game).await;
        let prover = self.challenger.wallet.insecure_clone();
        let accounts = accounts::prove_referee_record(prover.pubkey(), game, state.model);
        self.send(
            accounts,
            ix::ProveRefereeRecord { record, proof },
            &[&prover],
        )
        .await
    }

    /// Anyone proves an operand of the game's step.
    pub async fn prove_operand(&mut self, game: Pubkey, operand: ProvenOperand) -> TxResult {
        let ProvenOperand {
            value,
            element_proof,
            item_proof,
        } = operand;
        let state = self.game(game).await;
        let prover = self.challenger.wallet.insecure_clone();
        let accounts =
            accounts::prove_referee_operand(prover.pubkey(), game, state.model, state.request);
        self.send(
            accounts,
            ix::ProveRefereeOperand {
                value,
                element_proof,
                item_proof,
            },
            &[&prover],
        )
        .await
    }

    /// Anyone claims a missed deadline.
    pub async fn claim_timeout(&mut self, game: Pubkey) -> TxResult {
        let cranker = self.challenger.wallet.insecure_clone();
        let accounts = accounts::claim_referee_timeout(cranker.pubkey(), game);
        self.send(accounts, ix::ClaimRefereeTimeout {}, &[&cranker])
            .await
    }

    /// Anyone settles a decided game (as `sibyl_client::settlement` builds
    /// it, for a request still there or gone).
    pub async fn settle_game(&mut self, game: Pubkey) -> TxResult {
        let state = self.game(game).await;
        let request: Option<sibyl::state::InferenceRequest> = self.account(state.request).await;
        let operator: sibyl::state::Operator =
            self.account(state.operator).await.expect("the operator");
        let cranker = self.challenger.wallet.insecure_clone();
        let settle = sibyl_client::settlement::settle_referee_game(
            cranker.pubkey(),
            game,
            &state,
            request.as_ref(),
            &operator,
            self.tokens(),
        );
        self.send_instructions(settle.instructions, &[&cranker])
            .await
    }

    /// Plays `game` until it is decided, or until nobody moves (a player
    /// stopped, or a record or operand is awaited and `prover` is `None`).
    /// Returns the number of moves and proofs sent.
    pub async fn play_game(
        &mut self,
        game: Pubkey,
        model: &RefereeModel,
        operator: &Player<'_>,
        challenger: &Player<'_>,
        prover: Option<&Party>,
    ) -> usize {
        let mut sent = 0;
        loop {
            let state = self.game(game).await;
            if state.outcome != GameOutcome::Open {
                return sent;
            }
            let before = sent;
            match state.phase {
                GamePhase::Record => {
                    if prover.is_some() {
                        let node =
                            referee::record_node(&model.commitments, &state).expect("a node");
                        let record = model.commitments.records[node].to_bytes();
                        let proof = model.commitments.graph.proof(node as u64);
                        self.prove_record(game, record, proof)
                            .await
                            .expect("the record proves");
                        sent += 1;
                    }
                }
                GamePhase::Operands => {
                    if let Some(party) = prover {
                        let operand =
                            next_operand(model, party, &state).expect("an operand is awaited");
                        self.prove_operand(game, operand)
                            .await
                            .expect("the operand proves");
                        sent += 1;
                    }
                }
                phase => {
                    for (party, player) in [
                        (sibyl::state::Party::Operator, operator),
                        (sibyl::state::Party::Challenger, challenger),
                    ] {
                        if state.owes(party) && player.answers(phase) {
                            let play = next_move(model, player.run, &state);
                            self.play_move(game, &player.wallet, play)
                                .await
                                .unwrap_or_else(|err| panic!("{party:?} {play:?}: {err}"));
                            sent += 1;
                        }
                    }
                }
            }
            if sent == before {
                return sent;
            }
        }
    }
}
