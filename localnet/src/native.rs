//! Registers the Anchor program with the runtime's native-processor adapter.
//!
//! Anchor 1.x builds its host-side syscall stubs (CPI, clock, rent) on
//! `solana-sysvar` 3, while Agave 4.2's `solana-program-test` installs its
//! stubs into `solana-sysvar` 4. Two copies of one global: without a bridge,
//! every CPI of the program (token transfers, event CPIs) would silently do
//! nothing and `Clock::get()` would fail. [`install_syscall_bridge`] forwards
//! the v3 stubs to the runtime's own implementation, so the program sees the
//! real invoke context exactly as an SBF program sees it through syscalls.
use anchor_lang::prelude::{AccountInfo, Pubkey};
use solana_program_entrypoint::ProgramResult;
use solana_program_runtime::invoke_context::BuiltinFunctionRegisterer;
use solana_program_test::{processor, ProgramTest};
use std::sync::{Arc, Once};

/// A `ProgramTest` with Sibyl as a native program (SPL Token, Token-2022 and
/// Associated Token are loaded by `solana-program-test` as their SBF binaries).
pub fn sibyl_program_test() -> ProgramTest {
    let mut program_test = ProgramTest::new("sibyl", sibyl::ID, processor!(sibyl_entrypoint));
    program_test.prefer_bpf(false);
    program_test.add_program(
        "example_consumer",
        example_consumer::ID,
        processor!(consumer_entrypoint),
    );
    program_test
}

/// Sibyl's entrypoint for `Bank::add_builtin` (through the same adapter
/// `solana-program-test` uses).
pub fn sibyl_builtin() -> BuiltinFunctionRegisterer {
    processor!(sibyl_entrypoint).expect("the adapter always registers")
}

/// Makes native programs work in a bank that `solana-program-test` did not
/// create: its set-up is the only place that installs the runtime's syscall
/// stubs, so one throwaway `ProgramTest` is started, then the bridge below.
pub async fn install_runtime_stubs() {
    static STARTED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    STARTED
        .get_or_init(|| async {
            let _ = ProgramTest::default().start().await;
        })
        .await;
    install_syscall_bridge();
}

/// The example consumer's entrypoint for `Bank::add_builtin`.
pub fn consumer_builtin() -> BuiltinFunctionRegisterer {
    processor!(consumer_entrypoint).expect("the adapter always registers")
}

fn consumer_entrypoint(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    // SAFETY: as for `sibyl_entrypoint`.
    let (program_id, accounts, data) = unsafe { one_lifetime(program_id, accounts, data) };
    example_consumer::entry(program_id, accounts, data)
}

fn sibyl_entrypoint(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    // SAFETY: Anchor's `entry` wants its three arguments and the account infos
    // to share one lifetime. All of them live for this whole call (the runtime
    // owns them), and the program keeps no reference past its return.
    let (program_id, accounts, data) = unsafe { one_lifetime(program_id, accounts, data) };
    sibyl::entry(program_id, accounts, data)
}

unsafe fn one_lifetime<'a>(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> (&'a Pubkey, &'a [AccountInfo<'a>], &'a [u8]) {
    unsafe {
        (
            &*(program_id as *const Pubkey),
            std::mem::transmute::<&[AccountInfo], &'a [AccountInfo<'a>]>(accounts),
            &*(data as *const [u8]),
        )
    }
}

/// Points the `solana-sysvar` 3 syscall stubs (used by Anchor) at the
/// runtime's stubs. Call after the first `ProgramTest` has started (its
/// set-up installs the runtime's stubs); later calls do nothing.
pub fn install_syscall_bridge() {
    static BRIDGE: Once = Once::new();
    BRIDGE.call_once(|| {
        use solana_sysvar::program_stubs as runtime;
        struct Unset;
        impl runtime::SyscallStubs for Unset {}
        let stubs: Arc<Box<dyn runtime::SyscallStubs>> =
            Arc::new(runtime::set_syscall_stubs(Box::new(Unset)));
        runtime::set_syscall_stubs(Box::new(Forward(stubs.clone())));
        solana_sysvar_v3::program_stubs::set_syscall_stubs(Box::new(Forward(stubs)));
    });
}

/// Forwards every syscall stub to the runtime's implementation.
struct Forward(Arc<Box<dyn solana_sysvar::program_stubs::SyscallStubs>>);

macro_rules! forward_syscall_stubs {
    ($trait_path:path) => {
        impl $trait_path for Forward {
            fn sol_log(&self, message: &str) {
                self.0.sol_log(message)
            }
            fn sol_log_compute_units(&self) {
                self.0.sol_log_compute_units()
            }
            fn sol_remaining_compute_units(&self) -> u64 {
                self.0.sol_remaining_compute_units()
            }
            fn sol_invoke_signed(
                &self,
                instruction: &solana_instruction::Instruction,
                account_infos: &[AccountInfo],
                signers_seeds: &[&[&[u8]]],
            ) -> ProgramResult {
                self.0
                    .sol_invoke_signed(instruction, account_infos, signers_seeds)
            }
            fn sol_get_sysvar(
                &self,
                sysvar_id_addr: *const u8,
                var_addr: *mut u8,
                offset: u64,
                length: u64,
            ) -> u64 {
                self.0
                    .sol_get_sysvar(sysvar_id_addr, var_addr, offset, length)
            }
            fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
                self.0.sol_get_clock_sysvar(var_addr)
            }
            fn sol_get_epoch_schedule_sysvar(&self, var_addr: *mut u8) -> u64 {
                self.0.sol_get_epoch_schedule_sysvar(var_addr)
            }
            fn sol_get_fees_sysvar(&self, var_addr: *mut u8) -> u64 {
                self.0.sol_get_fees_sysvar(var_addr)
            }
            // The runtime writes `solana-rent` 4's `Rent`, whose `#[repr(C)]`
            // layout (u64, 8 bytes, u8) is that of `solana-rent` 3's.
            fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
                self.0.sol_get_rent_sysvar(var_addr)
            }
            fn sol_get_epoch_rewards_sysvar(&self, var_addr: *mut u8) -> u64 {
                self.0.sol_get_epoch_rewards_sysvar(var_addr)
            }
            fn sol_get_last_restart_slot(&self, var_addr: *mut u8) -> u64 {
                self.0.sol_get_last_restart_slot(var_addr)
            }
            fn sol_get_epoch_stake(&self, vote_address: *const u8) -> u64 {
                self.0.sol_get_epoch_stake(vote_address)
            }
            unsafe fn sol_memcpy(&self, dst: *mut u8, src: *const u8, n: usize) {
                self.0.sol_memcpy(dst, src, n)
            }
            unsafe fn sol_memmove(&self, dst: *mut u8, src: *const u8, n: usize) {
                self.0.sol_memmove(dst, src, n)
            }
            unsafe fn sol_memcmp(&self, s1: *const u8, s2: *const u8, n: usize, result: *mut i32) {
                self.0.sol_memcmp(s1, s2, n, result)
            }
            unsafe fn sol_memset(&self, s: *mut u8, c: u8, n: usize) {
                self.0.sol_memset(s, c, n)
            }
            fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
                self.0.sol_get_return_data()
            }
            fn sol_set_return_data(&self, data: &[u8]) {
                self.0.sol_set_return_data(data)
            }
            fn sol_log_data(&self, fields: &[&[u8]]) {
                self.0.sol_log_data(fields)
            }
            fn sol_get_processed_sibling_instruction(
                &self,
                index: usize,
            ) -> Option<solana_instruction::Instruction> {
                self.0.sol_get_processed_sibling_instruction(index)
            }
            fn sol_get_stack_height(&self) -> u64 {
                self.0.sol_get_stack_height()
            }
        }
    };
}

forward_syscall_stubs!(solana_sysvar::program_stubs::SyscallStubs);
forward_syscall_stubs!(solana_sysvar_v3::program_stubs::SyscallStubs);
