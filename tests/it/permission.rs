//! Every role × action pair, against the centre's duty list written out as a grid.

use onecard::domain::permission::{allows, check, Action, Actor};
use onecard::domain::role::Role;

/// Rows are actions; columns are roles in `Role::ALL` order:
/// director, system admin, data admin, card desk, door admin, attendance admin, duty, technician,
/// wallboard (which may do nothing at all).
const GRID: &[(Action, [u8; 9])] = &[
    (Action::OperatorManage, [1, 1, 0, 0, 0, 0, 0, 0, 0]),
    (Action::SettingChange, [1, 1, 0, 0, 0, 0, 0, 0, 0]),
    (Action::DatabaseBackup, [1, 1, 1, 0, 0, 0, 0, 0, 0]),
    (Action::DatabaseRestore, [1, 1, 0, 0, 0, 0, 0, 0, 0]),
    (Action::AuditRead, [1, 1, 1, 0, 0, 0, 0, 0, 0]),
    (Action::PersonEdit, [1, 0, 1, 0, 0, 0, 0, 0, 0]),
    (Action::PersonImport, [1, 0, 1, 0, 0, 0, 0, 0, 0]),
    (Action::CardIssue, [1, 0, 0, 1, 0, 0, 0, 0, 0]),
    (Action::CardLifecycle, [1, 0, 0, 1, 0, 0, 0, 0, 0]),
    (Action::CardPin, [1, 0, 0, 1, 0, 0, 0, 0, 0]),
    (Action::AccountTopUp, [1, 0, 0, 1, 0, 0, 0, 0, 0]),
    (Action::AccountCorrection, [1, 0, 0, 0, 0, 0, 0, 0, 0]),
    (Action::DoorGrant, [1, 0, 0, 0, 1, 0, 0, 0, 0]),
    (Action::DoorSetting, [1, 1, 0, 0, 1, 0, 0, 0, 0]),
    (Action::DoorRemoteOpen, [1, 0, 0, 0, 1, 0, 1, 0, 0]),
    (Action::DoorRecordExtract, [1, 0, 0, 0, 1, 0, 0, 1, 0]),
    (Action::AlarmAcknowledge, [1, 0, 0, 0, 1, 0, 1, 0, 0]),
    (Action::PatrolEdit, [1, 0, 0, 0, 0, 0, 1, 0, 0]),
    (Action::AttendanceEdit, [1, 0, 0, 0, 0, 1, 0, 0, 0]),
    (Action::MerchantSettle, [1, 0, 0, 0, 0, 0, 0, 0, 0]),
    (Action::TerminalEdit, [1, 1, 0, 0, 0, 0, 0, 1, 0]),
    (Action::TerminalDiagnose, [1, 1, 0, 0, 0, 0, 0, 1, 0]),
    (Action::RecordPurge, [1, 1, 0, 0, 0, 0, 0, 0, 0]),
    (Action::ReportExport, [1, 1, 1, 1, 1, 1, 0, 0, 0]),
];

#[test]
fn every_role_and_action_pair() {
    assert_eq!(
        GRID.len(),
        Action::ALL.len(),
        "the grid covers every action"
    );
    for action in Action::ALL {
        let (_, row) = GRID
            .iter()
            .find(|(a, _)| *a == action)
            .expect("action in grid");
        for (i, role) in Role::ALL.into_iter().enumerate() {
            let expected = row[i] == 1;
            assert_eq!(allows(role, action), expected, "{role} × {action}");
            assert_eq!(check(role, action).is_ok(), expected);
            let actor = Actor::operator(1, "x", role);
            assert_eq!(actor.authorize(action).is_ok(), expected);
        }
    }
}

#[test]
fn the_shell_is_not_limited_and_denials_name_both_sides() {
    let shell = Actor::shell("root");
    assert_eq!(shell.name, "cli:root");
    assert!(Action::ALL.iter().all(|a| shell.authorize(*a).is_ok()));
    let err = check(Role::DutyOperator, Action::OperatorManage).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a duty_operator may not do operator.manage"
    );
}

#[test]
fn roles_parse_from_sql_and_cli_spellings() {
    for role in Role::ALL {
        assert_eq!(role.name().parse::<Role>().unwrap(), role);
        assert_eq!(role.name().replace('_', "-").parse::<Role>().unwrap(), role);
    }
    assert!("janitor".parse::<Role>().is_err());
}

#[test]
fn every_action_and_role_has_words_in_every_language() {
    for lang in onecard::i18n::Lang::all() {
        let _ = lang;
    }
    for action in Action::ALL {
        assert!(
            onecard::i18n::has_key(&format!("action.{}", action.name())),
            "{action}"
        );
    }
    for role in Role::ALL {
        assert!(
            onecard::i18n::has_key(&format!("role.{}", role.name())),
            "{role}"
        );
    }
    for cmd in onecard::keymap::Command::ALL {
        assert!(
            onecard::i18n::has_key(&format!("cmd.{}", cmd.name())),
            "{cmd}"
        );
    }
}
