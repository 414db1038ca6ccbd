//! `contrail-querier`: Contrail's querier alone (`contrail -target=querier`), for distributed deployments.

fn main() -> std::process::ExitCode {
    contrail::run_as(contrail::target::Target::Querier)
}
