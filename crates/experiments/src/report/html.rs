//! `REPORT.html`: the report's Markdown as one self-contained HTML page, with every SVG figure
//! inlined (so the page can be mailed or archived alone).
//!
//! The Markdown goes through `pulldown-cmark` (CommonMark plus tables), so emphasis, escapes and
//! tables render as any Markdown viewer shows REPORT.md. Three things are ours, on its event
//! stream: headings get GitHub-style `id`s (the report links to `#environment`), an image of a
//! readable `.svg` file becomes the SVG itself in a `<figure>`, and raw HTML in the Markdown is
//! shown as text (the report's text is measurements and prose, never markup).

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};
use std::path::Path;

/// HTML-escape text (for the title and attributes we write ourselves).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// The anchor of a heading (GitHub style: lower case, spaces to dashes, punctuation dropped).
pub fn anchor(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The SVG document of `src` (relative to `base`) ready to inline, if it is a readable `.svg`:
/// from its `<svg` on, so an XML declaration does not land in the middle of the page.
fn inline_svg(base: &Path, src: &str) -> Option<String> {
    if !src.ends_with(".svg") || src.contains("://") {
        return None;
    }
    let text = std::fs::read_to_string(base.join(src)).ok()?;
    let start = text.find("<svg")?;
    Some(text[start..].trim_end().to_string())
}

/// The plain text of a run of inline events (a heading's anchor, an image's caption).
fn plain_text(events: &[Event<'_>]) -> String {
    let mut s = String::new();
    for e in events {
        match e {
            Event::Text(t) | Event::Code(t) => s.push_str(t),
            Event::SoftBreak | Event::HardBreak => s.push(' '),
            _ => {}
        }
    }
    s
}

/// Events from `events[start]` (an opening tag) up to its closing tag `end`, exclusive of both;
/// returns them and the index after the closing tag.
fn until_end<'a>(events: &[Event<'a>], start: usize, end: TagEnd) -> (Vec<Event<'a>>, usize) {
    let mut inner = Vec::new();
    let mut depth = 0usize;
    let mut i = start + 1;
    while i < events.len() {
        match &events[i] {
            Event::Start(_) => depth += 1,
            Event::End(e) if depth == 0 && *e == end => return (inner, i + 1),
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        inner.push(events[i].clone());
        i += 1;
    }
    (inner, i)
}

/// The events of `md` with our three changes applied (see the module documentation).
fn transform<'a>(events: Vec<Event<'a>>, base: &Path) -> Vec<Event<'a>> {
    let mut out = Vec::with_capacity(events.len());
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            Event::Start(Tag::Heading { level, .. }) => {
                let (inner, next) = until_end(&events, i, TagEnd::Heading(*level));
                let mut content = String::new();
                html::push_html(&mut content, transform(inner.clone(), base).into_iter());
                out.push(Event::Html(CowStr::from(format!(
                    "<{level} id=\"{}\">{content}</{level}>\n",
                    escape(&anchor(&plain_text(&inner)))
                ))));
                i = next;
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                let (inner, next) = until_end(&events, i, TagEnd::Image);
                match inline_svg(base, dest_url) {
                    Some(svg) => {
                        out.push(Event::Html(CowStr::from(format!(
                            "<figure>{svg}\n<figcaption>{}</figcaption></figure>",
                            escape(&plain_text(&inner))
                        ))));
                        i = next;
                    }
                    None => {
                        out.push(events[i].clone());
                        i += 1;
                    }
                }
            }
            // A paragraph that is only an inlined figure loses its `<p>`: a `<figure>` may not
            // stand inside one.
            Event::Start(Tag::Paragraph) => {
                let (inner, next) = until_end(&events, i, TagEnd::Paragraph);
                let lone_svg = match inner.first() {
                    Some(Event::Start(Tag::Image { dest_url, .. })) => {
                        let (_, after) = until_end(&inner, 0, TagEnd::Image);
                        after == inner.len() && inline_svg(base, dest_url).is_some()
                    }
                    _ => false,
                };
                if lone_svg {
                    out.extend(transform(inner, base));
                    out.push(Event::Html(CowStr::from("\n")));
                    i = next;
                } else {
                    out.push(events[i].clone());
                    i += 1;
                }
            }
            Event::Html(raw) | Event::InlineHtml(raw) => {
                out.push(Event::Text(raw.clone()));
                i += 1;
            }
            e => {
                out.push(e.clone());
                i += 1;
            }
        }
    }
    out
}

/// Markdown to an HTML fragment; images resolve against `base`.
pub fn body(md: &str, base: &Path) -> String {
    let events: Vec<Event<'_>> = Parser::new_ext(md, Options::ENABLE_TABLES).collect();
    let mut out = String::new();
    html::push_html(&mut out, transform(events, base).into_iter());
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#222}\
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top}\
th{background:#f3f3f3}code{background:#f3f3f3;padding:0 .2rem}pre{background:#f6f6f6;padding:.75rem;overflow-x:auto}\
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#555}";

/// A complete HTML page with `title` for the Markdown `md`, figures inlined from `base`.
pub fn page(title: &str, md: &str, base: &Path) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        escape(title),
        body(md, base)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_renders_emphasis_tables_and_inline_svg() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sec")).unwrap();
        std::fs::write(
            dir.path().join("sec/fig.svg"),
            "<?xml version=\"1.0\"?>\n<svg width=\"10\"><rect/></svg>\n",
        )
        .unwrap();
        let md = "# Report\n\n*Clear margin*: runner-up/dominant and **bold**, `a<b`, \
                  [link](#environment), x <b>raw</b>.\n\n## Claims table\n\n\
                  | id | value |\n|---|---:|\n| C1 | a \\| b |\n\n\
                  - one\n- two\n\n```text\n<raw> & code\n```\n\n\
                  ![a figure](sec/fig.svg)\n\n![missing](sec/none.png)\n";
        let html = page("R & D", md, dir.path());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>R &amp; D</title>"));
        assert!(html.contains("<h1 id=\"report\">Report</h1>"), "{html}");
        assert!(html.contains("<h2 id=\"claims-table\">Claims table</h2>"));
        // Emphasis is emphasis, not asterisks.
        assert!(html.contains("<em>Clear margin</em>"), "{html}");
        assert!(!html.contains("*Clear margin*"));
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains("<code>a&lt;b</code>"));
        assert!(html.contains("<a href=\"#environment\">link</a>"));
        // Raw HTML in the Markdown is text.
        assert!(html.contains("&lt;b&gt;raw&lt;/b&gt;"), "{html}");
        // Tables are tables, with alignment and escaped pipes.
        assert!(html.contains("<table>"));
        assert!(html.contains("<th>id</th>"));
        assert!(
            html.contains("<td style=\"text-align: right\">a | b</td>"),
            "{html}"
        );
        assert!(html.contains("<li>one</li>"));
        assert!(html
            .contains("<pre><code class=\"language-text\">&lt;raw&gt; &amp; code\n</code></pre>"));
        // An SVG image is the SVG itself, outside any paragraph, without its XML declaration.
        assert!(html.contains(
            "<figure><svg width=\"10\"><rect/></svg>\n<figcaption>a figure</figcaption></figure>"
        ), "{html}");
        assert!(!html.contains("<p><figure>"));
        assert!(!html.contains("<?xml"));
        assert!(html.contains("<img src=\"sec/none.png\" alt=\"missing\""));
    }
}
