//! The referee game: disputes on an integer model decided by bisection and
//! one step on chain, with no vote. Every outcome (a lying operator, a
//! lying challenger, a party that stops answering, a decoy) with exact
//! balances, and every rule broken once with its named error.
use anchor_lang::prelude::Pubkey;
use sibyl::{
    errors::SibylError,
    events::{RefereeGameDecided, RefereeGameSettled},
    state::{GameOutcome, GamePhase, GameSubject, Move, RefereeGame},
};
use sibyl_sdk::{
    constants::REFEREE_MOVE_SLOTS,
    referee::{Lie, Party, ProvenOperand},
};
use sibyl_tests::{
    assert_sibyl_error,
    referee::{next_move, next_operand, Player, RefereeModel},
    Actor, TestEnv,
};

const MODEL_HASH: [u8; 32] = [0x5e; 32];

/// An environment with the referee model registered and one request on it.
async fn table() -> (TestEnv, RefereeModel, Pubkey, Vec<u8>) {
    let mut env = TestEnv::new().await;
    let model = RefereeModel::mlp();
    let account = env.register_referee_model(&model, MODEL_HASH).await;
    let input = RefereeModel::input(3);
    let request = env.request_model(account, &input).await;
    (env, model, request, input)
}

/// A consistent liar: `delta` added to element `element` of node `node`,
/// every later node computed from it.
fn liar(model: &RefereeModel, input: &[u8], node: usize, element: usize, delta: i64) -> Party {
    model.run(
        input,
        Some(Lie::Node {
            node,
            element,
            delta,
            early: false,
        }),
    )
}

fn player<'a>(run: &'a Party, actor: &Actor) -> Player<'a> {
    Player {
        run,
        wallet: actor.wallet.insecure_clone(),
        stops_at: None,
    }
}

/// Operator 0 commits `operator`'s run; the default challenger opens a
/// game with `challenger`'s roots. Returns the game's address.
async fn open(env: &mut TestEnv, request: Pubkey, operator: &Party, challenger: &Party) -> Pubkey {
    env.commit_run(0, request, operator).await.expect("commit");
    let actor = env.challenger.clone();
    env.open_game(
        &actor,
        request,
        challenger.trace_root(),
        challenger.output_root(),
    )
    .await
    .expect("open the game");
    env.game_address(request, &actor.key()).await
}

/// Plays `game` to its end with both parties answering and `prover`
/// proving the step; returns the decided game.
async fn play_out(
    env: &mut TestEnv,
    game: Pubkey,
    model: &RefereeModel,
    operator: &Party,
    challenger: &Party,
    prover: &Party,
) -> (RefereeGame, usize) {
    let (op, ch) = (env.operators[0].clone(), env.challenger.clone());
    let sent = env
        .play_game(
            game,
            model,
            &player(operator, &op),
            &player(challenger, &ch),
            Some(prover),
        )
        .await;
    (env.game(game).await, sent)
}

/// Balances a settlement moves: the challenger's and operator 0's payout
/// accounts, the requester's, and operator 0's stake.
async fn balances(env: &mut TestEnv) -> [u64; 4] {
    let (challenger, operator, requester) = (
        env.challenger.token,
        env.operators[0].token,
        env.requester.token,
    );
    [
        env.token_balance(challenger).await,
        env.token_balance(operator).await,
        env.token_balance(requester).await,
        env.operator_account(0).await.stake,
    ]
}

#[tokio::test]
async fn an_operator_that_lies_in_its_trace_loses_by_bisection_with_no_vote() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    // A consistent liar: one element of the Div node changed, every later
    // node computed from it, its result its trace's.
    let liar = liar(&model, &input, 3, 2, 1);
    assert_ne!(liar.result, honest.result, "the lie reaches the result");
    let before = balances(&mut env).await;
    let game = open(&mut env, request, &liar, &honest).await;
    let opened = env.game(game).await;
    assert_eq!(
        (opened.subject, opened.phase),
        (GameSubject::Trace, GamePhase::Items)
    );
    let (decided, sent) = play_out(&mut env, game, &model, &liar, &honest, &honest).await;
    assert_eq!(decided.outcome, GameOutcome::OperatorLost);
    // Node 3 found (4 rounds over 9 nodes), its element 2 (2 rounds over 4),
    // the values opened, then the step's operands (a Div reads two).
    assert_eq!((decided.item, decided.element), (3, 2));
    assert_eq!(sent, 2 * (4 + 2 + 1) + 1 + 2);

    let slash = env.operator_account(0).await.stake * env.params.slash_bps as u64 / 10_000;
    let fee_vault = sibyl_client::pda::fee_vault(&env.request_account(request).await.model);
    let vault_before = env.token_balance(fee_vault).await;
    let events = env.settle_game(game).await.expect("settle");
    let settled = &events.all::<RefereeGameSettled>()[0];
    assert!(settled.commitment_rejected && settled.bond_returned && !settled.moot);
    assert_eq!((settled.slashed, settled.reward), (slash, slash / 2));
    let after = balances(&mut env).await;
    // The challenger: its bond back and half the slash, the protocol the
    // other half. The requester: its fee back. The operator: the slash
    // gone, no fee.
    assert_eq!(after[0], before[0] + slash / 2);
    assert_eq!(
        env.token_balance(fee_vault).await,
        vault_before + slash - slash / 2
    );
    assert_eq!(after[1], before[1]);
    assert_eq!(after[2], before[2] + sibyl_tests::env::MODEL_PRICE);
    assert_eq!(after[3], before[3] - slash);
    assert!(!env.exists(request).await, "the request is closed");
    assert!(!env.exists(game).await, "the game is closed");
    assert_eq!(env.operator_account(0).await.open_commitments, 0);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_lie_inside_a_sum_is_bisected_to_one_term() {
    for early in [false, true] {
        let (mut env, model, request, input) = table().await;
        let honest = model.run(&input, None);
        // Element 1 of the first MatMulInteger: a sum over K = 8 terms.
        let liar = model.run(
            &input,
            Some(Lie::Node {
                node: 0,
                element: 1,
                delta: 5,
                early,
            }),
        );
        let game = open(&mut env, request, &liar, &honest).await;
        let (decided, _) = play_out(&mut env, game, &model, &liar, &honest, &honest).await;
        assert_eq!(decided.outcome, GameOutcome::OperatorLost, "early: {early}");
        // A late lie is found at the last term, an early one at the first.
        let term = if early { 0 } else { 7 };
        assert_eq!((decided.lo, decided.hi), (term, term + 1), "early: {early}");
        env.settle_game(game).await.expect("settle");
        env.assert_tokens_conserved().await;
    }
}

#[tokio::test]
async fn a_lie_in_the_last_node_is_found_there() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    // The ArgMax's label: a scan over the three logits.
    let liar = liar(&model, &input, 8, 0, 1);
    let game = open(&mut env, request, &liar, &honest).await;
    let (decided, _) = play_out(&mut env, game, &model, &liar, &honest, &honest).await;
    assert_eq!(
        (decided.outcome, decided.item),
        (GameOutcome::OperatorLost, 8)
    );
}

#[tokio::test]
async fn an_operator_whose_result_is_not_its_trace_loses_on_the_outputs() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    // The honest trace, committed beside another result.
    let liar = model.run(
        &input,
        Some(Lie::Output {
            output: 0,
            element: 1,
            delta: 1,
        }),
    );
    assert_eq!(liar.trace_root(), honest.trace_root());
    let game = open(&mut env, request, &liar, &honest).await;
    assert_eq!(env.game(game).await.subject, GameSubject::Outputs);
    let (decided, _) = play_out(&mut env, game, &model, &liar, &honest, &honest).await;
    assert_eq!(
        (decided.outcome, decided.item, decided.element),
        (GameOutcome::OperatorLost, 0, 1)
    );
    env.settle_game(game).await.expect("settle");
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_lying_challenger_loses_its_bond_to_the_operator_and_the_result_finalizes() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    let liar = liar(&model, &input, 5, 0, 1);
    let before = balances(&mut env).await;
    let game = open(&mut env, request, &honest, &liar).await;
    let (decided, _) = play_out(&mut env, game, &model, &honest, &liar, &honest).await;
    assert_eq!(decided.outcome, GameOutcome::ChallengerLost);
    // The result cannot finalize while the game is open ...
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    assert_sibyl_error(env.finalize(request).await, SibylError::RefereeGamesOpen);
    // ... and does once it is settled.
    let events = env.settle_game(game).await.expect("settle");
    let settled = &events.all::<RefereeGameSettled>()[0];
    assert!(!settled.commitment_rejected && settled.slashed == 0);
    env.finalize(request).await.expect("finalize");
    let after = balances(&mut env).await;
    let bond = env.params.challenge_bond;
    assert_eq!(after[0], before[0] - bond);
    assert!(after[1] > before[1] + bond, "the bond and the fee");
    assert_eq!(after[3], before[3], "no slash");
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn junk_past_the_last_node_loses_without_a_step() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    let junk = model.run(&input, Some(Lie::Padding));
    let game = open(&mut env, request, &honest, &junk).await;
    let (decided, sent) = play_out(&mut env, game, &model, &honest, &junk, &honest).await;
    assert_eq!(
        (decided.outcome, decided.item),
        (GameOutcome::ChallengerLost, 9)
    );
    assert_eq!(
        sent,
        2 * 4,
        "four rounds over the nodes, no record, no step"
    );
}

#[tokio::test]
async fn a_party_that_stops_answering_loses_on_its_deadline() {
    // (who stops, where, and who loses)
    let cases = [
        (true, Some(GamePhase::Elements), GameOutcome::OperatorLost),
        (false, Some(GamePhase::Items), GameOutcome::ChallengerLost),
        (false, Some(GamePhase::Reduce), GameOutcome::ChallengerLost),
        // Nobody proves the step: the challenger, who opened, bears it.
        (false, None, GameOutcome::ChallengerLost),
    ];
    for (operator_stops, phase, loser) in cases {
        let (mut env, model, request, input) = table().await;
        let honest = model.run(&input, None);
        let liar = liar(&model, &input, 0, 0, 3);
        let (operator_run, challenger_run) = if operator_stops {
            (&liar, &honest)
        } else {
            (&honest, &liar)
        };
        let game = open(&mut env, request, operator_run, challenger_run).await;
        let (op, ch) = (env.operators[0].clone(), env.challenger.clone());
        let mut operator = player(operator_run, &op);
        let mut challenger = player(challenger_run, &ch);
        if operator_stops {
            operator.stops_at = phase;
        } else {
            challenger.stops_at = phase;
        }
        // Where a party stops, the step is proven up to it; with nobody
        // stopping, nobody proves it.
        let prover = phase.map(|_| &honest);
        env.play_game(game, &model, &operator, &challenger, prover)
            .await;
        let stalled = env.game(game).await;
        assert_eq!(stalled.outcome, GameOutcome::Open);
        assert_sibyl_error(
            env.claim_timeout(game).await,
            SibylError::RefereeDeadlineNotPassed,
        );
        env.warp_slots(REFEREE_MOVE_SLOTS + 1).await;
        if stalled.owes(sibyl::state::Party::Operator) {
            // Too late to answer now.
            let play = next_move(&model, operator_run, &stalled);
            assert_sibyl_error(
                env.play_move(game, &op.wallet, play).await,
                SibylError::RefereeMoveLate,
            );
        }
        let events = env.claim_timeout(game).await.expect("timeout");
        let decided = &events.all::<RefereeGameDecided>()[0];
        assert!(decided.timed_out);
        assert_eq!(decided.outcome, loser, "{phase:?}");
        env.settle_game(game).await.expect("settle");
        env.assert_tokens_conserved().await;
    }
}

#[tokio::test]
async fn both_stopping_answering_rejects_the_commitment_and_pays_nobody() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    let liar = model.run(&input, Some(Lie::Padding));
    let game = open(&mut env, request, &honest, &liar).await;
    let fee_vault = sibyl_client::pda::fee_vault(&env.request_account(request).await.model);
    let vault_before = env.token_balance(fee_vault).await;
    let challenger_before = env.token_balance(env.challenger.token).await;
    env.warp_slots(REFEREE_MOVE_SLOTS + 1).await;
    let events = env.claim_timeout(game).await.expect("timeout");
    assert_eq!(
        events.all::<RefereeGameDecided>()[0].outcome,
        GameOutcome::BothLost
    );
    let slash = env.operator_account(0).await.stake * env.params.slash_bps as u64 / 10_000;
    env.settle_game(game).await.expect("settle");
    // The slash and the bond go to the protocol; the requester is refunded.
    assert_eq!(
        env.token_balance(fee_vault).await,
        vault_before + slash + env.params.challenge_bond
    );
    assert_eq!(
        env.token_balance(env.challenger.token).await,
        challenger_before
    );
    assert!(!env.exists(request).await);
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn a_decoy_that_loses_on_purpose_cannot_shield_a_wrong_commitment() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    let lying = liar(&model, &input, 6, 0, 9);
    // The operator's accomplice opens first, with a trace that lies before
    // the operator's lie: a game it loses without the lie being examined.
    let decoy = liar(&model, &input, 2, 0, 9);
    let decoy_game = open(&mut env, request, &lying, &decoy).await;
    let (decided, _) = play_out(&mut env, decoy_game, &model, &lying, &decoy, &lying).await;
    assert_eq!(decided.outcome, GameOutcome::ChallengerLost);
    // An honest watcher opens its own game inside the window and wins it.
    let watcher = env.operators[1].clone();
    env.open_game(&watcher, request, honest.trace_root(), honest.output_root())
        .await
        .expect("a second game");
    let game = env.game_address(request, &watcher.key()).await;
    assert_eq!(env.request_account(request).await.open_games, 2);
    let op = env.operators[0].clone();
    env.play_game(
        game,
        &model,
        &player(&lying, &op),
        &player(&honest, &watcher),
        Some(&honest),
    )
    .await;
    assert_eq!(env.game(game).await.outcome, GameOutcome::OperatorLost);
    // The winner settles first: the commitment is rejected; the decoy's
    // game is then moot (its bond returned: it has nothing to decide).
    let nonce = env.request_account(request).await.nonce;
    env.settle_game(game)
        .await
        .expect("settle the watcher's game");
    // The address is used again at once, for the default model, whose
    // first request has the same sequence: not the game's instance.
    let again = env
        .request_at_nonce(nonce, b"in", sibyl_tests::env::MODEL_PRICE, None)
        .await
        .expect("the address again");
    assert_eq!(again, request);
    assert_eq!(env.request_account(again).await.sequence, 1);
    env.commit(1, again, &sibyl_tests::output(b"out"))
        .await
        .expect("commit");
    let decoy_before = env.token_balance(env.challenger.token).await;
    let events = env
        .settle_game(decoy_game)
        .await
        .expect("settle the decoy's game");
    assert!(events.all::<RefereeGameSettled>()[0].moot);
    assert_eq!(
        env.token_balance(env.challenger.token).await,
        decoy_before + env.params.challenge_bond
    );
    // The newer request is untouched.
    let again = env.request_account(again).await;
    assert_eq!(
        (again.status, again.open_games),
        (sibyl::state::RequestStatus::Committed, 0)
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn referee_models_are_registered_committed_and_disputed_by_their_rules() {
    let mut env = TestEnv::new().await;
    let model = RefereeModel::mlp();
    // Registration: Exact, whole integer outputs of fixed shapes, one node
    // per output.
    let mut tolerance = model.args([1; 32]);
    tolerance.outputs[0].dtype = sibyl::state::DType::Float32;
    tolerance.comparison = sibyl::state::ComparisonRule::Tolerance {
        abs: 0.001,
        rel: 0.0,
    };
    let mut dynamic = model.args([2; 32]);
    dynamic.inputs[0].shape = vec![-1, 8];
    let mut outputs = model.args([3; 32]);
    outputs.referee.as_mut().unwrap().output_nodes = vec![7];
    let mut nodes = model.args([4; 32]);
    nodes.referee.as_mut().unwrap().output_nodes = vec![7, 9];
    for args in [tolerance, dynamic, outputs, nodes] {
        assert_sibyl_error(
            env.register_model(args).await,
            SibylError::InvalidRefereeModel,
        );
    }
    let account = env.register_referee_model(&model, MODEL_HASH).await;
    // Inputs go on chain.
    let nonce = env.next_nonce();
    let accounts = env.request_accounts(&env.requester.clone(), account, nonce);
    let requester = env.requester.wallet.insecure_clone();
    let by_reference = sibyl::instructions::RequestInferenceArgs {
        nonce,
        fee: sibyl_tests::env::MODEL_PRICE,
        input_len: 64,
        input: vec![],
        input_reference: Some(sibyl::instructions::InputReference {
            sha256: [5; 32],
            uri: "https://example.com/x".into(),
        }),
        callback: None,
        max_challenge_window_slots: None,
    };
    assert_sibyl_error(
        env.send_request(accounts, by_reference, &requester).await,
        SibylError::RefereeInputByReference,
    );
    // No result is committed for an input the model cannot take.
    let misfit_input = sibyl::encoding::encode(&[sibyl::encoding::Tensor::new(
        "x",
        sibyl::state::DType::Uint8,
        vec![1, 7],
        vec![0; 7],
    )
    .unwrap()]);
    let misfit = env.request_model(account, &misfit_input).await;
    assert_sibyl_error(
        env.commit_run(0, misfit, &model.run(&RefereeModel::input(3), None))
            .await,
        SibylError::RefereeInputMisfit,
    );
    // A commitment carries the trace root, and only a referee model's does.
    let input = RefereeModel::input(3);
    let request = env.request_model(account, &input).await;
    let honest = model.run(&input, None);
    assert_sibyl_error(
        env.commit(0, request, &honest.result).await,
        SibylError::RefereeTraceRootMissing,
    );
    let plain = env.request(b"in").await;
    assert_sibyl_error(
        env.commit_run(0, plain, &honest).await,
        SibylError::RefereeTraceRootUnexpected,
    );
    env.commit_run(0, request, &honest).await.expect("commit");
    // Disputes go to the referee, never to a vote.
    assert_sibyl_error(
        env.challenge(request, &honest.result).await,
        SibylError::RefereeModelUsesGame,
    );
    env.commit(1, plain, &sibyl_tests::output(b"out"))
        .await
        .expect("commit");
    let challenger = env.challenger.clone();
    assert_sibyl_error(
        env.open_game(&challenger, plain, [1; 32], [1; 32]).await,
        SibylError::NotRefereeModel,
    );
    // A game disputes something.
    assert_sibyl_error(
        env.open_game(
            &challenger,
            request,
            honest.trace_root(),
            honest.output_root(),
        )
        .await,
        SibylError::RefereeNothingDisputed,
    );
    let operator = env.operators[0].clone();
    assert_sibyl_error(
        env.open_game(&operator, request, [1; 32], [1; 32]).await,
        SibylError::SelfChallenge,
    );
    env.open_game(&challenger, request, [1; 32], honest.output_root())
        .await
        .expect("open");
    // One game per challenger.
    assert!(env
        .open_game(&challenger, request, [2; 32], honest.output_root())
        .await
        .is_err());
    env.warp_slots(env.params.challenge_window_slots + 1).await;
    let late = env.operators[2].clone();
    assert_sibyl_error(
        env.open_game(&late, request, [1; 32], [1; 32]).await,
        SibylError::ChallengeWindowClosed,
    );
    env.assert_tokens_conserved().await;
}

#[tokio::test]
async fn every_move_and_proof_is_checked_against_its_commitment() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    let liar = liar(&model, &input, 3, 2, 1);
    let game = open(&mut env, request, &liar, &honest).await;
    let state = env.game(game).await;
    let (op, ch) = (env.operators[0].clone(), env.challenger.clone());
    // Only the parties move.
    let stranger = env.operators[2].clone();
    let play = next_move(&model, &honest, &state);
    assert_sibyl_error(
        env.play_move(game, &stranger.wallet, play).await,
        SibylError::NotGameParty,
    );
    // Children that do not hash to the mover's node.
    assert_sibyl_error(
        env.play_move(game, &ch.wallet, Move::Children([[1; 32], [2; 32]]))
            .await,
        SibylError::RefereeRevealMismatch,
    );
    // The other party's children are not the mover's.
    assert_sibyl_error(
        env.play_move(game, &op.wallet, play).await,
        SibylError::RefereeRevealMismatch,
    );
    assert_sibyl_error(
        env.play_move(game, &ch.wallet, Move::Value(1)).await,
        SibylError::RefereeWrongMove,
    );
    env.play_move(game, &ch.wallet, play).await.expect("a move");
    assert_sibyl_error(
        env.play_move(game, &ch.wallet, play).await,
        SibylError::RefereeWrongMove,
    );
    // Settling waits for a decision.
    assert_sibyl_error(
        env.settle_game(game).await,
        SibylError::RefereeGameUndecided,
    );
    // Play on to the record.
    let operator = Player {
        stops_at: Some(GamePhase::Values),
        ..player(&liar, &op)
    };
    let challenger = Player {
        stops_at: Some(GamePhase::Values),
        ..player(&honest, &ch)
    };
    env.play_game(game, &model, &operator, &challenger, None)
        .await;
    let state = env.game(game).await;
    assert_eq!(state.phase, GamePhase::Record);
    // A record that is not the node's, or not proven.
    let wrong = model.commitments.records[2].to_bytes();
    assert_sibyl_error(
        env.prove_record(game, wrong, model.commitments.graph.proof(2))
            .await,
        SibylError::RefereeProofInvalid,
    );
    let record = model.commitments.records[3].to_bytes();
    assert_sibyl_error(
        env.prove_record(game, record.clone(), vec![]).await,
        SibylError::RefereeProofInvalid,
    );
    env.prove_record(game, record, model.commitments.graph.proof(3))
        .await
        .expect("the record");
    env.play_game(game, &model, &operator, &challenger, None)
        .await;
    let state = env.game(game).await;
    assert_eq!(state.phase, GamePhase::Values);
    // A value is its leaf's, in its type's range: 2^32 + v hashes as v.
    let value = match next_move(&model, &honest, &state) {
        Move::Value(value) => value,
        other => panic!("{other:?}"),
    };
    assert_sibyl_error(
        env.play_move(game, &ch.wallet, Move::Value(value + (1 << 32)))
            .await,
        SibylError::RefereeRevealMismatch,
    );
    assert_sibyl_error(
        env.play_move(game, &ch.wallet, Move::Value(value + 1))
            .await,
        SibylError::RefereeRevealMismatch,
    );
    let (op_play, ch_play) = (
        next_move(&model, &liar, &state),
        next_move(&model, &honest, &state),
    );
    env.play_move(game, &ch.wallet, ch_play)
        .await
        .expect("value");
    env.play_move(game, &op.wallet, op_play)
        .await
        .expect("value");
    let state = env.game(game).await;
    assert_eq!(state.phase, GamePhase::Operands);
    // An operand is proven: a value its proof does not hash to is refused.
    let operand = next_operand(&model, &honest, &state).expect("an operand");
    let off_by_one = ProvenOperand {
        value: operand.value + 1,
        ..operand.clone()
    };
    assert_sibyl_error(
        env.prove_operand(game, off_by_one).await,
        SibylError::RefereeProofInvalid,
    );
    let unproven = ProvenOperand {
        element_proof: vec![],
        ..operand.clone()
    };
    assert_sibyl_error(
        env.prove_operand(game, unproven).await,
        SibylError::RefereeProofInvalid,
    );
    env.prove_operand(game, operand).await.expect("the operand");
    let divisor = next_operand(&model, &honest, &env.game(game).await).expect("the divisor");
    env.prove_operand(game, divisor).await.expect("the divisor");
    assert_eq!(env.game(game).await.outcome, GameOutcome::OperatorLost);
    assert_sibyl_error(
        env.claim_timeout(game).await,
        SibylError::RefereeGameDecided,
    );
}

#[tokio::test]
async fn operands_left_unproven_cost_the_challenger_and_each_proof_restarts_the_clock() {
    let (mut env, model, request, input) = table().await;
    let honest = model.run(&input, None);
    let liar = liar(&model, &input, 3, 2, 1);
    let game = open(&mut env, request, &liar, &honest).await;
    let (op, ch) = (env.operators[0].clone(), env.challenger.clone());
    let stop = |run, actor| Player {
        stops_at: Some(GamePhase::Values),
        ..player(run, actor)
    };
    // Played to the values (the record proven), both open them; then the
    // operands: one proof lands late in its clock, restarting it; then
    // nobody proves the last.
    let (operator, challenger) = (stop(&liar, &op), stop(&honest, &ch));
    env.play_game(game, &model, &operator, &challenger, Some(&honest))
        .await;
    let state = env.game(game).await;
    assert_eq!(state.phase, GamePhase::Values);
    for (run, actor) in [(&liar, &op), (&honest, &ch)] {
        let play = next_move(&model, run, &state);
        env.play_move(game, &actor.wallet, play)
            .await
            .expect("a value");
    }
    let state = env.game(game).await;
    assert_eq!(state.phase, GamePhase::Operands);
    env.warp_slots(REFEREE_MOVE_SLOTS - 5).await;
    let first = next_operand(&model, &honest, &state).expect("the dividend");
    env.prove_operand(game, first).await.expect("in time");
    let restarted = env.game(game).await;
    assert!(restarted.deadline_slot > state.deadline_slot);
    env.warp_slots(REFEREE_MOVE_SLOTS - 5).await;
    assert_sibyl_error(
        env.claim_timeout(game).await,
        SibylError::RefereeDeadlineNotPassed,
    );
    env.warp_slots(10).await;
    let events = env.claim_timeout(game).await.expect("timeout");
    assert_eq!(
        events.all::<RefereeGameDecided>()[0].outcome,
        GameOutcome::ChallengerLost
    );
    env.settle_game(game).await.expect("settle");
    env.assert_tokens_conserved().await;
}
