//! The charts' one font, DejaVu Sans (assets/fonts/, its licence beside it), compiled into the
//! binary and drawn by plotters' pure-Rust `ab_glyph` renderer: a PNG chart comes out the same
//! pixel for pixel on every machine, whatever fonts the system has. (An SVG chart names the
//! family and lets the viewer draw its text; its layout was measured with this font.)

/// The family every chart asks for.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Registers the font under [`FAMILY`]; plotters draws no text before this. Idempotent and
/// cheap after the first call, so every chart calls it.
pub fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font file is part of the source tree: a failure here is a broken checkout.
        if plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, DEJAVU_SANS)
            .is_err()
        {
            panic!("assets/fonts/DejaVuSans.ttf is not a valid TrueType font");
        }
    });
}
