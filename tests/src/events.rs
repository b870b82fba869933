//! Decodes the events a transaction emitted through Anchor's event CPI (the
//! program's self-invocations recorded as inner instructions).
use anchor_lang::{event::EVENT_IX_TAG_LE, AnchorDeserialize, Discriminator};

/// The raw events of one transaction, in emission order.
#[derive(Clone, Debug, Default)]
pub struct Events(pub Vec<Vec<u8>>);

impl Events {
    /// Every event of type `E`.
    pub fn all<E: Discriminator + AnchorDeserialize>(&self) -> Vec<E> {
        self.0
            .iter()
            .filter_map(|data| data.strip_prefix(E::DISCRIMINATOR))
            .map(|mut body| E::deserialize(&mut body).expect("event decodes"))
            .collect()
    }

    /// The single event of type `E`; panics if there is none or more than one.
    #[track_caller]
    pub fn one<E: Discriminator + AnchorDeserialize>(&self) -> E {
        let mut found = self.all::<E>();
        assert_eq!(
            found.len(),
            1,
            "expected exactly one {}",
            std::any::type_name::<E>()
        );
        found.remove(0)
    }

    /// How many events were emitted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no event was emitted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Extracts event payloads (discriminator + body) from the data of inner
/// instructions that invoked `program_id`.
pub fn from_inner_instruction_data<'a>(datas: impl IntoIterator<Item = &'a [u8]>) -> Events {
    Events(
        datas
            .into_iter()
            .filter_map(|data| data.strip_prefix(EVENT_IX_TAG_LE))
            .map(<[u8]>::to_vec)
            .collect(),
    )
}
