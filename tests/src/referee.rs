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
        ComparisonRule, DType, GameOutcome, GamePhase, GameSubject, Move, RefereeGame,
        RefereeRoots, TensorSpec,
    },
};
use sibyl_client::{accounts, pda};
use sibyl_sdk::{
    encoding::encode,
    referee::{
        commit::Tree,
        graph::{weights_tree, Graph, Node},
        ops::Op,
        record::{graph_tree, NodeRecord, Source},
        step,
        tensor::{IntTensor, IntType},
    },
};
use solana_keypair::Keypair;
use solana_signer::Signer;

/// A referee model: `label = argmax(clip((relu(x·W1 + b1)) / 4, 0, 255) ·
/// W2 + b2)`, x uint8 `[1, 8]`; outputs the logits and the label.
pub struct RefereeModel {
    pub graph: Graph,
    pub records: Vec<NodeRecord>,
    pub roots: RefereeRoots,
    pub weight_trees: Vec<Tree>,
    pub weights_tree: Tree,
    pub graph_tree: Tree,
}

/// A lie planted in a party's run.
#[derive(Clone, Copy, Debug)]
pub enum Lie {
    /// The honest run.
    None,
    /// `delta` added to one element of one node's output, every later node
    /// computed from it (a consistent liar: its result is its trace's).
    Node {
        node: usize,
        element: usize,
        delta: i64,
    },
    /// The honest trace, `delta` added to one element of one committed
    /// output.
    Output {
        output: usize,
        element: usize,
        delta: i64,
    },
    /// The honest trace with junk in its first padding leaf.
    Padding,
}

/// How a liar at a reduction's element claims the running states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceLie {
    /// Honest states until the last term.
    Late,
    /// Its lie from the first term on.
    Early,
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
        let records = graph
            .records(&graph.run(vec![zero]).expect("the model runs"))
            .expect("records");
        let weight_trees = graph.weight_trees();
        let weights = weights_tree(&weight_trees);
        let graph_tree = graph_tree(&records);
        let roots = RefereeRoots {
            graph_root: graph_tree.root(),
            weights_root: weights.root(),
            node_count: graph.nodes.len() as u16,
            weight_count: graph.weights.len() as u16,
            output_nodes: graph.output_nodes().expect("outputs are nodes'"),
        };
        RefereeModel {
            graph,
            records,
            roots,
            weight_trees,
            weights_tree: weights,
            graph_tree,
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
    pub fn run(&self, input: &[u8], lie: Lie, reduce_lie: ReduceLie) -> Run {
        let x = IntTensor::from_tensor(&sibyl_sdk::encoding::decode(input).expect("an input")[0])
            .expect("an integer input");
        let mut values: Vec<Option<IntTensor>> = vec![None; self.graph.names.len()];
        values[self.graph.inputs[0]] = Some(x);
        for (slot, weight) in &self.graph.weights {
            values[*slot] = Some(weight.clone());
        }
        for (index, node) in self.graph.nodes.iter().enumerate() {
            let operands: Vec<Option<&IntTensor>> = node
                .inputs
                .iter()
                .map(|slot| slot.map(|slot| values[slot].as_ref().expect("computed")))
                .collect();
            let mut output = node.op.apply(&operands).expect("the node computes");
            if let Lie::Node {
                node,
                element,
                delta,
            } = lie
            {
                if node == index {
                    output.data[element] = output.dtype.wrap(output.data[element] + delta);
                }
            }
            values[node.outputs[0]] = Some(output);
        }
        let node_trees: Vec<Tree> = self
            .graph
            .nodes
            .iter()
            .map(|node| Tree::of_tensor(values[node.outputs[0]].as_ref().expect("computed")))
            .collect();
        let mut leaves: Vec<[u8; 32]> = node_trees.iter().map(Tree::root).collect();
        if let Lie::Padding = lie {
            leaves.push([9; 32]);
        }
        let trace = Tree::new(leaves);
        let mut outputs: Vec<IntTensor> = self
            .graph
            .outputs
            .iter()
            .map(|&slot| values[slot].clone().expect("computed"))
            .collect();
        if let Lie::Output {
            output,
            element,
            delta,
        } = lie
        {
            let tensor = &mut outputs[output];
            tensor.data[element] = tensor.dtype.wrap(tensor.data[element] + delta);
        }
        let output_trees: Vec<Tree> = outputs.iter().map(Tree::of_tensor).collect();
        let outputs_tree = Tree::new(output_trees.iter().map(Tree::root).collect());
        let result = encode(
            &outputs
                .iter()
                .zip(&self.graph.outputs)
                .map(|(tensor, &slot)| tensor.to_tensor(&self.graph.names[slot]).expect("a tensor"))
                .collect::<Vec<_>>(),
        );
        let delta = match lie {
            Lie::Node { delta, .. } => delta,
            _ => 0,
        };
        Run {
            values,
            node_trees,
            trace,
            output_trees,
            outputs_tree,
            result,
            reduce_lie,
            delta,
        }
    }

    /// The node whose record a game in `Record` phase needs.
    pub fn record_node(&self, game: &RefereeGame) -> usize {
        match game.subject {
            GameSubject::Trace => game.item as usize,
            GameSubject::Outputs => usize::from(self.roots.output_nodes[game.item as usize]),
        }
    }

    fn slot_of(&self, source: Source) -> usize {
        match source {
            Source::Input(index) => self.graph.inputs[usize::from(index)],
            Source::Weight(index) => self.graph.weights[usize::from(index)].0,
            Source::Node(index) => self.graph.nodes[usize::from(index)].outputs[0],
        }
    }
}

/// One party's run: every value, its trees, its committed result.
pub struct Run {
    pub values: Vec<Option<IntTensor>>,
    pub node_trees: Vec<Tree>,
    pub trace: Tree,
    pub output_trees: Vec<Tree>,
    pub outputs_tree: Tree,
    pub result: Vec<u8>,
    reduce_lie: ReduceLie,
    delta: i64,
}

impl Run {
    pub fn trace_root(&self) -> [u8; 32] {
        self.trace.root()
    }

    pub fn output_root(&self) -> [u8; 32] {
        self.outputs_tree.root()
    }

    fn item_tensor(&self, model: &RefereeModel, game: &RefereeGame) -> IntTensor {
        let item = game.item as usize;
        match game.subject {
            GameSubject::Trace => self.values[model.graph.nodes[item].outputs[0]].clone(),
            GameSubject::Outputs => {
                // The committed output (which a lie may have changed).
                let output = sibyl_sdk::encoding::decode(&self.result).expect("a result");
                Some(IntTensor::from_tensor(&output[item]).expect("an integer output"))
            }
        }
        .expect("computed")
    }

    /// This party's move in `game`'s current round.
    pub fn next_move(&self, model: &RefereeModel, game: &RefereeGame) -> Move {
        let item = game.item as usize;
        match game.phase {
            GamePhase::Items => {
                let tree = match game.subject {
                    GameSubject::Trace => &self.trace,
                    GameSubject::Outputs => &self.outputs_tree,
                };
                Move::Children(tree.children(u32::from(game.level), game.index))
            }
            GamePhase::Elements => {
                let tree = match game.subject {
                    GameSubject::Trace => &self.node_trees[item],
                    GameSubject::Outputs => &self.output_trees[item],
                };
                Move::Children(tree.children(u32::from(game.level), game.index))
            }
            GamePhase::Values => {
                Move::Value(self.item_tensor(model, game).data[game.element as usize])
            }
            GamePhase::Reduce => {
                let terms = if game.ends_known { game.mid() } else { game.hi };
                Move::State(self.state(model, game, terms))
            }
            phase => panic!("no move in {phase:?}"),
        }
    }

    /// The running state after `terms` terms of the disputed element.
    fn state(&self, model: &RefereeModel, game: &RefereeGame, terms: u64) -> [i64; 2] {
        let record = &model.records[game.item as usize];
        let all = step::reduction_len(record).expect("a reduction");
        let mut state = step::initial(record);
        for term in 0..terms {
            let operands = self.read(model, record, game.element, term);
            state = step::fold(record, state, term, &operands).expect("a term");
        }
        let lied = self.delta != 0;
        if lied && terms == all {
            // Whatever the path, a liar's last state finishes to its value.
            let value = self.item_tensor(model, game).data[game.element as usize];
            return match record.op {
                Op::ArgMax { .. } => [state[0], value],
                _ => [value, 0],
            };
        }
        if lied && self.reduce_lie == ReduceLie::Early && terms > 0 {
            state[0] = IntType::I32.wrap(state[0] + self.delta);
        }
        state
    }

    fn read(&self, model: &RefereeModel, record: &NodeRecord, element: u64, term: u64) -> Vec<i64> {
        let mut known = Vec::new();
        loop {
            let positions = step::positions(record, element, term, &known).expect("positions");
            let Some(position) = positions.get(known.len()) else {
                return known;
            };
            let source = record.operand(position.slot).expect("an operand").source;
            let slot = model.slot_of(source);
            known.push(self.values[slot].as_ref().expect("computed").data[position.index as usize]);
        }
    }

    /// The next operand of `game`'s step with its proofs, from this run (a
    /// node's output is proven against this run's own trace root).
    pub fn next_operand(
        &self,
        model: &RefereeModel,
        game: &RefereeGame,
    ) -> Option<(i64, Vec<[u8; 32]>, Vec<[u8; 32]>)> {
        let (source, index) = match game.subject {
            GameSubject::Outputs => {
                if !game.operands.is_empty() {
                    return None;
                }
                let node = model.roots.output_nodes[game.item as usize];
                (Source::Node(node), game.element)
            }
            GameSubject::Trace => {
                let record = &model.records[game.item as usize];
                let term = if game.ends_known { game.lo } else { 0 };
                let positions = step::positions(record, game.element, term, &game.operands).ok()?;
                let position = positions.get(game.operands.len())?;
                (
                    record.operand(position.slot).expect("an operand").source,
                    position.index,
                )
            }
        };
        let value = self.values[model.slot_of(source)]
            .as_ref()
            .expect("computed")
            .data[index as usize];
        Some(match source {
            Source::Input(_) => (0, vec![], vec![]),
            Source::Weight(weight) => (
                value,
                model.weight_trees[usize::from(weight)].proof(index),
                model.weights_tree.proof(u64::from(weight)),
            ),
            Source::Node(node) => (
                value,
                self.node_trees[usize::from(node)].proof(index),
                self.trace.proof(u64::from(node)),
            ),
        })
    }
}

/// A party at the table: its run, its key, and the phase at which it stops
/// answering (never, if `None`).
pub struct Player<'a> {
    pub run: &'a Run,
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
    pub async fn commit_run(&mut self, index: usize, request: Pubkey, run: &Run) -> TxResult {
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
    pub async fn prove_operand(
        &mut self,
        game: Pubkey,
        value: i64,
        element_proof: Vec<[u8; 32]>,
        item_proof: Vec<[u8; 32]>,
    ) -> TxResult {
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

    /// Anyone settles a decided game.
    pub async fn settle_game(&mut self, game: Pubkey) -> TxResult {
        let state = self.game(game).await;
        // A request another game closed needs no refund account.
        let parties = match self
            .account::<sibyl::state::InferenceRequest>(state.request)
            .await
        {
            Some(request) => accounts::RequestParties::of(state.request, &request),
            None => accounts::RequestParties {
                request: state.request,
                requester: self.requester.key(),
                model: state.model,
                operator: state.operator,
                dispute: Pubkey::default(),
                refund_token: self.requester.token,
            },
        };
        let operator: sibyl::state::Operator =
            self.account(state.operator).await.expect("the operator");
        let model = self.model_account(state.model).await;
        let payees = accounts::Payees::recorded(&operator, &model);
        let cranker = self.challenger.wallet.insecure_clone();
        let accounts = accounts::settle_referee_game(
            cranker.pubkey(),
            game,
            &state,
            parties,
            payees,
            self.tokens(),
        );
        self.send(accounts, ix::SettleRefereeGame {}, &[&cranker])
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
        prover: Option<&Run>,
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
                        let node = model.record_node(&state);
                        let record = model.records[node].to_bytes();
                        let proof = model.graph_tree.proof(node as u64);
                        self.prove_record(game, record, proof)
                            .await
                            .expect("the record proves");
                        sent += 1;
                    }
                }
                GamePhase::Operands => {
                    if let Some(run) = prover {
                        let (value, element, item) = run
                            .next_operand(model, &state)
                            .expect("an operand is awaited");
                        self.prove_operand(game, value, element, item)
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
                            let play = player.run.next_move(model, &state);
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
