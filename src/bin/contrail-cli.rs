fn main() -> std::process::ExitCode {
    contrail::cli::main()
}
