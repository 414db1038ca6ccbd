//! The benchmark corpus: seeded, realistic traces of a ten-service shop (see
//! `../shared/BENCHMARKS.md`, "The corpus").
//!
//! [`Generator::next_trace`] yields one trace grouped the way an SDK exports it (one
//! `ResourceSpans` per service instance, one `ScopeSpans` per instrumentation library), and
//! [`Generator::batches`] packs whole traces into `ExportTraceServiceRequest`s as a Collector
//! would. The same seed always yields the same bytes.

mod attrs;
mod batching;
mod builder;
mod ops;
mod payment;
mod shapes;
mod topology;

#[cfg(test)]
mod tests;

use contrail_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use contrail_proto::otlp::trace::v1::ResourceSpans;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use batching::Batches;
use builder::{GenSpan, TraceBuilder};
use topology::Topology;

/// The most spans one trace may hold; fan-outs shrink to stay under it.
pub const MAX_SPANS_PER_TRACE: usize = 60;

/// 2024-01-01T00:00:00Z, the default start of a corpus that is not tied to "now".
pub const DEFAULT_START_TIME_UNIX_NANO: u64 = 1_704_067_200_000_000_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusConfig {
    /// Seed of the ChaCha8 generator: the same seed gives the same traces.
    pub seed: u64,
    /// Start time of the first trace.
    pub start_time_unix_nano: u64,
    /// Traces started per second of simulated time (trace start times advance by `1 / rate`).
    pub traces_per_second: f64,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            start_time_unix_nano: DEFAULT_START_TIME_UNIX_NANO,
            traces_per_second: 100.0,
        }
    }
}

/// Generates traces deterministically from a [`CorpusConfig`].
pub struct Generator {
    config: CorpusConfig,
    rng: ChaCha8Rng,
    topology: Topology,
    traces_generated: u64,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Generator")
            .field("config", &self.config)
            .field("traces_generated", &self.traces_generated)
            .finish()
    }
}

impl Generator {
    pub fn new(config: CorpusConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let topology = Topology::new(&mut rng);
        Self {
            config,
            rng,
            topology,
            traces_generated: 0,
        }
    }

    pub fn config(&self) -> &CorpusConfig {
        &self.config
    }

    /// How many traces this generator has produced so far.
    pub fn traces_generated(&self) -> u64 {
        self.traces_generated
    }

    /// The next trace, its spans grouped by service instance and instrumentation scope.
    pub fn next_trace(&mut self) -> Vec<ResourceSpans> {
        let spans = self.next_trace_spans();
        batching::group(&self.topology, spans)
    }

    /// `traces` more traces packed into requests of about `spans_per_batch` spans. A trace is
    /// never split across requests; a trace bigger than `spans_per_batch` travels alone.
    pub fn batches(&mut self, traces: usize, spans_per_batch: usize) -> Batches<'_> {
        Batches::new(self, traces, spans_per_batch)
    }

    /// One request holding the next `traces` traces.
    pub fn next_request(&mut self, traces: usize) -> ExportTraceServiceRequest {
        let spans = (0..traces).flat_map(|_| self.next_trace_spans()).collect();
        ExportTraceServiceRequest {
            resource_spans: batching::group(&self.topology, spans),
        }
    }

    fn next_trace_spans(&mut self) -> Vec<GenSpan> {
        let interval_nanos = (1e9 / self.config.traces_per_second.max(1e-6)) as u64;
        let jitter = self.rng.random_range(0..interval_nanos.max(1));
        let start = self
            .config
            .start_time_unix_nano
            .saturating_add(self.traces_generated.saturating_mul(interval_nanos))
            .saturating_add(jitter);
        self.traces_generated += 1;
        let trace_id = attrs::random_trace_id(&mut self.rng);
        let mut builder = TraceBuilder::new(&mut self.rng, trace_id, MAX_SPANS_PER_TRACE);
        shapes::generate_trace(&mut builder, start);
        builder.finish()
    }
}
