//! Signing in: the first-run screen (the first director), the sign-in screen, a password the
//! operator must choose, and signing out.

use super::failure::Failure;
use super::form::FormKey;
use super::shell::{Level, Screen, SessionInfo, Shell};
pub use super::shell::{SessionField, SignIn, SignInKind};
use super::words;
use crate::db::operator::{valid_login, Session};
use crate::domain::password;
use crate::i18n::tr;
use crossterm::event::KeyEvent;

#[derive(Debug, Clone)]
pub enum Msg {
    /// Whether any operator exists: none means the first-run screen.
    OperatorsExist(bool),
    LoggedIn(Session),
    PasswordChanged,
    LoggedOut,
}

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
}

/// What signing in or out means for the shell; the router reloads or resets the tabs.
pub enum Outcome {
    Nothing,
    /// Signed in (or a password chosen): show the tabs and read everything.
    Main,
    /// Signed out: every tab forgets what it showed.
    Out,
}

pub fn update(sh: &mut Shell, msg: Msg) -> Outcome {
    match msg {
        Msg::OperatorsExist(exist) => {
            if sh.screen == Screen::Starting {
                sh.screen = Screen::SignIn(if exist {
                    SignIn::login()
                } else {
                    SignIn::first_run()
                });
            }
            Outcome::Nothing
        }
        Msg::LoggedIn(session) => {
            let must_change = session.operator.must_change_password;
            sh.session = Some(SessionInfo {
                session_id: session.id,
                operator: session.operator,
            });
            sh.message = None;
            if must_change {
                sh.screen = Screen::SignIn(SignIn::change_password(true));
                Outcome::Nothing
            } else {
                sh.screen = Screen::Main;
                Outcome::Main
            }
        }
        Msg::PasswordChanged => {
            if let Some(s) = &mut sh.session {
                s.operator.must_change_password = false;
            }
            sh.screen = Screen::Main;
            sh.message = Some((Level::Info, tr(sh.lang, "msg.password_changed").to_string()));
            Outcome::Main
        }
        Msg::LoggedOut => {
            sh.session = None;
            sh.overlay = None;
            sh.pending_keys.clear();
            sh.commands = Default::default();
            sh.tab = super::shell::TabId::Cards;
            sh.screen = Screen::SignIn(SignIn::login());
            Outcome::Out
        }
    }
}

/// A refusal while a sign-in screen waits: it stays with the refusal, typed secrets cleared.
/// Whether the screen took it.
pub fn failed(sh: &mut Shell, f: &Failure) -> bool {
    let lang = sh.lang;
    let Screen::SignIn(s) = &mut sh.screen else {
        return false;
    };
    if !s.form.busy {
        return false;
    }
    s.form.refused(words::failure(lang, f));
    if s.kind == SignInKind::Login {
        // Never leave a typed password on screen state after a failure.
        s.form.clear_secrets();
        s.form.focus_on(SessionField::Password);
    }
    true
}

pub fn on_key(sh: &mut Shell, key: &KeyEvent) -> Vec<super::Effect> {
    let lang = sh.lang;
    let own_login = sh
        .session
        .as_ref()
        .map(|s| s.operator.login.clone())
        .unwrap_or_default();
    let Screen::SignIn(s) = &mut sh.screen else {
        return vec![];
    };
    match s.form.key(key) {
        FormKey::Cancel => match s.kind {
            SignInKind::Login | SignInKind::FirstRun => vec![super::Effect::Quit],
            SignInKind::ChangePassword { forced: true } => {
                vec![super::Effect::Session(Effect::Logout)]
            }
            SignInKind::ChangePassword { forced: false } => {
                sh.screen = Screen::Main;
                vec![]
            }
        },
        FormKey::Submit => {
            let form = &s.form;
            let result = match s.kind {
                SignInKind::Login => {
                    if form.text(SessionField::Login).is_empty() {
                        Err(tr(lang, "form.error.login_empty").to_string())
                    } else {
                        Ok(Effect::Login {
                            login: form.text(SessionField::Login).to_string(),
                            password: form.text(SessionField::Password).to_string(),
                        })
                    }
                }
                SignInKind::FirstRun => {
                    let login = form.text(SessionField::Login);
                    if !valid_login(login) {
                        Err(tr(lang, "form.error.bad_login").to_string())
                    } else if form.text(SessionField::DisplayName).is_empty() {
                        Err(tr(lang, "form.error.name_empty").to_string())
                    } else {
                        new_password(
                            lang,
                            login,
                            form.text(SessionField::Password),
                            form.text(SessionField::PasswordAgain),
                        )
                        .map(|password| Effect::CreateFirstDirector {
                            login: login.to_string(),
                            display_name: form.text(SessionField::DisplayName).to_string(),
                            password,
                        })
                    }
                }
                SignInKind::ChangePassword { .. } => new_password(
                    lang,
                    &own_login,
                    form.text(SessionField::NewPassword),
                    form.text(SessionField::PasswordAgain),
                )
                .map(|password| Effect::ChangeOwnPassword { password }),
            };
            match result {
                Ok(effect) => {
                    s.form.busy = true;
                    s.form.error = None;
                    vec![super::Effect::Session(effect)]
                }
                Err(e) => {
                    s.form.error = Some(e);
                    vec![]
                }
            }
        }
        _ => vec![],
    }
}

fn new_password(lang: crate::i18n::Lang, login: &str, a: &str, b: &str) -> Result<String, String> {
    if a != b {
        return Err(tr(lang, "form.error.mismatch").to_string());
    }
    password::check_policy(login, a).map_err(|e| words::password_policy(lang, &e))?;
    Ok(a.to_string())
}
