//! Page HTML read with a parser: CSS selectors instead of substrings, so a check names
//! the element it means (a form with this action, the selected option of a select, the
//! error next to a field) and cannot be satisfied by the same words elsewhere on the
//! page.

use scraper::{ElementRef, Html, Selector};

/// A parsed page. Parse where it is read (`Doc::parse(&page.html)`): the parsed tree is
/// not `Send`, so keep it out of `.await`s.
pub struct Doc(Html);

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad CSS selector {css:?}: {e}"))
}

/// A page response: status, `Location`, content type and body, read once for the
/// page tests of both contexts.
pub struct Page {
    pub status: u16,
    pub location: String,
    pub content_type: String,
    pub html: String,
}

impl Page {
    /// Reads a response (any status: a refusal is a page too).
    pub async fn read(res: reqwest::Response) -> Self {
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (location, content_type) = (header("location"), header("content-type"));
        Self {
            status: res.status().as_u16(),
            location,
            content_type,
            html: res.text().await.expect("the page's body"),
        }
    }

    /// The page parsed, for selector checks.
    pub fn doc(&self) -> Doc {
        Doc::parse(&self.html)
    }
}

/// The text of an element with its white space folded (what a reader sees).
pub fn text_of(el: ElementRef<'_>) -> String {
    el.text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Doc {
    pub fn parse(html: &str) -> Self {
        Self(Html::parse_document(html))
    }

    /// The elements matching `css`, in document order.
    pub fn all(&self, css: &str) -> Vec<ElementRef<'_>> {
        self.0.select(&selector(css)).collect()
    }

    pub fn count(&self, css: &str) -> usize {
        self.all(css).len()
    }

    pub fn exists(&self, css: &str) -> bool {
        self.count(css) > 0
    }

    /// The folded text of each element matching `css`, in document order.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.all(css).into_iter().map(text_of).collect()
    }

    /// The folded text of the first element matching `css`; `None` without one.
    pub fn text(&self, css: &str) -> Option<String> {
        self.all(css).into_iter().next().map(text_of)
    }

    /// The text of the whole page (what a reader sees, scripts and attributes aside).
    pub fn page_text(&self) -> String {
        self.text("body").unwrap_or_default()
    }

    /// Whether some element matching `css` has `needle` in its text.
    pub fn has(&self, css: &str, needle: &str) -> bool {
        self.texts(css).iter().any(|t| t.contains(needle))
    }

    /// The attribute `name` of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.all(css)
            .into_iter()
            .find_map(|el| el.value().attr(name).map(str::to_owned))
    }

    /// The attribute `name` of each element matching `css` that has it, in order.
    pub fn attrs(&self, css: &str, name: &str) -> Vec<String> {
        self.all(css)
            .into_iter()
            .filter_map(|el| el.value().attr(name).map(str::to_owned))
            .collect()
    }

    /// The selected option of `select[name=…]`: its value and its text.
    pub fn selected(&self, select_name: &str) -> Option<(String, String)> {
        self.all(&format!("select[name=\"{select_name}\"] option[selected]"))
            .into_iter()
            .next()
            .map(|o| (o.value().attr("value").unwrap_or("").to_owned(), text_of(o)))
    }

    /// The value of the input `name` (the first one, in any form).
    pub fn input_value(&self, name: &str) -> Option<String> {
        self.attr(&format!("input[name=\"{name}\"]"), "value")
    }

    /// Whether a form posts to `action`.
    pub fn has_form(&self, action: &str) -> bool {
        self.exists(&format!("form[action=\"{action}\"]"))
    }

    /// The folded text of the validation message shown at `field` (the element
    /// `[data-field=field]`); `None` when the field has none.
    pub fn field_error(&self, field: &str) -> Option<String> {
        self.text(&format!(".field-error[data-field=\"{field}\"]"))
    }
}
