//! Signing in: the first-run screen (the first director), the sign-in screen, a password the
//! operator must choose, and signing out.

use super::failure::Failure;
use super::form::FormKey;
use super::shell::{Level, Lock, Screen, SessionInfo, Shell};
pub use super::shell::{SessionField, SignIn, SignInKind};
use super::words;
use crate::db::operator::{valid_login, Operator, Session};
use crate::domain::password;
use crate::i18n::{tr, trf};
use crossterm::event::KeyEvent;

#[derive(Debug, Clone)]
pub enum Msg {
    /// Whether any operator exists: none means the first-run screen.
    OperatorsExist(bool),
    LoggedIn(Session),
    PasswordChanged,
    LoggedOut,
    /// The session row asked again: the operator as they are now (their current role), and
    /// the site's idle lock (`console.lock_after_min`, 0 never).
    Checked {
        operator: Operator,
        lock_after_min: u32,
    },
    /// The lock screen's password was right.
    Unlocked(Operator),
}

/// The setting: minutes without a key or the mouse before a console locks (0: never).
pub const LOCK_AFTER_KEY: &str = "console.lock_after_min";
pub const LOCK_AFTER_DEFAULT: u32 = 15;

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
    /// Ask the session row again: who is signed in, with which role, still enabled.
    Check,
    /// The lock screen: the signed-in operator's password (counted toward the lockout).
    Unlock {
        password: String,
    },
}

/// What signing in or out means for the shell; the router reloads or resets the tabs.
pub enum Outcome {
    Nothing,
    /// Signed in (or a password chosen): show the tabs and read everything.
    Main,
    /// Signed out: every tab forgets what it showed.
    Out,
    /// The operator's role changed: what the tabs show is read again under the new one.
    Role,
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
            sh.lock = None;
            sh.last_input = sh.now;
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
        Msg::Checked {
            operator,
            lock_after_min,
        } => {
            sh.lock_after_min = lock_after_min;
            refreshed(sh, operator)
        }
        Msg::Unlocked(operator) => {
            sh.lock = None;
            sh.last_input = sh.now;
            sh.message = None;
            refreshed(sh, operator)
        }
        Msg::LoggedOut => {
            sh.lock = None;
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

/// The signed-in operator as the database has them now; a new role reads the tabs again.
fn refreshed(sh: &mut Shell, operator: Operator) -> Outcome {
    let Some(s) = &mut sh.session else {
        return Outcome::Nothing;
    };
    if s.operator.id != operator.id {
        return Outcome::Nothing;
    }
    let role = s.operator.role;
    s.operator = operator;
    if s.operator.role != role && sh.screen == Screen::Main {
        let text = trf(
            sh.lang,
            "msg.role_changed",
            &[("role", words::role(sh.lang, s.operator.role))],
        );
        sh.message = Some((Level::Info, text));
        Outcome::Role
    } else {
        Outcome::Nothing
    }
}

/// The idle lock: after `lock_after_min` minutes without a key or the mouse, the console asks
/// for the signed-in operator's password. Alarms stay on screen and the bell still rings.
pub fn tick(sh: &mut Shell) {
    if sh.lock.is_some() || sh.lock_after_min == 0 || sh.screen != Screen::Main {
        return;
    }
    // The wall screen is unattended by design: locking it would hide the alarms' screens.
    if sh.session.is_none() || super::wallboard::on(sh) {
        return;
    }
    let idle = sh.now - sh.last_input;
    if idle >= chrono::Duration::minutes(i64::from(sh.lock_after_min)) {
        sh.lock = Some(Lock::new());
        sh.overlay = None;
        sh.pending_keys.clear();
        sh.message = None;
    }
}

/// A key on the lock screen: the password, and nothing else.
pub fn lock_key(sh: &mut Shell, key: &KeyEvent) -> Vec<super::Effect> {
    let Some(lock) = &mut sh.lock else {
        return vec![];
    };
    if lock.form.busy {
        return vec![];
    }
    match lock.form.key(key) {
        FormKey::Submit => {
            let password = lock.form.text(SessionField::Password).to_string();
            if password.is_empty() {
                return vec![];
            }
            lock.form.busy = true;
            lock.form.error = None;
            vec![super::Effect::Session(Effect::Unlock { password })]
        }
        _ => vec![],
    }
}

/// A refusal while the lock screen waits for its answer: a wrong password stays on the lock
/// screen (typed secret cleared). Whether the lock took it.
pub fn lock_failed(sh: &mut Shell, f: &Failure) -> bool {
    let lang = sh.lang;
    let Some(lock) = &mut sh.lock else {
        return false;
    };
    if !lock.form.busy || !matches!(f, Failure::WrongCredentials) {
        return false;
    }
    lock.form.refused(words::failure(lang, f));
    lock.form.clear_secrets();
    true
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
