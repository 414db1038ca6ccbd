//! `contrail-distributor`: Contrail's distributor alone (`contrail -target=distributor`), for distributed deployments.

fn main() -> std::process::ExitCode {
    contrail::run_as(contrail::target::Target::Distributor)
}
