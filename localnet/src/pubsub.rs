//! Solana PubSub over WebSocket, as Agave serves it: `slotSubscribe`,
//! `signatureSubscribe`, `accountSubscribe`, `programSubscribe`,
//! `logsSubscribe` and their unsubscribes, with Agave's notification shapes
//! (`{"jsonrpc":"2.0","method":"<kind>Notification","params":{"result":…,"subscription":id}}`).
use crate::chain::{Chain, ChainEvent};
use anchor_lang::prelude::Pubkey;
use axum::extract::ws::{Message, WebSocket};
use serde_json::{json, Value};
use solana_account_decoder::UiAccountEncoding;
use solana_rpc_client_types::{
    config::{RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcTransactionLogsFilter},
    response::{Response as RpcResponse, RpcLogsResponse, RpcResponseContext, SlotInfo},
};
use solana_signature::Signature;
use std::{collections::HashMap, str::FromStr, sync::Arc};

/// One live subscription of a connection.
enum Subscription {
    Slot,
    Signature(Signature),
    Account(Pubkey, RpcAccountInfoConfig),
    Program(Pubkey, RpcProgramAccountsConfig),
    Logs(RpcTransactionLogsFilter),
}

impl Subscription {
    fn unsubscribe_method(&self) -> &'static str {
        match self {
            Subscription::Slot => "slotUnsubscribe",
            Subscription::Signature(_) => "signatureUnsubscribe",
            Subscription::Account(..) => "accountUnsubscribe",
            Subscription::Program(..) => "programUnsubscribe",
            Subscription::Logs(_) => "logsUnsubscribe",
        }
    }
}

/// Serves one WebSocket connection until the client leaves.
pub async fn serve_connection(mut socket: WebSocket, chain: Arc<Chain>) {
    let mut events = chain.subscribe();
    let mut subscriptions: HashMap<u64, Subscription> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            message = socket.recv() => {
                let Some(Ok(message)) = message else { return };
                let text = match message {
                    Message::Text(text) => text.to_string(),
                    Message::Close(_) => return,
                    _ => continue,
                };
                let (reply, immediate) = handle_request(&chain, &text, &mut subscriptions, &mut next_id);
                for outgoing in std::iter::once(reply).chain(immediate) {
                    if socket.send(Message::Text(outgoing.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                for notification in notifications(&chain, &event, &mut subscriptions) {
                    if socket.send(Message::Text(notification.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}

/// Answers one request; returns the reply and any notification due at once
/// (a signature that is already processed).
fn handle_request(
    chain: &Chain,
    text: &str,
    subscriptions: &mut HashMap<u64, Subscription>,
    next_id: &mut u64,
) -> (Value, Vec<Value>) {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return (error(Value::Null, -32700, "Parse error"), vec![]);
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return (error(id, -32600, "Invalid request"), vec![]);
    };
    let params = request
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let param = |index: usize| params.get(index).cloned().unwrap_or(Value::Null);
    let invalid = |id: Value, err: String| error(id, -32602, &format!("Invalid params: {err}."));

    let subscription = match method {
        "slotSubscribe" => Ok(Subscription::Slot),
        "signatureSubscribe" => serde_json::from_value::<String>(param(0))
            .map_err(|err| err.to_string())
            .and_then(|text| Signature::from_str(&text).map_err(|err| format!("{err:?}")))
            .map(Subscription::Signature),
        "accountSubscribe" => serde_json::from_value::<String>(param(0))
            .map_err(|err| err.to_string())
            .and_then(|text| Pubkey::from_str(&text).map_err(|err| format!("{err:?}")))
            .and_then(|address| {
                let config = serde_json::from_value::<Option<RpcAccountInfoConfig>>(param(1))
                    .map_err(|err| err.to_string())?;
                Ok(Subscription::Account(address, config.unwrap_or_default()))
            }),
        "programSubscribe" => serde_json::from_value::<String>(param(0))
            .map_err(|err| err.to_string())
            .and_then(|text| Pubkey::from_str(&text).map_err(|err| format!("{err:?}")))
            .and_then(|program| {
                let config = serde_json::from_value::<Option<RpcProgramAccountsConfig>>(param(1))
                    .map_err(|err| err.to_string())?;
                Ok(Subscription::Program(program, config.unwrap_or_default()))
            }),
        "logsSubscribe" => serde_json::from_value::<RpcTransactionLogsFilter>(param(0))
            .map_err(|err| err.to_string())
            .map(Subscription::Logs),
        unsubscribe if unsubscribe.ends_with("Unsubscribe") => {
            let Ok(subscription_id) = serde_json::from_value::<u64>(param(0)) else {
                return (invalid(id, "expected a subscription id".into()), vec![]);
            };
            let matches = subscriptions
                .get(&subscription_id)
                .is_some_and(|existing| existing.unsubscribe_method() == unsubscribe);
            if !matches {
                return (error(id, -32602, "Invalid subscription id."), vec![]);
            }
            subscriptions.remove(&subscription_id);
            return (json!({"jsonrpc": "2.0", "result": true, "id": id}), vec![]);
        }
        _ => return (error(id, -32601, "Method not found"), vec![]),
    };
    let subscription = match subscription {
        Ok(subscription) => subscription,
        Err(err) => return (invalid(id, err), vec![]),
    };
    let subscription_id = *next_id;
    *next_id += 1;
    let mut immediate = vec![];
    if let Subscription::Signature(signature) = &subscription {
        if let Some(record) = chain.record(signature) {
            immediate.push(signature_notification(
                subscription_id,
                record.slot,
                &record.meta.status,
            ));
            return (
                json!({"jsonrpc": "2.0", "result": subscription_id, "id": id}),
                immediate,
            );
        }
    }
    subscriptions.insert(subscription_id, subscription);
    (
        json!({"jsonrpc": "2.0", "result": subscription_id, "id": id}),
        immediate,
    )
}

fn notification(method: &str, subscription: u64, result: impl serde::Serialize) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": {"result": result, "subscription": subscription},
    })
}

fn signature_notification(
    subscription: u64,
    slot: u64,
    status: &Result<(), solana_transaction_error::TransactionError>,
) -> Value {
    let err = status
        .clone()
        .err()
        .map(solana_transaction_status_client_types::UiTransactionError::from);
    notification(
        "signatureNotification",
        subscription,
        RpcResponse {
            context: RpcResponseContext::new(slot),
            value: json!({"err": err}),
        },
    )
}

/// The notifications `event` causes; signature subscriptions end with theirs.
fn notifications(
    chain: &Chain,
    event: &ChainEvent,
    subscriptions: &mut HashMap<u64, Subscription>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut finished = Vec::new();
    for (&id, subscription) in subscriptions.iter() {
        match (subscription, event) {
            (Subscription::Slot, ChainEvent::Slot { slot, parent, root }) => {
                out.push(notification(
                    "slotNotification",
                    id,
                    SlotInfo {
                        slot: *slot,
                        parent: *parent,
                        root: *root,
                    },
                ))
            }
            (
                Subscription::Signature(wanted),
                ChainEvent::Transaction {
                    slot,
                    signature,
                    status,
                    ..
                },
            ) if wanted == signature => {
                out.push(signature_notification(id, *slot, status));
                finished.push(id);
            }
            (
                Subscription::Account(address, config),
                ChainEvent::Transaction { slot, writable, .. },
            ) if writable.contains(address) => {
                let bank = chain.bank();
                let account = bank.get_account(address).unwrap_or_default();
                let encoding = config.encoding.unwrap_or(UiAccountEncoding::Base64);
                out.push(notification(
                    "accountNotification",
                    id,
                    RpcResponse {
                        context: RpcResponseContext::new(*slot),
                        value: crate::rpc::notified_account(
                            &bank,
                            address,
                            &account,
                            encoding,
                            config.data_slice,
                        ),
                    },
                ));
            }
            (
                Subscription::Program(program, config),
                ChainEvent::Transaction { slot, writable, .. },
            ) => {
                let bank = chain.bank();
                let filters = config.filters.clone().unwrap_or_default();
                for address in writable {
                    let Some(account) = bank.get_account(address) else {
                        continue;
                    };
                    use solana_account::ReadableAccount;
                    if account.owner() != program
                        || !filters
                            .iter()
                            .all(|filter| crate::rpc::matches_filter(filter, account.data()))
                    {
                        continue;
                    }
                    let encoding = config
                        .account_config
                        .encoding
                        .unwrap_or(UiAccountEncoding::Base64);
                    out.push(notification(
                        "programNotification",
                        id,
                        RpcResponse {
                            context: RpcResponseContext::new(*slot),
                            value: json!({
                                "pubkey": address.to_string(),
                                "account": crate::rpc::notified_account(&bank, address, &account, encoding, config.account_config.data_slice),
                            }),
                        },
                    ));
                }
            }
            (
                Subscription::Logs(filter),
                ChainEvent::Transaction {
                    slot,
                    signature,
                    status,
                    logs,
                    accounts,
                    ..
                },
            ) => {
                let wanted = match filter {
                    RpcTransactionLogsFilter::All | RpcTransactionLogsFilter::AllWithVotes => true,
                    RpcTransactionLogsFilter::Mentions(mentioned) => mentioned.iter().any(|text| {
                        Pubkey::from_str(text).is_ok_and(|address| accounts.contains(&address))
                    }),
                };
                if wanted {
                    out.push(notification(
                        "logsNotification",
                        id,
                        RpcResponse {
                            context: RpcResponseContext::new(*slot),
                            value: RpcLogsResponse {
                                signature: signature.to_string(),
                                err: status.clone().err().map(Into::into),
                                logs: logs.clone(),
                            },
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    for id in finished {
        subscriptions.remove(&id);
    }
    out
}
