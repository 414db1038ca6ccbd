//! Trace-ID bloom filters, split into shards so a lookup GETs one small object.
//!
//! Sizing: the total bitmap for `traces` IDs at the false-positive rate (0.01% by default, ADR 014) comes
//! from the `bloomfilter` crate's formula (about 19.2 bits per ID); the shard count is
//! ceil(total / max shard bytes), and every shard has the same size, so no shard exceeds the
//! bound. Shard selection: **FNV-1a 32-bit of the 16 trace-ID bytes, modulo the shard count**
//! (stable: changing it makes existing blocks unreadable). Inside a shard, the crate hashes with
//! SipHash keyed by a fixed seed stored in the shard header.
//!
//! Object format: the 4-byte magic `CBF1`, then the crate's serialization
//! (`Bloom::to_bytes`: header with k and the seed, then the bitmap).

use std::hash::{Hash, Hasher};

use bloomfilter::Bloom;
use contrail_proto::TraceId;

/// Default false-positive rate: 0.01%, not Tempo's 1% (ADR 014: a trace-by-ID lookup over
/// 1,000 blocks then reads the pages of the one hit instead of ~10 false positives' pages).
pub const DEFAULT_FALSE_POSITIVE: f64 = 0.0001;
/// Default upper bound of one shard's bitmap, as Tempo's `bloom_filter_shard_size_bytes`.
pub const DEFAULT_SHARD_MAX_BYTES: usize = 100 * 1024;

const MAGIC: &[u8; 4] = b"CBF1";
/// Fixed SipHash seed: shards are reproducible byte for byte.
const SEED: [u8; 32] = *b"contrail-vc1-trace-id-bloom-seed";

/// The key type inserted into the filter: hashes exactly the 16 ID bytes (no length prefix, so
/// the hash does not depend on the platform's `usize`).
struct BloomKey([u8; 16]);

impl Hash for BloomKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

/// The shard holding `trace_id` in a block with `shards` shards: FNV-1a 32 mod `shards`.
pub fn shard_for(trace_id: &TraceId, shards: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in trace_id.as_bytes() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % shards.max(1)
}

/// Builds the serialized shards for `trace_ids`.
pub fn build_shards(
    trace_ids: &[TraceId],
    false_positive: f64,
    shard_max_bytes: usize,
) -> Result<Vec<Vec<u8>>, String> {
    if !(false_positive > 0.0 && false_positive < 1.0) {
        return Err(format!(
            "bloom false-positive rate {false_positive} is not in (0, 1)"
        ));
    }
    let items = trace_ids.len().max(1);
    let total_bytes = Bloom::<BloomKey>::compute_bitmap_size(items, false_positive).max(1);
    let shard_max_bytes = shard_max_bytes.max(64);
    let shard_count = total_bytes.div_ceil(shard_max_bytes).max(1);
    let shard_bytes = total_bytes.div_ceil(shard_count).max(1);
    let items_per_shard = items.div_ceil(shard_count).max(1);
    let shard_count_u32 =
        u32::try_from(shard_count).map_err(|_| "too many bloom shards".to_owned())?;
    let mut shards: Vec<Bloom<BloomKey>> = Vec::with_capacity(shard_count);
    for _ in 0..shard_count {
        shards.push(Bloom::new_with_seed(shard_bytes, items_per_shard, &SEED)?);
    }
    for trace_id in trace_ids {
        let shard = shard_for(trace_id, shard_count_u32) as usize;
        shards[shard].set(&BloomKey(trace_id.to_array()));
    }
    Ok(shards
        .into_iter()
        .map(|shard: Bloom<BloomKey>| {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(shard.as_slice());
            bytes
        })
        .collect())
}

/// One decoded bloom shard.
pub struct BloomShard {
    bloom: Bloom<BloomKey>,
}

impl std::fmt::Debug for BloomShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BloomShard")
            .field("bits", &self.bloom.len())
            .finish()
    }
}

impl BloomShard {
    /// Decodes a shard object; any malformed input is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| "bad magic (not a vc1 bloom shard)".to_owned())?;
        let bloom = Bloom::<BloomKey>::from_slice(body).map_err(str::to_owned)?;
        let hashes = bloom.number_of_hash_functions();
        if hashes == 0 || hashes > 64 {
            return Err(format!("implausible number of hash functions {hashes}"));
        }
        // Not `is_empty()`: that means "no bit set", which a valid shard with no IDs is. A
        // zero-bit bitmap would divide by zero in `check`.
        let bitmap_bits = bloom.len();
        if bitmap_bits == 0 {
            return Err("empty bitmap".to_owned());
        }
        Ok(BloomShard { bloom })
    }

    /// Whether `trace_id` may be in the shard (false: certainly not).
    pub fn may_contain(&self, trace_id: &TraceId) -> bool {
        self.bloom.check(&BloomKey(trace_id.to_array()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TraceId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        TraceId::from_array(bytes)
    }

    #[test]
    fn shards_are_bounded_and_find_every_id_with_about_one_percent_false_positives() {
        let ids: Vec<TraceId> = (0..50_000).map(id).collect();
        let shards = build_shards(&ids, 0.01, 16 * 1024).unwrap();
        assert!(shards.len() > 1, "{} shards", shards.len());
        for shard in &shards {
            assert!(
                shard.len() <= 16 * 1024 + 64,
                "shard of {} bytes",
                shard.len()
            );
        }
        let decoded: Vec<BloomShard> = shards
            .iter()
            .map(|s| BloomShard::decode(s).unwrap())
            .collect();
        let count = decoded.len() as u32;
        for trace_id in &ids {
            assert!(decoded[shard_for(trace_id, count) as usize].may_contain(trace_id));
        }
        let false_positives = (1_000_000..1_020_000)
            .map(id)
            .filter(|trace_id| decoded[shard_for(trace_id, count) as usize].may_contain(trace_id))
            .count();
        let rate = false_positives as f64 / 20_000.0;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn shard_selection_is_stable() {
        // FNV-1a 32 of sixteen zero bytes (0x6969_1905), pinned: changing it breaks existing
        // blocks.
        assert_eq!(
            shard_for(&TraceId::from_array([0; 16]), u32::MAX),
            0x6969_1905
        );
        assert_eq!(
            shard_for(&TraceId::from_array([0; 16]), 1000),
            0x6969_1905 % 1000
        );
        assert_eq!(shard_for(&id(7), 1), 0);
    }

    #[test]
    fn corrupt_shards_are_errors() {
        let shards = build_shards(&[id(1)], 0.01, 1024).unwrap();
        assert!(BloomShard::decode(&shards[0][..3]).is_err());
        assert!(BloomShard::decode(b"XXXXgarbage").is_err());
        assert!(BloomShard::decode(&shards[0][..10]).is_err());
        let mut zero_k = shards[0].clone();
        for byte in &mut zero_k[4..8] {
            *byte = 0;
        }
        // either rejected or harmless: never a panic
        if let Ok(shard) = BloomShard::decode(&zero_k) {
            let _ = shard.may_contain(&id(1));
        }
    }
}
