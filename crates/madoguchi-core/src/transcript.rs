//! The words of a chat transcript's system lines ("an operator joined", "the chat
//! ended", a rating…), shared by Chat, which writes them, and Desk, which shows the
//! transcript on a ticket: both store the event (`kind` and its argument) and render it
//! in the reader's language, so an English visitor's transcript reads in English to an
//! English reader and in Japanese to a Japanese one.

use crate::i18n::{self, Lang};

/// The catalog key of a system line of `kind` (unknown kinds read as "ended").
pub fn system_key(kind: &str) -> &'static str {
    match kind {
        "joined" => "chat-system-joined",
        "missed" => "chat-system-missed",
        "left" => "chat-system-left",
        "ended_idle" => "chat-system-ended-idle",
        "offline" => "chat-system-offline",
        "rated" => "chat-system-rated",
        "participant" => "chat-system-participant",
        "transferred" => "chat-system-transferred",
        _ => "chat-system-ended",
    }
}

/// The text of a system line of `kind` with its argument, in `lang`. A rating's
/// argument is the rating, then a newline and the comment, if any; the others' is a name.
pub fn system_text(lang: Lang, kind: &str, arg: Option<&str>) -> String {
    if kind == "rated" {
        let (rating, comment) = match arg.unwrap_or("").split_once('\n') {
            Some((r, c)) => (r, c),
            None => (arg.unwrap_or(""), ""),
        };
        let word = i18n::t(lang, &format!("chat-rating-{rating}"));
        let key = if comment.is_empty() {
            "chat-system-rated"
        } else {
            "chat-system-rated-comment"
        };
        return i18n::t_args(lang, key, &[("rating", &word), ("comment", comment)]);
    }
    i18n::t_args(lang, system_key(kind), &[("name", arg.unwrap_or(""))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_line_reads_in_the_readers_language() {
        assert_eq!(
            system_text(Lang::Ja, "ended", None),
            "チャットが終了しました"
        );
        assert_ne!(
            system_text(Lang::En, "ended", None),
            system_text(Lang::Ja, "ended", None)
        );
        assert!(system_text(Lang::En, "joined", Some("Sato")).contains("Sato"));
        assert!(system_text(Lang::Ja, "rated", Some("good\nありがとう")).contains("ありがとう"));
    }
}
