//! Runs every section and writes the report.
use crate::{
    big_model,
    chain::{self, cost, overhead, referee, scale, throughput, under_load, Network},
    determinism::{self, Outputs},
    fixtures, inference, python, reexec, slot, step, Args,
};
use anyhow::{Context, Result};
use sibyl::state::ConfigParams;
use sibyl_oracle::{actions::protocol, engine::Engine};
use std::{path::Path, process::Command, time::Duration};

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
        step("1/10 inference floor vs the node's path");
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
        step("2/10 node overhead per request on a localnet");
        let network = Network::start(root, &engine, &fixtures, slot(args), params(), 1, 1).await?;
        let overhead = overhead::measure(&network, &sibyl, args.overhead_requests).await?;
        let floors = overhead::floors(&network).await?;
        network.shutdown().await;
        print_section(&mut out, section2(&overhead, &floors));
    }
    if args.runs(3) {
        step("3/10 throughput with 1, 2 and 4 node processes");
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
        step("4/10 on-chain cost per lifecycle");
        let network = Network::start(root, &engine, &fixtures, slot(args), params(), 6, 3).await?;
        let cost = cost::measure(&network, &sibyl, WINDOW_SLOTS).await?;
        network.shutdown().await;
        print_section(&mut out, section4(&cost));
    }
    if args.runs(5) {
        step("5/10 a watcher's re-execution vs a zkML proof");
        let reexecutions = ["digits", "mlp_float"]
            .iter()
            .map(|name| reexec::measure(name, 1_000))
            .collect::<Result<Vec<_>>>()?;
        print_section(&mut out, section5(&reexecutions));
    }
    if args.runs(6) {
        step("6/10 determinism matrix");
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
        step("7/10 referee disputes: bisection vs vote");
        let mut rows = Vec::new();
        for fixture in fixtures::load_referees(root)? {
            rows.push(
                referee::measure(root, &engine, &sibyl, &fixture, slot(args), params()).await?,
            );
        }
        print_section(&mut out, section7(&rows));
    }
    if args.runs(8) {
        step("8/10 a model of tens of MB");
        let dir = tempfile::tempdir_in(root.join("target"))?;
        let result = big_model::measure(root, dir.path(), 1_000)?;
        print_section(&mut out, section8(&result));
    }
    if args.runs(9) {
        step(&format!(
            "9/10 watching and voting under load: {} commitments, one in ten wrong",
            args.load_requests
        ));
        let network =
            Network::start(root, &engine, &fixtures, slot(args), load_params(), 4, 8).await?;
        let result =
            under_load::measure(&network, &sibyl, args.load_requests, LOAD_WINDOW_SLOTS).await?;
        network.shutdown().await;
        print_section(&mut out, section9(&result));
    }
    if args.runs(10) {
        let digits = fixtures
            .iter()
            .find(|fixture| fixture.name == "digits")
            .context("the digits fixture")?;
        let mut points = Vec::new();
        for (models, requests) in scale::POINTS {
            step(&format!(
                "10/10 scale: {models} models, {requests} open requests"
            ));
            let network =
                Network::start(root, &engine, &fixtures, slot(args), params(), 1, 8).await?;
            points.push(scale::measure(&network, &engine, &sibyl, digits, models, requests).await?);
            network.shutdown().await;
        }
        print_section(&mut out, section10(&points));
    }
    Ok(out)
}

fn section10(points: &[scale::ScalePoint]) -> String {
    format!(
        "## 10. How a node's cost grows with the work\n\n\
         One `sibyl node run` serving N models, handed M open requests: two sweeps, each point on a \
         fresh localnet, N = 10, 100, 1000 with M = 1000, and M = 100, 1000, 10 000 with N = 10. The \
         models are copies of the `digits` fixture (each a distinct file, hash and model account, \
         registered by four publishers); the requests are a backlog paid before the node starts, spread \
         evenly over its models. Measured from the node's start to every request committed: the node \
         process's peak resident memory (`VmHWM`) and CPU time (user + system, from `/proc`), the JSON-RPC \
         calls the localnet answered meanwhile (the node was its only caller), and when each request was \
         committed (the bank polled every 2 ms, or four times as long as a pass over the requests takes, \
         so that the polling takes at most a fifth of a core). The node keeps at most `node.max_loaded_models` (8) \
         models loaded.\n\n{table}\n{growth}\n\n\
         What limits these curves on this machine: its two cores, shared by the localnet (which executes \
         every commitment and answers the node's RPC calls: per request `sendTransaction` and one status \
         poll; a priority-fee query for each commitment that starts before any for its action has come \
         back (the backlog's first wave), then one about every second, as the blockhash; before issue \
         19's last changes, a priority-fee query per request too, 3.1 calls per request) and the node. Along the models sweep, the node keeps 8 \
         models loaded, so with 100 or 1000 models almost every request opens a session (and the \
         least recently used one is dropped): that is the growth of CPU per request there, and a node \
         serving many models in earnest raises `node.max_loaded_models` within its memory. A run whose \
         model was dropped while it waited for an inference slot opens the model again; before, it \
         failed and waited for the next scan, as 55 to 78 of the 1000 requests did with 100 or 1000 \
         models. Past 8 \
         models a scan lists every pending request in one call (before, one call per model per scan: \
         3018 `getProgramAccounts` calls for 1000 requests over 1000 models, 6.4 calls per request \
         instead of 3.1). Along the requests sweep, at most 512 requests are served at once and the rest \
         wait as state, not tasks (before, 10 000 tasks at once took 558 MiB); scans wait while a \
         backlog does. Before the localnet kept each slot's priority fees, its fee query scanned the \
         last 150 slots' transactions, so with 10 000 requests every query cost thousands of records \
         and the time to commit them all grew ×130–300 for ×100 requests.\n\n",
        table = scale::table(points),
        growth = scale::growth(points),
    )
}

/// The challenge window of section 9: long enough for a backlog of
/// commitments to be re-executed on this 2-core machine, where the nodes
/// and the localnet share the cores.
const LOAD_WINDOW_SLOTS: u64 = 100;

fn load_params() -> ConfigParams {
    ConfigParams {
        challenge_window_slots: LOAD_WINDOW_SLOTS,
        ..params()
    }
}

fn section9(result: &under_load::UnderLoad) -> String {
    let kept = result.challenged_in_window == result.wrong && result.wrong_final == 0;
    format!(
        "## 9. Watching and voting under load\n\n\
         A backlog of {requests} paid requests over the four fixture models; then four node processes \
         start: one serves every model and commits a wrong output to one request in ten (faulty mode; a \
         hash of the request's address chooses, so the bench knows which), one watches (re-executes every \
         commitment it has not judged, challenges a wrong one with a bond) and cranks (finalizes, \
         resolves), and two vote. The figures are read from the ledger once every request is final: each \
         request's commit slot and window, each dispute's opening slot and votes.\n\n{table}\n\
         Goal: with ~1000 commitments in flight and one in ten wrong, every wrong one challenged before \
         its window closes: **{verdict}**. The window here is {window} slots ({window_s:.0} s at this \
         localnet's {slot_ms} ms slots); the slack column is what this machine left of it, and the \
         commit-to-challenge column is what a requester choosing a window should compare with theirs. \
         The watcher works through commitments in the order it learns of them, so its delay grows with \
         the backlog it is handed at once; on these 2 cores it shares the CPU with the serving node, \
         the voters and the localnet.\n\n",
        requests = result.requests,
        table = under_load::table(result),
        verdict = if kept { "met" } else { "missed" },
        window = result.window_slots,
        window_s = result.window_slots as f64 * result.slot.as_secs_f64(),
        slot_ms = result.slot.as_millis(),
    )
}

fn section8(result: &big_model::BigModel) -> String {
    let ratio = result.ratio();
    format!(
        "## 8. A model of tens of MB\n\n\
         `models/big_model.py` writes a fixed-seed MLP (Gemm 1024 → H, Relu, Gemm H → 10) whose weights \
         take {weights} MiB: a {file:.1} MiB file ({mb:.1} MB), generated for the run, never committed. \
         A process of its own takes the steps a node takes with a model the first time, each timed, with \
         its peak resident memory (`VmHWM`) after it; then section 1's comparison on it. The model's \
         file is not held in memory to be fetched or hashed (the store streams it; \
         `oracle/tests/big_model.rs` fetches the same model over HTTP with the process's memory \
         bounded); ONNX Runtime holds its weights once the session is open.\n\n{tables}\n\
         Goal: node path ≤ 1.05× a bare ONNX Runtime session. Here: **{ratio:.3}×** ({verdict}); the \
         medians differ by {extra:+.3} ms (node − raw): what the node adds (decoding 4 KiB of input into tensors, \
         copying out, encoding and hashing 40 bytes of output) does not grow with the model's weights, \
         and the two medians move by a few percent between runs on this machine (both stream 56 MiB of \
         weights from memory per run). Both paths run on one session: with a session each (before), \
         the ratio of the medians went from 0.954× to 1.152× between runs of the same build, because \
         where each session's copy of the weights sat in memory changed how fast it streamed; on one \
         session, runs of this section alone measured 1.009× to 1.017×. The ratio is taken round by \
         round, the two paths back to back, each first every other round, and its median is the \
         figure.\n\n",
        weights = big_model::WEIGHT_MIB,
        file = result.file_mib,
        mb = result.file_mib * 1.048576,
        tables = big_model::tables(result),
        verdict = if ratio <= 1.05 { "met" } else { "missed" },
        extra = result.node_median_ms - result.raw_median_ms,
    )
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
         Per fixture, on its first recorded input: **raw** is `session.run` on the bare ONNX Runtime \
         session (the pinned profile) that the node path runs, its input tensors made once; the **node \
         path** is what a node does per request: decode the canonical input encoding, make the tensors, \
         run, copy out and encode the outputs, hash them as the commitment does. The two alternate run by \
         run, each going first every other round; node / raw is the median of each round's ratio. Python is onnxruntime {py} \
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

fn section2(result: &overhead::Overhead, floors: &overhead::Floors) -> String {
    let phase = |name: &str| {
        result
            .phases
            .iter()
            .find(|(phase, ..)| *phase == name)
            .map_or(Duration::ZERO, |(_, _, summary)| summary.median)
    };
    let rest = phase("queued_us") + phase("prepare_us") + phase("ready_us") + phase("sign_us");
    let (median_ms, p99_ms) = (
        result.overhead.median.as_secs_f64() * 1e3,
        result.overhead.p99.as_secs_f64() * 1e3,
    );
    let met = median_ms <= 0.5 && p99_ms <= 2.0;
    let profile = result.profile.as_ref().map_or_else(
        || "`perf` could not run here, so there is no profile.".to_string(),
        |shares| format!("Where the node process's CPU went over the run (`perf record -e cpu-clock`, samples by crate or library): {}.", chain::profile::summary(shares, 10)),
    );
    format!(
        "## 2. Node overhead per request (localnet)\n\n\
         One `sibyl node run` serving all four fixtures; requests one at a time, round robin over the \
         models, after one warm-up request per model (its first: the node opens the model's session and \
         simulates its commitment's shape of transaction once; their overheads were {cold}). The node times each request itself, from the moment it learned of it (the PubSub \
         notification carrying the new request account, or the start of the scan that found it) to the \
         moment it hands the signed commitment to the RPC node (`sendTransaction` called), and subtracts \
         the model's run (`overhead_us` on its `committed` log line, with each phase below; \
         `sibyl_serve_overhead_seconds` on `/metrics`). On that path: the notification handed to the \
         serving task, the preparing (input, the model's run, output encoding and hashes), the \
         transaction's budget and its signature. The compute-unit limit is known per shape of \
         transaction (simulated the first time); the priority fee is the last one read for commitments \
         while it is under 5 s old (read again in the background once it is a second old), and is \
         otherwise read for the accounts the commitment writes from the start of prepare; the \
         blockhash is read ahead (a step signs with the last one while a newer one is read). Requests \
         here come about 40 ms apart; for requests seconds apart the serve service keeps the fee and \
         the blockhash warm (each read again at 3 s old), so they find them at hand too. The journal \
         entry is written (log append and `fdatasync`, one for every write waiting: group commit) beside \
         `sendTransaction`, and the step is done only once both ended: the program takes one commitment \
         per request, so a crash between the two costs a second run of the model, never a second \
         commitment (`docs/decisions.md`, tested by killing a node there). \
         What the RPC node then takes to answer `sendTransaction` is its own work and is shown apart: \
         this localnet runs the preflight simulation and then executes the transaction before it \
         answers, where a validator's RPC service forwards it after the preflight. The last row is what \
         a requester sees, including the localnet's confirmation.\n\n{table}\n\
         The node process used **{cpu_us:.0} µs of CPU per request** over the run (user + system, from \
         `/proc`, the model's run included). {profile}\n\n\
         Before issue 19 (commit `cf1afc9`, this command with 200 requests on the AMD EPYC 2-core machine \
         this section was last run on), the same phases measured: node overhead 4.22 ms median, 8.94 ms \
         p99, of which queued 0.27, prepare 0.28, journal 0.74 (a durable redb commit on the blocking \
         pool), budget and signature 1.56 (a compute-unit simulation and a priority-fee query, one after \
         the other, before every transaction) and the `sendTransaction` round trip 1.20, then counted as \
         the node's. Then, with the unit limit simulated once per shape, the journal syncing a \
         write-ahead log (group commit) instead of committing redb durably, the priority fee read for \
         each commitment from the start of prepare, and the localnet keeping each ended slot's priority \
         fees (Agave's fee cache does the same) instead of scanning every transaction ever landed: \
         1.42 ms median, 8.13 ms p99, of which the journal write before the send took 0.80 ms median \
         (6.79 p99) and the fee query beside prepare and the journal 0.78 (3.55 p99). Those two legs \
         then left the path: the journal write now runs beside the send, and the fee read for the last \
         commitment serves the next ones. The blockhash, read once a second on the path (an RPC round \
         trip for about one commitment in 25, up to 1.3 ms, which made the p99), is now read ahead. \
         Each alone, measured in this run after the node stopped (the \
         localnet running, idle but for its slots):\n\n{floors}\n\
         Goal: node overhead ≤ 0.5 ms median and ≤ 2 ms p99. Here: **{median_ms:.2} ms** median, \
         **{p99_ms:.2} ms** p99 ({verdict}). What stays on the path is the node's own work: queued, \
         prepare, ready and sign ({rest_ms:.2} ms median above). Under load the two cores are shared \
         with the localnet (which runs every transaction and answers every call) and the benchmark, so \
         each thread hand-off on the path (the notification to the serving task, the run to the blocking \
         pool and back) can wait for a core: that is where the p99 goes.\n\n",
        table = overhead::table(result),
        cold = result
            .cold
            .iter()
            .map(|cold| format!("{} ms", crate::stats::millis(*cold)))
            .collect::<Vec<_>>()
            .join(", "),
        floors = overhead::floors_table(floors),
        rest_ms = rest.as_secs_f64() * 1e3,
        cpu_us = result.cpu_per_request.as_secs_f64() * 1e6,
        verdict = if met { "met" } else { "missed" },
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
