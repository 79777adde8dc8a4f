//! The small pages the browser is shown after the redirect, with every
//! outside text escaped.

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, heading: &str, body: &str, color: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f4f5f7;color:#172b4d;\
         display:flex;align-items:center;justify-content:center;min-height:100vh;margin:0}}\
         main{{background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(9,30,66,.25);padding:2rem 2.5rem;max-width:34rem}}\
         h1{{font-size:1.4rem;margin:0 0 .75rem;color:{color}}}p{{line-height:1.5;margin:.5rem 0}}\
         </style></head><body><main><h1>{heading}</h1>{body}</main></body></html>\n"
    )
}

/// The page shown after a successful sign-in.
pub fn success_page() -> String {
    page(
        "Signed in to Bitbucket",
        "Signed in to Bitbucket",
        "<p>git-credential-bitbucket received your sign-in. You can close this tab and \
         return to your terminal; git carries on by itself.</p>",
        "#006644",
    )
}

/// The page shown when the sign-in failed; `reason` is escaped.
pub fn failure_page(reason: &str) -> String {
    page(
        "Bitbucket sign-in failed",
        "Sign-in failed",
        &format!(
            "<p>{}</p><p>Nothing was saved. Return to your terminal for details, then run the \
             git command again or <code>git credential-bitbucket login</code>.</p>",
            escape_html(reason)
        ),
        "#bf2600",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn failure_page_escapes_input() {
        let p = failure_page("<script>alert(1)</script>&");
        assert!(!p.contains("<script>"));
        assert!(p.contains("&lt;script&gt;") && p.contains("&amp;"));
    }

    proptest! {
        #[test]
        fn no_input_ever_gets_into_the_page_unescaped(s in "\\PC{0,80}") {
            let p = failure_page(&s);
            let body = p.split("<main>").nth(1).expect("has main");
            prop_assert!(!escape_html(&s).contains('<'));
            prop_assert_eq!(body.matches('<').count(), failure_page("").split("<main>").nth(1).expect("main").matches('<').count());
        }
    }
}
