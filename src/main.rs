fn main() -> std::process::ExitCode {
    kat::cli::main()
}
