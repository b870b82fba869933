//! `sibyl-demo --serve`: the demo's cluster and nodes kept running for the
//! web app, until Ctrl-C or SIGTERM.
use crate::parties::Parties;
use anchor_lang::prelude::Pubkey;
use anyhow::{Context, Result};
use sibyl_client::pda;
use sibyl_localnet::Localnet;
use sibyl_oracle::actions::migrate::PlannedModel;

/// What `--fund` and `--airdrop` give each wallet in SOL (100 SOL).
pub const AIRDROP_LAMPORTS: u64 = 100_000_000_000;

/// The model at `file` (under the repository), at the app's price, every
/// other choice the default.
fn planned(file: &str) -> PlannedModel {
    PlannedModel {
        name: file.into(),
        file: file.into(),
        uri: format!("file://{file}"),
        price: "0.002".into(),
        royalty_bps: 1_000,
        comparison: None,
        challenge_window_override_slots: None,
        max_input_bytes: None,
        max_output_bytes: None,
        views: Vec::new(),
        referee: false,
    }
}

/// A model no node serves: its requests stay pending until the requester
/// cancels them (or they expire), which is what the app's cancel path needs.
pub fn unserved_model() -> PlannedModel {
    PlannedModel {
        name: "models/conv_small.onnx (served by no node)".into(),
        ..planned("models/conv_small.onnx")
    }
}

/// A model of two named int64 inputs with a dynamic length (the
/// transformer encoder of `models/families/`), served by operator A and
/// watched by B: the app's path for a model of several inputs.
pub fn encoder_model() -> PlannedModel {
    PlannedModel {
        // 32 tokens (`models/families/families.json`).
        max_input_bytes: Some(579),
        ..planned("models/families/tiny_encoder.onnx")
    }
}

/// A 1000-class classifier whose top 5 go on chain and whose whole output
/// operator A's node serves by hash (`models/families/`): the app's path
/// for an output too large for a transaction.
pub fn classifier_model() -> PlannedModel {
    let top_five = sibyl::state::OutputView::TopK {
        k: 5,
        scale: 65_536,
    };
    PlannedModel {
        views: vec![("logits".into(), top_five)],
        ..planned("models/families/classifier1000.onnx")
    }
}

/// Prints where the cluster listens (one JSON line on stdout, for scripts
/// such as the browser tests, then the same for people) and waits for a
/// stop signal.
pub async fn until_stopped(
    localnet: &Localnet,
    parties: &Parties,
    mint: &Pubkey,
    models: &[(&str, Pubkey)],
) -> Result<()> {
    let ready = serde_json::json!({
        "ready": true,
        "rpc": localnet.rpc_url(),
        "ws": localnet.pubsub_url(),
        "program": sibyl::ID.to_string(),
        "config": pda::config().to_string(),
        "mint": mint.to_string(),
        "models": models
            .iter()
            .map(|(name, address)| serde_json::json!({"name": name, "address": address.to_string()}))
            .collect::<Vec<_>>(),
        "operators": parties
            .operators
            .iter()
            .map(|party| serde_json::json!({
                "name": party.name,
                "wallet": party.pubkey().to_string(),
                "operator": pda::operator(&party.pubkey()).to_string(),
            }))
            .collect::<Vec<_>>(),
    });
    println!("{ready}");
    println!(
        "\n== Serving: JSON-RPC {} · PubSub {}\nOperator C commits wrong int8_matmul outputs; operator B challenges them. No node serves conv_small. A serves tiny_encoder (two named inputs) and classifier1000 (its top 5 on chain, its whole output from A's node).\nCtrl-C stops the cluster and its nodes.",
        localnet.rpc_url(),
        localnet.pubsub_url()
    );
    stop_signal().await
}

async fn stop_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    println!("stopping the nodes and the localnet");
    Ok(())
}
