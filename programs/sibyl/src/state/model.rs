use super::{ComparisonRule, OutputView, TensorSpec};
use crate::{
    constants::{
        MAX_INPUT_BYTES, MAX_MODEL_TENSORS, MAX_OUTPUT_BYTES, MAX_REFEREE_NODES, MAX_URI_LEN,
        MAX_WINDOW_SLOTS, MIN_WINDOW_SLOTS, MODEL_SEED,
    },
    encoding,
    errors::SibylError,
};
use anchor_lang::prelude::*;

/// A registered ONNX model, PDA `["model", model_hash]`. The hash is the
/// model's identity; the URI only says where to fetch the file.
#[account]
#[derive(InitSpace, Debug)]
pub struct Model {
    /// Who registered the model and receives its royalty.
    pub publisher: Pubkey,
    /// SHA-256 of the ONNX file.
    pub model_hash: [u8; 32],
    /// Execution profile id (runtime library hash + pinned session options)
    /// that honest operators run this model with.
    pub profile_id: [u8; 32],
    /// Price per request, in payment-token base units.
    pub price: u64,
    /// Share of each fee paid to the publisher.
    pub royalty_bps: u16,
    /// Largest input a request may carry, in bytes.
    pub max_input_bytes: u32,
    /// Largest canonical output encoding, in bytes.
    pub max_output_bytes: u32,
    /// How verifiers compare outputs.
    pub comparison: ComparisonRule,
    /// Challenge window for this model's results, if not the protocol default.
    pub challenge_window_override_slots: Option<u64>,
    /// Retired models take no new requests.
    pub retired: bool,
    /// Requests made for this model so far.
    pub request_count: u64,
    /// Slot of registration.
    pub registered_slot: u64,
    /// Bump of this PDA.
    pub bump: u8,
    /// Bump of its protocol-fee vault `["fee_vault", model]`.
    pub fee_vault_bump: u8,
    /// The publisher's token account royalties are paid to, fixed at
    /// registration.
    pub payout_token: Pubkey,
    /// The inputs of the model's graph, in graph order: a request's input
    /// is the canonical encoding of one tensor per spec, in this order.
    #[max_len(MAX_MODEL_TENSORS)]
    pub inputs: Vec<TensorSpec>,
    /// The outputs of the model's graph, in graph order: a committed output
    /// is the canonical encoding of one tensor per spec, in this order.
    #[max_len(MAX_MODEL_TENSORS)]
    pub outputs: Vec<TensorSpec>,
    /// What of each output goes into the on-chain result, one per output
    /// (empty: every output whole). Fixed at registration: consumers read
    /// results by them.
    #[max_len(MAX_MODEL_TENSORS)]
    pub output_views: Vec<OutputView>,
    /// Where to fetch the ONNX file (`file://`, `https://`).
    #[max_len(MAX_URI_LEN)]
    pub uri: String,
    /// For a model the referee computes (integer, `Exact`), its
    /// commitments: disputes on it are decided by bisection, never by vote.
    /// Fixed at registration.
    pub referee: Option<RefereeRoots>,
}

/// What a referee model's registration commits to, computed from the ONNX
/// file by `sibyl model register` (`sibyl_sdk::referee`); an honest node
/// recomputes them from the file before it serves or watches the model.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct RefereeRoots {
    /// The tree over the nodes' records (op, operands' sources and types,
    /// output type), in topological order.
    pub graph_root: [u8; 32],
    /// The tree over the weights' element roots, in file order.
    pub weights_root: [u8; 32],
    pub node_count: u16,
    pub weight_count: u16,
    /// The node that makes each output, in graph order.
    #[max_len(MAX_MODEL_TENSORS)]
    pub output_nodes: Vec<u16>,
}

impl Model {
    /// Seed prefix of this account.
    pub const SEED: &'static [u8] = MODEL_SEED;

    /// The specs of this model's on-chain result: one per output that its
    /// view does not omit, in graph order.
    pub fn result_specs(&self) -> Vec<TensorSpec> {
        OutputView::result_specs(&self.output_views, &self.outputs)
    }

    /// Refuses bytes that are not a possible result of this model: the
    /// canonical encoding of one tensor per result spec, in graph order,
    /// each with the spec's name, fitting its dtype and shape and holding
    /// values its view can take, within `max_output_bytes` (the request's
    /// bound, fixed when it was made). A verifier can then always decode a
    /// committed result and judge it under the model's rule, and a consumer
    /// finds each output by name, so junk is never paid for unjudged.
    pub fn check_output(&self, output: &[u8], max_output_bytes: u32) -> Result<()> {
        require!(!output.is_empty(), SibylError::EmptyOutput);
        require!(
            output.len() <= max_output_bytes as usize,
            SibylError::OutputTooLarge
        );
        let tensors =
            encoding::decode(output).map_err(|_| error!(SibylError::OutputNotCanonical))?;
        let views = self
            .outputs
            .iter()
            .enumerate()
            .map(|(index, spec)| (OutputView::of(&self.output_views, index), spec))
            .filter(|(view, _)| *view != OutputView::Omitted);
        require!(
            tensors.len() == views.clone().count(),
            SibylError::OutputSpecMismatch
        );
        for (tensor, (view, spec)) in tensors.iter().zip(views) {
            require!(
                encoding::is_canonical_data(tensor),
                SibylError::OutputNotCanonical
            );
            let admitted = view.result_spec(spec).is_some_and(|result| {
                result.name == tensor.name && result.admits(tensor.dtype, &tensor.dims)
            });
            require!(
                admitted && view.admits_values(spec, tensor),
                SibylError::OutputSpecMismatch
            );
        }
        Ok(())
    }

    /// Refuses a whole-output hash that cannot be right: where every view
    /// is whole, the result is the whole output, so its SHA-256 is known.
    /// (Otherwise the hash is its author's claim, checked by whoever
    /// fetches the whole output.)
    pub fn check_whole_output_hash(
        &self,
        output: &[u8],
        whole_output_sha256: &[u8; 32],
    ) -> Result<()> {
        if OutputView::all_whole(&self.output_views) {
            require!(
                crate::hashing::whole_output_sha256(output) == *whole_output_sha256,
                SibylError::WholeOutputHashMismatch
            );
        }
        Ok(())
    }

    /// Refuses referee roots this model cannot be judged by: the referee
    /// computes integers exactly, so the rule is `Exact`; the program reads
    /// each input element from the request and each output element from the
    /// result, so inputs and outputs are integer tensors of fixed shapes,
    /// every output whole; and every output is some node's.
    pub fn check_referee(&self) -> Result<()> {
        let Some(referee) = &self.referee else {
            return Ok(());
        };
        let integer_and_fixed = |specs: &[TensorSpec]| {
            specs.iter().all(|spec| {
                sibyl_sdk::referee::tensor::IntType::of(spec.dtype).is_some()
                    && spec.shape.iter().all(|&dim| dim >= 0)
            })
        };
        require!(
            self.comparison == ComparisonRule::Exact
                && OutputView::all_whole(&self.output_views)
                && integer_and_fixed(&self.inputs)
                && integer_and_fixed(&self.outputs)
                && (1..=MAX_REFEREE_NODES).contains(&referee.node_count)
                && referee.output_nodes.len() == self.outputs.len()
                && referee
                    .output_nodes
                    .iter()
                    .all(|&node| node < referee.node_count),
            SibylError::InvalidRefereeModel
        );
        Ok(())
    }

    /// Refuses an input a referee model cannot take: one canonical tensor
    /// per input spec, in order, with its name, dtype and (fixed) shape. The
    /// interpreter runs no other, so no commitment to one can be defended
    /// or disputed; a game's step reads its elements by the specs' types.
    pub fn check_referee_input(&self, input: &[u8]) -> Result<()> {
        let tensors =
            encoding::decode(input).map_err(|_| error!(SibylError::RefereeInputMisfit))?;
        let fits = tensors.len() == self.inputs.len()
            && tensors.iter().zip(&self.inputs).all(|(tensor, spec)| {
                tensor.name == spec.name
                    && tensor.dtype == spec.dtype
                    && tensor.dims.len() == spec.shape.len()
                    && tensor
                        .dims
                        .iter()
                        .zip(&spec.shape)
                        .all(|(&dim, &fixed)| i64::try_from(dim) == Ok(fixed))
            });
        require!(fits, SibylError::RefereeInputMisfit);
        Ok(())
    }

    /// The challenge window for this model's results.
    pub fn challenge_window_slots(&self, default_slots: u64) -> u64 {
        self.challenge_window_override_slots
            .unwrap_or(default_slots)
    }
}

/// Validates a URI: 1 to [`MAX_URI_LEN`] bytes.
pub fn validate_uri(uri: &str) -> Result<()> {
    require!(
        !uri.is_empty() && uri.len() <= MAX_URI_LEN,
        SibylError::InvalidUri
    );
    Ok(())
}

/// Validates a royalty and an optional window override.
pub fn validate_royalty_and_window(royalty_bps: u16, window: Option<u64>) -> Result<()> {
    require!(
        royalty_bps as u64 <= crate::constants::BPS_DENOMINATOR,
        SibylError::InvalidBps
    );
    if let Some(slots) = window {
        // The protocol floor: a publisher cannot leave watchers too little
        // time (nor lock requesters' fees for ever).
        require!(
            (MIN_WINDOW_SLOTS..=MAX_WINDOW_SLOTS).contains(&slots),
            SibylError::InvalidWindow
        );
    }
    Ok(())
}

/// Validates the input and output bounds: within the protocol maximums,
/// and no smaller than the smallest input and output the specs allow. The
/// output floor is what keeps a watcher able to dispute any commitment: a
/// placeholder output that differs from it always fits (see the node's
/// `placeholder_output`), even when every committed tensor is empty.
pub fn validate_size_bounds(
    max_input_bytes: u32,
    max_output_bytes: u32,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> Result<()> {
    let fits = |bound: u32, specs: &[TensorSpec]| {
        TensorSpec::smallest_encoding_len(specs).is_some_and(|smallest| smallest <= bound as u64)
    };
    require!(
        (1..=MAX_INPUT_BYTES).contains(&max_input_bytes)
            && (1..=MAX_OUTPUT_BYTES).contains(&max_output_bytes)
            && fits(max_input_bytes, inputs)
            && fits(max_output_bytes, outputs),
        SibylError::InvalidSizeBound
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight named inputs and outputs a side keep a model account small:
    /// its rent stays near 0.02 SOL, far below what `create_account` may
    /// allocate in one instruction (10 KiB).
    #[test]
    fn a_model_account_with_every_spec_at_its_bound_stays_small() {
        assert_eq!(8 + Model::INIT_SPACE, 2_760);
    }
}
