//! Characters that take no room on screen.

/// Whether `c` is an invisible formatting character: zero-width spaces and
/// joiners, direction marks, the word joiner and the byte-order mark. A
/// text made only of these (and spaces) shows nothing; one starting with
/// them hides what comes next.
pub fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}
