//! Runs every section and writes the report.
use crate::{
    chain::{self, cost, overhead, referee, throughput, Network},
    determinism::{self, Outputs},
    fixtures, inference, python, reexec, slot, step, Args,
};
use anyhow::{Context, Result};
use sibyl::state::ConfigParams;
use sibyl_oracle::{actions::protocol, engine::Engine};
use std::{path::Path, process::Command};

/// The ONNX Runtime build compared against the pinned one.
const OTHER_RUNTIME: &str = "ORT 1.32.0";
const OTHER_LIBRARY: &str = ".local/bench/onnxruntime-1.32.0/libonnxruntime.so.1.32.0";

/// Challenge window of the localnet sections, in slots.
const WINDOW_SLOTS: u64 = 20;

fn params() -> ConfigParams {
    ConfigParams {
        challenge_window_slots: WINDOW_SLOTS,
        vote_window_slots: 20,
        request_timeout_slots: 100_000,
        ..protocol::localnet_params()
    }
}

pub async fn measure_all(root: &Path, args: &Args) -> Result<String> {
    let fixtures = fixtures::load(root)?;
    let engine = Engine::new(&Default::default())?;
    let sibyl = chain::sibyl_binary()?;
    let mut out = header(args)?;

    if args.runs(1) {
        step("1/7 inference floor vs the node's path");
        let warmup = (args.samples / 10).max(10);
        let mut timed = fixtures::load(root)?;
        timed.extend(fixtures::load_families(root)?);
        let rows = inference::measure(&engine, &timed, args.samples, warmup)?;
        let python = python::measure(root, args.samples, warmup)
            .map_err(|err| eprintln!("sibyl-bench: no Python reference: {err:#}"))
            .ok();
        let referee = inference::measure_referee(&engine, root, args.samples, warmup)?;
        print_section(&mut out, section1(&rows, python.as_ref(), &referee));
    }
    if args.runs(2) {
        step("2/7 node overhead per request on a localnet");
        let network = Network::start(root, &engine, &fixtures, slot(args), params(), 1, 1).await?;
        let overhead = overhead::measure(&network, &sibyl, args.overhead_requests).await?;
        network.shutdown().await;
        print_section(&mut out, section2(&overhead));
    }
    if args.runs(3) {
        step("3/7 throughput with 1, 2 and 4 node processes");
        let mut runs = Vec::new();
        for nodes in [1, 2, 4] {
            step(&format!(
                "    {nodes} node process(es), {} requests",
                args.throughput_requests
            ));
            let network =
                Network::start(root, &engine, &fixtures, slot(args), params(), 4, 8).await?;
            runs.push(
                throughput::measure(
                    &network,
                    &sibyl,
                    nodes,
                    args.throughput_requests,
                    WINDOW_SLOTS,
                )
                .await?,
            );
            network.shutdown().await;
        }
        print_section(&mut out, section3(&runs));
    }
    if args.runs(4) {
        step("4/7 on-chain cost per lifecycle");
        let network = Network::start(root, &engine, &fixtures, slot(args), params(), 6, 3).await?;
        let cost = cost::measure(&network, &sibyl, WINDOW_SLOTS).await?;
        network.shutdown().await;
        print_section(&mut out, section4(&cost));
    }
    if args.runs(5) {
        step("5/7 a watcher's re-execution vs a zkML proof");
        let reexecutions = ["digits", "mlp_float"]
            .iter()
            .map(|name| reexec::measure(name, 1_000))
            .collect::<Result<Vec<_>>>()?;
        print_section(&mut out, section5(&reexecutions));
    }
    if args.runs(6) {
        step("6/7 determinism matrix");
        let mut outputs = determinism::ort_outputs(&engine, &fixtures, args.extra_inputs, "")?;
        let other = other_runtime(root, args.extra_inputs);
        let other_available = other.is_ok();
        match other {
            Ok(other) => outputs.merge(other),
            Err(err) => eprintln!("sibyl-bench: no {OTHER_RUNTIME} column: {err:#}"),
        }
        let tract = determinism::tract_outputs(&fixtures, &outputs, args.extra_inputs)?;
        outputs.merge(tract);
        let mut variants: Vec<String> = determinism::settings_variants()
            .into_iter()
            .skip(1)
            .map(|(name, _)| name.to_string())
            .collect();
        if other_available {
            variants.push(format!("{} · {OTHER_RUNTIME}", determinism::BASELINE));
            variants.push(format!("opt all · {OTHER_RUNTIME}"));
        }
        variants.push("tract".to_string());
        print_section(
            &mut out,
            section6(&outputs, &fixtures, &variants, args.extra_inputs)?,
        );
    }
    if args.runs(7) {
        step("7/7 referee disputes: bisection vs vote");
        let mut rows = Vec::new();
        for fixture in fixtures::load_referees(root)? {
            rows.push(
                referee::measure(root, &engine, &sibyl, &fixture, slot(args), params()).await?,
            );
        }
        print_section(&mut out, section7(&rows));
    }
    Ok(out)
}

/// Shows a finished section at once and keeps it for the report.
fn print_section(out: &mut String, section: String) {
    println!("{section}");
    out.push_str(&section);
}

fn other_runtime(root: &Path, extra_inputs: usize) -> Result<Outputs> {
    let library = root.join(OTHER_LIBRARY);
    anyhow::ensure!(
        library.exists(),
        "{} missing (run scripts/bench-setup.sh)",
        library.display()
    );
    let output = Command::new(std::env::current_exe()?)
        .args([
            "outputs",
            "--label",
            OTHER_RUNTIME,
            "--extra-inputs",
            &extra_inputs.to_string(),
            "--library",
        ])
        .arg(&library)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("parsing the other runtime's outputs")
}

fn header(args: &Args) -> Result<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or("unknown".to_string(), |kib| {
            format!("{:.0} GiB", kib / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default();
    Ok(format!(
        "# Performance\n\n\
         Written by `make bench` (`sibyl-bench`, in `bench/`); every figure below comes from one run of it. \
         Reproduce with `make bench` (it builds the workspace, fetches the ONNX Runtime 1.32.0 wheel for the \
         determinism matrix, and rewrites this file).\n\n\
         - Machine: {cpu}, {cores} cores, {memory} memory, Linux {kernel}\n\
         - Build: {rustc}, the workspace's `dev` profile (opt-level 1 for every crate; ONNX Runtime is its own \
         optimized release build from the PyPI wheel)\n\
         - ONNX Runtime 1.31.1 through `ort` 2.0.0-rc.15 with the pinned profile (CPU, 1 intra-op and 1 inter-op \
         thread, sequential, basic graph optimizations, deterministic compute)\n\
         - Localnet: the Agave 4.2 runtime in the benchmark's own process, {slot} ms slots, challenge window \
         {WINDOW_SLOTS} slots; nodes are `sibyl node run` processes\n\
         - Options: `{samples}` samples per path, {overhead} requests for the overhead, {throughput} per throughput run, \
         {extra} random inputs per fixture for the determinism matrix\n\n",
        kernel = kernel.trim(),
        slot = args.slot_ms,
        samples = args.samples,
        overhead = args.overhead_requests,
        throughput = args.throughput_requests,
        extra = args.extra_inputs,
    ))
}

fn section1(
    rows: &[inference::InferenceRow],
    python: Option<&python::PythonTimes>,
    referee: &[inference::RefereeRow],
) -> String {
    let worst = rows
        .iter()
        .map(inference::InferenceRow::ratio)
        .fold(0.0, f64::max);
    format!(
        "## 1. Inference: the floor and the node's path\n\n\
         Per fixture, on its first recorded input: **raw** is `session.run` on a bare ONNX Runtime session \
         with the pinned profile, its input tensors made once; the **node path** is what a node does per \
         request: decode the canonical input encoding, make the tensors, run, copy out and encode the \
         outputs, hash them as the commitment does. The two alternate run by run. Python is onnxruntime {py} \
         with the same profile (`bench/python/ort_bench.py`).\n\n{table}\n\
         Goal: node path ≤ 1.05× raw. Worst ratio here: **{worst:.3}×** ({verdict}). The node path's \
         extra cost is {extra_low:.1}–{extra_high:.1} µs per request: allocating and copying the input \
         and output tensors, the canonical encoding, the SHA-256 of the input and of the output, and, for a \
         model whose outputs have views, taking the result from the whole output. It grows with the bytes \
         copied and hashed, not with the model's work (the image's 602 KB input costs the most), so models \
         whose whole run takes a few µs cannot stay within 1.05×: 1.05× of a 3 µs model is 0.15 µs, less \
         than one allocation and one FFI call. Against the node's own per-request overhead on chain (§2, \
         milliseconds) it is small.\n\n\
         **The referee's interpreter** (`sibyl_sdk::referee`, issue 17) on the integer models of \
         `models/referee/`, first case, beside ONNX Runtime's node path on the same input; the trace root \
         is the commitment to every intermediate tensor (each element of each node's output hashed as a \
         leaf, each node's tree, and the tree over them) that a referee model's operator adds per \
         request. The interpreter computes \
         what ONNX Runtime computes bit for bit (`oracle/tests/referee.rs`); it is plain Rust loops, \
         not a tuned kernel.\n\n{referee_table}\n",
        py = python.map_or("(not run)".to_string(), |python| python.onnxruntime.clone()),
        table = inference::table(rows, python),
        referee_table = inference::referee_table(referee),
        verdict = if worst <= 1.05 { "met" } else { "missed" },
        extra_low = rows.iter().map(|row| row.extra_micros()).fold(f64::INFINITY, f64::min),
        extra_high = rows.iter().map(|row| row.extra_micros()).fold(0.0, f64::max),
    )
}

fn section2(result: &overhead::Overhead) -> String {
    let median_ms = result.overhead.median.as_secs_f64() * 1e3;
    format!(
        "## 2. Node overhead per request (localnet)\n\n\
         One `sibyl node run` serving all four fixtures; requests one at a time, round robin over the \
         models. The node times each request itself, from the moment it learned of it (the PubSub \
         notification carrying the new request account, or the start of the scan that found it) to \
         `sendTransaction` returning for its commitment, and subtracts the model's run (`overhead_us` on \
         its `committed` log line; `sibyl_serve_overhead_seconds` on `/metrics`). Included: decoding the \
         notification, journaling the output (fsync), signing, and the RPC node's preflight simulation of \
         the transaction; the blockhash is reused for a second. The last row is what a requester sees, \
         including the localnet's confirmation.\n\n{table}\n\
         Goal: ≤ 2 ms median. Here: **{median_ms:.2} ms** ({verdict}).\n\n",
        table = overhead::table(result),
        verdict = if median_ms <= 2.0 { "met" } else { "missed" },
    )
}

fn section3(runs: &[throughput::Throughput]) -> String {
    format!(
        "## 3. Throughput\n\n\
         A backlog of paid requests spread evenly over the four fixture models, then the node processes \
         start: with N nodes, node i serves the models whose index is i mod N (no two nodes race for one \
         request); node 0 also cranks. Times are from the nodes' start. CPU seconds are per process: the \
         benchmark's own process holds the localnet (the runtime, RPC and PubSub servers); a node's include \
         its start-up.\n\n{table}\n{verdict}\n\n",
        table = throughput::table(runs),
        verdict = throughput_verdict(runs),
    )
}

/// What bounds throughput here, from the figures themselves.
fn throughput_verdict(runs: &[throughput::Throughput]) -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let busiest = runs
        .iter()
        .map(throughput::Throughput::cores_busy)
        .fold(0.0, f64::max);
    let least = runs
        .iter()
        .map(throughput::Throughput::cores_busy)
        .fold(f64::INFINITY, f64::min);
    let localnet_share = |run: &throughput::Throughput| {
        run.localnet_cpu / (run.localnet_cpu + run.nodes_cpu.iter().sum::<f64>())
    };
    let (low, high) = runs
        .iter()
        .map(localnet_share)
        .fold((1.0f64, 0.0f64), |(low, high), share| {
            (low.min(share), high.max(share))
        });
    let rates: Vec<String> = runs
        .iter()
        .map(|run| format!("{:.0}", run.committed_per_second()))
        .collect();
    if least >= 0.8 * cores {
        format!(
            "**Bottleneck: this machine's {cores:.0} cores.** {least:.2} to {busiest:.2} of them are busy until \
             the last commitment in every run, and the rate from the nodes' start is {} requests/s for 1, 2 and \
             4 nodes: with the CPU saturated, more node processes can only take CPU from the localnet, not add \
             any, so the rate cannot scale with them here. The localnet (one process: signature checks, the runtime, RPC \
             and PubSub over loopback) takes {:.0}–{:.0}% of it; in its profile the kernel (socket I/O) and \
             the C library (copies, allocation) lead, then ed25519 signature verification (`curve25519_dalek`). \
             Finalization is one `finalize` transaction per request from node 0's crank (eight built and \
             in flight at a time, each confirmed on its own), which bounds its rate below the commitments'. \
             On separate machines, nodes serving different models share no writable account (§4), so their \
             commitments do not serialize on chain.",
            rates.join(" / "),
            low * 100.0,
            high * 100.0,
        )
    } else {
        format!(
            "The {cores:.0} cores were at most {busiest:.2} busy: the rate ({} requests/s) is bound by round trips \
             (RPC, confirmation), not CPU.",
            rates.join(" / ")
        )
    }
}

fn section4(cost: &cost::Cost) -> String {
    format!(
        "## 4. On-chain cost per lifecycle\n\n\
         Every transaction that named the request (and, for the dispute, the dispute and vote accounts), \
         read back from the localnet's ledger: fees are what the runtime charged (5000 lamports a signature; \
         the node's priority fee is 0 by default). Happy-path requests are settled and closed by their own \
         requesters, so that no third party joins them. Each model has its own publisher here. Compute \
         units are not reported: the program runs as a native builtin on this localnet (no SBF toolchain \
         here), and a builtin's compute charge says nothing about the SBF program's.\n\n\
         The check below is why settlements pay the protocol's share into the model's own fee vault \
         (`[\"fee_vault\", model]`, swept to the treasury by the permissionless `sweep_fees`) rather than into \
         the treasury: with the treasury in `finalize`, every settlement on every model write-locked it. \
         What remains shared is by design: the stake and bond vaults and the config in disputes, the model \
         account for requests on one model, a publisher's token account across its own models.\n\n{tables}{summary}\n",
        tables = cost::tables(cost),
        summary = cost::summary_tables(cost),
    )
}

fn section5(rows: &[reexec::Reexecution]) -> String {
    let agree = rows.iter().all(|row| row.agrees);
    format!(
        "## 5. Verification cost: re-execution vs a zkML proof\n\n\
         What a watcher spends to check one committed output, in a process of its own: **cold** fetches the \
         model by its URI, verifies its SHA-256, opens a session, runs and compares under the model's rule; \
         **warm** runs and compares with the session open (a node keeps sessions open). Peak memory is the \
         whole process's (VmHWM), ONNX Runtime included. The EZKL figure is the published one for proving a \
         44.5k-parameter MNIST MLP (38.1 s, 4.8 GB); our models are smaller, so the ratio is per check, not \
         per parameter. Every re-execution agreed with the recorded output: {agree}.\n\n{table}\n",
        table = reexec::table(rows),
        agree = if agree { "yes" } else { "**no**" },
    )
}

fn section6(
    outputs: &Outputs,
    fixtures: &[fixtures::Fixture],
    variants: &[String],
    extra: usize,
) -> Result<String> {
    Ok(format!(
        "## 6. Determinism matrix\n\n\
         Each fixture's outputs on its 3 recorded inputs and {extra} seeded random ones, under one change \
         at a time from the pinned profile, compared with the pinned profile's outputs: identical \
         encodings, and the largest element difference otherwise. `opt` is ONNX Runtime's graph \
         optimization level; {OTHER_RUNTIME} is the library from the onnxruntime 1.32.0 wheel; `tract` is \
         tract-onnx 0.23, an engine that shares no code with ONNX Runtime.\n\n{tables}\n",
        tables = determinism::tables(outputs, fixtures, variants)?,
    ))
}

fn section7(rows: &[referee::RefereeDispute]) -> String {
    let mut table = String::from(
        "| model | nodes | trace elements | decided by | moves (votes) | transactions, challenge to decision | slots, challenge to decision | all transactions | fees, lamports | rent locked during it, lamports |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut steps = String::from(
        "| model | the step's multiply-accumulates | hashes, heaviest proving transaction | est. CU, heaviest proving transaction | hashes, opening | est. CU, opening |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        for (how, dispute) in [("referee", &row.referee), ("vote", &row.vote)] {
            let transactions = &dispute.lifecycle.transactions;
            let fees: u64 = transactions.iter().map(|tx| tx.fee).sum();
            let rent: u64 = dispute
                .lifecycle
                .rent
                .iter()
                .map(|rent| rent.lamports)
                .sum();
            let returned = dispute.lifecycle.rent.iter().all(|rent| rent.returned);
            table.push_str(&format!(
                "| {} | {} | {} | {how} | {} | {} | {} | {} | {fees} | {rent}{} |\n",
                row.model,
                row.nodes,
                row.trace_elements,
                dispute.moves,
                dispute.to_decision,
                dispute.slots,
                transactions.len(),
                if returned { " (all returned)" } else { "" },
            ));
        }
        steps.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.model,
            row.step_macs,
            row.proof_hashes,
            row.proof_cu,
            row.open_hashes,
            row.open_cu(),
        ));
    }
    format!(
        "## 7. Referee disputes: bisection vs vote\n\n\
         One wrong result on each referee model (`models/referee/`), disputed twice, each time on a fresh \
         localnet by `sibyl node run` processes: registered with `--referee`, operator 0 commits a lie planted \
         in its last sum (`MatMulInteger`, `QLinearMatMul` or `ConvInteger`, where it changes the result) and \
         operator 1 watches, opens a game, bisects and proves the step, with \
         **no voter**; registered for the vote, operator 1 challenges and operators 2 and 3 vote (all the \
         eligible stake). Every transaction is read back from the ledger; fees are 5000 lamports a \
         signature. Moves are both parties' (the referee) or the votes cast and revealed. The vote's slots \
         are its windows ({vote} slots to vote, as many to reveal); the referee's are the rounds, which the \
         parties end as soon as both have moved (each may take up to {moves} slots).\n\n{table}\n\
         What one step costs on chain, estimated (no SBF toolchain here to measure it): the step folds one \
         term of a sum (one multiply-accumulate) or computes one element, from operands each proven in its \
         own transaction by at most 24 siblings, after the node's record, proven by at most 10; the \
         heaviest proving transaction is read from the ledger. Estimates use published SBF costs: a \
         SHA-256 is 85 CU plus, per slice, the larger of 10 and half its bytes ({inner} CU an inner node, \
         {leaf} CU an element's leaf), {mac} CU a multiply-accumulate; deserializing the accounts is not \
         counted. The opening hashes the committed outputs into their tree (their elements, padded; \
         counted at an inner node's cost). Both are far below the 1.4 M per-transaction limit and the \
         node's 400 K default, by construction.\n\n{steps}\n",
        vote = params().vote_window_slots,
        moves = sibyl_sdk::constants::REFEREE_MOVE_SLOTS,
        inner = referee::INNER_CU,
        leaf = referee::LEAF_CU,
        mac = referee::MAC_CU,
    )
}
