//! The renderer's outputs decode back to what was drawn.

use super::*;

/// A token shaped like the real ones: ~170 chars of base64url and a dot.
fn token(seed: usize) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut token: String = (0..170)
        .map(|i| alphabet[(i * 37 + seed) % 64] as char)
        .collect();
    token.replace_range(126..127, ".");
    token
}

fn ticket(reference: &str, holder: &str) -> TicketFace {
    TicketFace {
        event_title: "The Marquee Winter Gala: an evening of music, dance and theatre".into(),
        starts_at: "2027-03-01 20:00 UTC".into(),
        venue: "Grand Hall".into(),
        place: "Stalls A-12".into(),
        holder: holder.into(),
        reference: reference.into(),
        secret: "ABCD-EFGH-JKMN-PQRS-TUVW-XYZ2-3456".into(),
        qr_token: token(holder.len()),
    }
}

#[test]
fn png_decodes_back_to_the_token() {
    let token = token(3);
    let mut decoder = png::Decoder::new(std::io::Cursor::new(qr_png(&token).unwrap()));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut grey = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut grey).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    let (w, h) = (frame.width as usize, frame.height as usize);
    // Version 9 (53 modules) and a 4-module quiet zone, 8 px a module.
    assert_eq!((w, h), (61 * 8, 61 * 8));
    assert!(grey[..w * 32].iter().all(|&p| p == 255), "white quiet zone");
    assert_eq!(
        grey[32 * w + 32],
        0,
        "the finder pattern starts at (32, 32)"
    );
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    let (meta, content) = grids[0].decode().unwrap();
    assert_eq!(meta.ecc_level, 0, "EC level M");
    assert_eq!(content, token);
}

#[test]
fn svg_is_a_standalone_document() {
    let svg = qr_svg(&token(1)).unwrap();
    assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
    assert_eq!(svg.matches("<svg").count(), 1);
    assert!(svg.contains("viewBox") && svg.ends_with("</svg>"));
}

#[test]
fn runs_cover_exactly_the_dark_modules() {
    let code = encode(&token(2)).unwrap();
    let n = code.width();
    let mut painted = vec![Color::Light; n * n];
    for (y, x, len) in dark_runs(&code) {
        for cell in &mut painted[y * n + x..y * n + x + len] {
            assert_eq!(*cell, Color::Light, "runs overlap");
            *cell = Color::Dark;
        }
    }
    assert_eq!(painted, code.to_colors());
}

#[test]
fn long_text_wraps_within_the_margins() {
    let title = "A Festival Title Much Too Long For One Line Of An A6 Ticket";
    let word = "W".repeat(60);
    for (text, joiner) in [(title, " "), (word.as_str(), "")] {
        let lines = wrap(&BOLD, text, 17.0, TEXT_W);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| BOLD.width(l, 17.0) <= TEXT_W));
        assert_eq!(lines.join(joiner), text);
    }
}

fn text_of(pdf: &[u8]) -> Vec<String> {
    let document = lopdf::Document::load_mem(pdf).unwrap();
    let pages = document.get_pages().into_keys();
    pages
        .map(|n| document.extract_text(&[n]).unwrap())
        .collect()
}

#[test]
fn pdf_has_a_page_per_ticket_with_extractable_text() {
    let a = ticket("7KQ2M9XD", "Ada Lovelace");
    let b = ticket("X4HN8P2R", "Grace Hopper");
    let pdf = pdf(&[a.clone(), b.clone()]).unwrap();
    assert!(pdf.len() < 100_000, "fonts are subset: {} bytes", pdf.len());
    let pages = text_of(&pdf);
    assert_eq!(pages.len(), 2);
    for (text, t) in pages.iter().zip([&a, &b]) {
        for field in [
            &t.reference,
            &t.holder,
            &t.place,
            &t.venue,
            &t.secret,
            &t.starts_at,
        ] {
            assert!(text.contains(field.as_str()), "{field:?} not in {text:?}");
        }
        assert!(text.contains("Seat / type") && text.contains("Reference"));
    }
    assert!(!pages[0].contains(&b.reference) && !pages[1].contains(&a.reference));
    assert!(super::pdf(&[]).is_err());
}

#[test]
fn non_ascii_holder_renders_and_is_extractable() {
    let mut face = ticket("7KQ2M9XD", "Zoë Ångström");
    face.venue = String::new();
    let pages = text_of(&pdf(&[face]).unwrap());
    assert!(pages[0].contains("Zoë Ångström"), "{:?}", pages[0]);
}

#[test]
fn one_ticket_s_files_match_the_separate_renderers() {
    let face = ticket("7KQ2M9XD", "Ada Lovelace");
    let (png, svg, pdf_bytes) = ticket_files(&face).unwrap();
    assert_eq!(png, qr_png(&face.qr_token).unwrap());
    assert_eq!(svg, qr_svg(&face.qr_token).unwrap());
    let pages = text_of(&pdf_bytes);
    assert_eq!(pages.len(), 1);
    assert!(pages[0].contains("7KQ2M9XD"), "{}", pages[0]);
}
