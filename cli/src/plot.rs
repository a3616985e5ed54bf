//! Plots of bench reports and scaling sweeps, written as SVG and PNG.
//!
//! A bench report (the JSON of `ifru bench` and `ifru demo`) gives one figure of four panels:
//! test AUC and seconds (log scale) per method side by side, the forget AUC per method, and
//! the conjugate-gradient residual ‖r‖/‖g‖ per iteration of the influence methods. A sweep
//! gives a log-log figure of seconds against size, one series per method ([`scaling_plot`]).
//!
//! Where the figures go ([`output_paths`]): `FILE.svg` gives an SVG, `FILE.png` a PNG, any
//! other name both, as `FILE.svg` and `FILE.png`.
//!
//! Text is drawn with DejaVu Sans, bundled by the `dejavu` crate and handed to plotters'
//! `ab_glyph` renderer, so a PNG has its labels on a machine without system fonts (a bare
//! server, CI). An SVG names the font family and leaves the drawing to its viewer.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::RangedCoordu32;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{BenchReport, MethodFigures};

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The report lacks something a figure needs, or holds a value it cannot draw.
    #[error("report: {0}")]
    Report(String),
    /// The plotting library failed (a font, a coordinate it cannot map).
    #[error("drawing {what}: {message}")]
    Draw { what: String, message: String },
    /// The figure could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Result of this module.
pub type PlotResult<T> = Result<T, PlotError>;

/// The figures named by `file`: `[FILE]` for a name ending in `.svg` or `.png` (either
/// case), else `[FILE.svg, FILE.png]`.
pub fn output_paths(file: &Path) -> Vec<PathBuf> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg" | "png") => vec![file.to_path_buf()],
        _ => ["svg", "png"]
            .iter()
            .map(|e| {
                let mut name = OsString::from(file.as_os_str());
                name.push(".");
                name.push(e);
                PathBuf::from(name)
            })
            .collect(),
    }
}

/// What the bench figure needs from a report: the methods in display order and a title.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchFigures {
    pub title: String,
    pub methods: Vec<(String, MethodFigures)>,
}

impl BenchFigures {
    /// Reads a bench report. A report over several seeds holds means in `methods` (no traces):
    /// the residual traces then come from the first run.
    pub fn from_report(report: &BenchReport) -> PlotResult<Self> {
        let first_run = report.runs.first().map(|r| &r.methods);
        let mut out = Vec::new();
        for (entry, m) in &report.methods {
            let mut m = m.clone();
            if m.residual_trace.is_none()
                && let Some(one) = first_run.and_then(|r| r.get(entry))
            {
                m.residual = one.residual;
                m.residual_trace = one.residual_trace.clone();
            }
            if !(m.seconds.is_finite() && m.seconds >= 0.0) {
                return Err(PlotError::Report(format!(
                    "methods.{entry}.seconds is {}",
                    m.seconds
                )));
            }
            out.push((entry.to_string(), m));
        }
        if out.is_empty() {
            return Err(PlotError::Report("\"methods\" is empty".into()));
        }
        let dataset: PathBuf = {
            let parts: Vec<_> = report.dataset.iter().collect();
            parts[parts.len().saturating_sub(2)..].iter().collect()
        };
        let mut title = serde_json::to_value(report.header.model)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let layers = report.header.layers;
        if layers > 0 {
            title.push_str(&format!(
                ", {layers} layer{}",
                if layers == 1 { "" } else { "s" }
            ));
        }
        title.push_str(&format!(", d = {}", report.header.dim));
        if !dataset.as_os_str().is_empty() {
            title.push_str(&format!(", on {}", dataset.display()));
        }
        title.push_str(&format!(
            ": forgetting {} of {} training rows; adapter {}",
            report.forget_rows, report.train_rows, report.adapter.name
        ));
        Ok(BenchFigures {
            title,
            methods: out,
        })
    }
}

/// Draws a bench report's figure into the files [`output_paths`] names; returns them.
pub fn bench_plot(report: &BenchReport, file: &Path) -> PlotResult<Vec<PathBuf>> {
    let figures = BenchFigures::from_report(report)?;
    write_figure(&figures, (1400, 1000), file)
}

/// One series of a scaling figure: `(size, seconds)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Seconds against size on log-log axes, one line per series (e.g. unlearn and retrain over
/// graph sizes or forget-set sizes), into the files [`output_paths`] names; returns them.
/// Points that are not positive and finite cannot sit on a log axis and are refused.
pub fn scaling_plot(
    series: &[Series],
    x_label: &str,
    title: &str,
    file: &Path,
) -> PlotResult<Vec<PathBuf>> {
    for s in series {
        if let Some(p) = s
            .points
            .iter()
            .find(|(x, y)| !(x.is_finite() && *x > 0.0 && y.is_finite() && *y > 0.0))
        {
            return Err(PlotError::Report(format!(
                "series {:?}: point {p:?} is not positive and finite (log axes)",
                s.label
            )));
        }
    }
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(PlotError::Report("no points to draw".into()));
    }
    let figure = ScalingFigure {
        series,
        x_label,
        title,
    };
    write_figure(&figure, (900, 650), file)
}

/// Something drawable on any plotters backend (so one drawing serves SVG and PNG).
trait Figure {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

const FONT: &str = "sans-serif";

/// Registers the bundled font with plotters once.
fn register_fonts() -> PlotResult<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw {
            what: "text".into(),
            message: "the bundled DejaVu Sans font did not load".into(),
        })
    }
}

fn write_figure(figure: &impl Figure, size: (u32, u32), file: &Path) -> PlotResult<Vec<PathBuf>> {
    register_fonts()?;
    let paths = output_paths(file);
    for path in &paths {
        let draw_err = |message: String| PlotError::Draw {
            what: path.display().to_string(),
            message,
        };
        let bytes = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
        {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                figure.draw(&root).map_err(|e| draw_err(e.to_string()))?;
                root.present().map_err(|e| draw_err(e.to_string()))?;
            }
            svg.into_bytes()
        } else {
            let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                figure.draw(&root).map_err(|e| draw_err(e.to_string()))?;
                root.present().map_err(|e| draw_err(e.to_string()))?;
            }
            encode_png(&rgb, size).map_err(draw_err)?
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| PlotError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        ifru::fsio::write_atomic(path, &bytes).map_err(|source| PlotError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(paths)
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// A method's colour, the same in every panel and every report.
fn method_color(name: &str, index: usize) -> RGBColor {
    match name {
        "original" => RGBColor(150, 150, 150),
        "retrain" => RGBColor(40, 40, 40),
        "finetune" => RGBColor(230, 140, 20),
        "ifru" => RGBColor(31, 119, 180),
        "ifru_fixed" => RGBColor(23, 190, 207),
        "ifru_calibrated" => RGBColor(44, 160, 44),
        "ifru_adam" => RGBColor(148, 103, 189),
        _ => [
            RGBColor(214, 39, 40),
            RGBColor(140, 86, 75),
            RGBColor(227, 119, 194),
            RGBColor(188, 189, 34),
        ][index % 4],
    }
}

/// How a value is printed at the end of its bar.
#[derive(Clone, Copy)]
enum ValueFormat {
    Auc,
    Seconds,
}

impl ValueFormat {
    fn text(self, v: f64) -> String {
        match self {
            ValueFormat::Auc => format!("{v:.4}"),
            ValueFormat::Seconds if v >= 10.0 => format!("{v:.0} s"),
            ValueFormat::Seconds if v >= 0.1 => format!("{v:.2} s"),
            ValueFormat::Seconds => format!("{v:.3} s"),
        }
    }
}

/// One horizontal bar panel: a value per method, methods top to bottom in report order.
struct BarPanel<'a> {
    caption: &'a str,
    axis: &'a str,
    bars: Vec<(&'a str, RGBColor, f64)>,
    format: ValueFormat,
    log: bool,
    /// Where a dashed reference line goes (retrain's value; the caption names it).
    reference: Option<f64>,
}

impl BarPanel<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let n = self.bars.len() as u32;
        let mut chart = ChartBuilder::on(area);
        chart
            .caption(self.caption, (FONT, 20))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(45)
            .y_label_area_size(125);
        let values = self.bars.iter().map(|b| b.2).filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !lo.is_finite() {
            return self.empty(area, "no values");
        }
        // n segments, one per bar (u32 ranges include their end; one bar still gets two).
        let y_label = |v: &SegmentValue<u32>| match v {
            // Bar k (report order) is drawn at y = n - 1 - k, so the first method is on top.
            SegmentValue::CenterOf(y) if *y < n => self.bars[(n - 1 - y) as usize].0.to_string(),
            _ => String::new(),
        };
        let label_style = (FONT, 15).into_font();
        if self.log {
            let (lo, hi) = (lo.max(1e-4) / 3.0, hi.max(1e-4) * 4.0);
            let mut chart = chart
                .build_cartesian_2d((lo..hi).log_scale(), (0..n.max(2) - 1).into_segmented())?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n as usize)
                .y_label_formatter(&y_label)
                .y_label_style(label_style.clone())
                .x_label_style(label_style.clone())
                .x_label_formatter(&|v| log_tick(*v, hi / lo))
                .x_desc(self.axis)
                .axis_desc_style((FONT, 16))
                .draw()?;
            self.draw_bars(&mut chart, lo)?;
        } else {
            let pad = ((hi - lo) * 0.15).max(0.01);
            let (lo, hi) = ((lo - pad).max(0.0), (hi + 2.0 * pad).min(1.0));
            let mut chart = chart.build_cartesian_2d(lo..hi, (0..n.max(2) - 1).into_segmented())?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n as usize)
                .y_label_formatter(&y_label)
                .y_label_style(label_style.clone())
                .x_label_style(label_style.clone())
                .x_labels(6)
                .x_label_formatter(&|v| format!("{v:.*}", linear_decimals(hi - lo, 6)))
                .x_desc(self.axis)
                .axis_desc_style((FONT, 16))
                .draw()?;
            self.draw_bars(&mut chart, lo)?;
        }
        Ok(())
    }

    fn draw_bars<'c, DB, X>(
        &self,
        chart: &mut ChartContext<'c, DB, Cartesian2d<X, SegmentedCoord<RangedCoordu32>>>,
        base: f64,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
    where
        DB: DrawingBackend + 'c,
        X: Ranged<ValueType = f64>,
    {
        let n = self.bars.len() as u32;
        let text_style = (FONT, 14)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (k, (_, color, v)) in self.bars.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let y = n - 1 - k as u32;
            // A value below the axis (0 s on a log axis) gets an empty bar, not a stray one.
            let end = v.max(base);
            let mut bar = Rectangle::new(
                [
                    (base, SegmentValue::Exact(y)),
                    (end, SegmentValue::Exact(y + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(8, 8, 0, 0);
            chart.draw_series(std::iter::once(bar))?;
            chart.draw_series(std::iter::once(Text::new(
                format!(" {}", self.format.text(*v)),
                (end, SegmentValue::CenterOf(y)),
                text_style.clone(),
            )))?;
        }
        if let Some(x) = self.reference {
            // The caption says what the dashed line is: a legend box would cover bar labels.
            chart.draw_series(DashedLineSeries::new(
                [(x, SegmentValue::Exact(0)), (x, SegmentValue::Last)],
                6,
                4,
                BLACK.mix(0.7).stroke_width(1),
            ))?;
        }
        Ok(())
    }

    fn empty<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        why: &str,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        note(area, &format!("{}: {why}", self.caption))
    }
}

/// A centred line of text in an otherwise empty panel.
fn note<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        text.to_string(),
        (w as i32 / 2, h as i32 / 2),
        (FONT, 16)
            .into_font()
            .color(&BLACK.mix(0.6))
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))
}

/// The label of tick `v` on a log axis spanning `span` (max / min): powers of ten, and over
/// two decades or less also 2× and 5× them; other ticks stay unlabelled (plotters puts one
/// at every multiple, too many to read).
fn log_tick(v: f64, span: f64) -> String {
    let mantissa = v / 10f64.powf(v.log10().floor());
    let is = |m: f64| (mantissa - m).abs() < 1e-6 * m;
    if is(1.0) || (span <= 100.0 && (is(2.0) || is(5.0))) {
        short_number(v)
    } else {
        String::new()
    }
}

/// 0.001, 0.1, 10, 1000, 1e4: tick labels of a log axis (from 1e4 on in powers, so an axis
/// over 10,000 to 1,000,000 reads 1e4, 1e5, 1e6 rather than 10000, 1e5, 1e6).
fn short_number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&v.abs()) {
        format!("{v:.0e}")
    } else if v.abs() >= 1.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

impl Figure for BenchFigures {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, (FONT, 22).into_font().style(FontStyle::Bold))?;
        let panels = root.split_evenly((2, 2));
        let bars = |f: &dyn Fn(&MethodFigures) -> Option<f64>| -> Vec<(&str, RGBColor, f64)> {
            self.methods
                .iter()
                .enumerate()
                .map(|(k, (name, m))| {
                    (
                        name.as_str(),
                        method_color(name, k),
                        f(m).unwrap_or(f64::NAN),
                    )
                })
                .collect()
        };
        let retrain = self
            .methods
            .iter()
            .find(|(n, _)| n == "retrain")
            .map(|m| &m.1);
        BarPanel {
            caption: "Test AUC (dashed: retrain)",
            axis: "test AUC",
            bars: bars(&|m| m.test_auc),
            format: ValueFormat::Auc,
            log: false,
            reference: retrain.and_then(|r| r.test_auc),
        }
        .draw(&panels[0])?;
        BarPanel {
            caption: "Time of each method (log scale)",
            axis: "seconds (original: training; others: applying the request)",
            bars: bars(&|m| Some(m.seconds)),
            format: ValueFormat::Seconds,
            log: true,
            reference: None,
        }
        .draw(&panels[1])?;
        BarPanel {
            caption: "Forget AUC (dashed: retrain, the target)",
            axis: "AUC on the forgotten rows with their training labels",
            bars: bars(&|m| m.forget_auc),
            format: ValueFormat::Auc,
            log: false,
            reference: retrain.and_then(|r| r.forget_auc),
        }
        .draw(&panels[2])?;
        self.draw_residuals(&panels[3])
    }
}

/// A method's residual line: name, colour, `(iteration, ‖r‖/‖g‖)` points.
type Trace<'a> = (&'a str, RGBColor, Vec<(u32, f64)>);

impl BenchFigures {
    /// ‖r‖/‖g‖ against CG iteration, one line per influence method.
    fn draw_residuals<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let traces: Vec<Trace<'_>> = self
            .methods
            .iter()
            .enumerate()
            .filter_map(|(k, (name, m))| m.cg_trace().map(|trace| (k, name, trace)))
            .map(|(k, name, trace)| {
                // The solver reads ‖r‖ back every few iterations only. It starts from x = 0
                // (`unlearn::cg`), so ‖r₀‖/‖g‖ = 1: the start is known without a read.
                let start = (trace[0].0 > 0).then_some((0, 1.0));
                let points = start
                    .into_iter()
                    .chain(
                        trace
                            .iter()
                            .filter(|(_, r)| r.is_finite() && *r > 0.0)
                            .map(|&(i, r)| (u32::try_from(i).unwrap_or(u32::MAX), r)),
                    )
                    .collect();
                (name.as_str(), method_color(name, k), points)
            })
            .collect();
        let all = traces.iter().flat_map(|t| t.2.iter());
        let (max_iter, lo, hi) = all.fold((1u32, f64::INFINITY, 0.0f64), |(n, lo, hi), p| {
            (n.max(p.0), lo.min(p.1), hi.max(p.1))
        });
        if !lo.is_finite() {
            return note(
                area,
                "CG residual: no conjugate-gradient traces in this report",
            );
        }
        let mut chart = ChartBuilder::on(area)
            .caption(
                "Conjugate-gradient residual (read back every few iterations)",
                (FONT, 20),
            )
            .margin(12)
            .margin_right(30)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                0..max_iter.saturating_add(1),
                (lo / 3.0..hi * 3.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc("‖r‖ / ‖g‖")
            .axis_desc_style((FONT, 16))
            .x_label_style((FONT, 15))
            .y_label_style((FONT, 15))
            .x_labels((max_iter as usize + 2).min(12))
            .y_label_formatter(&|v| log_tick(*v, hi / lo))
            .draw()?;
        for (name, color, points) in &traces {
            let color = *color;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 14))
            .draw()?;
        Ok(())
    }
}

struct ScalingFigure<'a> {
    series: &'a [Series],
    x_label: &'a str,
    title: &'a str,
}

impl Figure for ScalingFigure<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let points = self.series.iter().flat_map(|s| s.points.iter());
        let (x0, x1, y0, y1) = points.fold(
            (f64::INFINITY, 0.0f64, f64::INFINITY, 0.0f64),
            |(x0, x1, y0, y1), &(x, y)| (x0.min(x), x1.max(x), y0.min(y), y1.max(y)),
        );
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 22))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (x0 / 1.5..x1 * 1.5).log_scale(),
                (y0 / 2.0..y1 * 2.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc("seconds")
            .axis_desc_style((FONT, 16))
            .x_label_style((FONT, 15))
            .y_label_style((FONT, 15))
            .x_label_formatter(&|v| log_tick(*v, x1 / x0))
            .y_label_formatter(&|v| log_tick(*v, y1 / y0))
            .draw()?;
        for (k, s) in self.series.iter().enumerate() {
            let color = method_color(&s.label, k);
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 15))
            .draw()?;
        Ok(())
    }
}

/// Decimals that tell apart `ticks` evenly spaced labels over `span` (2 to 4): 0.005-spaced
/// AUC ticks need three, not two that print the same label twice.
fn linear_decimals(span: f64, ticks: usize) -> usize {
    let step = span / ticks.max(1) as f64;
    if !(step.is_finite() && step > 0.0) {
        return 2;
    }
    ((-step.log10()).ceil().max(0.0) as usize).clamp(2, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_sparse() {
        let labels = |span: f64| -> Vec<String> {
            [0.1, 0.2, 0.3, 0.5, 1.0, 4.0, 5.0, 20.0, 1e6]
                .iter()
                .map(|&v| log_tick(v, span))
                .collect()
        };
        assert_eq!(
            labels(50.0),
            ["0.1", "0.2", "", "0.5", "1", "", "5", "20", "1e6"]
        );
        assert_eq!(labels(1e4), ["0.1", "", "", "", "1", "", "", "", "1e6"]);
        assert_eq!(
            [1000.0, 1e4, 1e5].map(|v| log_tick(v, 1e3)),
            ["1000", "1e4", "1e5"]
        );
    }

    #[test]
    fn output_paths_follow_the_extension() {
        assert_eq!(
            output_paths(Path::new("a/p.svg")),
            [PathBuf::from("a/p.svg")]
        );
        assert_eq!(output_paths(Path::new("p.PNG")), [PathBuf::from("p.PNG")]);
        assert_eq!(
            output_paths(Path::new("out/plot.v2")),
            [
                PathBuf::from("out/plot.v2.svg"),
                PathBuf::from("out/plot.v2.png")
            ]
        );
    }

    /// Decodes a PNG and counts pixels that are neither white nor nearly so.
    fn ink(path: &Path) -> (u32, u32, usize) {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let dark = buf[..info.buffer_size()]
            .chunks(3)
            .filter(|p| p.iter().any(|&c| c < 200))
            .count();
        (info.width, info.height, dark)
    }

    #[test]
    fn scaling_plot_renders_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let sizes: [f64; 4] = [1e4, 1e5, 1e6, 1e7];
        let series = [
            Series {
                label: "unlearn".into(),
                points: sizes.iter().map(|&s| (s, 2e-5 * s.powf(0.8))).collect(),
            },
            Series {
                label: "retrain".into(),
                points: sizes.iter().map(|&s| (s, 1e-3 * s)).collect(),
            },
        ];
        let files = scaling_plot(
            &series,
            "training rows",
            "Unlearning vs retraining",
            &dir.path().join("scaling"),
        )
        .unwrap();
        assert_eq!(files.len(), 2);
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for text in ["unlearn", "retrain", "training rows", "seconds"] {
            assert!(svg.contains(text), "the SVG lacks {text:?}");
        }
        let (w, h, dark) = ink(&files[1]);
        assert_eq!((w, h), (900, 650));
        // Axes, two lines and text: some ink, far from all of it.
        assert!(
            dark > 2_000 && dark < (w * h / 3) as usize,
            "{dark} dark pixels"
        );
    }

    #[test]
    fn scaling_plot_refuses_points_off_a_log_axis() {
        let dir = tempfile::tempdir().unwrap();
        let bad = [Series {
            label: "unlearn".into(),
            points: vec![(0.0, 1.0)],
        }];
        let e = scaling_plot(&bad, "rows", "t", &dir.path().join("x.png")).unwrap_err();
        assert!(e.to_string().contains("unlearn"), "{e}");
        assert!(!dir.path().join("x.png").exists());
    }

    #[test]
    fn text_is_drawn_without_system_fonts() {
        // The same figure with and without a title: the title's glyphs add ink to the PNG.
        let dir = tempfile::tempdir().unwrap();
        let series = [Series {
            label: "unlearn".into(),
            points: vec![(1.0, 1.0), (10.0, 3.0)],
        }];
        let a = scaling_plot(&series, "x", "", &dir.path().join("a.png")).unwrap();
        let b = scaling_plot(
            &series,
            "x",
            "A LONG TITLE WITH INK",
            &dir.path().join("b.png"),
        )
        .unwrap();
        assert!(ink(&b[0]).2 > ink(&a[0]).2 + 500);
    }

    /// A bench report with `methods`, its other fields made up.
    fn report_with(methods: serde_json::Value) -> BenchReport {
        serde_json::from_value(serde_json::json!({
            "schema": 2, "dataset": "/data/ml-100k-ifru/0.01", "model": "lightgcn",
            "layers": 1, "dim": 32, "loss": "bce", "seeds": [2023],
            "train_rows": 1000, "forget_rows": 10,
            "adapter": {"name": "llvmpipe", "device_type": "Cpu", "backend": "Vulkan",
                        "driver": "llvmpipe"},
            "methods": methods,
        }))
        .unwrap()
    }

    fn report() -> BenchReport {
        report_with(serde_json::json!({
                "retrain": {"test_auc": 0.75, "forget_auc": 0.40, "seconds": 20.0},
                "original": {"test_auc": 0.74, "forget_auc": 0.70, "seconds": 21.0},
                "ifru": {"test_auc": 0.745, "forget_auc": 0.45, "seconds": 0.5,
                         "residual": 0.008, "residual_trace": [[0, 1.0], [4, 0.1], [8, 0.008]]},
                "ifru_adam": {"test_auc": 0.74, "forget_auc": 0.69, "seconds": 0.9,
                              "residual": null, "residual_trace": [[1, 0.74]]}
        }))
    }

    #[test]
    fn bench_figures_read_a_report() {
        let f = BenchFigures::from_report(&report()).unwrap();
        let names: Vec<&str> = f.methods.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(names, ["original", "retrain", "ifru", "ifru_adam"]);
        assert!(f.methods[2].1.cg_trace().is_some());
        // The Adam solver's trace holds AUCs, not residuals.
        assert!(f.methods[3].1.cg_trace().is_none());
        assert!(f.title.contains("ml-100k-ifru/0.01"), "{}", f.title);
        let mut bad = report();
        bad.methods.values_mut().next().unwrap().seconds = f64::NAN;
        let e = BenchFigures::from_report(&bad).unwrap_err();
        assert!(e.to_string().contains("methods.original"), "{e}");
    }

    #[test]
    fn odd_values_are_drawn_without_failing() {
        // No AUCs at all (a BPR report), a method that took 0 s, a single method.
        let dir = tempfile::tempdir().unwrap();
        let report = report_with(serde_json::json!({"original": {"seconds": 0.0}}));
        let files = bench_plot(&report, &dir.path().join("odd")).unwrap();
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            svg.contains("no values"),
            "the AUC panels say why they are empty"
        );
        assert!(svg.contains("no conjugate-gradient traces"));
    }

    #[test]
    fn bench_plot_renders() {
        let dir = tempfile::tempdir().unwrap();
        let files = bench_plot(&report(), &dir.path().join("bench")).unwrap();
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        for text in ["Test AUC", "Forget AUC", "ifru", "retrain", "iteration"] {
            assert!(svg.contains(text), "the SVG lacks {text:?}");
        }
        let (w, h, dark) = ink(&files[1]);
        assert_eq!((w, h), (1400, 1000));
        assert!(dark > 10_000, "{dark} dark pixels");
    }

    #[test]
    fn linear_ticks_get_enough_decimals() {
        assert_eq!(super::linear_decimals(0.03, 6), 3);
        assert_eq!(super::linear_decimals(0.6, 6), 2);
        assert_eq!(super::linear_decimals(1e-6, 6), 4);
        assert_eq!(super::linear_decimals(0.0, 6), 2);
    }
}
