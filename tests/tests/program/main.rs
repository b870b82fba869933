//! The Sibyl program in the real Agave runtime: every lifecycle path with
//! exact balances, and for every rule a test that breaks it.
mod attacks;
mod config;
mod consumer;
mod disputes;
mod inputs;
mod lifecycle;
mod operators;
mod referee;
mod requests;
mod views;
