//! The runbooks (`docs/runbooks.md`, embedded) as an HTML page for `GET /runbooks`, so every
//! alert's `runbook_url` (`…/runbooks#<alert name in lowercase>`) opens at its section in a
//! browser. Only the Markdown the runbooks use is understood: headings, paragraphs, `-` lists,
//! `**bold**` and `` `code` ``.

/// Renders `markdown` as a complete HTML page.
pub fn to_html(markdown: &str) -> String {
    let mut page = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>monibox runbooks</title>\
         <style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5;\
         padding:0 1em}code{background:#eee;padding:0 .2em}h2{border-top:1px solid #ccc;\
         padding-top:1em}</style></head><body>\n",
    );
    let mut block = Block::None;
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            block.close(&mut page);
            continue;
        }
        if let Some((level, title)) = heading(trimmed) {
            block.close(&mut page);
            page.push_str(&format!(
                "<h{level} id=\"{}\">{}</h{level}>\n",
                anchor(title),
                inline(title)
            ));
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            match block {
                Block::List => page.push_str("</li>\n<li>"),
                _ => {
                    block.close(&mut page);
                    page.push_str("<ul>\n<li>");
                    block = Block::List;
                }
            }
            page.push_str(&inline(item));
        } else {
            match block {
                Block::None => {
                    page.push_str("<p>");
                    block = Block::Paragraph;
                }
                Block::Paragraph | Block::List => page.push(' '),
            }
            page.push_str(&inline(trimmed));
        }
    }
    block.close(&mut page);
    page.push_str("</body></html>\n");
    page
}

#[derive(Clone, Copy)]
enum Block {
    None,
    Paragraph,
    List,
}

impl Block {
    fn close(&mut self, page: &mut String) {
        match self {
            Block::None => {}
            Block::Paragraph => page.push_str("</p>\n"),
            Block::List => page.push_str("</li>\n</ul>\n"),
        }
        *self = Block::None;
    }
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    let title = line.get(level..)?.strip_prefix(' ')?;
    (1..=6).contains(&level).then_some((level, title.trim()))
}

/// The anchor of a heading: lowercase letters and digits, as `runbook_url` links expect.
fn anchor(title: &str) -> String {
    title
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `code` spans first (nothing inside them is formatted), then `**bold**` in the rest.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (index, part) in text.split('`').enumerate() {
        if index % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escape(part));
            out.push_str("</code>");
        } else {
            for (index, piece) in escape(part).split("**").enumerate() {
                if index % 2 == 1 {
                    out.push_str("<strong>");
                    out.push_str(piece);
                    out.push_str("</strong>");
                } else {
                    out.push_str(piece);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_get_the_anchors_runbook_links_use() {
        let html = to_html("# Runbooks\n\n## HighErrorRate\n\nFires when `a < b` **now**.\n");
        assert!(
            html.contains(r#"<h2 id="higherrorrate">HighErrorRate</h2>"#),
            "{html}"
        );
        assert!(
            html.contains("<p>Fires when <code>a &lt; b</code> <strong>now</strong>.</p>"),
            "{html}"
        );
    }

    #[test]
    fn lists_and_continued_lines_are_joined() {
        let html = to_html("- one\n  more\n- two\n\nafter\n");
        assert!(
            html.contains("<ul>\n<li>one more</li>\n<li>two</li>\n</ul>\n<p>after</p>"),
            "{html}"
        );
    }

    #[test]
    fn every_alert_of_the_bundle_has_its_anchor() {
        let html = to_html(crate::assets::RUNBOOKS);
        for alert in crate::assets::alert_names() {
            assert!(
                html.contains(&format!("id=\"{}\"", alert.to_lowercase())),
                "{alert}"
            );
        }
    }
}
