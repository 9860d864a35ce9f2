fn main() -> std::process::ExitCode {
    onecard::cli::main()
}
