//! The Patrol tab: the live map (`map`), the open exceptions with who closed what lately, the
//! omission report, the setup lists, and the tab's popups on the one form renderer.

pub mod lists;
pub mod map;

use crate::app::state::State;
use crate::app::tabs::patrol::{Pane, Popup};
use crate::i18n::trf;
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::Frame;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let p = &state.patrol;
    let sh = &state.shell;
    match p.pane {
        Pane::Map => map::render(frame, sh, p, body, th),
        Pane::Exceptions => lists::exceptions(frame, sh, p, body, th),
        Pane::Omissions => lists::omissions(frame, sh, p, body, th),
        Pane::Setup => lists::setup(frame, sh, p, body, th),
    }
    let lang = sh.lang;
    macro_rules! popup {
        ($form:expr, $width:expr) => {
            crate::ui::form::render(
                frame,
                lang,
                $form,
                &Placement {
                    width: $width,
                    title: $form.title.clone(),
                    keys: popup_keys(lang, $form),
                },
                body,
                th,
            )
        };
    }
    match &p.popup {
        Some(Popup::Close { form, .. }) => popup!(form, 64),
        Some(Popup::AddMap(form)) => popup!(form, 70),
        Some(Popup::Range(form)) => popup!(form, 64),
        Some(Popup::Export(form)) => popup!(form, 70),
        Some(Popup::Setup(s)) => popup!(&s.form, 72),
        Some(Popup::Purge(v)) => {
            let mut form = v.form.clone();
            let n = |x: u64| x.to_string();
            if let Some(done) = v.progress {
                form.busy = true;
                form.intro.push(trf(
                    lang,
                    "patrol.purge.progress",
                    &[("scans", &n(done.scans)), ("visits", &n(done.visits))],
                ));
            } else if let Some(p) = v.preview {
                form.intro.push(trf(
                    lang,
                    "patrol.purge.preview",
                    &[
                        ("scans", &n(p.scans)),
                        ("visits", &n(p.visits)),
                        ("exceptions", &n(p.exceptions)),
                    ],
                ));
            }
            popup!(&form, 70)
        }
        None => {}
    }
}
