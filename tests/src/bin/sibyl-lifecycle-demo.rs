//! `make demo` (for now): runs Sibyl's request lifecycle once in the real
//! Agave runtime, as a native program, and prints every step: a request
//! finalized after its challenge window, and a wrong result challenged,
//! voted down and overturned. Exits non-zero if anything ends unexpectedly.
use sibyl::{
    events::*,
    state::{DisputeOutcome, RequestStatus, VoteSide},
};
use sibyl_client::pda;
use sibyl_tests::{env::MODEL_PRICE, output, TestEnv};
use std::process::ExitCode;

fn tokens(base_units: u64) -> String {
    format!("{}.{:06}", base_units / 1_000_000, base_units % 1_000_000)
}

fn short(key: &anchor_lang::prelude::Pubkey) -> String {
    let text = key.to_string();
    format!("{}…{}", &text[..4], &text[text.len() - 4..])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

struct Party {
    name: &'static str,
    token: anchor_lang::prelude::Pubkey,
}

async fn balances(env: &mut TestEnv, parties: &[Party]) -> Vec<u64> {
    let mut out = Vec::new();
    for party in parties {
        out.push(env.token_balance(party.token).await);
    }
    out
}

async fn run() -> Result<(), String> {
    println!("Sibyl lifecycle demo: the program runs natively inside the Agave 4.2 runtime");
    println!("(solana-program-test bank; SPL Token is its real SBF binary)\n");
    let mut env = TestEnv::new().await;
    let parties: Vec<Party> = [
        ("requester", env.requester.token),
        ("operator A (honest)", env.operators[0].token),
        ("operator B (faulty)", env.operators[1].token),
        ("verifier C", env.operators[2].token),
        ("verifier D", env.operators[3].token),
        ("challenger", env.challenger.token),
        ("publisher", env.publisher.token),
        ("treasury", env.treasury.token),
        ("stake vault", pda::stake_vault()),
        ("bond vault", pda::bond_vault()),
    ]
    .into_iter()
    .map(|(name, token)| Party { name, token })
    .collect();
    let before = balances(&mut env, &parties).await;
    let p = env.params;
    println!(
        "set-up  config initialized (fee {} bps, window {} slots, bond {}, slash {} bps), model {} registered at {} per request, 4 operators staked",
        p.protocol_fee_bps,
        p.challenge_window_slots,
        tokens(p.challenge_bond),
        p.slash_bps,
        short(&env.model()),
        tokens(MODEL_PRICE)
    );

    println!("\n== Request 1: an honest result becomes final ==");
    let input: Vec<u8> = (0..64u8).collect();
    let request = env.request(&input).await;
    let state = env.request_account(request).await;
    println!(
        "slot {:>4}  requested   {} (fee {} escrowed, deadline slot {})",
        env.slot().await,
        short(&request),
        tokens(state.fee),
        state.deadline_slot
    );
    let events = env
        .commit(0, request, &output(b"digit=3"))
        .await
        .map_err(|e| e.to_string())?;
    let committed = events.one::<ResultCommitted>();
    println!(
        "slot {:>4}  committed   by operator A, output hash {}…, challenge window until slot {}",
        env.slot().await,
        hex(&committed.output_hash),
        committed.challenge_deadline_slot
    );
    for _ in 0..3 {
        env.warp_slots(p.challenge_window_slots / 3).await;
        let slot = env.slot().await;
        println!(
            "slot {:>4}  window      {} slots left",
            slot,
            committed.challenge_deadline_slot.saturating_sub(slot)
        );
    }
    env.warp_slots(p.challenge_window_slots / 3 + 2).await;
    let events = env.finalize(request).await.map_err(|e| e.to_string())?;
    let finalized = events.one::<RequestFinalized>();
    println!(
        "slot {:>4}  finalized   operator {} + publisher {} + treasury {} = fee {}",
        env.slot().await,
        tokens(finalized.payee_amount),
        tokens(finalized.royalty),
        tokens(finalized.protocol_fee),
        tokens(finalized.payee_amount + finalized.royalty + finalized.protocol_fee)
    );
    let state = env.request_account(request).await;
    if state.status != RequestStatus::Finalized || state.output != output(b"digit=3") {
        return Err(format!("request 1 ended as {:?}", state.status));
    }

    println!("\n== Request 2: a wrong result is challenged and overturned ==");
    let request = env.request(&input).await;
    println!(
        "slot {:>4}  requested   {}",
        env.slot().await,
        short(&request)
    );
    env.commit(1, request, &output(b"digit=8"))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "slot {:>4}  committed   by operator B (wrong: digit=8)",
        env.slot().await
    );
    let events = env
        .challenge(request, &output(b"digit=3"))
        .await
        .map_err(|e| e.to_string())?;
    let challenged = events.one::<ResultChallenged>();
    println!(
        "slot {:>4}  challenged  bond {} posted, votes until slot {}",
        env.slot().await,
        tokens(challenged.bond),
        challenged.vote_deadline_slot
    );
    for (index, name) in [(2, "C"), (3, "D")] {
        let events = env
            .vote(index, request, VoteSide::Challenger)
            .await
            .map_err(|e| e.to_string())?;
        let vote = events.one::<VoteCast>();
        println!(
            "slot {:>4}  vote        verifier {name} re-executed: challenger is right (stake {})",
            env.slot().await,
            tokens(vote.weight)
        );
    }
    let events = env.resolve(request).await.map_err(|e| e.to_string())?;
    let resolved = events.one::<DisputeResolved>();
    let slashed = events.one::<OperatorSlashed>();
    println!(
        "slot {:>4}  resolved    {:?}: operator B slashed {}, requester gets the corrected output",
        env.slot().await,
        resolved.outcome,
        tokens(slashed.amount)
    );
    for (index, name) in [(2, "C"), (3, "D")] {
        let events = env
            .claim_vote(index, request)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "slot {:>4}  claimed     verifier {name} reward {}",
            env.slot().await,
            tokens(events.one::<VoteClaimed>().reward)
        );
    }
    let state = env.request_account(request).await;
    if resolved.outcome != DisputeOutcome::ChallengerUpheld
        || state.status != RequestStatus::Overturned
        || state.output != output(b"digit=3")
    {
        return Err(format!("request 2 ended as {:?}", state.status));
    }

    println!("\n== Balances (payment token) ==");
    let after = balances(&mut env, &parties).await;
    println!(
        "{:<22}{:>16}{:>16}{:>16}",
        "party", "before", "after", "change"
    );
    for ((party, b), a) in parties.iter().zip(&before).zip(&after) {
        let change = if a >= b {
            format!("+{}", tokens(a - b))
        } else {
            format!("-{}", tokens(b - a))
        };
        println!(
            "{:<22}{:>16}{:>16}{:>16}",
            party.name,
            tokens(*b),
            tokens(*a),
            change
        );
    }
    let (sum_before, sum_after): (u64, u64) = (before.iter().sum(), after.iter().sum());
    println!(
        "{:<22}{:>16}{:>16}",
        "total",
        tokens(sum_before),
        tokens(sum_after)
    );
    if sum_before != sum_after {
        return Err("tokens were not conserved".into());
    }
    env.assert_tokens_conserved().await;
    println!("\nevery request ended as expected; tokens conserved to the base unit");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // The runtime logs every instruction at debug level; the demo prints its own story.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo failed: {message}");
            ExitCode::FAILURE
        }
    }
}
