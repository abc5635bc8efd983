//! Ticket rendering: the QR code as PNG and SVG, and printable PDF pages.
//! Pure functions: callers load the data and store or send the bytes.

use std::fmt::Write as _;
use std::sync::LazyLock;

use anyhow::{Context, anyhow};
use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect, Transform};
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::{Data, Document};
use qrcode::{Color, EcLevel, QrCode};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::TableProvider;
use skrifa::{FontRef, GlyphId, MetadataProvider};

/// What one printed ticket shows.
#[derive(Clone, Debug)]
pub struct TicketFace {
    pub event_title: String,
    /// Already formatted, e.g. "2027-03-01 20:00 UTC".
    pub starts_at: String,
    /// The venue's name; "" for none.
    pub venue: String,
    /// A seat label ("Stalls A-12") or a ticket type ("General admission").
    pub place: String,
    pub holder: String,
    /// The booking reference, e.g. "7KQ2M9XD".
    pub reference: String,
    /// The code a person types by hand when the QR cannot be scanned.
    pub secret: String,
    /// The signed token the QR carries.
    pub qr_token: String,
}

/// Modules of white around the code: the QR specification's quiet zone.
const QUIET: usize = 4;
/// PNG pixels per module: ~500 px for a ~170-byte token, sharp when printed.
const PNG_MODULE_PX: usize = 8;
/// A6 portrait, in points; a page only grows taller if its text needs it.
const PAGE_W: f32 = 297.6;
const PAGE_H: f32 = 419.5;
const MARGIN: f32 = 22.0;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Smallest printed QR (quiet zone included): ~0.9 mm modules at version 9.
const QR_MIN: f32 = 150.0;

/// A font for both jobs: krilla embeds (and subsets) it, skrifa measures
/// text so that long titles wrap instead of running off the page. Parsed
/// once per process: workers render thousands of tickets.
struct Face {
    pdf: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Self {
        let font = FontRef::new(data).expect("the vendored font parses");
        Face {
            pdf: Font::new(Data::from(data), 0).expect("the vendored font parses"),
            charmap: font.charmap(),
            metrics: font.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em: font.head().map_or(2048.0, |h| f32::from(h.units_per_em())),
        }
    }

    /// Advance width of `text` at `size` points (no kerning: a little slack).
    fn width(&self, text: &str, size: f32) -> f32 {
        let units: f32 = text
            .chars()
            .map(|c| self.charmap.map(c).unwrap_or(GlyphId::NOTDEF))
            .filter_map(|glyph| self.metrics.advance_width(glyph))
            .sum();
        units * size / self.units_per_em
    }
}

static REGULAR: LazyLock<Face> =
    LazyLock::new(|| Face::load(include_bytes!("../../assets/fonts/DejaVuSans.ttf")));
static BOLD: LazyLock<Face> =
    LazyLock::new(|| Face::load(include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf")));

/// Level M survives ~15% damage (creased paper, a scratched screen) and
/// keeps a ~170-byte token at version 9, 53 modules a side.
fn encode(token: &str) -> anyhow::Result<QrCode> {
    QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M)
        .map_err(|error| anyhow!("cannot encode the token as a QR code: {error}"))
}

/// Horizontal runs of dark modules as (row, first column, length): one
/// rectangle per run keeps the PDF small.
fn dark_runs(code: &QrCode) -> Vec<(usize, usize, usize)> {
    let (n, colors) = (code.width(), code.to_colors());
    let mut runs = Vec::new();
    for (y, row) in colors.chunks(n).enumerate() {
        let mut x = 0;
        while x < n {
            let len = row[x..].iter().take_while(|&&c| c == Color::Dark).count();
            if len > 0 {
                runs.push((y, x, len));
            }
            x += len.max(1);
        }
    }
    runs
}

/// One ticket's three files, `(PNG, SVG, PDF)`, encoding its QR once (the
/// encoding is a third of the work).
pub fn ticket_files(ticket: &TicketFace) -> anyhow::Result<(Vec<u8>, String, Vec<u8>)> {
    let code = encode(&ticket.qr_token)?;
    Ok((png_of(&code)?, svg_of(&code)?, pdf_of(&[(ticket, &code)])?))
}

/// The QR code as a 1-bit greyscale PNG, black on white, with a quiet zone.
pub fn qr_png(token: &str) -> anyhow::Result<Vec<u8>> {
    png_of(&encode(token)?)
}

fn png_of(code: &QrCode) -> anyhow::Result<Vec<u8>> {
    let side = (code.width() + 2 * QUIET) * PNG_MODULE_PX;
    let row_bytes = side.div_ceil(8);
    // 1 bits are white: start white, clear the dark modules' bits.
    let mut pixels = vec![0xFF_u8; row_bytes * side];
    for (y, x, len) in dark_runs(code) {
        let top = (QUIET + y) * PNG_MODULE_PX;
        for px in (QUIET + x) * PNG_MODULE_PX..(QUIET + x + len) * PNG_MODULE_PX {
            for py in top..top + PNG_MODULE_PX {
                pixels[py * row_bytes + px / 8] &= !(0x80 >> (px % 8));
            }
        }
    }
    let side = u32::try_from(side).context("QR code too large")?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

/// The QR code as a standalone SVG document: one unit per module, drawn
/// at 8 px a module, one path of dark runs (a third of a per-module path).
pub fn qr_svg(token: &str) -> anyhow::Result<String> {
    svg_of(&encode(token)?)
}

fn svg_of(code: &QrCode) -> anyhow::Result<String> {
    let side = code.width() + 2 * QUIET;
    let px = side * PNG_MODULE_PX;
    let mut svg = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" "#,
            r#"viewBox="0 0 {side} {side}" shape-rendering="crispEdges">"#,
            r##"<rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d=""##,
        ),
        px = px,
        side = side,
    );
    for (y, x, len) in dark_runs(code) {
        let (x, y) = (QUIET + x, QUIET + y);
        write!(svg, "M{x} {y}h{len}v1h-{len}z")?;
    }
    svg.push_str(r#""/></svg>"#);
    Ok(svg)
}

/// Splits `text` into lines no wider than `width`, breaking after spaces
/// and hyphens (so a code breaks between its groups), and inside a word
/// only when the word alone is too wide.
fn wrap(face: &Face, text: &str, size: f32, width: f32) -> Vec<String> {
    let fits = |s: &str| face.width(s.trim_end(), size) <= width;
    let mut lines = Vec::new();
    let mut line = String::new();
    for piece in text.split_inclusive([' ', '-']) {
        if !line.is_empty() && !fits(&(line.clone() + piece)) {
            lines.push(line.trim_end().to_owned());
            line.clear();
        }
        line.push_str(piece);
        while !fits(&line) {
            // Keep the longest prefix that fits, at least one character.
            let cut = line
                .char_indices()
                .skip(1)
                .map(|(i, _)| i)
                .take_while(|&i| fits(&line[..i]))
                .last()
                .unwrap_or_else(|| line.chars().next().map_or(0, char::len_utf8));
            lines.push(line[..cut].to_owned());
            line.drain(..cut);
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// One line of text: its baseline, face, size and grey level (0 = black).
struct Line {
    text: String,
    face: &'static Face,
    size: f32,
    ink: u8,
    y: f32,
}

/// Text laid out top-down, left-aligned at the margin.
#[derive(Default)]
struct Layout {
    lines: Vec<Line>,
    y: f32,
}

impl Layout {
    /// Shrinks `text` (down to `min` points) until it fits `max` lines,
    /// then wraps it: never cut, as a ticket must show its whole code.
    fn block(&mut self, text: &str, face: &'static Face, ink: u8, size: f32, min: f32, max: usize) {
        // Stray newlines, tabs or double spaces would print as boxes or gaps.
        let text = &text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut size = size;
        let mut wrapped = wrap(face, text, size, TEXT_W);
        while wrapped.len() > max && size > min {
            size = (size - 0.5).max(min);
            wrapped = wrap(face, text, size, TEXT_W);
        }
        for text in wrapped {
            let y = self.y + size * 0.95;
            self.lines.push(Line {
                text,
                face,
                size,
                ink,
                y,
            });
            self.y += size * 1.25;
        }
    }
}

/// The page's text, where the rule under the event goes, where the QR
/// may start.
fn layout(ticket: &TicketFace) -> (Vec<Line>, f32, f32) {
    let (regular, bold) = (&*REGULAR, &*BOLD);
    let mut page = Layout {
        y: MARGIN,
        ..Layout::default()
    };
    page.block(&ticket.event_title, bold, 0, 17.0, 13.0, 3);
    page.y += 4.0;
    page.block(&ticket.starts_at, regular, 0, 10.5, 9.0, 1);
    page.block(&ticket.venue, regular, 0, 10.5, 9.0, 2);
    let rule_y = page.y + 9.0;
    page.y += 18.0;
    let fields = [
        ("Seat / type", &ticket.place, 12.0, 2),
        ("Holder", &ticket.holder, 12.0, 2),
        ("Reference", &ticket.reference, 14.0, 1),
        ("Code", &ticket.secret, 12.0, 1),
    ];
    for (label, value, size, max) in fields {
        page.block(label, regular, 100, 7.5, 7.5, 1);
        page.block(value, bold, 0, size, 8.0, max);
        page.y += 5.0;
    }
    (page.lines, rule_y, page.y)
}

/// Grey `lightness`, 0 for black (the default fill is black, non-zero).
fn ink(lightness: u8) -> Option<Fill> {
    let paint = luma::Color::new(lightness).into();
    Some(Fill {
        paint,
        ..Fill::default()
    })
}

/// Fills rectangles as one path, so viewers fill them together without
/// hairline seams between a QR's rows.
fn fill_rects(surface: &mut Surface<'_>, lightness: u8, rects: impl Iterator<Item = Option<Rect>>) {
    let mut path = PathBuilder::new();
    rects.flatten().for_each(|rect| path.push_rect(rect));
    if let Some(path) = path.finish() {
        surface.set_fill(ink(lightness));
        surface.draw_path(&path);
    }
}

/// One A6 page per ticket, text extractable (embedded, subset DejaVu Sans).
pub fn pdf(tickets: &[TicketFace]) -> anyhow::Result<Vec<u8>> {
    let codes = tickets
        .iter()
        .map(|t| encode(&t.qr_token))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pages: Vec<(&TicketFace, &QrCode)> = tickets.iter().zip(&codes).collect();
    pdf_of(&pages)
}

fn pdf_of(tickets: &[(&TicketFace, &QrCode)]) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(!tickets.is_empty(), "no tickets to render");
    let mut document = Document::new();
    for &(ticket, code) in tickets {
        let (lines, rule_y, qr_top) = layout(ticket);
        let height = PAGE_H.max(qr_top + QR_MIN + MARGIN);
        let settings = PageSettings::from_wh(PAGE_W, height).context("page size")?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for line in lines {
            let (font, start) = (line.face.pdf.clone(), Point::from_xy(MARGIN, line.y));
            surface.set_fill(ink(line.ink));
            surface.draw_text(
                start,
                font,
                line.size,
                &line.text,
                false,
                TextDirection::Auto,
            );
        }
        fill_rects(
            &mut surface,
            170,
            [Rect::from_xywh(MARGIN, rule_y, TEXT_W, 0.6)].into_iter(),
        );
        // The QR in module units (small integers compress well), scaled.
        let side = (height - MARGIN - qr_top).min(TEXT_W);
        let module = side / (code.width() + 2 * QUIET) as f32;
        let (left, n) = ((PAGE_W - side) / 2.0, QUIET as f32);
        surface.push_transform(&Transform::from_row(module, 0.0, 0.0, module, left, qr_top));
        let runs = dark_runs(code).into_iter();
        fill_rects(
            &mut surface,
            0,
            runs.map(|(y, x, len)| Rect::from_xywh(n + x as f32, n + y as f32, len as f32, 1.0)),
        );
        surface.pop();
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|error| match error {
        krilla::error::KrillaError::Font(_, message) => anyhow!("PDF font error: {message}"),
        other => anyhow!("PDF error: {other:?}"),
    })
}

#[cfg(test)]
mod tests;
