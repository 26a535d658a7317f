//! Japanese and English (SPEC Q4). Messages live in Fluent files under `locales/`,
//! one file per bounded context so that each context owns its words; they are
//! compiled into the binary. Japanese is the default language.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best supported language of an `Accept-Language` header, by q-value.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("");
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map(|(_, l)| l)
    }
}

const JA: &[&str] = &[
    include_str!("../locales/ja/core.ftl"),
    include_str!("../locales/ja/web.ftl"),
    include_str!("../locales/ja/desk.ftl"),
    include_str!("../locales/ja/chat.ftl"),
    include_str!("../locales/ja/chat-ui.ftl"),
    include_str!("../locales/ja/desk-ui.ftl"),
    include_str!("../locales/ja/integration.ftl"),
];
const EN: &[&str] = &[
    include_str!("../locales/en/core.ftl"),
    include_str!("../locales/en/web.ftl"),
    include_str!("../locales/en/desk.ftl"),
    include_str!("../locales/en/chat.ftl"),
    include_str!("../locales/en/chat-ui.ftl"),
    include_str!("../locales/en/desk-ui.ftl"),
    include_str!("../locales/en/integration.ftl"),
];

struct Catalog {
    ja: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

fn bundle(lang: Lang, sources: &[&str]) -> FluentBundle<FluentResource> {
    let id: unic_langid::LanguageIdentifier = match lang {
        Lang::Ja => unic_langid::langid!("ja"),
        Lang::En => unic_langid::langid!("en"),
    };
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Unicode isolation marks around arguments would end up inside HTML attributes
    // and API messages; our arguments are plain text.
    bundle.set_use_isolating(false);
    for source in sources {
        // A malformed catalog is a build defect: the test `catalogs_parse` catches it.
        let resource = FluentResource::try_new((*source).to_owned()).unwrap_or_else(|(r, _)| r);
        let _ = bundle.add_resource(resource);
    }
    bundle
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog {
    ja: bundle(Lang::Ja, JA),
    en: bundle(Lang::En, EN),
});

/// The message `key` in `lang`; the key itself when it is missing (tests catch that).
pub fn t(lang: Lang, key: &str) -> String {
    t_args(lang, key, &[])
}

pub fn t_args(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let bundle = match lang {
        Lang::Ja => &CATALOG.ja,
        Lang::En => &CATALOG.en,
    };
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_owned();
    };
    let mut fargs = FluentArgs::new();
    for (k, v) in args {
        fargs.set(*k, *v);
    }
    let mut errors = vec![];
    bundle
        .format_pattern(pattern, Some(&fargs), &mut errors)
        .into_owned()
}

/// True when `key` exists in both languages.
pub fn has(key: &str) -> bool {
    CATALOG.ja.has_message(key) && CATALOG.en.has_message(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_parse_and_both_languages_have_the_same_keys() {
        for (ja, en) in JA.iter().zip(EN) {
            let ja = FluentResource::try_new((*ja).to_owned()).expect("ja catalog parses");
            let en = FluentResource::try_new((*en).to_owned()).expect("en catalog parses");
            let keys = |r: &FluentResource| -> std::collections::BTreeSet<String> {
                r.entries()
                    .filter_map(|e| match e {
                        fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                        _ => None,
                    })
                    .collect()
            };
            assert_eq!(keys(&ja), keys(&en));
        }
    }

    #[test]
    fn every_error_code_has_a_message() {
        for code in [
            "invalid_request",
            "unauthenticated",
            "not_found",
            "plan_required",
        ] {
            assert!(has(&format!("error-{code}")), "{code}");
        }
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("fr, en;q=0.5, ja;q=0.8"),
            Some(Lang::Ja)
        );
        assert_eq!(Lang::from_accept_language("fr"), None);
    }

    #[test]
    fn arguments_are_substituted_without_isolation_marks() {
        assert_eq!(
            t_args(Lang::En, "error-password-too-short", &[("min", "10")]),
            "The password must be at least 10 characters."
        );
    }
}
