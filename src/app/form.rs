//! The one form engine: the sign-in screens, the operators', card desk's, terminal and door
//! popups all use it. Fields are named by a typed id per form family (the label is the id's
//! catalogue key). Text fields edit with a cursor (left, right, home, end, delete a word),
//! measured in display columns so Chinese text lines up.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_input::InputRequest;

/// Longest text a field takes unless it says otherwise: enough for any name, bounded against
/// paste floods.
pub const MAX_TEXT: usize = 64;

/// A field id: one enum per form family.
pub trait FieldId: Copy + Eq + std::fmt::Debug {
    /// Catalogue key of the label.
    fn label(self) -> &'static str;
}

/// One line of text being typed, with a cursor.
#[derive(Debug, Clone)]
pub struct TextInput {
    input: tui_input::Input,
    max: usize,
    digits_only: bool,
}

impl PartialEq for TextInput {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value() && self.input.cursor() == other.input.cursor()
    }
}

impl Eq for TextInput {}

impl Default for TextInput {
    fn default() -> Self {
        TextInput::new("")
    }
}

impl TextInput {
    pub fn new(value: &str) -> TextInput {
        TextInput {
            input: tui_input::Input::new(value.to_string()),
            max: MAX_TEXT,
            digits_only: false,
        }
    }

    pub fn max(mut self, max: usize) -> TextInput {
        self.max = max;
        self
    }

    pub fn digits(mut self) -> TextInput {
        self.digits_only = true;
        self
    }

    pub fn value(&self) -> &str {
        self.input.value()
    }

    pub fn set(&mut self, value: &str) {
        self.input = tui_input::Input::new(value.to_string());
    }

    pub fn clear(&mut self) {
        self.input.reset();
    }

    pub fn is_empty(&self) -> bool {
        self.value().is_empty()
    }

    /// The cursor's display column from the start of the text.
    pub fn cursor(&self) -> usize {
        self.input.visual_cursor()
    }

    /// The first display column shown in a box `width` wide, keeping the cursor in sight.
    pub fn scroll(&self, width: usize) -> usize {
        self.input.visual_scroll(width.saturating_sub(1))
    }

    /// Applies an editing key; whether the text changed. Keys that are not editing keys (enter,
    /// esc, tab, up, down) are left to the caller (false, and `is_edit_key` says so).
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        let Some(req) = self.request(key) else {
            return false;
        };
        if let InputRequest::InsertChar(c) = req {
            if self.value().chars().count() >= self.max || (self.digits_only && !c.is_ascii_digit())
            {
                return false;
            }
        }
        let before = self.value().to_string();
        self.input.handle(req);
        before != self.value()
    }

    /// Whether `key` edits text (so a field takes it rather than the form).
    pub fn is_edit_key(key: &KeyEvent) -> bool {
        TextInput::default().request(key).is_some()
    }

    fn request(&self, key: &KeyEvent) -> Option<InputRequest> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        Some(match key.code {
            KeyCode::Char('w') if ctrl => InputRequest::DeletePrevWord,
            KeyCode::Char('u') if ctrl => InputRequest::DeleteLine,
            KeyCode::Char('k') if ctrl => InputRequest::DeleteTillEnd,
            KeyCode::Char('a') if ctrl => InputRequest::GoToStart,
            KeyCode::Char('e') if ctrl => InputRequest::GoToEnd,
            KeyCode::Char('b') if alt => InputRequest::GoToPrevWord,
            KeyCode::Char('f') if alt => InputRequest::GoToNextWord,
            KeyCode::Char(c) if !ctrl && !alt && !c.is_control() => InputRequest::InsertChar(c),
            KeyCode::Backspace if ctrl || alt => InputRequest::DeletePrevWord,
            KeyCode::Backspace => InputRequest::DeletePrevChar,
            KeyCode::Delete => InputRequest::DeleteNextChar,
            KeyCode::Left if ctrl || alt => InputRequest::GoToPrevWord,
            KeyCode::Right if ctrl || alt => InputRequest::GoToNextWord,
            KeyCode::Left => InputRequest::GoToPrevChar,
            KeyCode::Right => InputRequest::GoToNextChar,
            KeyCode::Home => InputRequest::GoToStart,
            KeyCode::End => InputRequest::GoToEnd,
            _ => return None,
        })
    }
}

/// One option of a choice or a multi-select: a value for the operation and a label to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub value: String,
    pub label: String,
}

impl Opt {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Opt {
        Opt {
            value: value.into(),
            label: label.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Text(TextInput),
    /// Shown as dots (passwords, PINs).
    Secret(TextInput),
    /// One of the options: ←/→ or space moves.
    Choice {
        options: Vec<Opt>,
        at: usize,
    },
    /// Any of the options: ←/→ moves the cursor, space ticks, `a` ticks all or none.
    Multi {
        options: Vec<Opt>,
        checked: Vec<bool>,
        cursor: usize,
    },
    /// Shown, not edited (the person an issue is for).
    Shown(String),
}

impl Input {
    pub fn text(value: &str) -> Input {
        Input::Text(TextInput::new(value))
    }

    pub fn choice(options: Vec<Opt>, selected: &str) -> Input {
        let at = options
            .iter()
            .position(|o| o.value == selected)
            .unwrap_or(0);
        Input::Choice { options, at }
    }

    pub fn multi(options: Vec<Opt>, checked: impl Fn(&Opt) -> bool) -> Input {
        let checked = options.iter().map(checked).collect();
        Input::Multi {
            options,
            checked,
            cursor: 0,
        }
    }

    /// Edits with one key; whether the value changed.
    fn key(&mut self, key: &KeyEvent) -> bool {
        match self {
            Input::Text(t) | Input::Secret(t) => t.key(key),
            Input::Choice { options, at } => {
                let n = options.len().max(1);
                match key.code {
                    KeyCode::Right | KeyCode::Char(' ') => *at = (*at + 1) % n,
                    KeyCode::Left => *at = (*at + n - 1) % n,
                    _ => return false,
                }
                true
            }
            Input::Multi {
                options,
                checked,
                cursor,
            } => match key.code {
                KeyCode::Right => {
                    *cursor = (*cursor + 1).min(options.len().saturating_sub(1));
                    false
                }
                KeyCode::Left => {
                    *cursor = cursor.saturating_sub(1);
                    false
                }
                KeyCode::Char(' ') | KeyCode::Char('x') => match checked.get_mut(*cursor) {
                    Some(c) => {
                        *c = !*c;
                        true
                    }
                    None => false,
                },
                KeyCode::Char('a') => {
                    // All, or none when all are ticked already.
                    let all = checked.iter().all(|c| *c);
                    checked.iter_mut().for_each(|c| *c = !all);
                    true
                }
                _ => false,
            },
            Input::Shown(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<F> {
    pub id: F,
    pub input: Input,
}

impl<F> Field<F> {
    pub fn text(id: F, value: &str) -> Field<F> {
        Field {
            id,
            input: Input::text(value),
        }
    }

    pub fn secret(id: F) -> Field<F> {
        Field {
            id,
            input: Input::Secret(TextInput::default()),
        }
    }

    pub fn with(id: F, input: Input) -> Field<F> {
        Field { id, input }
    }
}

/// What a key did to a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKey<F> {
    /// A field's value changed.
    Changed(F),
    /// Moved between fields, or moved within one without changing it.
    Moved,
    Submit,
    Cancel,
    /// Nothing to do with the form.
    Ignored,
}

/// A form: its title names the object ("Reissue card 8165537 of 王芳"), its intro says what
/// the operator should know first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form<F> {
    pub title: String,
    pub intro: Vec<String>,
    pub fields: Vec<Field<F>>,
    pub focus: usize,
    pub error: Option<String>,
    /// Waiting for the answer: keys other than esc do nothing.
    pub busy: bool,
    /// Enter moves to the next field until the last (the sign-in screens); otherwise enter
    /// submits from any field (the popups, filled already).
    pub enter_advances: bool,
}

impl<F: FieldId> Form<F> {
    pub fn new(title: String, fields: Vec<Field<F>>) -> Form<F> {
        let focus = fields
            .iter()
            .position(|f| !matches!(f.input, Input::Shown(_)))
            .unwrap_or(0);
        Form {
            title,
            intro: Vec::new(),
            fields,
            focus,
            error: None,
            busy: false,
            enter_advances: false,
        }
    }

    pub fn with_intro(mut self, intro: Vec<String>) -> Form<F> {
        self.intro = intro;
        self
    }

    pub fn field(&self, id: F) -> Option<&Field<F>> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_mut(&mut self, id: F) -> Option<&mut Field<F>> {
        self.fields.iter_mut().find(|f| f.id == id)
    }

    pub fn has(&self, id: F) -> bool {
        self.field(id).is_some()
    }

    pub fn focused(&self) -> Option<F> {
        self.fields.get(self.focus).map(|f| f.id)
    }

    /// A text or secret field's value, trimmed; "" when there is no such field.
    pub fn text(&self, id: F) -> &str {
        match self.field(id).map(|f| &f.input) {
            Some(Input::Text(t)) => t.value().trim(),
            Some(Input::Secret(t)) => t.value(),
            _ => "",
        }
    }

    /// The chosen option's value of a choice field.
    pub fn choice(&self, id: F) -> &str {
        match self.field(id).map(|f| &f.input) {
            Some(Input::Choice { options, at }) => {
                options.get(*at).map(|o| o.value.as_str()).unwrap_or("")
            }
            _ => "",
        }
    }

    /// The ticked options' values of a multi-select field.
    pub fn ticked(&self, id: F) -> Vec<&str> {
        match self.field(id).map(|f| &f.input) {
            Some(Input::Multi {
                options, checked, ..
            }) => options
                .iter()
                .zip(checked)
                .filter(|(_, c)| **c)
                .map(|(o, _)| o.value.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Sets a text field (defaults that follow another field).
    pub fn set_text(&mut self, id: F, value: &str) {
        if let Some(Field {
            input: Input::Text(t) | Input::Secret(t),
            ..
        }) = self.field_mut(id)
        {
            t.set(value);
        }
    }

    /// Ticks a multi-select's options by `f`.
    pub fn set_ticked(&mut self, id: F, f: impl Fn(&Opt) -> bool) {
        if let Some(Field {
            input: Input::Multi {
                options, checked, ..
            },
            ..
        }) = self.field_mut(id)
        {
            for (o, c) in options.iter().zip(checked.iter_mut()) {
                *c = f(o);
            }
        }
    }

    /// Points the cursor at a field (the one at fault).
    pub fn focus_on(&mut self, id: F) {
        if let Some(i) = self.fields.iter().position(|f| f.id == id) {
            self.focus = i;
        }
    }

    /// Clears every secret field (after a refused sign-in nothing typed stays).
    pub fn clear_secrets(&mut self) {
        for f in &mut self.fields {
            if let Input::Secret(t) = &mut f.input {
                t.clear();
            }
        }
    }

    /// The form is waiting; `error` (None: waiting) ends the wait with a refusal.
    pub fn refused(&mut self, error: String) {
        self.busy = false;
        self.error = Some(error);
    }

    /// One key: tab and the arrows up and down move between fields, the focused field takes
    /// editing keys, enter submits (or advances), esc cancels. A busy form only cancels.
    pub fn key(&mut self, key: &KeyEvent) -> FormKey<F> {
        if key.code == KeyCode::Esc {
            return FormKey::Cancel;
        }
        if self.busy {
            return FormKey::Ignored;
        }
        let editable: Vec<usize> = (0..self.fields.len())
            .filter(|i| !matches!(self.fields[*i].input, Input::Shown(_)))
            .collect();
        let pos = editable.iter().position(|i| *i == self.focus).unwrap_or(0);
        let last = editable.len().saturating_sub(1);
        match key.code {
            KeyCode::Enter if self.enter_advances && pos < last => {
                self.focus = editable[pos + 1];
                FormKey::Moved
            }
            KeyCode::Enter => FormKey::Submit,
            KeyCode::Tab | KeyCode::Down => {
                if let Some(&i) = editable.get((pos + 1).min(last)) {
                    self.focus = i;
                }
                FormKey::Moved
            }
            KeyCode::BackTab | KeyCode::Up => {
                if let Some(&i) = editable.get(pos.saturating_sub(1)) {
                    self.focus = i;
                }
                FormKey::Moved
            }
            _ => {
                let Some(field) = self.fields.get_mut(self.focus) else {
                    return FormKey::Ignored;
                };
                if field.input.key(key) {
                    self.error = None;
                    FormKey::Changed(field.id)
                } else {
                    FormKey::Moved
                }
            }
        }
    }
}

/// An action waiting for y/n, named in full on screen ("Open door 2 of 图书馆东门? y/n").
/// A tab holds its own, so the action is the tab's own effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm<E> {
    pub question: String,
    pub effect: E,
}

/// What a key says to a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// Any other key: the question stays.
    Wait,
}

impl Answer {
    pub fn of(key: &KeyEvent) -> Answer {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Answer::Yes,
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => Answer::No,
            _ => Answer::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(t: &mut TextInput, s: &str) {
        for c in s.chars() {
            t.key(&k(KeyCode::Char(c)));
        }
    }

    #[test]
    fn text_edits_at_the_cursor_and_counts_chinese_as_two_columns() {
        let mut t = TextInput::default();
        typed(&mut t, "学生宿舍");
        assert_eq!(t.cursor(), 8);
        t.key(&k(KeyCode::Home));
        assert_eq!(t.cursor(), 0);
        t.key(&k(KeyCode::Right));
        typed(&mut t, "x");
        assert_eq!(t.value(), "学x生宿舍");
        t.key(&k(KeyCode::End));
        t.key(&k(KeyCode::Backspace));
        assert_eq!(t.value(), "学x生宿");
        let mut w = TextInput::new("library east door");
        w.key(&KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(w.value(), "library east ");
        w.key(&k(KeyCode::Left));
        w.key(&k(KeyCode::Delete));
        assert_eq!(w.value(), "library east");
    }

    #[test]
    fn text_is_bounded_and_digits_stay_digits() {
        let mut t = TextInput::default().max(3);
        typed(&mut t, "abcdef");
        assert_eq!(t.value(), "abc");
        let mut pin = TextInput::default().digits();
        typed(&mut pin, "1a2");
        assert_eq!(pin.value(), "12");
    }
}
