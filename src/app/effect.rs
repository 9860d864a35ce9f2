//! Async work `update` asks the console shell to do.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    CheckFirstRun,
    Login {
        login: String,
        password: String,
    },
    CreateFirstDirector {
        login: String,
        display_name: String,
        password: String,
    },
    ChangeOwnPassword {
        password: String,
    },
    Logout,
    LoadOperators,
    LoadAudit,
    UnlockOperator {
        login: String,
    },
    ResetOperatorPassword {
        login: String,
    },
    DisableOperator {
        login: String,
    },
    VerifyAudit,
    Bell,
    Quit,
}
